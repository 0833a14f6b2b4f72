"""--keep-float LAYER,...: Keras layers that stay float inside an INT8 export (mixed precision).

Every converter names its ops after TensorFlow name scopes, and Keras 3 opens a uniquified scope per layer call
(layer `conv2d` runs under `conv2d_1`, layer `conv2d_1` under `conv2d_1_2`), so a layer's name alone cannot be
matched against op names. One trace of the model with each layer's `call` recording its scope gives the exact
segment each layer's ops carry in TFLite, ONNX (tf2onnx) and OpenVINO (converted from that ONNX). A layer that
then matches no op of a format is an error (BatchNorm folded into its convolution, say), never a silent no-op.

Also here: which layers to suggest keeping float when INT8 loses too much accuracy (from the TFLite quantization
debugger's per-layer report), and the command that does it.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Iterable
from typing import Any

from edgekit.errors import UsageError

_SPLIT = re.compile(r"[;/:]")
SUGGEST_MAX = 5  # layers named in a suggestion
SUGGEST_SHARE = 0.5  # a suggestion covers half of the squared per-op error in the debugger's report


def parse_keep_float(value: str | None) -> tuple[str, ...]:
    """'a, b,a' -> ('a', 'b'): names as given (Keras layer names are case-sensitive)."""
    if value is None:
        return ()
    names = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    if not names:
        raise UsageError("--keep-float needs at least one Keras layer name")
    return names


def all_layers(model) -> list:
    from edgekit.models.layers import iter_layers

    return list(iter_layers(model))


def check_layer_names(model, names: Iterable[str]) -> None:
    """Unknown layer names: one line naming the closest layers of the model."""
    known = [layer.name for layer in all_layers(model)]
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.4)
            near = f"; near matches: {', '.join(close)}" if close else f"; the model's layers include {known[1]}, ..."
            raise UsageError(f"--keep-float: the model has no layer '{name}'{near}")


def output_layer_name(model) -> str:
    history = getattr(model.outputs[0], "_keras_history", None)
    return history[0].name if history else model.layers[-1].name


def layer_scopes(model) -> dict[str, list[str]]:
    """layer name -> the name-scope segments its ops carry, from one graph trace with each call recorded."""
    import tensorflow as tf

    seen: dict[str, list[str]] = {}
    patched = []
    for layer in all_layers(model):
        if "call" in vars(layer):  # already patched (a layer shared by two paths)
            continue
        original = layer.call

        def call(*args, _layer=layer, _original=original, **kwargs):
            seen.setdefault(_layer.name, []).append(tf.get_current_name_scope().rsplit("/", 1)[-1])
            return _original(*args, **kwargs)

        object.__setattr__(layer, "call", call)  # Keras' __setattr__ would track it
        patched.append(layer)
    try:
        shape = (1, *tuple(model.inputs[0].shape[1:]))
        trace = tf.function(lambda x: model(x, training=False), input_signature=[tf.TensorSpec(shape, tf.float32)])
        trace.get_concrete_function()
    finally:
        for layer in patched:
            object.__delattr__(layer, "call")
    return {name: sorted(set(segs)) for name, segs in seen.items()}


def plan(model, names: tuple[str, ...]) -> dict[str, Any]:
    """What every format needs to keep `names` float: picklable, so the side process (no TensorFlow) can use it."""
    check_layer_names(model, names)
    scopes = layer_scopes(model)
    return {
        "layers": list(names),
        "scopes": {name: scopes.get(name, []) for name in names},
        "all_scopes": scopes,
        "output_layer": output_layer_name(model),
    }


def segments(name: str) -> set[str]:
    return {s for s in _SPLIT.split(name) if s}


def layers_of_name(name: str, scopes: dict[str, list[str]]) -> list[str]:
    """The layers whose scope segment appears in an op or tensor name."""
    segs = segments(name)
    return [layer for layer, scope in scopes.items() if segs.intersection(scope)]


def match_nodes(nodes: dict[str, list[str]], keep: dict[str, Any], fmt: str) -> list[str]:
    """nodes: node id -> the names that describe it (its name, outputs, weights). Returns the ids to keep float;
    a layer that matches none of them is a UsageError naming the format."""
    chosen: list[str] = []
    for layer in keep["layers"]:
        scope = set(keep["scopes"].get(layer, []))
        hits = [node for node, names in nodes.items() if scope and any(segments(n) & scope for n in names)]
        if not hits:
            raise UsageError(
                f"--keep-float: layer '{layer}' matches no {fmt} op (folded into a neighbouring op, such as a "
                "BatchNormalization into its convolution, or has no ops of its own): name the layer next to it"
            )
        chosen += [h for h in hits if h not in chosen]
    return chosen


# --- per format ---------------------------------------------------------------------------------------------------
def tflite_nodes(model_bytes: bytes, keep: dict[str, Any]) -> list[str]:
    """Output tensor names of the calibrated model's ops (what the MLIR quantizer's denylisted_nodes matches),
    matched on those names and on the op's weights (a fused convolution may be named after its activation only).

    The ops writing the model's output carry no layer scope in TFLite (StatefulPartitionedCall:0): they belong
    to the Keras output layer."""
    from edgekit.device import tflite_ops

    graph = tflite_ops(model_bytes, runtime="litert")  # LiteRT's interpreter, read through edgekit.device
    tensors, ops = graph["tensors"], graph["ops"]
    outputs = set(graph["outputs"])
    computed = {i for op in ops for i in op["outputs"]} | set(graph["inputs"])
    nodes: dict[str, list[str]] = {}
    for op in ops:
        weights = [tensors[i]["name"] for i in op["inputs"] if i >= 0 and i not in computed]
        for index in op["outputs"]:
            name = tensors[index]["name"]
            described = [name, *weights]
            if index in outputs and not layers_of_name(name, keep["all_scopes"]):
                described.append(keep["all_scopes"].get(keep["output_layer"], [""])[0] or name)
            nodes[name] = described
    return match_nodes(nodes, keep, "tflite")


def onnx_nodes(path, keep: dict[str, Any]) -> list[str]:
    """ONNX node names to exclude from quantize_static. tf2onnx names a convolution with a folded BatchNorm after
    the BatchNorm; its weights keep the convolution's scope, so weights count as well as names and outputs."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {t.name for t in graph.initializer}
    nodes = {n.name: [n.name, *n.output, *(i for i in n.input if i in weights)] for n in graph.node}
    return match_nodes(nodes, keep, "onnx")


