"""Static graph analysis of an artifact: per op its type, shapes, MACs, weight bytes and activation bytes.

.tflite is read by parsing the flatbuffer directly (no interpreter: it also reads Edge TPU-compiled files and needs
no runtime installed); .onnx with onnx + shape inference; OpenVINO .xml by reading the IR's XML (the IR carries its
shapes, so OpenVINO itself is not needed). Constant sub-graphs (weight dequantize chains) are folded: their bytes
count as the consuming op's weights, and they cost nothing at run time.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.errors import UsageError

# Op classes the cost models distinguish.
MAC_CLASSES = ("conv", "pointwise", "depthwise", "fc", "matmul")
CLASSES = MAC_CLASSES + ("elementwise", "pool", "data", "view", "quant", "custom", "other")

DTYPE_BYTES = {
    "float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int32": 4, "uint8": 1, "int8": 1, "int16": 2,
    "uint16": 2, "int64": 8, "uint64": 8, "uint32": 4, "bool": 1, "int4": 0.5, "uint4": 0.5, "string": 0,
}  # fmt: skip


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # dynamic dims resolved to 1 for counting
    dtype: str
    const: bool = False
    dynamic_dims: tuple[int, ...] = ()  # indices of dims unknown until run time (-1 / ? in the file)
    quantized: bool = False  # carries a scale / zero point (TFLite) or sits behind a FakeQuantize/QDQ
    nbytes_override: int | None = None  # bytes of the stored constant when it differs (folded dequantize chains)
    values: tuple[int, ...] | None = None  # contents of small integer constants (axes, paddings), for op rules

    @property
    def dynamic(self) -> bool:
        return bool(self.dynamic_dims)

    @property
    def dynamic_beyond_batch(self) -> bool:
        """A dynamic dim other than the leading batch dim (a dynamic batch alone is pinned to 1 by runtimes)."""
        return any(i > 0 for i in self.dynamic_dims)

    @property
    def size(self) -> int:
        return math.prod(self.shape) if self.shape else 1

    @property
    def nbytes(self) -> int:
        if self.nbytes_override is not None:
            return self.nbytes_override
        return int(self.size * DTYPE_BYTES.get(self.dtype, 4))

    def to_dict(self) -> dict[str, Any]:
        shape = [-1 if i in self.dynamic_dims else d for i, d in enumerate(self.shape)]
        return {"name": self.name, "shape": shape, "dtype": self.dtype, "dynamic": self.dynamic}


@dataclass(frozen=True)
class OpInfo:
    index: int
    name: str
    type: str  # as the file names it: CONV_2D (TFLite), Conv (ONNX), Convolution (OpenVINO)
    op_class: str  # one of CLASSES
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    macs: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def weight_bytes(self) -> int:
        return sum(t.nbytes for t in self.inputs if t.const)

    @property
    def act_read_bytes(self) -> int:
        return sum(t.nbytes for t in self.inputs if not t.const)

    @property
    def act_write_bytes(self) -> int:
        return sum(t.nbytes for t in self.outputs)

    @property
    def act_inputs(self) -> tuple[TensorInfo, ...]:
        return tuple(t for t in self.inputs if not t.const)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "type": self.type,
            "class": self.op_class,
            "inputs": [list(t.shape) for t in self.act_inputs],
            "outputs": [list(t.shape) for t in self.outputs],
            "macs": self.macs,
            "weight_bytes": self.weight_bytes,
            "act_read_bytes": self.act_read_bytes,
            "act_write_bytes": self.act_write_bytes,
        }


@dataclass(frozen=True)
class Graph:
    path: str
    format: str  # tflite | edgetpu | onnx | openvino
    ops: tuple[OpInfo, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    precision: str  # fp32 | fp16 | dynamic | int8 (what the compute runs in)
    notes: tuple[str, ...] = ()

    @property
    def macs(self) -> int:
        return sum(op.macs for op in self.ops)

    @property
    def weight_bytes(self) -> int:
        return sum(op.weight_bytes for op in self.ops)

    @property
    def dynamic_inputs(self) -> list[TensorInfo]:
        return [t for t in self.inputs if t.dynamic]

    @property
    def compiled_edgetpu(self) -> bool:
        return any(op.type == "edgetpu-custom-op" for op in self.ops)

    def arena_bytes(self) -> int:
        """Peak bytes of live activations (each tensor lives from its producer to its last consumer)."""
        last_use: dict[str, int] = {}
        first: dict[str, int] = {t.name: -1 for t in self.inputs}
        size: dict[str, int] = {t.name: t.nbytes for t in self.inputs}
        for op in self.ops:
            for t in op.act_inputs:
                last_use[t.name] = op.index
            for t in op.outputs:
                first.setdefault(t.name, op.index)
                size[t.name] = t.nbytes
        for t in self.outputs:
            last_use[t.name] = len(self.ops)
        peak = 0
        for i in range(-1, len(self.ops)):
            live = sum(s for n, s in size.items() if first.get(n, -1) <= i <= last_use.get(n, first.get(n, -1)))
            peak = max(peak, live)
        return peak

    def summary(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for op in self.ops:
            counts[op.op_class] = counts.get(op.op_class, 0) + 1
        return {
            "path": self.path,
            "format": self.format,
            "precision": self.precision,
            "ops": len(self.ops),
            "op_classes": counts,
            "macs": self.macs,
            "weight_bytes": self.weight_bytes,
            "arena_bytes": self.arena_bytes(),
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "notes": list(self.notes),
        }


def _dyn(dims) -> tuple[int, ...]:
    return tuple(i for i, d in enumerate(dims) if d < 0)


def static_graph(graph: Graph) -> Graph:
    """The same graph with every dynamic dim pinned (to 1, as counted): what a reshape to a static shape gives."""
    from dataclasses import replace

    pin = lambda ts: tuple(replace(t, dynamic_dims=()) for t in ts)  # noqa: E731
    ops = tuple(replace(op, inputs=pin(op.inputs), outputs=pin(op.outputs)) for op in graph.ops)
    return replace(graph, ops=ops, inputs=pin(graph.inputs), outputs=pin(graph.outputs))


def load_graph(path: Path | str) -> Graph:
    """Analyse a .tflite, .onnx or OpenVINO .xml file."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} does not exist or is not a file")
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        return _load_tflite(path)
    if suffix == ".onnx":
        return _load_onnx(path)
    if suffix == ".xml":
        return _load_openvino(path)
    raise UsageError(f"cannot analyse {path.name}: expected a .tflite, .onnx or OpenVINO .xml file")


