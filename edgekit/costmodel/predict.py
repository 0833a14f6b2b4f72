"""Predicted latency, memory, power and energy of an artifact on a target, from its graph (no device needed).

Dispatches to the cost model of the target's kind (a module of edgekit.costmodel with KIND = "<kind>", found by
edgekit.costmodel.kinds) and turns its per-op costs into a profile result: median and band, top layers, power and
energy.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
import socket
import sys
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from edgekit.analyze import Graph, load_graph
from edgekit.analyze.layernames import name_artifact_layers
from edgekit.costmodel.common import OpCost, Request, per_graph
from edgekit.costmodel.constants import FITTED_JSON
from edgekit.costmodel.kinds import fitted_target, hook, kind_module
from edgekit.device import runtimes
from edgekit.errors import UsageError
from edgekit.exporting.formats import formats
from edgekit.hardware.targets import Target
from edgekit.ioutil import sha256_file

# PER_RUNTIME kinds (CPU targets) run .tflite with the target's own runtime (LiteRT + XNNPACK); a format whose files
# the device table gives to one of these runtimes runs with it instead (the kernels the fitted cells describe).
OTHER_CPU_RUNTIMES = {
    "onnxruntime": "MLAS kernels; constants fitted on published ONNX Runtime rows of other models: see fit.fitted_on"
}


def cpu_runtime_of_format() -> dict[str, tuple[str, str]]:
    """format -> (runtime, version note) for the formats CPU targets run with a runtime other than their own."""
    out = {}
    for name, row in formats().items():
        runtime = runtimes.for_suffix(row.suffix)
        if runtime is not None and runtime.name in OTHER_CPU_RUNTIMES:
            version = runtime.pin.partition("==")[2] or "unpinned"
            out[name] = (runtime.name, f"{version} ({OTHER_CPU_RUNTIMES[runtime.name]})")
    return out


def runtime_for(target: Target, fmt: str) -> str:
    if hook(target, "PER_RUNTIME") and fmt in cpu_runtime_of_format():
        return cpu_runtime_of_format()[fmt][0]
    return target.runtime.name


def _runtime_record(target: Target, runtime: str) -> tuple[str, str]:
    for name, version in cpu_runtime_of_format().values():
        if name == runtime and runtime != target.runtime.name:
            return name, version
    return target.runtime.name, target.runtime.version


@cache
def fitted_file() -> dict[str, Any]:
    """edgekit/costmodel/fitted.json, written by `edgekit fit --write` (empty when absent)."""
    try:
        return json.loads(FITTED_JSON.read_text())
    except (OSError, ValueError):
        return {}


def _with_fitted_constants(target: Target, runtime: str, precision: str) -> tuple[Target, dict[str, Any] | None]:
    """The target with the constants fitted on published rows (and the leave-one-out band), plus what they rest on."""
    constants = fitted_file().get("targets", {}).get(target.id)
    if not constants:
        return target, None
    prec = "int8" if precision in ("int8", "dynamic") else "fp32"
    cell = hook(target, "fitted_cell")(constants, runtime, prec)
    if cell is None:
        return target, None
    # The published rows the constants rest on, by label: a user's own model is never among them.
    note = {"rows": len(cell["rows"]), "fitted_on": list(cell["rows"]), "carried_over_from": cell["carried_over_from"]}
    note.update({k: cell[k] for k in ("prior", "op_overhead_from") if cell.get(k)})
    band = cell.get("band_log") if cell.get("band_log") is not None else constants["band_log"]
    fitted = fitted_target(target, constants, runtime, prec)
    return replace(fitted, uncertainty=math.exp(band)), note


# ---------------------------------------------------------------------------------------------------------------------
# Public API


def _check_format(graph: Graph, target: Target) -> None:
    from edgekit.exporting.formats import export_hint  # the formats table says how to make each format

    fmt = graph.format
    if target.runs(fmt):
        return
    wanted = hook(target, "ARTIFACT_FORMAT") or target.runtime.formats[0]
    raise UsageError(
        f"{target.id} runs {'/'.join(target.runtime.formats)} artifacts, not {fmt}: "
        f"export one with `{export_hint(wanted)}`"
    )


def _power(target: Target, busy: dict[str, float], threads: int) -> tuple[float | None, str]:
    """Average power while inferring back to back: idle + (active - idle) x utilisation (None when unknown)."""
    p = target.power
    if p is None:
        return None, "no sourced power figures for this target: power and energy are null"
    util = hook(target, "utilisation")(target, busy, threads)
    idle = p.idle_w if p.idle_w is not None else 0.0
    watts = idle + (p.active_w - idle) * util
    note = f"power: {p.scope}; utilisation {util:.2f}"
    if p.idle_w is None:
        note += " (idle draw unknown: dynamic power only)"
    return watts, note


def predict_graph(
    graph: Graph,
    target: Target,
    threads: int | None = None,
    precision_hint: str | None = None,
    link: str | None = None,
    allow_any_format: bool = False,
    edgetpu_log: dict[str, Any] | None = None,
    fitted: bool = True,
) -> dict[str, Any]:
    """The prediction core; returns the profile-result fields derived from the graph.

    edgetpu_log: the parsed edgetpu_compiler log of this model, when there is one (its off-chip figure is exact).
    """
    if not allow_any_format:
        _check_format(graph, target)
    if precision_hint is not None and precision_hint not in ("fp32", "fp16", "dynamic", "int8"):
        raise UsageError(f"unknown precision {precision_hint!r}; choose fp32, fp16, dynamic or int8")
    threads = threads or target.runtime.default_threads
    if threads < 1:
        raise UsageError("threads must be >= 1")
    if graph.dynamic_inputs:  # kinds that need static shapes refuse such a graph in their predict
        graph_note = "dynamic input shape: predicted for the shape stored in the file (dims of -1 counted as 1)"
    else:
        graph_note = ""
    runtime = runtime_for(target, graph.format)
    fit_note = None
    if fitted:
        target, fit_note = _with_fitted_constants(target, runtime, precision_hint or graph.precision)
    core = kind_module(target.kind).predict(graph, target, Request(threads, precision_hint, link, edgetpu_log, runtime))
    median = core["total_ms"]
    fewest, most = core.get("range_ms", (median, median))
    u = target.uncertainty
    watts, power_note = _power(target, core["busy"], threads)
    costs: list[OpCost] = core["costs"]
    layers = sorted((c for c in costs if c.ms > 0), key=lambda c: c.ms, reverse=True)[:10]
    op_total = sum(c.ms for c in costs) or 1.0
    band = f"median /x {u:.3g}" if fewest == most else f"{fewest:.3g}-{most:.3g} ms /x {u:.3g}"
    band_source = "90th percentile of the leave-one-out errors of published rows" if fit_note else "target uncertainty"
    basis = core["basis"] + f"; band = {band} ({band_source}); {power_note}"
    if fit_note and fit_note["carried_over_from"]:
        basis += f"; constants carried over from {fit_note['carried_over_from']}"
    if graph_note:
        basis += f"; {graph_note}"
    result: dict[str, Any] = {
        "source": "predicted",
        "status": "ok",
        "error": None,
        "precision": core.get("precision", graph.precision),
        "latency_ms": {"median": round(median, 4), "low": round(fewest / u, 4), "high": round(most * u, 4)},
        "peak_memory_bytes": _peak_memory(graph),
        "runtime": {
            "name": _runtime_record(target, runtime)[0],
            "version": _runtime_record(target, runtime)[1],
            "threads": threads,
            "device": core["device"],
        },
        "fit": fit_note,  # published rows the constants rest on, and what they were carried over from (or None)
        "band": {"factor": round(u, 4), "from": band_source},  # latency_ms low/high = ends / factor, x factor
        "layers": [
            {"name": c.op.name, "op": c.op.type, "time_ms": round(c.ms, 4), "percent": round(100 * c.ms / op_total, 1)}
            for c in layers
        ],
        "throughput_ips": round(1000.0 / median, 2) if median else None,
        "power_w": None if watts is None else round(watts, 3),
        "energy_mj": None if watts is None else round(watts * median, 3),  # W x ms = mJ
        "macs": per_graph("macs", graph, None, lambda: graph.macs),
        "weight_bytes": per_graph("weights", graph, None, lambda: graph.weight_bytes),
        "basis": basis,
    }
    if core["split"] is not None:
        result["split"] = core["split"]
        result["fallback_ops"] = core["fallback_ops"]
    return result


def _peak_memory(graph: Graph) -> int:
    """File bytes (mapped) + packed weights (the runtime repacks them) + the activation arena."""
    try:
        size = Path(graph.path).stat().st_size
    except OSError:
        size = graph.weight_bytes
    weights = per_graph("weights", graph, None, lambda: graph.weight_bytes)
    return int(size + weights + per_graph("arena", graph, None, graph.arena_bytes))


def _model_name(path: Path) -> str:
    manifest = path.parent / "manifest.json"
    if manifest.is_file():
        try:
            return str(json.loads(manifest.read_text())["model"])
        except (ValueError, KeyError, OSError):
            pass
    from edgekit.exporting.formats import parse_export_dir

    if parse_export_dir(path.parent.name):
        return path.parent.parent.name  # edgekit-out/<model>/<format>-<precision>/model.*
    return path.stem


def _artifact_size(path: Path) -> int:
    from edgekit.exporting.formats import companion_files  # the OpenVINO .xml comes with its .bin

    return sum(p.stat().st_size for p in companion_files(path))


def _host_info() -> dict[str, Any]:
    from edgekit.hardware.host import cpuinfo, cpuinfo_field

    return {
        "hostname": socket.gethostname(),
        "machine": platform.machine(),
        "cpu": cpuinfo_field(cpuinfo(), "model name", "Model") or platform.processor(),
        "os": f"{platform.system()} {platform.release()}",
    }


def predict_artifact(
    path: Path,
    target: Target,
    threads: int | None = None,
    precision_hint: str | None = None,
    link: str | None = None,
) -> dict[str, Any]:
    """A profile result dict with source "predicted" for one artifact (.tflite, .onnx or OpenVINO .xml)."""

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"artifact {path} does not exist")
    from edgekit.exporting.formats import format_of_suffix, suffixes_text

    if format_of_suffix(path) is None:
        raise UsageError(f"cannot predict {path.name}: expected a {suffixes_text()} artifact")
    other = _made_for_other_cpu(path, target)
    path, edgetpu_log = hook(target, "artifact_sources")(path)
    graph = load_graph(path)
    core = predict_graph(graph, target, threads, precision_hint, link, edgetpu_log=edgetpu_log)
    if other:  # said, never silently predicted as if it were the target's own artifact
        core["quantized_for"] = other
        core.setdefault("warnings", []).append(other["note"])
    return {
        "target": target.id,
        "model": _model_name(path),
        "format": hook(target, "ARTIFACT_FORMAT") or graph.format,
        **{k: core[k] for k in ("precision", "source", "status", "error", "latency_ms")},
        "size_bytes": _artifact_size(path),
        "peak_memory_bytes": core["peak_memory_bytes"],
        "runtime": core["runtime"],
        "layers": name_artifact_layers(core["layers"], path, graph),  # Keras layer names where the export traced them
        "artifact": {"path": str(path), "sha256": sha256_file(path)},
        "host": _host_info(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "edgekit_version": sys.modules["edgekit"].__version__,  # the parent package, loaded before this module
        "load_ms": None,
        "first_inference_ms": None,
        **{k: v for k, v in core.items() if k not in ("precision", "source", "status", "error", "latency_ms",
                                                      "peak_memory_bytes", "runtime", "layers")},
    }  # fmt: skip


def _made_for_other_cpu(path: Path, target: Target) -> dict[str, Any] | None:
    """What the manifest beside an artifact says it was quantized for, when that is not what the target wants, and
    what it costs there: the cost model prices int8 kernels per op class, not the activation/weight signedness, so
    it cannot tell U8S8 from S8S8 and predicts the target's int8 path, saying so."""
    import json

    from edgekit.exporting.targeting import made_for_other_cpu, other_cpu_line

    try:
        manifest = json.loads((path.parent / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    other = made_for_other_cpu(manifest if isinstance(manifest, dict) else None, target)
    if other is None:
        return None
    other["cost"] = (
        "unknown: the cost model has one int8 path per runtime (it cannot tell "
        f"{other['made_for']['key'].upper()} from {other['wanted']['key'].upper()}); predicted as the target's own"
    )
    other["note"] = f"{other_cpu_line(other, target.id)}; cost on {target.id}: {other['cost']}"
    return other