HEAVY_ONNX = ("Conv", "MatMul", "Gemm")
HEAVY_OPENVINO = ("Convolution", "GroupConvolution", "MatMul")


def openvino_nodes(ov_model, keep: dict[str, Any], onnx_path=None) -> list[str]:
    """OpenVINO op friendly names (what nncf.IgnoredScope(names=...) takes), matched on their names, output
    tensor names and the constants (weights) they read.

    OpenVINO's conversion folds a BatchNorm's scale into the convolution's weights and names the result after
    the multiply (`Multiply_2460`): such weighted ops are matched through the ONNX file they were converted from,
    the n-th convolution/matmul here being the n-th there (checked: same count, same weight sizes in order)."""
    nodes: dict[str, list[str]] = {}
    for op in ov_model.get_ordered_ops():
        if op.get_type_name() in ("Parameter", "Result", "Constant"):
            continue
        names = [op.get_friendly_name(), *(n for out in op.outputs() for n in out.get_names())]
        for inp in op.inputs():
            src = inp.get_source_output().get_node()
            if src.get_type_name() == "Constant":
                names += [src.get_friendly_name(), *inp.get_source_output().get_names()]
        nodes[op.get_friendly_name()] = names
    for name, onnx_names in weighted_ops_from_onnx(ov_model, onnx_path).items():
        nodes[name] = [*nodes.get(name, []), *onnx_names]
    return match_nodes(nodes, keep, "openvino")