def _classify_conv(kh: int, kw: int, groups: int, in_ch: int, out_ch: int) -> str:
    if groups > 1 and groups == in_ch and out_ch % in_ch == 0:
        return "depthwise"
    if kh == 1 and kw == 1 and groups == 1:
        return "pointwise"
    return "conv"


def _dominant_precision(ops: list[OpInfo], fallback: str = "fp32") -> str:
    """int8 when the MAC ops take int8 activations; dynamic when only their weights are int8; else float width."""
    mac_ops = [op for op in ops if op.op_class in MAC_CLASSES] or ops
    act = [t.dtype for op in mac_ops for t in op.act_inputs]
    wts = [t.dtype for op in mac_ops for t in op.inputs if t.const and len(t.shape) >= 2]
    if act and sum(d in ("int8", "uint8", "int16") for d in act) * 2 >= len(act):
        return "int8"
    if wts and sum(d in ("int8", "uint8", "int4") for d in wts) * 2 >= len(wts):
        return "dynamic"
    if wts and sum(d == "float16" for d in wts) * 2 >= len(wts):
        return "fp16"
    return fallback


# ---------------------------------------------------------------------------------------------------------------------
# TFLite: a minimal flatbuffer reader for the fields we need (schema.fbs field ids in comments)

TFLITE_OPS = (
    'ADD', 'AVERAGE_POOL_2D', 'CONCATENATION', 'CONV_2D', 'DEPTHWISE_CONV_2D', 'DEPTH_TO_SPACE', 'DEQUANTIZE',
    'EMBEDDING_LOOKUP', 'FLOOR', 'FULLY_CONNECTED', 'HASHTABLE_LOOKUP', 'L2_NORMALIZATION', 'L2_POOL_2D',
    'LOCAL_RESPONSE_NORMALIZATION', 'LOGISTIC', 'LSH_PROJECTION', 'LSTM', 'MAX_POOL_2D', 'MUL', 'RELU', 'RELU_N1_TO_1',
    'RELU6', 'RESHAPE', 'RESIZE_BILINEAR', 'RNN', 'SOFTMAX', 'SPACE_TO_DEPTH', 'SVDF', 'TANH', 'CONCAT_EMBEDDINGS',
    'SKIP_GRAM', 'CALL', 'CUSTOM', 'EMBEDDING_LOOKUP_SPARSE', 'PAD', 'UNIDIRECTIONAL_SEQUENCE_RNN', 'GATHER',
    'BATCH_TO_SPACE_ND', 'SPACE_TO_BATCH_ND', 'TRANSPOSE', 'MEAN', 'SUB', 'DIV', 'SQUEEZE',
    'UNIDIRECTIONAL_SEQUENCE_LSTM', 'STRIDED_SLICE', 'BIDIRECTIONAL_SEQUENCE_RNN', 'EXP', 'TOPK_V2', 'SPLIT',
    'LOG_SOFTMAX', 'DELEGATE', 'BIDIRECTIONAL_SEQUENCE_LSTM', 'CAST', 'PRELU', 'MAXIMUM', 'ARG_MAX', 'MINIMUM', 'LESS',
    'NEG', 'PADV2', 'GREATER', 'GREATER_EQUAL', 'LESS_EQUAL', 'SELECT', 'SLICE', 'SIN', 'TRANSPOSE_CONV',
    'SPARSE_TO_DENSE', 'TILE', 'EXPAND_DIMS', 'EQUAL', 'NOT_EQUAL', 'LOG', 'SUM', 'SQRT', 'RSQRT', 'SHAPE', 'POW',
    'ARG_MIN', 'FAKE_QUANT', 'REDUCE_PROD', 'REDUCE_MAX', 'PACK', 'LOGICAL_OR', 'ONE_HOT', 'LOGICAL_AND', 'LOGICAL_NOT',
    'UNPACK', 'REDUCE_MIN', 'FLOOR_DIV', 'REDUCE_ANY', 'SQUARE', 'ZEROS_LIKE', 'FILL', 'FLOOR_MOD', 'RANGE',
    'RESIZE_NEAREST_NEIGHBOR', 'LEAKY_RELU', 'SQUARED_DIFFERENCE', 'MIRROR_PAD', 'ABS', 'SPLIT_V', 'UNIQUE', 'CEIL',
    'REVERSE_V2', 'ADD_N', 'GATHER_ND', 'COS', 'WHERE', 'RANK', 'ELU', 'REVERSE_SEQUENCE', 'MATRIX_DIAG', 'QUANTIZE',
    'MATRIX_SET_DIAG', 'ROUND', 'HARD_SWISH', 'IF', 'WHILE', 'NON_MAX_SUPPRESSION_V4', 'NON_MAX_SUPPRESSION_V5',
    'SCATTER_ND', 'SELECT_V2', 'DENSIFY', 'SEGMENT_SUM', 'BATCH_MATMUL', 'PLACEHOLDER_FOR_GREATER_OP_CODES', 'CUMSUM',
    'CALL_ONCE', 'BROADCAST_TO', 'RFFT2D', 'CONV_3D', 'IMAG', 'REAL', 'COMPLEX_ABS', 'HASHTABLE', 'HASHTABLE_FIND',
    'HASHTABLE_IMPORT', 'HASHTABLE_SIZE', 'REDUCE_ALL', 'CONV_3D_TRANSPOSE', 'VAR_HANDLE', 'READ_VARIABLE',
    'ASSIGN_VARIABLE', 'BROADCAST_ARGS', 'RANDOM_STANDARD_NORMAL', 'BUCKETIZE', 'RANDOM_UNIFORM', 'MULTINOMIAL', 'GELU',
    'DYNAMIC_UPDATE_SLICE', 'RELU_0_TO_1', 'UNSORTED_SEGMENT_PROD', 'UNSORTED_SEGMENT_MAX', 'UNSORTED_SEGMENT_SUM',
    'ATAN2', 'UNSORTED_SEGMENT_MIN', 'SIGN', 'BITCAST', 'BITWISE_XOR', 'RIGHT_SHIFT',
)  # fmt: skip
TFLITE_DTYPES = (
    "float32", "float16", "int32", "uint8", "int64", "string", "bool", "int16", "complex64", "int8", "float64",
    "complex128", "uint64", "resource", "variant", "uint32", "uint16", "int4", "bfloat16",
)  # fmt: skip
FUSED_ACTIVATIONS = ("NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT")
PADDINGS = ("SAME", "VALID")

