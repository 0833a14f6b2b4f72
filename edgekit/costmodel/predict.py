"""Predicted latency, memory, power and energy of an artifact on a target, from its graph (no device needed).

Dispatches to the cost model of the target's kind (a module of edgekit.costmodel with KIND = "<kind>": cpu,
edgetpu, npu) and turns its per-op costs into a profile result: median and band, top layers, power and energy.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import pkgutil
import platform
import socket
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from edgekit.analyze import Graph, load_graph
from edgekit.costmodel.common import OpCost, Request, per_graph
from edgekit.costmodel.cpu import amdahl_speedup  # noqa: F401 - public API
from edgekit.costmodel.edgetpu import LINK_MBS  # noqa: F401 - public API
from edgekit.costmodel.instructions import predict_from_instructions  # noqa: F401 - public API
from edgekit.errors import UsageError
from edgekit.targets import Target

# CPU targets run .tflite with their file's runtime (LiteRT + XNNPACK) and .onnx with ONNX Runtime (MLAS kernels).
CPU_RUNTIME_OF_FORMAT = {
    "onnx": ("onnxruntime", "1.32.0 (MLAS kernels, as counted under emulation; see fit.carried_over_from)"),
}


def runtime_for(target: Target, fmt: str) -> str:
    if target.kind == "cpu" and fmt in CPU_RUNTIME_OF_FORMAT:
        return CPU_RUNTIME_OF_FORMAT[fmt][0]
    return target.runtime.name


def _runtime_record(target: Target, runtime: str) -> tuple[str, str]:
    for name, version in CPU_RUNTIME_OF_FORMAT.values():
        if name == runtime and runtime != target.runtime.name:
            return name, version
    return target.runtime.name, target.runtime.version


@cache
def fitted_file() -> dict[str, Any]:
    """edgekit/costmodel/fitted.json, written by `edgekit fit --write` (empty when absent)."""
    from edgekit.costmodel.fit import FITTED_JSON

    try:
        return json.loads(FITTED_JSON.read_text())
    except (OSError, ValueError):
        return {}


def _with_fitted_constants(target: Target, runtime: str, precision: str) -> tuple[Target, dict[str, Any] | None]:
    """The target with the constants fitted on published rows (and the leave-one-out band), plus what they rest on."""
    import math
    from dataclasses import replace

    from edgekit.costmodel.fit import fitted_target

    constants = fitted_file().get("targets", {}).get(target.id)
    if not constants:
        return target, None
    prec = "int8" if precision in ("int8", "dynamic") else "fp32"
    if target.kind == "cpu":
        cell = constants.get("cpu", {}).get(f"{runtime}/{prec}")
        if cell is None:
            return target, None
        note = {"rows": len(cell["rows"]), "carried_over_from": cell["carried_over_from"]}
        band = cell.get("band_log", constants["band_log"])
    else:
        note = {"rows": len(constants.get("rows", [])), "carried_over_from": constants.get("carried_over_from")}
        band = constants["band_log"]
    fitted = fitted_target(target, constants, runtime, prec)
    return replace(fitted, uncertainty=math.exp(band)), note


@cache
def cost_models() -> dict[str, Callable[[Graph, Target, Request], dict[str, Any]]]:
    """KIND -> predict of every cost-model module in this package: a new target kind is one module."""
    import edgekit.costmodel as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if isinstance(getattr(module, "KIND", None), str):
            found[module.KIND] = module.predict
    return found


# ---------------------------------------------------------------------------------------------------------------------
# Public API


def _check_format(graph: Graph, target: Target) -> None:
    from edgekit.export import export_hint  # the formats table says how to make each format

    fmt = graph.format
    if target.runs(fmt):
        return
    wanted = target.runtime.formats[0]
    if target.kind == "edgetpu":
        wanted = "edgetpu"
    raise UsageError(
        f"{target.id} runs {'/'.join(target.runtime.formats)} artifacts, not {fmt}: "
        f"export one with `{export_hint(wanted)}`"
    )


def _power(target: Target, busy: dict[str, float], threads: int) -> tuple[float | None, str]:
    """Average power while inferring back to back: idle + (active - idle) x utilisation (None when unknown)."""
    p = target.power
    if p is None:
        return None, "no sourced power figures for this target: power and energy are null"
    if target.kind == "cpu":
        util = min(threads, target.cpu.cores) / target.cpu.cores * busy.get("cpu", 1.0)
    else:
        util = busy.get("accelerator", 0.0)
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
    if graph.dynamic_inputs and target.kind != "npu":
        graph_note = "dynamic input shape: predicted for the shape stored in the file (dims of -1 counted as 1)"
    else:
        graph_note = ""
    runtime = runtime_for(target, graph.format)
    fit_note = None
    if fitted:
        target, fit_note = _with_fitted_constants(target, runtime, precision_hint or graph.precision)
    model = cost_models().get(target.kind)
    if model is None:
        raise UsageError(f"{target.id} is of kind {target.kind!r}, which no cost model in edgekit.costmodel predicts")
    if target.kind == "cpu" and precision_hint is not None and precision_hint != graph.precision:
        graph = _with_precision(graph, precision_hint)
    core = model(graph, target, Request(threads, precision_hint, link, edgetpu_log, runtime))
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


def _with_precision(graph: Graph, precision: str) -> Graph:
    from dataclasses import replace

    return replace(graph, precision=precision)


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
    from edgekit.export import parse_export_dir

    if parse_export_dir(path.parent.name):
        return path.parent.parent.name  # edgekit-out/<model>/<format>-<precision>/model.*
    return path.stem


def _artifact_size(path: Path) -> int:
    from edgekit.export import companion_files  # the OpenVINO .xml comes with its .bin

    return sum(p.stat().st_size for p in companion_files(path))


def _host_info() -> dict[str, Any]:
    from edgekit.hostinfo import cpuinfo, cpuinfo_field

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
    import edgekit
    from edgekit.ioutil import sha256_file

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"artifact {path} does not exist")
    from edgekit.export import format_of_suffix, suffixes_text

    if format_of_suffix(path) is None:
        raise UsageError(f"cannot predict {path.name}: expected a {suffixes_text()} artifact")
    edgetpu_log = None
    if target.kind == "edgetpu":
        path, edgetpu_log = _edgetpu_sources(path)
    graph = load_graph(path)
    core = predict_graph(graph, target, threads, precision_hint, link, edgetpu_log=edgetpu_log)
    return {
        "target": target.id,
        "model": _model_name(path),
        "format": "edgetpu" if target.kind == "edgetpu" else graph.format,
        **{k: core[k] for k in ("precision", "source", "status", "error", "latency_ms")},
        "size_bytes": _artifact_size(path),
        "peak_memory_bytes": core["peak_memory_bytes"],
        "runtime": core["runtime"],
        "layers": core["layers"],
        "artifact": {"path": str(path), "sha256": sha256_file(path)},
        "host": _host_info(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "edgekit_version": edgekit.__version__,
        "load_ms": None,
        "first_inference_ms": None,
        **{k: v for k, v in core.items() if k not in ("precision", "source", "status", "error", "latency_ms",
                                                      "peak_memory_bytes", "runtime", "layers")},
    }  # fmt: skip


def _edgetpu_sources(path: Path) -> tuple[Path, dict[str, Any] | None]:
    """The int8 .tflite to predict from, and the edgetpu_compiler log beside it (an edgetpu export folder)."""
    from edgekit.analyze.edgetpu import parse_compiler_log

    twin = path.parent / "model.tflite"
    if path.name.endswith("_edgetpu.tflite") and twin.is_file():
        path = twin  # the compiled file hides its ops in one custom op: the export keeps the model it came from
    log = path.parent / "edgetpu_compiler.log"
    if not log.is_file():
        return path, None
    parsed = parse_compiler_log(log.read_text(errors="replace"))
    return path, parsed if parsed.get("off_chip_param_bytes") is not None else None


def edgetpu_fallback_lines(path: Path, target: Target) -> list[str]:
    """The lines `edgekit profile --target coral-*` prints: which ops fall back to the CPU and why."""
    from edgekit.analyze.edgetpu import analyze_graph, fallback_lines

    acc = target.accelerator
    cache = int((acc.param_cache_mib if acc else 6.9) * 1024 * 1024)
    return fallback_lines(analyze_graph(load_graph(path), cache))