def weighted_ops_from_onnx(ov_model, onnx_path) -> dict[str, list[str]]:
    """OpenVINO weighted op -> the names of its ONNX counterpart; {} when the two do not line up."""
    if onnx_path is None:
        return {}
    import numpy as np
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    sizes = {t.name: int(np.prod(t.dims)) for t in graph.initializer}
    theirs = [(n, sizes.get(n.input[1], -1)) for n in graph.node if n.op_type in HEAVY_ONNX and len(n.input) > 1]
    ours = [
        (op, int(np.prod(op.input(1).get_shape())) if op.input(1).get_partial_shape().is_static else -2)
        for op in ov_model.get_ordered_ops()
        if op.get_type_name() in HEAVY_OPENVINO
    ]
    if len(theirs) != len(ours) or any(a != b for (_, a), (_, b) in zip(theirs, ours, strict=True)):
        return {}
    return {
        op.get_friendly_name(): [node.name, *node.output, *(i for i in node.input if i in sizes)]
        for (node, _), (op, _) in zip(theirs, ours, strict=True)
    }


# --- suggestions --------------------------------------------------------------------------------------------------
def suggest_layers(
    layer_errors: list[dict[str, Any]], scopes: dict[str, list[str]], kept: Iterable[str], output_layer: str = ""
) -> list[str]:
    """Layers to keep float, worst INT8 error first, enough of them: the ops that together carry half of the
    squared error in the report (one op when it dominates, several when the error is spread), each with every
    layer fused into it (a convolution and its activation), at most about SUGGEST_MAX layers. Layers in `kept`
    (already float, or folded away like BatchNorm) are skipped. TFLite names the output op after no layer
    (StatefulPartitionedCall:0): it is the Keras output layer's."""
    kept = set(kept)
    rows = [(row, layers_for_row(row, scopes, output_layer)) for row in layer_errors]
    rows = [(row, [x for x in layers if x not in kept]) for row, layers in rows]
    rows = [(row, layers) for row, layers in rows if layers]
    total = sum(row["rmse_in_steps"] ** 2 for row, _ in rows)
    chosen: list[str] = []
    covered = 0.0
    for row, layers in rows:
        if chosen and (len(chosen) >= SUGGEST_MAX or covered >= SUGGEST_SHARE * total):
            break
        chosen += [x for x in layers if x not in chosen]
        covered += row["rmse_in_steps"] ** 2
    return chosen


def layers_for_row(row: dict[str, Any], scopes: dict[str, list[str]], output_layer: str) -> list[str]:
    layers = layers_of_name(row.get("names", row["tensor"]), scopes)  # every layer fused into the op
    if not layers and output_layer and row["tensor"].startswith("StatefulPartitionedCall"):
        layers = [output_layer]
    return layers


def rerun_command(opts, layers: list[str]) -> str:
    """The export command with the same options and --keep-float LAYERS (only options that differ from the
    defaults are spelled out)."""
    from edgekit.exporting.options import ExportOptions

    default = ExportOptions(model=opts.model)
    parts = ["edgekit", "export", opts.model, f"--{opts.precision}"]
    if opts.formats is not None:
        parts += ["--format", ",".join(opts.formats)]
    flags = {
        "calib": "--calib",
        "calib_size": "--calib-size",
        "holdout": "--holdout",
        "io": "--io",
        "input_size": "--input-size",
        "alpha": "--alpha",
        "num_classes": "--num-classes",
        "weights": "--weights",
        "out": "--out",
        "seed": "--seed",
        "preprocess": "--preprocess",
        "min_cosine": "--min-cosine",
        "max_accuracy_drop": "--max-accuracy-drop",
    }
    for field, flag in flags.items():
        value = getattr(opts, field)
        if value is not None and value != getattr(default, field):
            parts += [flag, str(value)]
    parts += ["--keep-float", ",".join(layers)]
    return shlex.join(parts)
