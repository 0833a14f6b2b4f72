"""Intel NPU cost model: OpenVINO's NPU plugin computes in INT8 (or FP16), needs static shapes, fuses elementwise
ops into convolutions; ops it cannot run go to the CPU through system memory (HETERO)."""

from __future__ import annotations

from typing import Any

from edgekit.analyze import Graph
from edgekit.costmodel.common import OpCost, Request, accel_op_ms, per_graph
from edgekit.costmodel.cpu import cpu_op_ms
from edgekit.targets import Target

KIND = "npu"


def predict(graph: Graph, target: Target, request: Request) -> dict[str, Any]:
    threads, precision_hint = request.threads, request.precision_hint
    from edgekit.analyze.npu import analyze_npu_graph, require_static

    acc, cost = target.accelerator, target.accelerator_cost
    assert acc is not None and cost is not None
    require_static(graph)
    analysis = per_graph("npu", graph, None, lambda: analyze_npu_graph(graph))
    precision = "int8" if (precision_hint or analysis["compute_precision"]) == "int8" else "fp16"
    on_npu = {o["index"] for o in analysis["ops"] if o["device"] == "npu"}
    costs = [
        OpCost(op, "npu", accel_op_ms(op, target, precision))
        if op.index in on_npu
        else OpCost(op, "cpu", cpu_op_ms(op, target, threads, "fp32"))
        for op in graph.ops
    ]
    accel_ms = sum(c.ms for c in costs if c.device == "npu") + cost.invoke_overhead_us * 1e-3
    cpu_ms = sum(c.ms for c in costs if c.device == "cpu")
    # HETERO hand-overs: each fallback op's tensors go through system memory.
    transfer_ms = 0.0
    if cpu_ms:
        moved = sum(c.op.act_read_bytes + c.op.act_write_bytes for c in costs if c.device == "cpu")
        transfer_ms = moved / (acc.link_bandwidth_mbs * 1e6 * cost.link_efficiency) * 1e3
    total = accel_ms + cpu_ms + transfer_ms
    split = {
        "accelerator_ops": len(on_npu),
        "cpu_ops": len(graph.ops) - len(on_npu),
        "accelerator_ms": round(accel_ms, 4),
        "cpu_ms": round(cpu_ms, 4),
        "transfer_ms": round(transfer_ms, 4),
        "compute_precision": precision,
    }
    tops = acc.peak_int8_tops if precision == "int8" else acc.peak_fp16_tops
    basis = (
        f"Intel NPU roofline: {tops:g} TOPS {precision} ({analysis['precision_note']}) x per-class efficiency, "
        f"{acc.memory_bandwidth_gbs or 0:g} GB/s memory, {cost.op_overhead_us:g} us/op + "
        f"{cost.invoke_overhead_us:g} us/inference (OpenVINO NPU plugin, PERFORMANCE_HINT=LATENCY, static shapes)"
    )
    return {
        "total_ms": total,
        "costs": costs,
        "split": split,
        "fallback_ops": analysis["fallback_ops"],
        "busy": {"accelerator": accel_ms / total, "cpu": cpu_ms / total},
        "basis": basis,
        "device": "NPU",
        "precision": "int8" if precision == "int8" else graph.precision,
        "analysis": analysis,
    }