_ELEMENTWISE_TFLITE = {
    "ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "LOGISTIC",
    "TANH", "HARD_SWISH", "PRELU", "LEAKY_RELU", "ELU", "GELU", "SQUARED_DIFFERENCE", "RSQRT", "SQRT", "EXP", "LOG",
    "SOFTMAX", "LOG_SOFTMAX", "L2_NORMALIZATION", "ABS", "NEG", "SQUARE", "POW", "FLOOR", "CEIL", "ROUND", "ADD_N",
    "SELECT", "SELECT_V2", "CAST", "LOCAL_RESPONSE_NORMALIZATION", "FLOOR_DIV", "FLOOR_MOD", "SIN", "COS",
}  # fmt: skip
_POOL_TFLITE = {
    "AVERAGE_POOL_2D",
    "MAX_POOL_2D",
    "L2_POOL_2D",
    "MEAN",
    "SUM",
    "REDUCE_MAX",
    "REDUCE_MIN",
    "REDUCE_PROD",
}
_VIEW_TFLITE = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS", "SHAPE"}
_DATA_TFLITE = {
    "CONCATENATION", "PAD", "PADV2", "MIRROR_PAD", "TRANSPOSE", "STRIDED_SLICE", "SLICE", "SPLIT", "SPLIT_V", "PACK",
    "UNPACK", "GATHER", "GATHER_ND", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "SPACE_TO_DEPTH", "DEPTH_TO_SPACE",
    "TILE", "BROADCAST_TO", "BATCH_TO_SPACE_ND", "SPACE_TO_BATCH_ND", "REVERSE_V2",
}  # fmt: skip
_QUANT_TFLITE = {"QUANTIZE", "DEQUANTIZE"}


