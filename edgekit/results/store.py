"""Profile results on disk: one flat JSON file per configuration under profiles/.

A configuration is everything that changes the number (CONFIG_KEYS: target, model, format, precision, source, input
size, width, threads, runtime and its version, host, link; and TIMING_DEFAULTS where a result differs from them: mode,
batch, device, xnnpack), so a 160 px run never replaces the 224 px one, nor a
predicted result the measured one: profiles/<target>/<model>__<format>-<precision>__<config id>.json, the
configuration inside. Re-running the same configuration replaces its file (git history is the history).
Files named the old way (<model>__<format>-<precision>.json) are still read. A failed run is saved apart, under
profiles/<target>/failed/ (same file name): it never replaces a good result, and `edgekit report --failed` lists it.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from edgekit._version import __version__
from edgekit.console import warn
from edgekit.errors import EdgekitError
from edgekit.ioutil import write_json_atomic
from edgekit.results.record import host_info, input_size_of, utc_now_iso, validate_result

# What makes two results different measurements (the file name's config id is a hash of these values).
CONFIG_KEYS = (
    "target",
    "model",
    "format",
    "precision",
    "source",
    "input_size",
    "alpha",
    "threads",
    "runtime",
    "runtime_version",
    "host",
    "link",
)
# How the runner timed it (issue 27): part of the configuration only when away from the default, so results made
# before these options existed keep their config ids. A throughput result never replaces a latency one, nor batch 4
# batch 1, nor a GPU run the CPU's, nor XNNPACK off the default.
TIMING_DEFAULTS = {"mode": "latency", "batch": 1, "device": "CPU", "xnnpack": "default"}
FAILED_DIR = "failed"  # <profiles>/<target>/failed/: failed measurements, kept apart from the results
MAX_NAME = 80  # file name parts are cut here: a hostile 10 kB model name must not make an unwritable path


def _safe_name(text: str) -> str:
    """File-name-safe version of a model/target name (no separators, no leading dots or dashes, bounded length)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", str(text)).lstrip(".-")[:MAX_NAME] or "unnamed"


def result_config(result: dict[str, Any]) -> dict[str, Any]:
    """The configuration a result belongs to (CONFIG_KEYS; unknowns None), derived from its contents."""
    runtime = result.get("runtime") if isinstance(result.get("runtime"), dict) else {}
    host = result.get("host")
    split = result.get("split") if isinstance(result.get("split"), dict) else {}
    config = {key: result.get(key) for key in ("target", "model", "format", "precision", "source")}
    config.update(
        input_size=input_size_of(result),
        alpha=result.get("alpha"),
        threads=runtime.get("threads"),
        runtime=runtime.get("name"),
        runtime_version=runtime.get("version"),
        # A fleet member is its --hosts name: boards often share a hostname ("raspberrypi").
        host=(host.get("ssh") or host.get("hostname")) if isinstance(host, dict) else host,
        link=result.get("link") or split.get("link"),
    )
    config.update(timing_config(result, runtime))
    return config


def timing_config(result: dict[str, Any], runtime: dict[str, Any]) -> dict[str, Any]:
    """mode, batch, device and xnnpack of a result (TIMING_DEFAULTS where it does not say)."""
    settings = result.get("settings") if isinstance(result.get("settings"), dict) else {}
    device = runtime.get("device") or settings.get("device")
    device = "CPU" if device is None or str(device).lower() == "cpu" else str(device)
    xnnpack = runtime.get("xnnpack") or settings.get("xnnpack") or "default"
    return {
        "mode": result.get("mode") or settings.get("mode") or "latency",
        "batch": result.get("batch") or settings.get("batch") or 1,
        "device": device,
        "xnnpack": xnnpack if str(runtime.get("name") or "").startswith(("litert", "tflite")) else "default",
    }


