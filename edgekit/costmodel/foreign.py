"""Reference graphs of models the zoo lacks, read from a file any framework wrote: an .onnx (timm/torchvision
exports), a .tflite (any converter), an OpenVINO .xml (`ovc`) or a Keras .keras file (converted to .tflite here).

Predictions never depend on the zoo: a published row names its model, and `edgekit fit --graph NAME=FILE` commits
that model's graph summary beside the zoo's (edgekit/costmodel/data/reference-graphs/NAME-SIZE-PRECISION-HASH.json.gz,
HASH of the summary itself). The summary records where the graph came from ("origin"): file name, sha256, format
and the tool that wrote it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

from edgekit.analyze import Graph
from edgekit.costmodel import reference
from edgekit.costmodel.reference import foreign_summaries, graph_to_json, in_zoo
from edgekit.errors import UsageError
from edgekit.ioutil import sha256_file, write_bytes_atomic

KERAS_SUFFIXES = (".keras", ".h5")


def input_size(graph: Graph) -> int:
    """The square image side of the graph's first input (NHWC or NCHW)."""
    shape = graph.inputs[0].shape if graph.inputs else ()
    sides = [d for d in shape[1:] if shape[1:].count(d) >= 2 and d > 4]
    if len(shape) != 4 or not sides:
        raise UsageError(f"cannot tell the image size of {Path(graph.path).name}: input shape {list(shape)}")
    return sides[0]


def read_foreign(path: Path, precision: str | None = None) -> tuple[Graph, str]:
    """The graph of any model file, and the precision it is summarised at (a Keras file is converted to .tflite at
    `precision`, fp32 by default; another file keeps its own)."""
    from edgekit.analyze import load_graph
    from edgekit.analyze.graph import static_graph

    if not path.is_file():
        raise UsageError(f"{path} does not exist or is not a file")
    if path.suffix in KERAS_SUFFIXES:
        graph = static_graph(load_graph(_keras_to_tflite(path, precision or "fp32")))
        return graph, precision or "fp32"
    graph = static_graph(load_graph(path))
    own = "int8" if graph.precision == "int8" else "fp32"
    if precision and precision != own:
        raise UsageError(f"{path.name} is a {own} graph, not {precision}: convert it first or name its precision")
    return graph, own


def _keras_to_tflite(path: Path, precision: str) -> Path:
    import keras

    model = keras.models.load_model(path, compile=False)
    size = int(model.inputs[0].shape[1])
    out = reference.TFLITE_CACHE / f"{path.stem}-{size}-{precision}-{sha256_file(path)[:12]}.tflite"
    if not out.exists():
        write_bytes_atomic(out, reference.convert_tflite(model, precision, size))
    return out


def write_foreign_summary(model: str, path: Path, precision: str | None = None, tool: str = "") -> Path:
    """Summarise the graph in `path` as the reference graph of `model` (replacing an older one of the same size and
    precision); returns the summary's path."""
    if not model.isidentifier():
        raise UsageError(f"graph name {model!r}: use letters, digits and '_' (file names split on '-')")
    if in_zoo(model):
        raise UsageError(f"{model} is a zoo model: its graph is built from the zoo (`edgekit fit --rebuild`)")
    graph, prec = read_foreign(Path(path), precision)
    size = input_size(graph)
    origin = {"file": Path(path).name, "sha256": sha256_file(Path(path)), "format": graph.format, "tool": tool}
    data: dict[str, Any] = {"model": model, "input": size, "precision": prec, "origin": origin,
                            "graph": {**graph_to_json(graph), "path": Path(path).name}}  # fmt: skip
    blob = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    out = reference.GRAPHS_DIR / f"{model}-{size}-{prec}-{hashlib.sha256(blob).hexdigest()[:12]}.json.gz"
    for old in foreign_summaries(model, size, prec):
        if old != out:
            old.unlink()
    write_bytes_atomic(out, gzip.compress(blob, mtime=0))
    return out


def parse_graph_option(value: str) -> tuple[str, str | None, Path]:
    """NAME[@PRECISION]=FILE of `edgekit fit --graph`."""
    name, sep, file = value.partition("=")
    if not sep or not name or not file:
        raise UsageError(f"--graph {value!r}: expected NAME=FILE or NAME@PRECISION=FILE")
    name, _, precision = name.partition("@")
    if precision and precision not in ("fp32", "int8"):
        raise UsageError(f"--graph {value!r}: precision must be fp32 or int8")
    return name, precision or None, Path(file)