class _FB:
    """Just enough of the flatbuffers wire format: tables, vectors, strings, scalars."""

    def __init__(self, buf: bytes):
        self.buf = buf

    def root(self) -> int:
        return struct.unpack_from("<I", self.buf, 0)[0]

    def _field(self, table: int, fid: int) -> int:
        vtable = table - struct.unpack_from("<i", self.buf, table)[0]
        vsize = struct.unpack_from("<H", self.buf, vtable)[0]
        entry = 4 + 2 * fid
        return struct.unpack_from("<H", self.buf, vtable + entry)[0] if entry < vsize else 0

    def scalar(self, table: int, fid: int, fmt: str, default: Any = 0) -> Any:
        off = self._field(table, fid)
        return struct.unpack_from("<" + fmt, self.buf, table + off)[0] if off else default

    def _ref(self, table: int, fid: int) -> int | None:
        off = self._field(table, fid)
        if not off:
            return None
        pos = table + off
        return pos + struct.unpack_from("<I", self.buf, pos)[0]

    def table(self, table: int, fid: int) -> int | None:
        return self._ref(table, fid)

    def vector_len(self, table: int, fid: int) -> int:
        pos = self._ref(table, fid)
        return 0 if pos is None else struct.unpack_from("<I", self.buf, pos)[0]

    def tables(self, table: int, fid: int) -> list[int]:
        pos = self._ref(table, fid)
        if pos is None:
            return []
        n = struct.unpack_from("<I", self.buf, pos)[0]
        out = []
        for i in range(n):
            elem = pos + 4 + 4 * i
            out.append(elem + struct.unpack_from("<I", self.buf, elem)[0])
        return out

    def scalars(self, table: int, fid: int, fmt: str) -> list[Any]:
        pos = self._ref(table, fid)
        if pos is None:
            return []
        n = struct.unpack_from("<I", self.buf, pos)[0]
        return list(struct.unpack_from(f"<{n}{fmt}", self.buf, pos + 4))

    def raw_vector(self, table: int, fid: int) -> bytes:
        pos = self._ref(table, fid)
        if pos is None:
            return b""
        n = struct.unpack_from("<I", self.buf, pos)[0]
        return self.buf[pos + 4 : pos + 4 + n]

    def string(self, table: int, fid: int) -> str:
        pos = self._ref(table, fid)
        if pos is None:
            return ""
        n = struct.unpack_from("<I", self.buf, pos)[0]
        return self.buf[pos + 4 : pos + 4 + n].decode(errors="replace")


