"""An ONNX or OpenVINO graph lowered to what a full-integer TFLite conversion of the same network gives: TFLite
builtin op types, NHWC int8 activations with int8 IO, int8 weights and int32 biases, batch norms folded into the
convolutions and ReLU/ReLU6 fused into the op before them. What the Edge TPU compiler sees of a model another
framework defined (timm's Inception v4 has no Keras twin), without a converter that edgekit does not ship.
"""

from __future__ import annotations

from dataclasses import replace

from edgekit.analyze.graph import Graph, OpInfo, TensorInfo
from edgekit.errors import UsageError

# ONNX / OpenVINO type -> TFLite builtin (convolutions are decided by their class).
TFLITE_OF = {
    "Gemm": "FULLY_CONNECTED", "MatMul": "FULLY_CONNECTED", "MaxPool": "MAX_POOL_2D",
    "AveragePool": "AVERAGE_POOL_2D", "GlobalAveragePool": "MEAN", "ReduceMean": "MEAN", "Concat": "CONCATENATION",
    "Add": "ADD", "Mul": "MUL", "Sub": "SUB", "Sigmoid": "LOGISTIC", "Softmax": "SOFTMAX", "Relu": "RELU",
    "Clip": "RELU6", "Pad": "PAD", "Reshape": "RESHAPE", "Flatten": "RESHAPE", "Squeeze": "SQUEEZE", "Tanh": "TANH",
    "Resize": "RESIZE_BILINEAR", "Transpose": "TRANSPOSE", "HardSwish": "HARD_SWISH", "Slice": "STRIDED_SLICE",
    "Split": "SPLIT", "PRelu": "PRELU", "ReduceMax": "REDUCE_MAX", "Max": "MAXIMUM", "Min": "MINIMUM",
    "Convolution": "CONV_2D", "GroupConvolution": "DEPTHWISE_CONV_2D", "MaxPool-8": "MAX_POOL_2D",
    "AvgPool": "AVERAGE_POOL_2D", "Concatenation": "CONCATENATION", "MatMul-OV": "FULLY_CONNECTED",
}  # fmt: skip
FOLDED = {"BatchNormalization", "Identity", "Dropout"}  # the converter folds them away
FUSED_ACTIVATIONS = {"Relu": "RELU", "Clip": "RELU6"}
FUSES_INTO = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD"}


def _nhwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], *shape[2:], shape[1]) if len(shape) == 4 else shape


def _act(t: TensorInfo) -> TensorInfo:
    return replace(t, shape=_nhwc(t.shape), dtype="int8", quantized=True, nbytes_override=None)


def _const(t: TensorInfo, op_class: str) -> TensorInfo:
    if len(t.shape) == 1 and op_class in ("conv", "pointwise", "depthwise", "fc"):
        return replace(t, dtype="int32", quantized=True, nbytes_override=None)  # bias
    if len(t.shape) == 4:  # OIHW -> OHWI; depthwise (C,1,H,W) -> (1,H,W,C)
        o, i, h, w = t.shape
        shape = (1, h, w, o) if op_class == "depthwise" else (o, h, w, i)
        return replace(t, shape=shape, dtype="int8", quantized=True, nbytes_override=None)
    if t.dtype.startswith("float"):
        return replace(t, dtype="int8", quantized=True, nbytes_override=None)
    return replace(t, dtype="int32", nbytes_override=None)  # shapes, axes, pads


def _tflite_type(op: OpInfo) -> str:
    if op.op_class in ("conv", "pointwise"):
        return "CONV_2D"
    if op.op_class == "depthwise":
        return "DEPTHWISE_CONV_2D"
    if op.type not in TFLITE_OF:
        raise UsageError(f"cannot lower {op.type} ({op.name}) to a TFLite op for the Edge TPU estimate")
    return TFLITE_OF[op.type]


def as_int8_tflite(graph: Graph) -> Graph:
    """The graph as a full-integer .tflite of the same network (see the module docstring)."""
    if graph.format not in ("onnx", "openvino"):
        return graph
    consumers: dict[str, int] = {}
    for op in graph.ops:
        for t in op.act_inputs:
            consumers[t.name] = consumers.get(t.name, 0) + 1
    alias: dict[str, TensorInfo] = {}  # tensor name -> the lowered tensor that stands for it
    producer: dict[str, OpInfo] = {}
    ops: list[OpInfo] = []
    for op in graph.ops:
        if op.op_class == "view" and op.type not in TFLITE_OF or op.type in FOLDED:
            src = op.act_inputs[0] if op.act_inputs else None
            if src is not None:
                alias[op.outputs[0].name] = alias.get(src.name, _act(src))
            continue
        ins = tuple(_const(t, op.op_class) if t.const else alias.get(t.name, _act(t)) for t in op.inputs)
        src = ins[0] if ins and not ins[0].const else None
        prev = producer.get(src.name) if src is not None else None
        if (
            op.type in FUSED_ACTIVATIONS and prev is not None and prev.type in FUSES_INTO
            and consumers.get(op.act_inputs[0].name, 0) == 1
        ):  # fmt: skip
            fused = replace(prev, options={**prev.options, "fused_activation": FUSED_ACTIVATIONS[op.type]})
            ops[ops.index(prev)] = fused
            producer[src.name] = fused
            alias[op.outputs[0].name] = src
            continue
        new = replace(op, index=len(ops), type=_tflite_type(op), inputs=ins, outputs=tuple(map(_act, op.outputs)))
        ops.append(new)
        for t in new.outputs:
            producer[t.name] = new
    outputs = tuple(alias.get(t.name, _act(t)) for t in graph.outputs)
    note = f"lowered from {graph.format} to full-integer TFLite ops (edgekit.analyze.lowering)"
    return replace(graph, format="tflite", precision="int8", ops=tuple(ops), inputs=tuple(map(_act, graph.inputs)),
                   outputs=outputs, notes=(*graph.notes, note))  # fmt: skip
