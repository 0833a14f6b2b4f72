"""`edgekit compare`: one row per model on one target, every figure with its source.

A row takes its latency, energy and memory from a saved profile (profiles/<target>/*.json) when one matches the
model, precision and input size, and otherwise predicts them on the spot from the model's graph: the zoo model is
built and converted once to an FP32 TFLite graph, whose analysis is cached as JSON per model, input size, class
count and definition hash. The INT8 graph is derived from that FP32 graph (same ops and shapes, 8-bit tensors,
32-bit biases) instead of a second, calibrated conversion; benchmarks/compare_speed.py checks the derived
prediction against a real INT8 conversion. TensorFlow is imported only when a graph is not cached yet.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgekit.choose import report
from edgekit.choose.facts import accuracy_figure, figure, latency_from_result
from edgekit.costmodel.reference import definition_hash, graph_from_json, graph_to_json
from edgekit.errors import UsageError
from edgekit.ioutil import write_bytes_atomic, write_json_atomic
from edgekit.models.registry import ModelSpec, create_model, default_models, get_spec
from edgekit.quiet import quiet_env, quiet_tf

PRECISIONS = ("int8", "fp32")
CACHE_VERSION = 1


@dataclass(frozen=True)
class CompareRequest:
    models: tuple[str, ...] = ()
    target: str = "host"
    precision: str | None = None  # None: int8 (what edge targets run)
    input_size: int | None = None
    num_classes: int = 1000
    profiles_dir: Path = Path("profiles")
    cache_dir: Path | None = None
    export_root: Path = Path("edgekit-out")
    saved_only: bool = False
    progress: Any = field(default=None, compare=False)  # callable(str) for "building X" lines


def cache_root(cache_dir: Path | None = None) -> Path:
    """$EDGEKIT_CACHE, else ~/.cache/edgekit; compare keeps its graphs under graphs/."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("EDGEKIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "edgekit"


# ---------------------------------------------------------------------------------------------------------------------
# Validation (before any work: one bad name processes none)


def resolve_models(names: tuple[str, ...] | list[str]) -> list[Any]:
    """The specs of the named models (the notes' architectures when none); an unknown name fails them all."""
    if not names:
        return default_models()
    specs, seen = [], set()
    for name in names:
        spec = get_spec(name)  # UsageError "unknown model 'x'; did you mean y?" before anything is built
        if spec.name not in seen:
            seen.add(spec.name)
            specs.append(spec)
    return specs


def resolve_precision(target: Any, precision: str | None) -> str:
    precision = precision or "int8"
    if precision not in PRECISIONS:
        raise UsageError(f"compare takes --int8 or --fp32, not {precision}")
    if precision not in target.runtime.precisions:
        raise UsageError(
            f"{target.id} runs {'/'.join(target.runtime.precisions)} models, not {precision}: use --int8"
            if "int8" in target.runtime.precisions
            else f"{target.id} runs {'/'.join(target.runtime.precisions)} models, not {precision}"
        )
    return precision


def input_size_for(spec: ModelSpec, requested: int | None) -> int:
    size = requested or spec.default_input_size
    spec.check_input_size(size)
    return size


# ---------------------------------------------------------------------------------------------------------------------
# Graph cache: the FP32 TFLite graph's analysis as JSON


def derive_int8(graph: Any) -> Any:
    """The INT8 graph a full-integer conversion gives, from the FP32 one: float tensors become int8, the biases of
    MAC ops int32 (TFLite's scheme); ops, shapes and MACs are unchanged."""
    from edgekit.analyze.graph import MAC_CLASSES

    def q(t: Any, bias: bool = False) -> Any:
        if t.dtype != "float32":
            return t
        return replace(t, dtype="int32" if bias else "int8", quantized=True, nbytes_override=None)

    ops = tuple(
        replace(
            op,
            inputs=tuple(
                q(t, bias=op.op_class in MAC_CLASSES and t.const and i == 2 and len(t.shape) == 1)
                for i, t in enumerate(op.inputs)
            ),
            outputs=tuple(q(t) for t in op.outputs),
        )
        for op in graph.ops
    )
    notes = (*graph.notes, "int8 graph derived from the fp32 conversion (no calibration run)")
    return replace(
        graph,
        ops=ops,
        inputs=tuple(q(t) for t in graph.inputs),
        outputs=tuple(q(t) for t in graph.outputs),
        precision="int8",
        notes=notes,
    )


