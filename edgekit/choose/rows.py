"""compare's rows: one per model on one target and runtime, every figure with its source.

A row takes its latency, energy and memory from a saved profile when one matches the model, the table's runtime,
precision, input size and threads; otherwise it is predicted on the spot: a zoo model or a user's .keras file from
its cached FP32 graph (INT8 derived from it, edgekit.choose.graphs), a user's model file from its own graph. Per-layer
rows carry the Keras layer each op came from (edgekit.analyze.layernames).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgekit.analyze.layernames import op_layer_map, with_keras_names
from edgekit.choose.facts import accuracy_figure, figure, latency_from_result
from edgekit.choose.graphs import cached_graph, cached_keras_file, derive_int8
from edgekit.choose.lanes import Lane, lane_runtime, result_lane
from edgekit.choose.usermodels import UserModel, artifact_for, input_size_of, saved_for_file
from edgekit.models.registry import ModelSpec

SOURCE_RANK = {"measured": 0, "predicted": 1, "emulated": 2}
USER_FAMILY = "your model"


@dataclass(frozen=True)
class Table:
    """What every row of one table shares: the target, its runtime, the precision and threads, the saved results."""

    target: Any
    lane: Lane
    precision: str
    threads: int
    results: list[dict[str, Any]]
    req: Any  # edgekit.choose.compare.CompareRequest

    def runs_result(self, result: dict[str, Any]) -> bool:
        """A saved result measured or predicted on this table's runtime with its threads."""
        runtime = result.get("runtime") or {}
        return result_lane(self.target, result) == self.lane.runtime and runtime.get("threads") == self.threads


def input_size_for(spec: ModelSpec, requested: int | None) -> int:
    size = requested or spec.default_input_size
    spec.check_input_size(size)
    return size


# ---------------------------------------------------------------------------------------------------------------------
# Saved profiles


def result_input_size(result: dict[str, Any]) -> int | None:
    for t in result.get("inputs") or []:
        shape = t.get("shape") if isinstance(t, dict) else None
        if isinstance(shape, list) and len(shape) == 4:
            return int(shape[1])
    if isinstance(result.get("input_size"), int):
        return result["input_size"]
    manifest = (result.get("artifact") or {}).get("manifest")
    if manifest and Path(manifest).is_file():
        try:
            return int(json.loads(Path(manifest).read_text())["input"]["shape"][1])
        except (OSError, ValueError, KeyError, IndexError, TypeError):
            return None
    return None


def saved_profile(table: Table, model: str, precision: str, size: int, default_size: int) -> dict[str, Any] | None:
    """The best saved result for this model on the table's runtime and threads: measured before predicted, then
    the newest; same precision and input size."""
    matches = []
    for r in table.results:
        if r.get("model") != model or r.get("precision") != precision or r.get("status") != "ok":
            continue
        if not (r.get("latency_ms") or {}).get("median") or not table.runs_result(r):
            continue  # emulated results carry no latency; another runtime or thread count is another table
        if (result_input_size(r) or default_size) != size:
            continue
        matches.append(r)
    if not matches:
        return None
    best = min(SOURCE_RANK.get(r.get("source"), 9) for r in matches)
    return max((r for r in matches if SOURCE_RANK.get(r.get("source"), 9) == best), key=lambda r: str(r.get("date")))


def _fidelity(result: dict[str, Any] | None, export_root: Path, model: str, fmt: str, precision: str) -> dict | None:
    """Fidelity of the export against its float model (measured on held-out images), when an export exists."""
    if result and result.get("fidelity"):
        return result["fidelity"]
    manifest = Path(export_root) / model / f"{fmt}-{precision}" / "manifest.json"
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


