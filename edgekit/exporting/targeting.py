"""`edgekit export --target T[,T...]`: the settings each target's runtime wants, grouped into one artifact per
distinct setting.

Each format row may carry `target_settings(target, precision)` (edgekit.exporting.base.ExportFormat): a dict with a
short stable "key" and the "reason", or None where one artifact serves every target. The host's setting keeps
today's folder (<format>-<precision>); any other setting goes to <format>-<precision>@<target ids joined by +>, so
an artifact made for one CPU never replaces one made for another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgekit.errors import UsageError, did_you_mean

HOST = "host"


@dataclass(frozen=True)
class Variant:
    """One artifact of a format: the setting it is made with and the targets it serves."""

    fmt: str
    key: str  # the setting's key ("" where the format has one setting for every target)
    settings: dict[str, Any] | None = field(default=None, compare=False)
    targets: tuple[str, ...] = (HOST,)
    suffix: str = ""  # "" for the host's setting; else the target ids joined by "+"

    @property
    def unit(self) -> str:
        """The name export's bookkeeping uses: "onnx", "onnx@rpi4+rpi5" (artifact_dir understands it)."""
        return f"{self.fmt}@{self.suffix}" if self.suffix else self.fmt


def unit_format(unit: str) -> str:
    return unit.partition("@")[0]


def parse_targets(spec: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """Target ids from "a,b" or a list, each checked against targets/*.toml ("did you mean" for a typo)."""
    if spec is None:
        return ()
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    ids = tuple(dict.fromkeys(s.strip() for s in items if s and s.strip()))
    if not ids:
        raise UsageError("--target needs at least one target id (see `edgekit targets`)")
    from edgekit.hardware.targets import load_targets

    known = load_targets()
    for tid in ids:
        if tid not in known:
            raise did_you_mean("target", tid, known)
    return ids


def settings_for(fmt: str, target, precision: str) -> dict[str, Any] | None:
    """The format's settings for a target at a precision (None: the same artifact everywhere)."""
    from edgekit.exporting.formats import get_format

    hook = get_format(fmt).target_settings
    return hook(target, precision) if hook is not None else None


def _key(settings: dict[str, Any] | None) -> str:
    return str((settings or {}).get("key", ""))


def formats_for_targets(target_ids: tuple[str, ...], precision: str) -> tuple[str, ...]:
    """The formats the targets run at this precision, in table order (an Edge TPU target's TFLite is its edgetpu
    artifact, as `profile` exports it)."""
    from edgekit.exporting.formats import default_formats, formats
    from edgekit.hardware.targets import get_target

    wanted: set[str] = set()
    for tid in target_ids:
        target = get_target(tid)
        runs = [f for f in target.formats if f in formats()]
        if tid == HOST:
            runs = [f for f in runs if f in default_formats()]
        if "edgetpu" in runs and "tflite" in runs:
            runs.remove("tflite")
        wanted.update(runs)
    return tuple(name for name, row in formats().items() if name in wanted and precision in row.precisions)


def plan(names: list[str], precision: str, target_ids: tuple[str, ...]) -> list[Variant]:
    """One Variant per distinct setting of each format, in format order; without targets, the host's alone."""
    from edgekit.hardware.targets import get_target

    host = get_target(HOST)
    variants: list[Variant] = []
    for fmt in names:
        host_settings = settings_for(fmt, host, precision)
        if not target_ids:
            variants.append(Variant(fmt, _key(host_settings), host_settings, (HOST,), ""))
            continue
        serving = [t for t in (get_target(tid) for tid in target_ids) if t.id == HOST or t.runs(fmt)]
        if not serving:
            raise UsageError(
                f"none of the targets {', '.join(target_ids)} runs {fmt}; drop --format {fmt} or add a target that "
                "runs it (see `edgekit targets`)"
            )
        groups: dict[str, tuple[dict[str, Any] | None, list[str]]] = {}
        for target in serving:
            settings = settings_for(fmt, target, precision)
            groups.setdefault(_key(settings), (settings, []))[1].append(target.id)
        for key, (settings, ids) in groups.items():
            suffix = "" if key == _key(host_settings) else "+".join(ids)
            variants.append(Variant(fmt, key, settings, tuple(ids), suffix))
    return variants


def recorded_key(manifest: dict[str, Any] | None) -> str | None:
    """The setting key an artifact was made with, from its manifest (None: not known)."""
    if not manifest:
        return None
    fmt = str(manifest.get("format") or "")
    made = (manifest.get("target_settings") or {}).get(fmt)
    if isinstance(made, dict) and "key" in made:
        return str(made["key"])
    from edgekit.exporting.formats import formats

    row = formats().get(fmt)
    if row is None or row.recorded_setting is None:
        return None
    return row.recorded_setting(manifest)  # a manifest from before --target: read from what it recorded


def made_for_other_cpu(manifest: dict[str, Any] | None, target) -> dict[str, Any] | None:
    """When an artifact's setting is not the one `target` wants: what it was made for, what the target wants, and
    the command that makes the right one; None when it is the right one or edgekit cannot tell."""
    if not manifest or not manifest.get("format") or not manifest.get("precision"):
        return None
    made = recorded_key(manifest)
    try:
        wanted = settings_for(str(manifest["format"]), target, str(manifest["precision"]))
    except UsageError:
        return None
    if made is None or wanted is None or made == _key(wanted):
        return None
    recorded = (manifest.get("target_settings") or {}).get(manifest["format"]) or {}
    cpu = recorded.get("cpu") or (manifest.get("host") or {}).get("machine") or "another CPU"
    model = manifest.get("model") or "MODEL"
    precision = manifest["precision"]
    return {
        "made_for": {"cpu": cpu, "key": made, "targets": manifest.get("targets") or [HOST]},
        "wanted": {"target": target.id, "cpu": target.cpu.model, "key": _key(wanted), "reason": wanted.get("reason")},
        "command": f"edgekit export {model} --{precision} --target {target.id}",
    }


def other_cpu_line(other: dict[str, Any], target_id: str) -> str:
    made, wanted = other["made_for"], other["wanted"]
    return (
        f"quantized for {made['cpu']} ({made['key'].upper()}), not {target_id} ({wanted['key'].upper()}): "
        f"re-export with `{other['command']}`"
    )
