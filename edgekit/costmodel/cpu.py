"""CPU cost model: a roofline per op, max(MACs / (peak x efficiency[op class]), bytes / bandwidth) + per-op
overhead, with per-class efficiencies, overheads and thread scaling (Amdahl) per target (targets/*.toml)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from edgekit.analyze import Graph, OpInfo
from edgekit.analyze.graph import MAC_CLASSES
from edgekit.costmodel.common import OpCost, Request
from edgekit.targets import Target

KIND = "cpu"


def amdahl_speedup(threads: int, parallel_fraction: float) -> float:
    return 1.0 / ((1.0 - parallel_fraction) + parallel_fraction / max(threads, 1))


def cpu_mac_precision(graph_precision: str, target: Target) -> str:
    """int8 kernels for int8 and dynamic-range models (XNNPACK quantizes activations on the fly); float otherwise."""
    return "int8" if graph_precision in ("int8", "dynamic") else "fp32"


def cpu_op_ms(op: OpInfo, target: Target, threads: int, precision: str) -> float:
    cpu, cost = target.cpu, target.cpu_cost
    if op.op_class == "view":
        return 0.0
    int8 = precision == "int8"
    speedup = amdahl_speedup(threads, cost.parallel_fraction)
    compute_s = 0.0
    if op.op_class in MAC_CLASSES and op.macs:
        eff = (cost.int8_efficiency if int8 else cost.fp32_efficiency).of(op.op_class)
        clock_hz = cpu.clock_ghz * cost.clock_scale * 1e9
        per_core = clock_hz * (cpu.int8_macs_per_cycle if int8 else cpu.fp32_macs_per_cycle)
        compute_s = op.macs / (per_core * eff) / speedup
    nbytes = op.weight_bytes + op.act_read_bytes + op.act_write_bytes
    memory_s = nbytes / (cpu.memory_bandwidth_gbs * 1e9 * cost.bandwidth_efficiency)
    return (max(compute_s, memory_s) + cost.op_overhead_us * 1e-6) * 1e3


def ort_fused_qdq(graph: Graph) -> Graph:
    """A QDQ ONNX graph as ONNX Runtime runs it: each activation QuantizeLinear -> DequantizeLinear pair folds into
    the int8 kernels around it (QLinearConv, QLinearAdd, ... and dropped Q/DQ around data-movement ops), so the pair
    costs nothing and the tensor between the kernels is int8, as in a .tflite. Costed as written, the 2 x (conv
    count) quant ops and their float activations made an int8 MobileNetV2 2.4x slower than its own .tflite.
    The model's input Q (fed by the graph input) and output DQ (nothing consumes it) are not folded: they run."""
    producer = {t.name: op for op in graph.ops for t in op.outputs}
    consumers: dict[str, list[OpInfo]] = {}
    for op in graph.ops:
        for t in op.inputs:
            consumers.setdefault(t.name, []).append(op)

    def folds(op: OpInfo) -> bool:
        src = producer.get(op.inputs[0].name) if op.inputs and not op.inputs[0].const else None
        if op.type == "QuantizeLinear":  # the output stage of the int8 kernel that produced its input
            return src is not None
        if op.type == "DequantizeLinear":  # the input stage of the int8 kernels that read it
            return src is not None and src.type == "QuantizeLinear" and bool(consumers.get(op.outputs[0].name))
        return False

    folded = {op.index for op in graph.ops if folds(op)}
    if not folded:
        return graph
    int8_of = {}  # float tensor name -> the int8 tensor the fused kernels pass instead
    for op in graph.ops:
        if op.index not in folded:
            continue
        if op.type == "DequantizeLinear":
            int8_of[op.outputs[0].name] = producer[op.inputs[0].name].outputs[0]
        elif all(c.index in folded for c in consumers[op.inputs[0].name]):
            int8_of[op.inputs[0].name] = op.outputs[0]

    def retyped(tensors):
        return tuple(replace(t, dtype=int8_of[t.name].dtype) if t.name in int8_of else t for t in tensors)

    ops = tuple(
        replace(op, op_class="view")
        if op.index in folded
        else replace(op, inputs=retyped(op.inputs), outputs=retyped(op.outputs))
        for op in graph.ops
    )
    return replace(graph, ops=ops)


def predict(graph: Graph, target: Target, request: Request) -> dict[str, Any]:
    threads = request.threads
    if graph.format == "onnx":
        graph = ort_fused_qdq(graph)
    precision = cpu_mac_precision(graph.precision, target)
    costs = [OpCost(op, "cpu", cpu_op_ms(op, target, threads, precision)) for op in graph.ops]
    total = sum(c.ms for c in costs) + target.cpu_cost.invoke_overhead_us * 1e-3
    cpu, cost = target.cpu, target.cpu_cost
    basis = (
        f"CPU roofline on {cpu.cores}x {cpu.model} @ {cpu.clock_ghz:g} GHz"
        + (f" (x {cost.clock_scale:g} effective)" if cost.clock_scale != 1 else "")
        + f": {precision} "
        f"{cpu.int8_macs_per_cycle if precision == 'int8' else cpu.fp32_macs_per_cycle} MACs/cycle/core x per-class "
        f"efficiency, {cpu.memory_bandwidth_gbs:g} GB/s x {cost.bandwidth_efficiency:g}, "
        f"{cost.op_overhead_us:g} us/op, "
        f"{threads} thread(s) with parallel fraction {cost.parallel_fraction:g} "
        f"({request.runtime or target.runtime.name})"
    )
    if graph.format == "onnx" and any(op.type == "QuantizeLinear" for op in graph.ops):
        basis += "; QDQ pairs folded into ONNX Runtime's int8 kernels (int8 tensors between them)"
    if graph.precision == "fp16":
        basis += "; fp16 weights are computed in fp32 by XNNPACK"
    if graph.precision == "dynamic":
        basis += "; dynamic-range model: int8 MAC kernels with activations quantized on the fly"
    return {
        "total_ms": total,
        "costs": costs,
        "split": None,
        "fallback_ops": None,
        "busy": {"cpu": 1.0},
        "basis": basis,
        "device": "CPU",
    }