def _tflite_options(fb: _FB, op_table: int, op_type: str) -> dict[str, Any]:
    """The builtin options the cost models and the Edge TPU rules look at."""
    opts = fb.table(op_table, 4)
    if opts is None:
        return {}
    act = lambda fid: FUSED_ACTIVATIONS[min(fb.scalar(opts, fid, "b"), 5)]  # noqa: E731
    if op_type == "CONV_2D":
        return {
            "padding": PADDINGS[fb.scalar(opts, 0, "b")],
            "stride": (fb.scalar(opts, 2, "i"), fb.scalar(opts, 1, "i")),
            "fused_activation": act(3),
            "dilation": (fb.scalar(opts, 5, "i", 1), fb.scalar(opts, 4, "i", 1)),
        }
    if op_type == "DEPTHWISE_CONV_2D":
        return {
            "padding": PADDINGS[fb.scalar(opts, 0, "b")],
            "stride": (fb.scalar(opts, 2, "i"), fb.scalar(opts, 1, "i")),
            "depth_multiplier": fb.scalar(opts, 3, "i"),
            "fused_activation": act(4),
            "dilation": (fb.scalar(opts, 6, "i", 1), fb.scalar(opts, 5, "i", 1)),
        }
    if op_type in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"):
        return {
            "padding": PADDINGS[fb.scalar(opts, 0, "b")],
            "stride": (fb.scalar(opts, 2, "i"), fb.scalar(opts, 1, "i")),
            "filter": (fb.scalar(opts, 4, "i"), fb.scalar(opts, 3, "i")),
            "fused_activation": act(5),
        }
    if op_type == "FULLY_CONNECTED":
        return {
            "fused_activation": act(0),
            "weights_format": fb.scalar(opts, 1, "b"),
            "keep_num_dims": bool(fb.scalar(opts, 2, "b")),
        }
    if op_type == "CONCATENATION":
        return {"axis": fb.scalar(opts, 0, "i"), "fused_activation": act(1)}
    if op_type in ("ADD", "MUL", "SUB", "DIV"):
        return {"fused_activation": act(0)}
    if op_type == "BATCH_MATMUL":
        return {"adj_x": bool(fb.scalar(opts, 0, "b")), "adj_y": bool(fb.scalar(opts, 1, "b"))}
    if op_type in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN"):
        return {"keep_dims": bool(fb.scalar(opts, 0, "b"))}
    if op_type == "PACK":
        return {"values_count": fb.scalar(opts, 0, "i"), "axis": fb.scalar(opts, 1, "i")}
    if op_type == "SOFTMAX":
        return {"beta": fb.scalar(opts, 0, "f", 0.0)}
    return {}


