"""CPU cost model: a roofline per op, max(MACs / (peak x efficiency[op class]), bytes / bandwidth) + per-op
overhead, with per-class efficiencies, overheads and thread scaling (Amdahl) per target (targets/*.toml)."""

from __future__ import annotations

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


def predict(graph: Graph, target: Target, request: Request) -> dict[str, Any]:
    threads = request.threads
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
        f"{threads} thread(s) with parallel fraction {cost.parallel_fraction:g} ({target.runtime.name})"
    )
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