def _build_fp32_graph(spec: ModelSpec, size: int, num_classes: int) -> dict[str, Any]:
    """Build the zoo model, convert it once to FP32 TFLite, analyse it; the .tflite itself is not kept."""
    import tempfile

    from edgekit.analyze.graph import load_graph

    quiet_env()
    t0 = time.perf_counter()
    with quiet_tf():
        import keras

        from edgekit.exporting.formats.tflite import keras2tflite

        model = create_model(spec.name, size, num_classes, None, "none")
        params = int(model.count_params())
        blob = keras2tflite(model, "fp32")
        del model
        keras.backend.clear_session()
    with tempfile.TemporaryDirectory(prefix="edgekit-compare-") as tmp:
        path = Path(tmp) / f"{spec.name}-{size}-fp32.tflite"
        path.write_bytes(blob)
        graph = load_graph(path)
    return {
        "model": spec.name,
        "input_size": size,
        "num_classes": num_classes,
        "params": params,
        "fp32_size_bytes": len(blob),
        "build_seconds": round(time.perf_counter() - t0, 2),
        "graph": graph_to_json(graph),
    }


def cached_graph(
    spec: ModelSpec, size: int, num_classes: int, cache_dir: Path | None = None, progress: Any = None
) -> tuple[dict, Any, bool]:
    """(metadata, FP32 graph, was it cached) for a zoo model at an input size, building it the first time."""
    key = f"{spec.name}-{size}px-{num_classes}c-v{CACHE_VERSION}-{definition_hash(spec.name, size, 'fp32')}"
    path = cache_root(cache_dir) / "graphs" / f"{key}.json"
    if path.is_file():
        try:
            meta = json.loads(path.read_text())
            return meta, graph_from_json(meta["graph"]), True
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is rebuilt, never trusted
    if progress:
        progress(f"{spec.name}: building and converting its {size} px graph once (then cached in {path.parent})")
    meta = _build_fp32_graph(spec, size, num_classes)
    write_json_atomic(path, meta)
    return meta, graph_from_json(meta["graph"]), False


# ---------------------------------------------------------------------------------------------------------------------
# Saved profiles


def _result_input_size(result: dict[str, Any]) -> int | None:
    for t in result.get("inputs") or []:
        shape = t.get("shape") if isinstance(t, dict) else None
        if isinstance(shape, list) and len(shape) == 4:
            return int(shape[1])
    manifest = (result.get("artifact") or {}).get("manifest")
    if manifest and Path(manifest).is_file():
        try:
            return int(json.loads(Path(manifest).read_text())["input"]["shape"][1])
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return None
    return None


SOURCE_RANK = {"measured": 0, "predicted": 1, "emulated": 2}


def saved_profile(results: list[dict], spec: ModelSpec, precision: str, size: int) -> dict[str, Any] | None:
    """The best saved result for this model: measured before predicted, then the newest; same input size."""
    matches = []
    for r in results:
        if r.get("model") != spec.name or r.get("precision") != precision or r.get("status") != "ok":
            continue
        if not (r.get("latency_ms") or {}).get("median"):
            continue  # emulated results carry no latency
        if (_result_input_size(r) or spec.default_input_size) != size:
            continue
        matches.append(r)
    matches.sort(key=lambda r: (SOURCE_RANK.get(r.get("source"), 9), str(r.get("date"))), reverse=False)
    best = [r for r in matches if r.get("source") == matches[0].get("source")] if matches else []
    return max(best, key=lambda r: str(r.get("date"))) if best else None


