"""Reference graphs for the published rows: zoo models at the row's input size (random weights: only the graph's
shape matters to the cost model), converted to TFLite once and summarised as graph JSON.

The summaries ship as package data (edgekit/costmodel/data/reference-graphs/) so that `edgekit fit` and its tests
run in seconds without converting VGG16 to INT8 again. Each file name carries a hash of the model's definition (the
source of its family module and the blocks it uses, the Keras and TensorFlow versions): editing a model makes its
old summary unused, and `edgekit fit --rebuild` converts it again. A row whose architecture the zoo lacks rests on
a summary read from a file another framework wrote (edgekit.costmodel.foreign, `edgekit fit --graph NAME=FILE`),
never on a silently hand-built stand-in.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tokenize
from importlib import metadata
from pathlib import Path
from typing import Any

from edgekit.analyze import Graph, OpInfo, TensorInfo
from edgekit.costmodel.constants import GRAPHS_DIR
from edgekit.errors import EdgekitError, UsageError
from edgekit.ioutil import write_bytes_atomic

TFLITE_CACHE = Path(os.environ.get("EDGEKIT_FIT_CACHE", Path.home() / ".cache" / "edgekit" / "fit"))
MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


# ModelSpec fields that describe a model without shaping its graph: editing one (a published top-1, a use case)
# must not make the committed reference graphs unusable.
DOCUMENTARY_FIELDS = frozenset(
    {"display_name", "family", "year", "params", "macs", "use_case", "published_top1", "notes", "default_row",
     "edge", "aliases", "imagenet_weights"}
)  # fmt: skip


def graph_tokens(source: str) -> list[str]:
    """The tokens of a model module that can shape a graph: no comments, docstrings, imports or layout, no
    documentary keyword arguments, and no module constants used only by those (tokenize is stable across Pythons)."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.INDENT, tokenize.DEDENT}
    toks = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type not in skip]
    statements, current, depth, documentary_names = [], [], 0, set()
    i = 0
    while i < len(toks):
        tok = toks[i]
        keyword = tok.type == tokenize.NAME and i + 1 < len(toks) and toks[i + 1].string == "="
        if depth and keyword and tok.string in DOCUMENTARY_FIELDS and current and current[-1] in ("(", ","):
            i, inner = i + 2, 0  # skip the value up to the ',' or ')' that ends it
            while not (inner == 0 and toks[i].string in (",", ")")):
                inner += toks[i].string in "([{" if toks[i].type == tokenize.OP else 0
                inner -= toks[i].string in ")]}" if toks[i].type == tokenize.OP else 0
                documentary_names.add(toks[i].string if toks[i].type == tokenize.NAME else "")
                i += 1
            i += toks[i].string == ","
            continue
        if tok.type == tokenize.OP:
            depth += (tok.string in "([{") - (tok.string in ")]}")
        if tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
            statements.append(current)
            current = []
        else:
            current.append(tok.string)
        i += 1
    kept = [st for st in statements if st and st[0] not in ("import", "from") and not _docstring(st)]
    used = [name for st in kept for name in (st[2:] if len(st) > 1 and st[1] == "=" else st)]
    only_documentary = {n for n in documentary_names if n and n not in used}
    kept = [st for st in kept if not (len(st) > 1 and st[1] == "=" and st[0] in only_documentary)]
    return [t for st in kept for t in (*st, "\n")]


def _docstring(statement: list[str]) -> bool:
    return len(statement) == 1 and statement[0][-1:] in ("'", '"')


def definition_hash(model: str, size: int, precision: str) -> str:
    """What the converted graph's shape depends on: the family module that registers the model, the shared blocks
    and builders (their graph-shaping tokens), the Keras and converter versions, and the row's size and precision."""
    from edgekit.models.registry import get_spec

    spec = get_spec(model)
    h = hashlib.sha256(f"{spec.name}|{size}|{precision}|".encode())
    for name in (_family_file(spec.name), "families/_common.py", "blocks.py"):  # weights do not change a shape
        h.update("\x00".join(graph_tokens((MODELS_DIR / name).read_text())).encode())
    for package in ("keras", "tensorflow-cpu"):
        h.update(f"{package}=={_version(package)}".encode())
    return h.hexdigest()[:12]


def _family_file(model: str) -> str:
    import sys

    from edgekit.models import families
    from edgekit.models.registry import get_spec

    spec = get_spec(model)
    for name, module in sorted(sys.modules.items()):
        if name.startswith(families.__name__ + ".") and any(v is spec for v in vars(module).values()):
            return "families/" + Path(module.__file__ or "").name
    raise EdgekitError(f"cannot find the family module of {model}")


def in_zoo(model: str) -> bool:
    from edgekit.models.registry import get_spec

    try:
        get_spec(model)
    except UsageError:
        return False
    return True


def foreign_summaries(model: str, size: int | None = None, precision: str | None = None) -> list[Path]:
    """The committed summaries of a model outside the zoo (edgekit.costmodel.foreign; any size and precision unless
    given)."""
    pattern = f"{model}-{size if size is not None else '*'}-{precision or '*'}-*.json.gz"
    return sorted(p for p in GRAPHS_DIR.glob(pattern) if p.name.split("-")[0] == model)


def summary_path(model: str, size: int, precision: str) -> Path:
    """The zoo model's summary at its current definition hash, or the one committed summary of a foreign graph."""
    if not in_zoo(model):
        found = foreign_summaries(model, size, precision)
        if not found:
            raise EdgekitError(
                f"no reference graph for {model} at {size} px {precision}: it is not in the zoo; add one from any "
                f"framework's file with `edgekit fit --graph {model}=FILE` (.onnx, .tflite, .xml or .keras)"
            )
        return found[-1]
    return GRAPHS_DIR / f"{model}-{size}-{precision}-{definition_hash(model, size, precision)}.json.gz"


