"""TFLite reader: the flatbuffer parsed directly, with the standard library only.

The one TFLite reader of edgekit: no interpreter and no LiteRT schema package, so it also reads Edge TPU-compiled
files, works where no runtime is installed, and keeps `edgekit --help`-light paths light. edgekit.measure.host and
edgekit.emulate get a file's precision from tflite_precision() below. Field ids follow LiteRT's schema.fbs
(https://github.com/google-ai-edge/LiteRT/blob/main/tflite/converter/schema/schema.fbs).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.analyze.graph import Graph, OpInfo, TensorInfo, classify_conv, dominant_precision, dynamic_dims
from edgekit.errors import UsageError

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
        return out.size * kh * kw * icg, classify_conv(kh, kw, groups, ic, oc)
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


@dataclass(frozen=True)
class _Model:
    """The parts of a TFLite flatbuffer every reading starts from."""

    fb: _FB
    codes: list[str]  # op type per operator code
    buffers: list[int]
    has_data: list[bool]  # per buffer: holds constant data (inline, or an offset past the flatbuffer)
    subgraphs: list[int]

    def tensor_tables(self) -> list[int]:
        return self.fb.tables(self.subgraphs[0], 0)

    def is_const(self, buffer_index: int) -> bool:
        return 0 < buffer_index < len(self.has_data) and self.has_data[buffer_index]


def _open(buf: bytes, name: str) -> _Model:
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise UsageError(f"{name} is not a TFLite flatbuffer (no TFL3 identifier)")
    fb = _FB(buf)
    model = fb.root()
    codes = []
    for oc in fb.tables(model, 1):  # OperatorCode: deprecated_builtin_code(0), custom_code(1), builtin_code(3)
        code = max(fb.scalar(oc, 0, "b"), fb.scalar(oc, 3, "i"))
        op_name = TFLITE_OPS[code] if code < len(TFLITE_OPS) else f"BUILTIN_{code}"
        codes.append(fb.string(oc, 1) if op_name == "CUSTOM" and fb.string(oc, 1) else op_name)
    buffers = fb.tables(model, 4)  # Buffer: data(0) offset(1) size(2)
    has_data = [fb.vector_len(b, 0) > 0 or fb.scalar(b, 2, "Q") > 0 for b in buffers]
    subgraphs = fb.tables(model, 2)
    if not subgraphs:
        raise UsageError(f"{name} has no subgraph")
    return _Model(fb, codes, buffers, has_data, subgraphs)


def _dtype(type_id: int) -> str:
    return TFLITE_DTYPES[type_id] if 0 <= type_id < len(TFLITE_DTYPES) else f"type{type_id}"


def tflite_precision(path: Path) -> str | None:
    """fp32 / fp16 / dynamic / int8 from the tensor types; None when the file is not a readable TFLite flatbuffer.

    int8: 8-bit activations or model inputs/outputs (full-integer, possibly with float I/O); dynamic: only constant
    tensors (weights) are 8-bit; fp16: float16 tensors (the weights of an FP16 export).
    """
    try:
        m = _open(Path(path).read_bytes(), Path(path).name)
        fb, sg = m.fb, m.subgraphs[0]
        tensors = [(_dtype(fb.scalar(t, 1, "b")), m.is_const(fb.scalar(t, 2, "I"))) for t in m.tensor_tables()]
        io = {tensors[i][0] for i in fb.scalars(sg, 1, "i") + fb.scalars(sg, 2, "i")}
    except (OSError, UsageError, struct.error, IndexError, ValueError):
        return None  # not a valid flatbuffer: whoever runs it reports the real error
    int8 = {"int8", "uint8"}
    if io & int8 or {dtype for dtype, const in tensors if not const} & int8:
        return "int8"
    types = {dtype for dtype, _ in tensors}
    if types & int8:
        return "dynamic"
    return "fp16" if "float16" in types else "fp32"


def _tensor(m: _Model, t: int) -> TensorInfo:
    """Tensor: shape(0) type(1) buffer(2) name(3) quantization(4) shape_signature(7)."""
    fb = m.fb
    shape = fb.scalars(t, 0, "i")
    sig = fb.scalars(t, 7, "i")
    q = fb.table(t, 4)
    buf_idx = fb.scalar(t, 2, "I")
    dtype = _dtype(fb.scalar(t, 1, "b"))
    values = None
    if 0 < buf_idx < len(m.buffers) and dtype in ("int32", "int64") and 0 < math.prod(shape or [1]) <= 64:
        raw = fb.raw_vector(m.buffers[buf_idx], 0)
        fmt = "i" if dtype == "int32" else "q"
        values = struct.unpack_from(f"<{len(raw) // struct.calcsize(fmt)}{fmt}", raw)
    return TensorInfo(
        name=fb.string(t, 3),
        shape=tuple(max(d, 1) for d in shape),
        dtype=dtype,
        const=m.is_const(buf_idx),
        dynamic_dims=dynamic_dims(sig) or dynamic_dims(shape),
        quantized=q is not None and fb.vector_len(q, 2) > 0,
        values=values or None,
    )


def read_graph(path: Path) -> Graph:
    try:
        return _read_graph(path)
    except (struct.error, IndexError) as exc:  # a truncated or corrupt file: say so in one line
        raise UsageError(f"cannot read {path.name} as TFLite: {exc}") from None


def _read_graph(path: Path) -> Graph:
    m = _open(path.read_bytes(), path.name)
    fb, sg = m.fb, m.subgraphs[0]
    tensors = [_tensor(m, t) for t in m.tensor_tables()]
    ops = []
    for i, op in enumerate(fb.tables(sg, 3)):  # Operator: opcode_index(0) inputs(1) outputs(2) builtin_options(4)
        op_type = m.codes[fb.scalar(op, 0, "I")]
        ins = [tensors[j] for j in fb.scalars(op, 1, "i") if j >= 0]
        outs = [tensors[j] for j in fb.scalars(op, 2, "i") if j >= 0]
        opts = _tflite_options(fb, op, op_type)
        macs, op_class = _tflite_macs(op_type, ins, outs, opts)
        name = outs[0].name if outs else f"op{i}"
        ops.append(OpInfo(i, name, op_type, op_class, tuple(ins), tuple(outs), macs, opts))
    inputs = tuple(tensors[j] for j in fb.scalars(sg, 1, "i"))
    outputs = tuple(tensors[j] for j in fb.scalars(sg, 2, "i"))
    notes = []
    if len(m.subgraphs) > 1:
        notes.append(f"{len(m.subgraphs)} subgraphs: only the main one is analysed")
    compiled = any(op.type == "edgetpu-custom-op" for op in ops)
    precision = dominant_precision(ops)
    if compiled:
        notes.append("compiled for the Edge TPU: the TPU part is one edgetpu-custom-op (its ops are not visible)")
        precision = "int8"
    return Graph(str(path), "edgetpu" if compiled else "tflite", tuple(ops), inputs, outputs, precision, tuple(notes))