def predicted_figures(meta: dict, graph: Any, table: Table, precision: str) -> dict[str, Any]:
    """Predict one precision on the table's runtime from a cached FP32 graph (INT8 derived from it)."""
    from edgekit.costmodel.predict import predict_graph

    g = derive_int8(graph) if precision == "int8" else graph
    if lane_runtime(table.target, g.format) != table.lane.runtime:  # the ops and shapes, run by the lane's runtime
        g = replace(g, format=table.lane.format)
    res = predict_graph(g, table.target, threads=table.threads, allow_any_format=True)
    overhead = meta["fp32_size_bytes"] - graph.weight_bytes  # flatbuffer structure besides the weights
    if precision == "int8":
        size = figure(g.weight_bytes + max(overhead, 0), "predicted", what="int8 weights + fp32 file's structure")
    else:
        size = figure(meta["fp32_size_bytes"], "measured", what="converted fp32 .tflite file")
    lat = res["latency_ms"]
    basis = "predicted on the spot from the model graph"
    if res["runtime"]["name"] != table.lane.runtime:
        basis += f" with {res['runtime']['name']}'s constants (the cost model has none for {table.lane.runtime})"
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
        "layers": with_keras_names(res["layers"], op_layer_map(graph, meta.get("layer_scopes"))),
        "basis": res["basis"],
        "from": basis,
    }


# ---------------------------------------------------------------------------------------------------------------------
# Rows


def _other(precision: str) -> str:
    return "fp32" if precision == "int8" else "int8"


def _graph_figures(table: Table, saved: Any, load: Any, fidelity: Any) -> tuple[dict[str, Any], dict | None, Any]:
    """Both precisions of a model predicted from its cached graph, saved results first: (by precision, meta, graph
    or None when nothing was predicted), meta including "cached"."""
    meta = graph = None
    by_precision: dict[str, Any] = {}
    for prec in (table.precision, _other(table.precision)):
        result = saved(prec)
        if result is not None:
            by_precision[prec] = figures_from_result(result, result.get("_path", "saved profile"))
            by_precision[prec]["fidelity"] = fidelity(result, prec)
            by_precision[prec]["weights"] = result.get("weights")  # which weights the measured artifact held
            continue
        if prec not in table.target.runtime.precisions:
            by_precision[prec] = {"skipped": f"{table.target.id} does not run {prec} models"}
            continue
        if table.req.saved_only:
            by_precision[prec] = {"skipped": "no saved profile (--saved-only)"}
            continue
        if graph is None:
            meta, graph, cached = load()
            meta = {**meta, "cached": cached}
        by_precision[prec] = predicted_figures(meta, graph, table, prec)
        by_precision[prec]["fidelity"] = fidelity(None, prec)
    return by_precision, meta, graph


def _row(table: Table, name: str, size: int | None, by_precision: dict[str, Any], **facts: Any) -> dict[str, Any]:
    main = by_precision.get(table.precision) or {}
    fp32, int8 = by_precision.get("fp32", {}), by_precision.get("int8", {})
    latency = main.get("latency_ms")
    return {
        "model": name,
        "family": facts.pop("family"),
        "target": table.target.id,
        "runtime": table.lane.runtime,
        "precision": table.precision,
        "input_size": size,
        "params": facts.pop("params"),
        "params_in_notes": facts.pop("params_in_notes", None),
        "macs": facts.pop("macs"),
        "size_fp32_bytes": fp32.get("size_bytes") or facts.pop("fp32_size", None) or figure(None, None),
        "size_int8_bytes": int8.get("size_bytes") or figure(None, None),
        "latency_ms": latency,
        "energy_mj": main.get("energy_mj") or figure(None, None),
        "peak_memory_bytes": main.get("peak_memory_bytes") or figure(None, None),
        "fidelity": main.get("fidelity"),
        "accuracy": facts.pop("accuracy")(main.get("fidelity"), main.get("weights")),
        "use_case": facts.pop("use_case", ""),
        "use_case_in_notes": facts.pop("use_case_in_notes", None),
        "from": main.get("from") or main.get("skipped"),
        "layers": main.get("layers") or [],
        "by_precision": {
            p: {k: v.get(k) for k in ("latency_ms", "energy_mj", "size_bytes", "skipped") if k in v}
            for p, v in by_precision.items()
        },
        **facts,
    }


