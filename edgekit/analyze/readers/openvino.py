"""OpenVINO IR reader: the .xml carries every port's shape and precision, so OpenVINO itself is not needed."""

from __future__ import annotations

import math
from pathlib import Path

from edgekit.analyze.graph import Graph, OpInfo, TensorInfo, classify_conv, dominant_precision, dynamic_dims
from edgekit.errors import UsageError

_OV_DTYPES = {"f32": "float32", "fp32": "float32", "fp16": "float16", "f16": "float16", "bf16": "bfloat16",
              "i8": "int8", "u8": "uint8", "i32": "int32", "i64": "int64", "u1": "bool", "boolean": "bool",
              "i4": "int4", "u4": "uint4", "f64": "float64"}  # fmt: skip
_OV_CLASS = {
    **{k: "elementwise" for k in (
        "Add", "Subtract", "Multiply", "Divide", "Relu", "ReLU", "Clamp", "Sigmoid", "Tanh", "HSwish", "HSigmoid",
        "Swish", "PRelu", "Elu", "Gelu", "Sqrt", "Exp", "Log", "Power", "SoftMax", "Softmax", "LogSoftmax", "Maximum",
        "Minimum", "Abs", "Negative", "MVN", "NormalizeL2", "Mish", "Erf", "Select", "Convert", "SquaredDifference",
        "LRN")},
    **{k: "pool" for k in ("MaxPool", "AvgPool", "ReduceMean", "ReduceMax", "ReduceSum", "ReduceMin")},
    **{k: "view" for k in ("Reshape", "Squeeze", "Unsqueeze", "ShapeOf")},
    **{k: "data" for k in (
        "Concat", "Pad", "Transpose", "StridedSlice", "Slice", "Split", "VariadicSplit", "Gather", "Interpolate",
        "DepthToSpace", "SpaceToDepth", "Tile", "Broadcast")},
    **{k: "quant" for k in ("FakeQuantize",)},
}  # fmt: skip


def read_graph(path: Path) -> Graph:
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise UsageError(f"cannot read {path.name} as OpenVINO IR: {exc}") from None
    layers = {}
    for layer in root.iter("layer"):
        lid = layer.get("id")
        data = layer.find("data")
        ports_in = {p.get("id"): p for p in (layer.find("input") or [])}
        ports_out = {p.get("id"): p for p in (layer.find("output") or [])}
        layers[lid] = (layer, {} if data is None else dict(data.attrib), ports_in, ports_out)
    edges: dict[tuple[str, str], tuple[str, str]] = {}
    for e in root.iter("edge"):
        edges[(e.get("to-layer"), e.get("to-port"))] = (e.get("from-layer"), e.get("from-port"))

    def port_tensor(lid: str, pid: str, const: bool, nbytes: int | None = None) -> TensorInfo:
        layer, _, _, pouts = layers[lid]
        port = pouts[pid]
        dims = [int(d.text) if d.text and d.text.lstrip("-").isdigit() else -1 for d in port.findall("dim")]
        dtype = _OV_DTYPES.get((port.get("precision") or "f32").lower(), (port.get("precision") or "f32").lower())
        return TensorInfo(f"{layer.get('name')}:{pid}", tuple(max(d, 1) for d in dims), dtype, const,
                          dynamic_dims=dynamic_dims(dims), nbytes_override=nbytes)  # fmt: skip

    # Constant folding in topological (id-sorted edges may not be) order: iterate until stable.
    const_bytes: dict[str, int] = {}
    for lid, (layer, data, _, _) in layers.items():
        if layer.get("type") in ("Const", "Constant"):
            const_bytes[lid] = int(data.get("size", 0))
    changed = True
    while changed:
        changed = False
        for lid, (layer, _, pins, _) in layers.items():
            if lid in const_bytes or layer.get("type") in ("Parameter", "Result") or not pins:
                continue
            srcs = [edges.get((lid, pid)) for pid in pins]
            if all(s is not None and s[0] in const_bytes for s in srcs):
                const_bytes[lid] = sum(const_bytes[s[0]] for s in srcs if s)
                changed = True

    order = _ov_topological(layers, edges)
    ops: list[OpInfo] = []
    inputs, outputs = [], []
    quantized = False
    for lid in order:
        layer, data, pins, pouts = layers[lid]
        kind = layer.get("type")
        if kind == "Parameter":
            shape = data.get("shape", "")
            t = port_tensor(lid, next(iter(pouts)), False)
            declared = dynamic_dims(
                [-1 if ("?" in d or ".." in d or d.strip() == "-1") else 1 for d in shape.split(",")]
            )
            inputs.append(TensorInfo(t.name, t.shape, _OV_DTYPES.get(data.get("element_type", "f32"), t.dtype),
                                     dynamic_dims=t.dynamic_dims or (declared if shape else ())))  # fmt: skip
            continue
        if kind == "Result":
            src = edges.get((lid, next(iter(pins))))
            if src:
                outputs.append(port_tensor(src[0], src[1], False))
            continue
        if lid in const_bytes:
            continue
        ins = []
        for pid in pins:
            src = edges.get((lid, pid))
            if src is None:
                continue
            is_const = src[0] in const_bytes
            ins.append(port_tensor(src[0], src[1], is_const, const_bytes.get(src[0]) if is_const else None))
        outs = [port_tensor(lid, pid, False) for pid in pouts]
        if kind == "FakeQuantize" and int(data.get("levels", 0)) <= 256:
            quantized = True
        macs, op_class = _ov_macs(kind, data, ins, outs)
        ops.append(OpInfo(len(ops), layer.get("name") or lid, kind, op_class, tuple(ins), tuple(outs), macs))
    precision = "int8" if quantized else dominant_precision(ops)
    return Graph(str(path), "openvino", tuple(ops), tuple(inputs), tuple(outputs), precision)