def _fidelity(
    result: dict[str, Any] | None, export_root: Path, spec: ModelSpec, fmt: str, precision: str
) -> dict | None:
    """Fidelity of the export against its float model (measured on held-out images), when an export exists."""
    if result and result.get("fidelity"):
        return result["fidelity"]
    manifest = Path(export_root) / spec.name / f"{fmt}-{precision}" / "manifest.json"
    if manifest.is_file():
        try:
            return json.loads(manifest.read_text()).get("fidelity")
        except (OSError, ValueError):
            return None
    return None


# ---------------------------------------------------------------------------------------------------------------------
# Figures


def figures_from_result(result: dict[str, Any], path: str) -> dict[str, Any]:
    source = result.get("source")
    return {
        "latency_ms": latency_from_result(result),
        "energy_mj": figure(result.get("energy_mj"), source),
        "power_w": figure(result.get("power_w"), source),
        "peak_memory_bytes": figure(result.get("peak_memory_bytes"), source),
        "size_bytes": figure(result.get("size_bytes"), "measured", what="artifact file"),
        "layers": result.get("layers") or [],
        "from": path,
    }


def predicted_figures(meta: dict, graph: Any, target: Any, precision: str) -> dict[str, Any]:
    """Predict one precision on the target from the cached FP32 graph (INT8 derived from it)."""
    from edgekit.costmodel.predict import predict_graph

    g = derive_int8(graph) if precision == "int8" else graph
    res = predict_graph(g, target, allow_any_format=True)
    overhead = meta["fp32_size_bytes"] - graph.weight_bytes  # flatbuffer structure besides the weights
    if precision == "int8":
        size = figure(g.weight_bytes + max(overhead, 0), "predicted", what="int8 weights + fp32 file's structure")
    else:
        size = figure(meta["fp32_size_bytes"], "measured", what="converted fp32 .tflite file")
    lat = res["latency_ms"]
    return {
        "latency_ms": {
            "median": lat["median"],
            "low": lat["low"],
            "high": lat["high"],
            "band": "cost-model band",
            "source": "predicted",
            "runtime": res["runtime"],
        },
        "energy_mj": figure(res["energy_mj"], "predicted"),
        "power_w": figure(res["power_w"], "predicted"),
        "peak_memory_bytes": figure(res["peak_memory_bytes"], "predicted"),
        "size_bytes": size,
        "layers": res["layers"],
        "basis": res["basis"],
        "from": "predicted on the spot from the model graph",
    }


def _fp32_size_figure(meta: dict | None, spec: ModelSpec) -> dict[str, Any]:
    if meta is not None:
        return figure(meta["fp32_size_bytes"], "measured", what="converted fp32 .tflite file")
    return figure(None, None)


# ---------------------------------------------------------------------------------------------------------------------
# Rows


def _other(precision: str) -> str:
    return "fp32" if precision == "int8" else "int8"