def zoo_row(spec: ModelSpec, table: Table) -> dict[str, Any]:
    req = table.req
    size = input_size_for(spec, req.input_size)
    by_precision, meta, graph = _graph_figures(
        table,
        lambda prec: saved_profile(table, spec.name, prec, size, spec.default_input_size),
        lambda: cached_graph(spec, size, req.num_classes, req.cache_dir, req.progress),
        lambda result, prec: _fidelity(result, req.export_root, spec.name, (result or {}).get("format")
                                       or table.lane.format, prec),
    )  # fmt: skip
    fp32_size = figure(meta["fp32_size_bytes"], "measured", what="converted fp32 .tflite file") if meta else None
    return _row(
        table,
        spec.name,
        size,
        by_precision,
        family=spec.family,
        params=meta["params"] if meta else (spec.params if req.num_classes == 1000 else None),
        params_in_notes=spec.notes.params if spec.notes else None,
        macs=graph.macs if graph is not None else (spec.macs if size == spec.default_input_size else None),
        fp32_size=fp32_size,
        accuracy=lambda fid, weights: accuracy_figure(spec, size, req.num_classes, fid, weights),
        use_case=spec.use_case,
        use_case_in_notes=spec.notes.use_case if spec.notes else None,
        graph_cached=meta["cached"] if meta else None,
        graph_build_seconds=meta.get("build_seconds") if meta else None,
    )


def _measured_accuracy(fid: dict | None, weights: str | None = None) -> dict[str, Any]:
    if fid and fid.get("accuracy") is not None:
        return figure(fid["accuracy"], "measured", what="labelled accuracy of the export's held-out images")
    return figure(None, None)


def keras_row(user: UserModel, table: Table) -> dict[str, Any]:
    """A user's .keras file: converted once (cached by content; its input size is the file's), predicted like a zoo
    model; saved results of its model name (what export and profile call it: the file's stem) count first."""
    req = table.req
    meta, graph, cached = loaded = cached_keras_file(user.path, req.cache_dir, req.progress)
    size = input_size_of(graph)
    by_precision, _, _ = _graph_figures(
        table,
        lambda prec: saved_profile(table, user.path.stem, prec, size or 0, size or 0),
        lambda: loaded,
        lambda result, prec: _fidelity(result, req.export_root, user.path.stem, table.lane.format, prec),
    )
    return _row(
        table,
        user.name,
        size,
        by_precision,
        family=USER_FAMILY,
        params=meta.get("params"),
        macs=graph.macs,
        fp32_size=figure(meta["fp32_size_bytes"], "measured", what="converted fp32 .tflite file"),
        accuracy=_measured_accuracy,
        graph_cached=cached,
        graph_build_seconds=meta.get("build_seconds"),
    )


def files_row(user: UserModel, table: Table) -> dict[str, Any]:
    """A user's model file or export folder: the file this runtime runs, from a saved result of that very file,
    else predicted from its own graph (its Keras layer names from the trace its export recorded)."""
    from edgekit.analyze.graph import load_graph

    art, why = artifact_for(user, table.lane.formats, table.precision)
    facts: dict[str, Any] = {"family": USER_FAMILY, "params": None, "macs": None, "accuracy": _measured_accuracy}
    if art is None:
        return _row(table, user.name, None, {table.precision: {"skipped": why}}, **facts)
    graph = load_graph(art.path)
    saved = saved_for_file(table.results, art.path, table.runs_result)
    if saved is not None:
        figures = figures_from_result(saved, saved.get("_path", "saved profile"))
    elif table.req.saved_only:
        figures = {"skipped": "no saved profile of this file (--saved-only)"}
    else:
        from edgekit.costmodel.predict import predict_artifact

        result = predict_artifact(art.path, table.target, threads=table.threads)
        figures = figures_from_result(result, f"predicted on the spot from {art.path.name}'s graph")
    figures["fidelity"] = (art.manifest or {}).get("fidelity")
    facts["macs"] = graph.macs
    return _row(table, user.name, input_size_of(graph), {table.precision: figures}, **facts)