def _tflite_macs(op_type: str, ins: list[TensorInfo], outs: list[TensorInfo], opts: dict[str, Any]) -> tuple[int, str]:
    out = outs[0] if outs else None
    if op_type == "CONV_2D" and len(ins) >= 2 and out is not None:
        oc, kh, kw, icg = (list(ins[1].shape) + [1, 1, 1, 1])[:4]
        ic = ins[0].shape[-1] if ins[0].shape else icg
        groups = max(1, ic // max(icg, 1))
        return out.size * kh * kw * icg, _classify_conv(kh, kw, groups, ic, oc)
    if op_type == "DEPTHWISE_CONV_2D" and len(ins) >= 2 and out is not None:
        _, kh, kw, _ = (list(ins[1].shape) + [1, 1, 1, 1])[:4]
        return out.size * kh * kw, "depthwise"
    if op_type == "TRANSPOSE_CONV" and len(ins) >= 3:
        oc, kh, kw, _ = (list(ins[1].shape) + [1, 1, 1, 1])[:4]
        return ins[2].size * kh * kw * oc, "conv"
    if op_type == "CONV_3D" and len(ins) >= 2 and out is not None:
        kd, kh, kw, ic, _ = (list(ins[1].shape) + [1] * 5)[:5]
        return out.size * kd * kh * kw * ic, "conv"
    if op_type == "FULLY_CONNECTED" and len(ins) >= 2 and out is not None:
        k = ins[1].shape[-1] if ins[1].shape else 1
        return out.size * k, "fc"
    if op_type == "BATCH_MATMUL" and len(ins) >= 2 and out is not None:
        a = ins[0].shape
        k = (a[-2] if opts.get("adj_x") else a[-1]) if a else 1
        return out.size * k, "matmul"
    if op_type in _ELEMENTWISE_TFLITE:
        return 0, "elementwise"
    if op_type in _POOL_TFLITE:
        return 0, "pool"
    if op_type in _VIEW_TFLITE:
        return 0, "view"
    if op_type in _DATA_TFLITE:
        return 0, "data"
    if op_type in _QUANT_TFLITE:
        return 0, "quant"
    if op_type == "CUSTOM" or op_type.islower():
        return 0, "custom"
    return 0, "other"


def _load_tflite(path: Path) -> Graph:
    buf = path.read_bytes()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise UsageError(f"{path.name} is not a TFLite flatbuffer (no TFL3 identifier)")
    fb = _FB(buf)
    model = fb.root()
    codes = []
    for oc in fb.tables(model, 1):  # OperatorCode: deprecated_builtin_code(0), custom_code(1), builtin_code(3)
        code = max(fb.scalar(oc, 0, "b"), fb.scalar(oc, 3, "i"))
        name = TFLITE_OPS[code] if code < len(TFLITE_OPS) else f"BUILTIN_{code}"
        codes.append(fb.string(oc, 1) if name == "CUSTOM" and fb.string(oc, 1) else name)
    buffers = fb.tables(model, 4)
    has_data = [fb.vector_len(b, 0) > 0 or fb.scalar(b, 2, "Q") > 0 for b in buffers]
    subgraphs = fb.tables(model, 2)
    if not subgraphs:
        raise UsageError(f"{path.name} has no subgraph")
    sg = subgraphs[0]
    tensors: list[TensorInfo] = []
    for t in fb.tables(sg, 0):  # Tensor: shape(0) type(1) buffer(2) name(3) quantization(4) shape_signature(7)
        shape = fb.scalars(t, 0, "i")
        sig = fb.scalars(t, 7, "i")
        dtype_id = fb.scalar(t, 1, "b")
        q = fb.table(t, 4)
        buf_idx = fb.scalar(t, 2, "I")
        dtype = TFLITE_DTYPES[dtype_id] if dtype_id < len(TFLITE_DTYPES) else f"type{dtype_id}"
        values = None
        if 0 < buf_idx < len(buffers) and dtype in ("int32", "int64") and 0 < math.prod(shape or [1]) <= 64:
            raw = fb.raw_vector(buffers[buf_idx], 0)
            fmt = "i" if dtype == "int32" else "q"
            values = struct.unpack_from(f"<{len(raw) // struct.calcsize(fmt)}{fmt}", raw)
        tensors.append(
            TensorInfo(
                name=fb.string(t, 3),
                shape=tuple(max(d, 1) for d in shape),
                dtype=dtype,
                const=0 < buf_idx < len(has_data) and has_data[buf_idx],
                dynamic_dims=_dyn(sig) or _dyn(shape),
                quantized=q is not None and fb.vector_len(q, 2) > 0,
                values=values or None,
            )
        )
    ops = []
    for i, op in enumerate(fb.tables(sg, 3)):  # Operator: opcode_index(0) inputs(1) outputs(2) builtin_options(4)
        op_type = codes[fb.scalar(op, 0, "I")]
        ins = [tensors[j] for j in fb.scalars(op, 1, "i") if j >= 0]
        outs = [tensors[j] for j in fb.scalars(op, 2, "i") if j >= 0]
        opts = _tflite_options(fb, op, op_type)
        macs, op_class = _tflite_macs(op_type, ins, outs, opts)
        name = outs[0].name if outs else f"op{i}"
        ops.append(OpInfo(i, name, op_type, op_class, tuple(ins), tuple(outs), macs, opts))
    inputs = tuple(tensors[j] for j in fb.scalars(sg, 1, "i"))
    outputs = tuple(tensors[j] for j in fb.scalars(sg, 2, "i"))
    notes = []
    if len(subgraphs) > 1:
        notes.append(f"{len(subgraphs)} subgraphs: only the main one is analysed")
    compiled = any(op.type == "edgetpu-custom-op" for op in ops)
    precision = _dominant_precision(ops)
    if compiled:
        notes.append("compiled for the Edge TPU: the TPU part is one edgetpu-custom-op (its ops are not visible)")
        precision = "int8"
    return Graph(str(path), "edgetpu" if compiled else "tflite", tuple(ops), inputs, outputs, precision, tuple(notes))


# ---------------------------------------------------------------------------------------------------------------------
# ONNX

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
        return out.size * k * icg, _classify_conv(kshape[0], kshape[-1], group, ic, oc)
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


def _load_onnx(path: Path) -> Graph:
    from edgekit.errors import require

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
                          const=const, dynamic_dims=_dyn(dims))  # fmt: skip

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
    precision = "int8" if quantized else _dominant_precision(ops)
    return Graph(str(path), "onnx", tuple(ops), inputs, outputs, precision)


