"""compare's graph cache: a model's FP32 TFLite graph, analysed once and kept as JSON, with its Keras layer trace.

A zoo model is built and converted once per input size, class count and definition hash; a user's .keras file once
per content hash. The INT8 graph is derived from the FP32 one (same ops and shapes, 8-bit tensors, 32-bit biases)
instead of a second, calibrated conversion; benchmarks/compare_speed.py checks the derived prediction against a real
INT8 conversion. The keep-float trace (edgekit.exporting.keepfloat.layer_scopes) is stored beside the graph so that
per-layer views name ops by Keras layer. TensorFlow is imported only when a graph is not cached yet.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgekit.costmodel.reference import definition_hash, graph_from_json, graph_to_json
from edgekit.ioutil import sha256_file, write_json_atomic
from edgekit.models.registry import ModelSpec, create_model
from edgekit.quiet import quiet_env, quiet_tf

CACHE_VERSION = 2  # 2: the Keras layer trace ("layer_scopes") is kept with the graph


def cache_root(cache_dir: Path | None = None) -> Path:
    """$EDGEKIT_CACHE, else ~/.cache/edgekit; compare keeps its graphs under graphs/."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("EDGEKIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "edgekit"


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


def _scopes(model: Any) -> dict[str, list[str]]:
    from edgekit.exporting.keepfloat import layer_scopes

    try:
        return layer_scopes(model)
    except Exception:  # a model the trace cannot call: the per-layer views keep the runtime's names
        return {}


def _build_fp32_graph(make_model: Callable[[], Any], label: str) -> dict[str, Any]:
    """Make the Keras model, trace its layers, convert it once to FP32 TFLite and analyse it (the .tflite itself is
    not kept)."""
    import tempfile

    from edgekit.analyze.graph import load_graph

    quiet_env()
    t0 = time.perf_counter()
    with quiet_tf():
        import keras

        from edgekit.exporting.formats.tflite import keras2tflite

        keras.backend.clear_session()  # Keras numbers unnamed layers per process: a fresh session names them alike
        model = make_model()
        params = int(model.count_params())
        size, classes = int(model.inputs[0].shape[1]), int(model.outputs[0].shape[-1])
        scopes = _scopes(model)
        blob = keras2tflite(model, "fp32")
        del model
        keras.backend.clear_session()
    with tempfile.TemporaryDirectory(prefix="edgekit-compare-") as tmp:
        path = Path(tmp) / f"{label}-{size}-fp32.tflite"
        path.write_bytes(blob)
        graph = load_graph(path)
    return {
        "model": label,
        "input_size": size,
        "num_classes": classes,
        "params": params,
        "fp32_size_bytes": len(blob),
        "build_seconds": round(time.perf_counter() - t0, 2),
        "layer_scopes": scopes,
        "graph": graph_to_json(graph),
    }


def _cached(path: Path, build: Callable[[], dict[str, Any]], line: str, progress: Any) -> tuple[dict, Any, bool]:
    if path.is_file():
        try:
            meta = json.loads(path.read_text())
            return meta, graph_from_json(meta["graph"]), True
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is rebuilt, never trusted
    if progress:
        progress(f"{line} (then cached in {path.parent})")
    meta = build()
    write_json_atomic(path, meta)
    return meta, graph_from_json(meta["graph"]), False


def cached_graph(
    spec: ModelSpec, size: int, num_classes: int, cache_dir: Path | None = None, progress: Any = None
) -> tuple[dict, Any, bool]:
    """(metadata, FP32 graph, was it cached) for a zoo model at an input size, building it the first time."""
    key = f"{spec.name}-{size}px-{num_classes}c-v{CACHE_VERSION}-{definition_hash(spec.name, size, 'fp32')}"
    path = cache_root(cache_dir) / "graphs" / f"{key}.json"

    def build() -> dict[str, Any]:
        return _build_fp32_graph(lambda: create_model(spec.name, size, num_classes, None, "none"), spec.name)

    line = f"{spec.name}: building and converting its {size} px graph once"
    return _cached(path, build, line, progress)


def cached_keras_file(path: Path, cache_dir: Path | None = None, progress: Any = None) -> tuple[dict, Any, bool]:
    """(metadata, FP32 graph, was it cached) for a user's .keras file (loaded in Keras safe mode), keyed by its
    content: the same file is converted once."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        keras_version = version("keras")
    except PackageNotFoundError:
        keras_version = "none"
    key = f"file-{sha256_file(path)[:20]}-keras{keras_version}-v{CACHE_VERSION}"
    where = cache_root(cache_dir) / "graphs" / f"{key}.json"

    def load() -> Any:
        from edgekit.exporting.options import ExportOptions
        from edgekit.exporting.source import load_keras_file

        return load_keras_file(Path(path), ExportOptions(model=str(path))).model

    return _cached(where, lambda: _build_fp32_graph(load, Path(path).stem), f"{path}: converting it once", progress)