def config_id(config: dict[str, Any]) -> str:
    """A short stable hash of a configuration (the file name's last part)."""
    keyed = {k: config.get(k) for k in CONFIG_KEYS}
    keyed.update({k: config[k] for k, default in TIMING_DEFAULTS.items() if config.get(k, default) != default})
    text = json.dumps(keyed, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def result_path(result: dict[str, Any], root: Path = Path("profiles")) -> Path:
    """profiles/<target>/<model>__<format>-<precision>__<config id>.json; a failed run goes under <target>/failed/
    (FAILED_DIR), apart from the results: it never replaces a good result of its configuration, and `edgekit
    report` lists it only with --failed."""
    model, fmt, precision = (_safe_name(result[k]) for k in ("model", "format", "precision"))
    name = f"{model}__{fmt}-{precision}__{config_id(result_config(result))}.json"
    folder = Path(root) / _safe_name(result["target"])
    return folder / FAILED_DIR / name if result.get("status") == "failed" else folder / name


def save_result(result: dict[str, Any], root: Path = Path("profiles")) -> Path:
    """Write one result atomically (failed runs too, with their status and error); return its path."""
    result = dict(result)
    result.setdefault("date", utc_now_iso())
    result.setdefault("host", host_info())
    if "edgekit_version" not in result:
        result["edgekit_version"] = __version__
    problems = validate_result(result)
    if problems:
        raise EdgekitError(f"refusing to save an invalid profile result: {'; '.join(problems)}")
    result["config"] = result_config(result)
    result["config_id"] = config_id(result["config"])
    path = result_path(result, root)
    write_json_atomic(path, result)
    return path


_NEW_NAME = re.compile(r"__[0-9a-f]{10}\.json$")


def migrate_results(root: Path = Path("profiles")) -> list[tuple[Path, Path]]:
    """Rename old-style files (<model>__<format>-<precision>.json) to their configuration's name; (old, new) pairs.

    The old file goes only once the new one is written; where the new name already holds a newer result of the same
    configuration, that one is kept.
    """
    moved = []
    for folder in sorted(p for p in Path(root).glob("*") if p.is_dir()):
        for old in sorted(folder.glob("*.json")):
            if old.name.startswith(".") or _NEW_NAME.search(old.name):
                continue
            try:
                result = json.loads(old.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue  # load_results reports it; migration never deletes what it cannot read
            if validate_result(result):
                continue
            new = result_path(result, root)
            try:
                newer = json.loads(new.read_text()).get("date", "") >= str(result.get("date") or "")
            except (OSError, ValueError, AttributeError):
                newer = False
            if not newer:
                new = save_result(result, root)
            old.unlink()
            moved.append((old, new))
    return moved


def load_results_with_problems(
    root: Path = Path("profiles"), target: str | None = None, failed: bool = False
) -> tuple[list[dict[str, Any]], list[str]]:
    """All valid results under root (optionally one target), plus one line per unreadable or invalid file;
    failed=True reads the failed runs (<target>/failed/) instead."""
    root = Path(root)
    folders = [root / _safe_name(target)] if target else sorted(p for p in root.glob("*") if p.is_dir())
    if failed:
        folders = [folder / FAILED_DIR for folder in folders]
    results: list[dict[str, Any]] = []
    problems: list[str] = []
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            if path.name.startswith("."):
                continue  # a write in progress (ioutil's temp files), or one killed before its rename
            try:
                data = json.loads(path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                problems.append(f"{path}: not readable JSON ({exc})")
                continue
            bad = validate_result(data)
            if bad:
                problems.append(f"{path}: {'; '.join(bad)}")
                continue
            results.append(data)
    return results, problems


def load_results(
    root: Path = Path("profiles"), target: str | None = None, failed: bool = False
) -> list[dict[str, Any]]:
    """All valid results (failed=True: the failed runs); bad files are reported as warnings on stderr and skipped."""
    results, problems = load_results_with_problems(root, target, failed)
    if problems:
        for line in problems:
            warn(f"skipping {line}")
    return results


def latest_per_config(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest result of each configuration (old-style files and new ones of the same configuration merge)."""
    latest: dict[str, dict[str, Any]] = {}
    for result in results:
        key = config_id(result_config(result))
        if key not in latest or str(result.get("date") or "") >= str(latest[key].get("date") or ""):
            latest[key] = result
    return list(latest.values())


if __name__ == "__main__":  # python -m edgekit.results.store migrate [ROOT]
    import sys

    if sys.argv[1:2] != ["migrate"]:
        sys.exit("usage: python -m edgekit.results.store migrate [ROOT]")
    for before, after in migrate_results(Path(sys.argv[2]) if len(sys.argv) > 2 else Path("profiles")):
        print(f"{before} -> {after}")
