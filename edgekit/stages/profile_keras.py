"""`edgekit profile MODEL.keras`: a user's Keras model, predicted on a target straight from its graph.

The way `edgekit compare` predicts a user's .keras file (edgekit.choose.graphs): loaded once (safety-checked, Keras
safe mode), converted once to an FP32 TFLite graph and analysed, the analysis cached by the file's content; the INT8
graph is derived from it (int8 tensors, int32 biases, no calibration run). Nothing is exported. Measuring on this
machine needs an artifact instead: stages.profile exports the file on the fly.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from edgekit.errors import UsageError

KERAS_SUFFIX = ".keras"
PREDICT_NOTE = "predicted from the Keras model's graph (converted once to FP32 TFLite, cached by content; no export)"


def is_keras_file(item: str) -> bool:
    return Path(item).suffix == KERAS_SUFFIX


def keras_precision(asked: str | None, target) -> str:
    """A .keras file is profiled as it is deployed on an edge target: INT8 unless another precision is asked (or
    the target runs no INT8)."""
    precisions = tuple(target.runtime.precisions)
    if asked is not None:
        if asked not in precisions:
            raise UsageError(f"target {target.id} runs {'/'.join(precisions)} models, not {asked}")
        return asked
    return "int8" if "int8" in precisions else precisions[0]


def predicted_format(target, asked: tuple[str, ...] | None) -> str:
    """The format the prediction stands for: the first --format the target runs, else TFLite where the target runs
    it, else the target's own."""
    from edgekit.costmodel.kinds import hook

    if asked:
        runnable = [f for f in asked if target.runs(f)]
        if not runnable:
            raise UsageError(f"target {target.id} runs {'/'.join(target.runtime.formats)}, not {'/'.join(asked)}")
        return runnable[0]
    own = hook(target, "ARTIFACT_FORMAT")
    return own or ("tflite" if target.runs("tflite") else target.runtime.formats[0])


def keras_graph(path: Path, precision: str, fmt: str, progress: Any = None) -> tuple[Any, dict[str, Any]]:
    """(graph to predict, the conversion's metadata): the FP32 graph compare caches for this file's content, INT8
    derived from it; fp16/dynamic are predicted from the FP32 graph with the precision asked (the runtimes' kernels
    differ, the ops and shapes do not)."""
    from edgekit.choose.graphs import cached_keras_file, derive_int8

    meta, graph, cached = cached_keras_file(path, progress=progress)
    meta = {**meta, "graph_cached": cached, "fp32_weight_bytes": graph.weight_bytes}
    if precision == "int8":
        graph = derive_int8(graph)
    if fmt != graph.format:  # the same ops and shapes, run by the runtime of the format asked
        graph = replace(graph, format=fmt)
    return graph, meta


def predict_keras_file(path: Path, req, target, progress: Any = None) -> dict[str, Any]:
    """A profile result (source "predicted") for a .keras file on a target; req is a stages.profile.ProfileRequest."""
    from edgekit.analyze.layernames import op_layer_map, with_keras_names
    from edgekit.costmodel.predict import predict_graph
    from edgekit.ioutil import sha256_file
    from edgekit.results.record import base_result

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"no such model file: {path}")
    precision = keras_precision(req.precision, target)
    fmt = predicted_format(target, req.formats)
    try:
        graph, meta = keras_graph(path, precision, fmt, progress)
    except UsageError:
        raise
    except Exception as exc:  # a model Keras loads but TFLite cannot convert: a failed result, saved as such
        result = base_result(target.id, path.stem, fmt, precision, "predicted")
        first = (str(getattr(exc, "message", "") or exc).strip().splitlines() or [type(exc).__name__])[0]
        result.update(status="failed", error=f"converting {path.name} to TFLite failed: {first[:300]}")
        result["artifact"] = {"path": str(path)}
        return result
    core = predict_graph(graph, target, req.threads, precision, req.link, allow_any_format=True)
    result = base_result(target.id, path.stem, fmt, precision, "predicted")  # the name export and compare give it
    result.update({k: v for k, v in core.items() if k not in ("status", "error", "precision", "source")})
    result.update(
        input_size=meta["input_size"],
        params=meta["params"],
        size_bytes=_size_bytes(graph, meta, precision),
        layers=with_keras_names(core["layers"], op_layer_map(graph, meta.get("layer_scopes"))),
        artifact={"path": str(path), "sha256": sha256_file(path), "kind": "keras"},
        basis=f"{core['basis']}; {PREDICT_NOTE}"
        + ("; int8 graph derived from the fp32 conversion (no calibration run)" if precision == "int8" else ""),
        graph_cached=meta["graph_cached"],
        build_seconds=meta.get("build_seconds"),
    )
    return result


def _size_bytes(graph, meta: dict[str, Any], precision: str) -> int:
    """The artifact's size, estimated as compare does: the converted FP32 file's structure plus the weights at the
    precision asked (int8 for INT8 and dynamic range, half for fp16)."""
    structure = max(meta["fp32_size_bytes"] - meta["fp32_weight_bytes"], 0)
    fp32 = meta["fp32_weight_bytes"]
    weights = {"int8": graph.weight_bytes, "dynamic": fp32 // 4, "fp16": fp32 // 2}
    return int(structure + weights.get(precision, fp32))
