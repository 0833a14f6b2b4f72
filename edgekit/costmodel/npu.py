"""Intel NPU cost model: OpenVINO's NPU plugin computes in INT8 (or FP16), needs static shapes, fuses elementwise
ops into convolutions; ops it cannot run go to the CPU through system memory (HETERO).

Fitted (`edgekit fit`): the per-inference overhead, from the target's own rows (another NPU's when it has none).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from edgekit.analyze import Graph
from edgekit.costmodel.common import OpCost, Request, accel_op_ms, per_graph
from edgekit.costmodel.cpu import cpu_op_ms
from edgekit.costmodel.rows import PublishedRow, bisect, geomean, predict_row
from edgekit.hardware.targets import Target, get_target

KIND = "npu"
LABEL = "NPU"
ACCELERATOR = True
CONSTANTS_TRANSFER = True  # a target without rows of its own takes another NPU's overhead
REMOTE_REFUSAL = "NPU targets are measured on the machine itself (OpenVINO), not over --host"
FUSED = ("elementwise",)  # the NPU compiler fuses bias, activations and residual adds into the neighbouring conv


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
        OpCost(op, "npu", accel_op_ms(op, target, precision, FUSED))
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


# ---------------------------------------------------------------------------------------------------------------------
# Hooks (edgekit.costmodel.kinds)


def measure_here(path: Path, req: Any, target: Target) -> dict[str, Any]:
    """On the NPU device itself, never AUTO or a CPU fallback filed as NPU."""
    from edgekit.measure.npu import measure_npu

    timing = getattr(req, "timing", None)
    return measure_npu(path, req.runs, req.warmup, req.min_seconds, req.timeout, timing)


def apply_constants(target: Target, constants: dict[str, Any], runtime: str, precision: str) -> Target:
    acc = constants.get("accelerator")
    if not acc or target.accelerator_cost is None:
        return target
    fitted = {k: acc[k] for k in ("invoke_overhead_us", "link_efficiency") if k in acc}
    cost = replace(target.accelerator_cost, **fitted)
    return replace(target, accelerator_cost=cost)


def fit_constants(rows: list[PublishedRow], target: Target) -> dict[str, Any]:
    same_kind = [r for r in rows if get_target(r.target).kind == KIND]
    own = [r for r in same_kind if r.target == target.id]
    acc, carried = _fit(own), None
    if acc is None:  # e.g. Lunar Lake: no row of its own
        donors = sorted({r.target for r in same_kind})
        acc = _fit([r for r in same_kind if r.target == donors[0]]) if donors else None
        carried = f"{donors[0]} invoke overhead" if donors else None
    return {"accelerator": acc or {}, "rows": [r.label for r in own], "carried_over_from": carried}


def _fit(rows: list[PublishedRow]) -> dict[str, float] | None:
    if not rows:
        return None
    implied = []
    for r in rows:
        t = get_target(r.target)

        def ms(v: float, r: PublishedRow = r, t: Target = t) -> float:
            return predict_row(r, apply_constants(t, {"accelerator": {"invoke_overhead_us": v}}, "", "int8"))

        implied.append(bisect(ms, 0.5, 20000.0, r.latency_ms, True))
    return {"invoke_overhead_us": round(geomean(implied), 1)}
