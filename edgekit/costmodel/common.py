"""What every per-kind cost model shares: the per-op cost record, the request, the accelerator roofline.

A cost model for a target kind is one module in edgekit/costmodel/ defining KIND (the `kind` of its target files),
predict(graph, target, request) -> dict and the hooks listed in edgekit.costmodel.kinds, which finds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgekit.analyze import OpInfo
from edgekit.analyze.graph import MAC_CLASSES
from edgekit.hardware.targets import Target


@dataclass(frozen=True)
class OpCost:
    op: OpInfo
    device: str  # cpu | tpu | npu
    ms: float


@dataclass(frozen=True)
class Request:
    threads: int
    precision_hint: str | None = None  # precision the runtime computes in when it differs from the file's
    link: str | None = None  # host <-> accelerator link (Edge TPU)
    edgetpu_log: dict[str, Any] | None = None  # parsed edgetpu_compiler log of this model, when there is one
    runtime: str | None = None  # the runtime predicted for, when not the target's own (ONNX Runtime on a Pi)


def amdahl_speedup(threads: int, parallel_fraction: float) -> float:
    return 1.0 / ((1.0 - parallel_fraction) + parallel_fraction / max(threads, 1))


def accel_op_ms(op: OpInfo, target: Target, precision: str, fused: tuple[str, ...] = ()) -> float:
    """Roofline time of one op on the accelerator; op classes in `fused` cost nothing (the compiler folds them into
    their neighbours)."""
    acc, cost = target.accelerator, target.accelerator_cost
    assert acc is not None and cost is not None
    if op.op_class in ("view", "quant", *fused):
        return 0.0
    tops = acc.peak_int8_tops if precision == "int8" else (acc.peak_fp16_tops or acc.peak_int8_tops / 2)
    compute_s = 0.0
    if op.op_class in MAC_CLASSES and op.macs:
        compute_s = op.macs / (tops * 1e12 / 2 * cost.efficiency.of(op.op_class))
    memory_s = 0.0
    if acc.memory_bandwidth_gbs:  # weights and activations come from system memory (NPU); the Edge TPU: on chip
        memory_s = (executed_weight_bytes(op, precision) + executed_act_bytes(op, precision)) / (
            acc.memory_bandwidth_gbs * 1e9
        )
    return (max(compute_s, memory_s) + cost.op_overhead_us * 1e-6) * 1e3


def executed_weight_bytes(op: OpInfo, precision: str) -> int:
    """Weight bytes as the accelerator reads them: an FP32 IR's float weights are compiled to FP16 (INT8 when the
    model is quantized), so a float file's 4 bytes per weight are not what streams from memory."""
    per_element = 1 if precision == "int8" else 2
    return sum(
        int(t.size * per_element) if t.dtype in ("float32", "float16") and len(t.shape) >= 2 else t.nbytes
        for t in op.inputs
        if t.const
    )


def executed_act_bytes(op: OpInfo, precision: str) -> int:
    """Activation traffic at the precision the accelerator computes in (int8, else fp16), not as the file stores
    it: a QDQ ONNX or FakeQuantize IR keeps f32 tensors between its quantize nodes, a .tflite int8 ones."""
    per_element = 1 if precision == "int8" else 2
    return sum(t.size for t in (*op.act_inputs, *op.outputs)) * per_element


_MEMO: dict[tuple[str, int, Any], tuple[Any, Any]] = {}


def per_graph(name: str, graph: Any, key: Any, compute: Any) -> Any:
    """compute() once per graph object (and key): the fit predicts the same graphs thousands of times with other
    constants, and the graph's arena or Edge TPU mapping does not depend on them. Keeps the graph alive beside its
    value so that an id is never reused for another graph while cached."""
    slot = (name, id(graph), key)
    hit = _MEMO.get(slot)
    if hit is not None and hit[0] is graph:
        return hit[1]
    if len(_MEMO) > 1024:
        _MEMO.clear()
    value = compute()
    _MEMO[slot] = (graph, value)
    return value