# ---------------------------------------------------------------------------------------------------------------------
# Graph <-> JSON


def _tensor_json(t: TensorInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"name": t.name, "shape": list(t.shape), "dtype": t.dtype}
    for key, default in (("const", False), ("dynamic_dims", ()), ("quantized", False), ("nbytes_override", None),
                         ("values", None)):  # fmt: skip
        value = getattr(t, key)
        if value != default:
            out[key] = list(value) if isinstance(value, tuple) else value
    return out


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples the readers produce (op rules compare options such as strides to tuples)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _tensor(d: dict[str, Any]) -> TensorInfo:
    kw = {k: _tuples(v) for k, v in d.items()}
    return TensorInfo(**kw)


def graph_to_json(graph: Graph) -> dict[str, Any]:
    """The graph as plain JSON (what the cost models read: ops, tensors, options); graph_from_json reverses it."""
    return {
        "path": graph.path,
        "format": graph.format,
        "precision": graph.precision,
        "notes": list(graph.notes),
        "inputs": [_tensor_json(t) for t in graph.inputs],
        "outputs": [_tensor_json(t) for t in graph.outputs],
        "ops": [
            {
                "index": op.index, "name": op.name, "type": op.type, "op_class": op.op_class, "macs": op.macs,
                "options": op.options, "inputs": [_tensor_json(t) for t in op.inputs],
                "outputs": [_tensor_json(t) for t in op.outputs],
            }
            for op in graph.ops
        ],
    }  # fmt: skip


def graph_from_json(data: dict[str, Any], path: str | None = None) -> Graph:
    ops = tuple(
        OpInfo(
            index=o["index"], name=o["name"], type=o["type"], op_class=o["op_class"], macs=o["macs"],
            options=_tuples(o["options"]), inputs=tuple(map(_tensor, o["inputs"])),
            outputs=tuple(map(_tensor, o["outputs"])),
        )
        for o in data["ops"]
    )  # fmt: skip
    return Graph(
        path=path if path is not None else data["path"],
        format=data["format"],
        ops=ops,
        inputs=tuple(map(_tensor, data["inputs"])),
        outputs=tuple(map(_tensor, data["outputs"])),
        precision=data["precision"],
        notes=tuple(data["notes"]),
    )


# ---------------------------------------------------------------------------------------------------------------------
# Building


def convert_tflite(model: Any, precision: str, size: int, samples: int = 2) -> bytes:
    """fp32 or full-integer int8 (int8 in/out; random representative data is fine for the graph's shape)."""
    import warnings

    import keras
    import numpy as np
    import tensorflow as tf

    # Batch pinned to 1 as on the devices (a dynamic batch adds SHAPE/PACK ops around Flatten that the Edge TPU
    # compiler cannot map, and published figures are for static graphs).
    inp = keras.Input((size, size, 3), batch_size=1)
    converter = tf.lite.TFLiteConverter.from_keras_model(keras.Model(inp, model(inp)))
    if precision == "int8":
        rng = np.random.default_rng(0)

        def representative():
            for _ in range(samples):
                yield [rng.uniform(-1, 1, (1, size, size, 3)).astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif precision != "fp32":
        raise ValueError(precision)
    with warnings.catch_warnings():  # "Statistics for quantized inputs were expected": expected with int8 IO
        warnings.simplefilter("ignore", UserWarning)
        return converter.convert()


def reference_tflite(model: str, precision: str, size: int, cache_dir: Path | None = None) -> Path:
    """The row's model converted to .tflite (cached by definition hash; VGG16 int8 takes minutes the first time)."""
    from edgekit.models.registry import create_model

    cache = Path(cache_dir or TFLITE_CACHE)
    path = cache / f"{model}-{size}-{precision}-{definition_hash(model, size, precision)}.tflite"
    if not path.exists():
        keras_model = create_model(model, input_size=size, num_classes=1000, weights="none")
        write_bytes_atomic(path, convert_tflite(keras_model, precision, size))
    return path


def write_summary(model: str, size: int, precision: str, cache_dir: Path | None = None) -> Path:
    from edgekit.analyze import load_graph
    from edgekit.analyze.graph import static_graph

    graph = static_graph(load_graph(reference_tflite(model, precision, size, cache_dir)))
    data = {"model": model, "input": size, "precision": precision, "graph": graph_to_json(graph)}
    out = summary_path(model, size, precision)
    write_bytes_atomic(out, gzip.compress(json.dumps(data, separators=(",", ":")).encode(), mtime=0))
    return out


def reference_graph(model: str, size: int, precision: str, build: bool = False) -> Graph:
    """The committed summary of the row's graph; build=True converts it when it is missing or stale."""
    path = summary_path(model, size, precision)
    if not path.is_file():
        if not build:
            raise EdgekitError(
                f"no reference graph for {model} at {size} px {precision} ({path.name}): the model's definition or "
                "the converter changed since the summaries were made; run `edgekit fit --rebuild`"
            )
        write_summary(model, size, precision)
    data = json.loads(gzip.decompress(path.read_bytes()))
    return graph_from_json(data["graph"], str(path))


def stale_summaries() -> list[Path]:
    """Committed summaries no current definition hash points to (left behind by a model edit)."""
    live = set()
    for path in GRAPHS_DIR.glob("*.json.gz"):
        model, size, precision = path.name.split("-")[:3]
        try:
            if not in_zoo(model) or summary_path(model, int(size), precision) == path:
                live.add(path)  # a foreign graph's summary is its own definition
        except (UsageError, ValueError):  # a foreign file name: stale
            continue
    return sorted(set(GRAPHS_DIR.glob("*.json.gz")) - live)
