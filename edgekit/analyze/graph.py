"""The graph of an artifact as the cost models see it: per op its type, shapes, MACs, weight bytes and activation bytes.

One reader per format lives in edgekit/analyze/readers/ and is named by that format's row in the formats table
(edgekit.exporting.formats); load_graph dispatches through the table by file name. Readers fold constant sub-graphs
(weight
dequantize chains): their bytes count as the consuming op's weights, and they cost nothing at run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError, UsageError

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


def dynamic_dims(dims) -> tuple[int, ...]:
    return tuple(i for i, d in enumerate(dims) if d < 0)


def static_graph(graph: Graph) -> Graph:
    """The same graph with every dynamic dim pinned (to 1, as counted): what a reshape to a static shape gives."""
    from dataclasses import replace

    pin = lambda ts: tuple(replace(t, dynamic_dims=()) for t in ts)  # noqa: E731
    ops = tuple(replace(op, inputs=pin(op.inputs), outputs=pin(op.outputs)) for op in graph.ops)
    return replace(graph, ops=ops, inputs=pin(graph.inputs), outputs=pin(graph.outputs))


def load_graph(path: Path | str) -> Graph:
    """Analyse a model file with the reader of its format (.tflite, .onnx, OpenVINO .xml, ...)."""
    from edgekit.exporting.formats import format_of_suffix, formats, suffixes_text

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path} does not exist or is not a file")
    fmt = format_of_suffix(path)
    if fmt is None:
        raise UsageError(f"cannot analyse {path.name}: expected a {suffixes_text()} file")

    try:
        return formats()[fmt].read_graph(path)
    except EdgekitError:
        raise
    except Exception as exc:  # a damaged or hostile file: name it, not a bare ValueError from deep inside a reader
        import os

        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        reason = (str(exc).strip().splitlines() or [""])[0][:200]
        raise UsageError(f"{path.name}: not a readable {fmt} model ({type(exc).__name__}: {reason})") from exc


def classify_conv(kh: int, kw: int, groups: int, in_ch: int, out_ch: int) -> str:
    if groups > 1 and groups == in_ch and out_ch % in_ch == 0:
        return "depthwise"
    if kh == 1 and kw == 1 and groups == 1:
        return "pointwise"
    return "conv"


def dominant_precision(ops: list[OpInfo], fallback: str = "fp32") -> str:
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