def compare_row(
    spec: ModelSpec, req: CompareRequest, target: Any, precision: str, results: list[dict]
) -> dict[str, Any]:
    size = input_size_for(spec, req.input_size)
    meta = graph = None
    cached = None
    by_precision: dict[str, Any] = {}
    for prec in (precision, _other(precision)):
        saved = saved_profile(results, spec, prec, size)
        if saved is not None:
            by_precision[prec] = figures_from_result(saved, saved.get("_path", "saved profile"))
            by_precision[prec]["fidelity"] = _fidelity(saved, req.export_root, spec, saved["format"], prec)
            continue
        if prec not in target.runtime.precisions:
            by_precision[prec] = {"skipped": f"{target.id} does not run {prec} models"}
            continue
        if req.saved_only:
            by_precision[prec] = {"skipped": "no saved profile (--saved-only)"}
            continue
        if graph is None:
            meta, graph, cached = cached_graph(spec, size, req.num_classes, req.cache_dir, req.progress)
        by_precision[prec] = predicted_figures(meta, graph, target, prec)
        by_precision[prec]["fidelity"] = _fidelity(None, req.export_root, spec, target.runtime.formats[0], prec)
    main = by_precision[precision]
    macs = graph.macs if graph is not None else (spec.macs if size == spec.default_input_size else None)
    params = meta["params"] if meta else (spec.params if req.num_classes == 1000 else None)
    fp32 = by_precision.get("fp32", {})
    int8 = by_precision.get("int8", {})
    return {
        "model": spec.name,
        "family": spec.family,
        "target": target.id,
        "precision": precision,
        "input_size": size,
        "params": params,
        "params_in_notes": spec.notes.params if spec.notes else None,
        "macs": macs,
        "size_fp32_bytes": fp32.get("size_bytes") or _fp32_size_figure(meta, spec),
        "size_int8_bytes": int8.get("size_bytes") or figure(None, None),
        "latency_ms": main.get("latency_ms"),
        "energy_mj": main.get("energy_mj") or figure(None, None),
        "peak_memory_bytes": main.get("peak_memory_bytes") or figure(None, None),
        "fidelity": main.get("fidelity"),
        "accuracy": accuracy_figure(spec, size, req.num_classes, main.get("fidelity")),
        "use_case": spec.use_case,
        "use_case_in_notes": spec.notes.use_case if spec.notes else None,
        "from": main.get("from") or main.get("skipped"),
        "layers": main.get("layers") or [],
        "by_precision": {
            p: {k: v.get(k) for k in ("latency_ms", "energy_mj", "size_bytes", "skipped") if k in v}
            for p, v in by_precision.items()
        },
        "graph_cached": cached,
        "graph_build_seconds": meta.get("build_seconds") if meta else None,
    }


def _load_saved(profiles_dir: Path, target: str) -> list[dict[str, Any]]:
    from edgekit.results.store import load_results_with_problems

    results, _problems = load_results_with_problems(profiles_dir, target)
    return results


def compare(req: CompareRequest) -> dict[str, Any]:
    """The comparison for one target: validated first (nothing is built if any name is wrong), then row by row."""
    from edgekit.hardware.targets import get_target

    target = get_target(req.target)
    specs = resolve_models(req.models)
    precision = resolve_precision(target, req.precision)
    for spec in specs:
        input_size_for(spec, req.input_size)
    results = _load_saved(req.profiles_dir, target.id)
    if req.saved_only and not results:
        raise UsageError(
            f"no saved profiles for {target.id} in {Path(req.profiles_dir) / target.id}: fill it with "
            f"`edgekit profile MODEL --target {target.id}`, or drop --saved-only to predict on the spot"
        )
    t0 = time.perf_counter()
    rows = [compare_row(spec, req, target, precision, results) for spec in specs]
    return {
        "target": target.id,
        "target_name": target.name,
        "precision": precision,
        "input_size": req.input_size,
        "rows": rows,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def run_compare(
    req: CompareRequest,
    csv_path: Path | None = None,
    html_path: Path | None = None,
    plots_dir: Path | None = None,
    layers_model: str | None = None,
) -> dict[str, Any]:
    """`edgekit compare`: outputs checked before any work, then the rows and the files asked for (the command line
    prints the table)."""
    report.check_outputs(csv_path, html_path, plots_dir)
    if layers_model is not None:
        names = [s.name for s in resolve_models(req.models)]
        if get_spec(layers_model).name not in names:
            raise UsageError(f"--layers {layers_model} is not among the compared models ({', '.join(names)})")
        layers_model = get_spec(layers_model).name
    result = compare(req)
    if csv_path is not None:
        write_bytes_atomic(Path(csv_path), report.csv_text(result["rows"]).encode())
    if html_path is not None or plots_dir is not None:
        result["written"] = report.write_compare_report(result, html_path, plots_dir, layers_model)
    return result
