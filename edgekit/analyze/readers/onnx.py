"""ONNX reader: onnx + shape inference give every tensor's shape; constant sub-graphs fold into weights."""

from __future__ import annotations

import math
from pathlib import Path

from edgekit.analyze.graph import Graph, OpInfo, TensorInfo, classify_conv, dominant_precision, dynamic_dims
from edgekit.errors import UsageError, require

_ONNX_DTYPES = {1: "float32", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 9: "bool",
                10: "float16", 11: "float64", 12: "uint32", 13: "uint64", 16: "bfloat16", 21: "uint4",
                22: "int4"}  # fmt: skip
_ONNX_CLASS = {
    **{k: "elementwise" for k in (
        "Add", "Sub", "Mul", "Div", "Relu", "Clip", "Sigmoid", "Tanh", "HardSwish", "HardSigmoid", "PRelu",
        "LeakyRelu", "Elu", "Gelu", "Erf", "Sqrt", "Exp", "Log", "Pow", "Softmax", "LogSoftmax", "Max", "Min", "Abs",
        "Neg", "Reciprocal", "BatchNormalization", "LayerNormalization", "Cast", "Where", "Sum", "Mish", "Swish",
        "InstanceNormalization", "LRN")},
    **{k: "pool" for k in (
        "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax", "ReduceSum",
        "ReduceMin")},
    **{k: "view" for k in ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Shape", "Dropout")},
    **{k: "data" for k in (
        "Concat", "Pad", "Transpose", "Slice", "Split", "Gather", "Resize", "Upsample", "DepthToSpace",
        "SpaceToDepth", "Tile", "Expand")},
    **{k: "quant" for k in ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear")},
}  # fmt: skip


def _onnx_macs(node, ins: list[TensorInfo], outs: list[TensorInfo]) -> tuple[int, str]:
    t = node.op_type
    out = outs[0] if outs else None
    attrs = {a.name: a for a in node.attribute}
    if t in ("Conv", "QLinearConv", "ConvInteger") and out is not None:
        w = ins[3] if t == "QLinearConv" else ins[1]
        oc, icg = w.shape[0], w.shape[1]
        k = math.prod(w.shape[2:]) if len(w.shape) > 2 else 1
        group = attrs["group"].i if "group" in attrs else 1
        ic = ins[0].shape[1] if len(ins[0].shape) > 1 else icg
        kshape = tuple(w.shape[2:]) or (1,)
        return out.size * k * icg, classify_conv(kshape[0], kshape[-1], group, ic, oc)
    if t == "ConvTranspose" and out is not None:
        w = ins[1]
        return ins[0].size * math.prod(w.shape[1:]), "conv"
    if t == "Gemm" and out is not None:
        trans_b = attrs["transB"].i if "transB" in attrs else 0
        k = ins[1].shape[1] if trans_b else ins[1].shape[0]
        return out.size * k, "fc"
    if t in ("MatMul", "MatMulInteger", "QLinearMatMul") and out is not None:
        a = ins[0].shape
        b = ins[3] if t == "QLinearMatMul" else ins[1]
        k = a[-1] if a else 1
        return out.size * k, "fc" if b.const and len(b.shape) == 2 else "matmul"
    return 0, _ONNX_CLASS.get(t, "other")


def read_graph(path: Path) -> Graph:

    onnx = require("onnx", "onnx")
    from onnx import numpy_helper, shape_inference

    try:
        model = onnx.load(str(path))
        model = shape_inference.infer_shapes(model)
    except Exception as exc:  # a corrupt file: say so in one line
        raise UsageError(f"cannot read {path.name} as ONNX: {exc}") from None
    g = model.graph
    info: dict[str, TensorInfo] = {}

    def from_value_info(vi, const=False) -> TensorInfo:
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in tt.shape.dim]
        return TensorInfo(vi.name, tuple(max(d, 1) for d in dims), _ONNX_DTYPES.get(tt.elem_type, "float32"),
                          const=const, dynamic_dims=dynamic_dims(dims))  # fmt: skip

    for init in g.initializer:
        arr = numpy_helper.to_array(init)
        info[init.name] = TensorInfo(init.name, tuple(arr.shape), _ONNX_DTYPES.get(init.data_type, "float32"), True,
                                     nbytes_override=arr.nbytes)  # fmt: skip
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        if vi.name not in info:
            info[vi.name] = from_value_info(vi)
    inputs = tuple(info[vi.name] for vi in g.input if vi.name not in {i.name for i in g.initializer})
    ops: list[OpInfo] = []
    quantized = False
    for node in g.node:
        ins = [info.get(n, TensorInfo(n, (), "float32")) for n in node.input if n]
        if node.op_type == "Constant" or (ins and all(t.const for t in ins)):
            # Constant folding: the output is a weight whose stored bytes are its constant inputs' bytes.
            stored = sum(t.nbytes for t in ins) or 0
            for n in node.output:
                prev = info.get(n, TensorInfo(n, (), "float32"))
                info[n] = TensorInfo(n, prev.shape, prev.dtype, True, nbytes_override=stored or prev.nbytes)
            continue
        outs = [info.get(n, TensorInfo(n, (), "float32")) for n in node.output if n]
        if node.op_type in ("QuantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"):
            quantized = True
        macs, op_class = _onnx_macs(node, ins, outs)
        ops.append(OpInfo(len(ops), node.name or (outs[0].name if outs else f"op{len(ops)}"), node.op_type,
                          op_class, tuple(ins), tuple(outs), macs))  # fmt: skip
    outputs = tuple(info.get(vi.name, from_value_info(vi)) for vi in g.output)
    precision = "int8" if quantized else dominant_precision(ops)
    return Graph(str(path), "onnx", tuple(ops), inputs, outputs, precision)


def onnx_precision(file: Path) -> str | None:
    """fp32 / fp16 / int8 (QDQ or QLinear) / dynamic of an ONNX graph (the onnx package; None without it or for a
    file it cannot read)."""
    try:
        import onnx
    except ImportError:
        return None
    try:
        model = onnx.load(str(file), load_external_data=False)
    except Exception:  # a corrupt file: the runner says why
        return None
    ops = {n.op_type for n in model.graph.node}
    if ops & {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul"}:
        return "dynamic"
    if ops & {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul"}:
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        return "fp16"
    return "fp32"