def _ov_topological(layers: dict, edges: dict) -> list[str]:
    deps: dict[str, set[str]] = {lid: set() for lid in layers}
    for (to_l, _), (from_l, _) in edges.items():
        deps[to_l].add(from_l)
    order, done = [], set()
    ready = sorted((lid for lid, d in deps.items() if not d), key=int)
    users: dict[str, list[str]] = {lid: [] for lid in layers}
    for lid, ds in deps.items():
        for d in ds:
            users[d].append(lid)
    remaining = {lid: len(d) for lid, d in deps.items()}
    while ready:
        lid = ready.pop(0)
        order.append(lid)
        done.add(lid)
        for u in sorted(users[lid], key=int):
            remaining[u] -= 1
            if remaining[u] == 0:
                ready.append(u)
    return order


def _ov_macs(kind: str, data: dict, ins: list[TensorInfo], outs: list[TensorInfo]) -> tuple[int, str]:
    out = outs[0] if outs else None
    if kind == "Convolution" and len(ins) >= 2 and out is not None:
        w = ins[1].shape  # [OC, IC, kh, kw]
        k = math.prod(w[2:]) if len(w) > 2 else 1
        return out.size * k * w[1], classify_conv(w[2] if len(w) > 2 else 1, w[-1], 1, w[1], w[0])
    if kind == "GroupConvolution" and len(ins) >= 2 and out is not None:
        w = ins[1].shape  # [G, OC/G, IC/G, kh, kw]
        k = math.prod(w[3:]) if len(w) > 3 else 1
        ic = ins[0].shape[1] if len(ins[0].shape) > 1 else w[0] * w[2]
        return out.size * k * w[2], classify_conv(w[3] if len(w) > 3 else 1, w[-1], w[0], ic, w[0] * w[1])
    if kind == "MatMul" and len(ins) >= 2 and out is not None:
        a = ins[0].shape
        k = (a[-2] if data.get("transpose_a") == "true" else a[-1]) if a else 1
        return out.size * k, "fc" if ins[1].const and len(ins[1].shape) == 2 else "matmul"
    if kind in ("ConvolutionBackpropData", "GroupConvolutionBackpropData") and len(ins) >= 2:
        return ins[0].size * math.prod(ins[1].shape[1:]), "conv"
    return 0, _OV_CLASS.get(kind, "other")