# ---------------------------------------------------------------------------------------------------------------------
# OpenVINO IR (.xml): the XML carries every port's shape and precision

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


def _load_openvino(path: Path) -> Graph:
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
                          dynamic_dims=_dyn(dims), nbytes_override=nbytes)  # fmt: skip

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
            declared = _dyn([-1 if ("?" in d or ".." in d or d.strip() == "-1") else 1 for d in shape.split(",")])
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
    precision = "int8" if quantized else _dominant_precision(ops)
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
        return out.size * k * w[1], _classify_conv(w[2] if len(w) > 2 else 1, w[-1], 1, w[1], w[0])
    if kind == "GroupConvolution" and len(ins) >= 2 and out is not None:
        w = ins[1].shape  # [G, OC/G, IC/G, kh, kw]
        k = math.prod(w[3:]) if len(w) > 3 else 1
        ic = ins[0].shape[1] if len(ins[0].shape) > 1 else w[0] * w[2]
        return out.size * k * w[2], _classify_conv(w[3] if len(w) > 3 else 1, w[-1], w[0], ic, w[0] * w[1])
    if kind == "MatMul" and len(ins) >= 2 and out is not None:
        a = ins[0].shape
        k = (a[-2] if data.get("transpose_a") == "true" else a[-1]) if a else 1
        return out.size * k, "fc" if ins[1].const and len(ins[1].shape) == 2 else "matmul"
    if kind in ("ConvolutionBackpropData", "GroupConvolutionBackpropData") and len(ins) >= 2:
        return ins[0].size * math.prod(ins[1].shape[1:]), "conv"
    return 0, _OV_CLASS.get(kind, "other")
