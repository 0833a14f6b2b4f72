"""Intel NPU cost model: OpenVINO's NPU plugin computes in INT8 (or FP16), needs static shapes, fuses elementwise
ops into convolutions; ops it cannot run go to the CPU through system memory (HETERO).

Fitted (`edgekit fit`): per-inference overhead, per-op cost and an efficiency scale over the per-class priors, one
set for every NPU generation, least squares on the log errors of the native OpenVINO rows of all of them (Meteor
Lake and Arrow Lake have published rows; Lunar Lake has none and uses the same constants with its own peak and
bandwidth). Rows through ONNX Runtime's OpenVINO execution provider are context: never fitted.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from edgekit.analyze import Graph
from edgekit.costmodel.common import OpCost, Request, accel_op_ms, per_graph
from edgekit.costmodel.cpu import cpu_op_ms
from edgekit.costmodel.rows import PublishedRow, geomean, golden, predict_row
from edgekit.hardware.targets import Efficiency, Target, get_target

KIND = "npu"
LABEL = "NPU"
ACCELERATOR = True
CONSTANTS_TRANSFER = True  # a target without rows of its own takes another NPU's overhead
REMOTE_REFUSAL = "NPU targets are measured on the machine itself (OpenVINO), not over --host"
# The NPU compiler fuses bias, ReLU-type activations and residual adds into the neighbouring convolution; other
# elementwise ops (sigmoid, swish's multiply, squeeze-excitation scaling) run as ops of their own.
FUSED_TYPES = {"Relu", "Clip", "Clamp", "Add", "BatchNormalization", "RELU", "RELU6", "ADD"}
# Per-class efficiency priors the fitted scale multiplies (depthwise convolutions use a fraction of the MAC array).
NPU_REL = {"conv": 0.5, "pointwise": 0.5, "depthwise": 0.1, "fc": 0.3, "matmul": 0.4}
BOUNDS = {"invoke_overhead_us": (1.0, 5000.0), "op_overhead_us": (0.05, 200.0), "int8_op_overhead_us": (0.05, 200.0),
          "efficiency_scale": (0.02, 2.0)}  # fmt: skip


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
        OpCost(op, "npu", 0.0 if op.type in FUSED_TYPES else accel_op_ms(op, target, precision))
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
    cost = replace(target.accelerator_cost, **{k: acc[k] for k in ("invoke_overhead_us", "op_overhead_us") if k in acc})
    if precision == "int8" and "int8_op_overhead_us" in acc:  # NNCF INT8: each layer also (de)quantizes
        cost = replace(cost, op_overhead_us=acc["int8_op_overhead_us"])
    if "efficiency_scale" in acc:
        eff = {k: round(min(1.0, v * acc["efficiency_scale"]), 4) for k, v in NPU_REL.items()}
        cost = replace(cost, efficiency=Efficiency(**eff))
    return replace(target, accelerator_cost=cost)


def fit_constants(rows: list[PublishedRow], target: Target) -> dict[str, Any]:
    """Per-op cost and efficiency from the rows of every NPU target (each predicted with its own peak and
    bandwidth); the per-inference overhead is each target's own (it carries the harness that timed the rows), and
    the geometric mean of the others' for a target with no row."""
    same_kind = [r for r in rows if get_target(r.target).kind == KIND]
    fitted = _fit(same_kind)
    if fitted is None:
        return {"accelerator": {}, "rows": [], "carried_over_from": None}
    fitted = dict(fitted)  # a copy: the fit is cached
    overheads = fitted.pop("overheads")
    carried = None
    if target.id in overheads:
        fitted["invoke_overhead_us"] = overheads[target.id]
    else:
        donors = ", ".join(sorted(overheads))
        fitted["invoke_overhead_us"] = round(geomean(list(overheads.values())), 4)
        carried = f"per-op cost and efficiency fitted on the rows of {donors}; per-inference overhead their mean"
    return {"accelerator": fitted, "rows": [r.label for r in same_kind], "carried_over_from": carried}


def _fit(rows: list[PublishedRow]) -> dict[str, Any] | None:
    return _fit_rows(tuple(rows))


@cache
def _fit_rows(rows: tuple[PublishedRow, ...]) -> dict[str, Any] | None:
    """The fit of `rows` (cached: leave-one-out fits every target of the kind on the same rows)."""
    if not rows:
        return None
    targets = {r.target: get_target(r.target) for r in rows}
    shared = ["op_overhead_us", "int8_op_overhead_us", "efficiency_scale"]
    params = {"op_overhead_us": 5.0, "int8_op_overhead_us": 5.0, "efficiency_scale": 1.0,
              **{f"invoke:{t}": 300.0 for t in sorted(targets)}}  # fmt: skip
    own = [k for k in params if k.startswith("invoke:")]
    free = shared[: max(0, len(rows) - len(own))] + own
    if "int8_op_overhead_us" not in free or not {r.graph_precision for r in rows} >= {"int8", "fp32"}:
        params.pop("int8_op_overhead_us")  # one precision only: one per-op cost
        free = [k for k in free if k != "int8_op_overhead_us"]

    def constants(p: dict[str, float], target: str) -> dict[str, Any]:
        return {
            "accelerator": {**{k: v for k, v in p.items() if ":" not in k}, "invoke_overhead_us": p[f"invoke:{target}"]}
        }

    def loss(p: dict[str, float]) -> float:
        return sum(
            math.log(predict_row(r, apply_constants(targets[r.target], constants(p, r.target), "", r.graph_precision))
                     / r.latency_ms) ** 2
            for r in rows
        )  # fmt: skip

    for _ in range(4):
        for name in free:
            lo, hi = BOUNDS[name.split(":")[0] if ":" not in name else "invoke_overhead_us"]
            params[name] = golden(lambda v, n=name: loss({**params, n: v}), math.log(lo), math.log(hi))
    out: dict[str, Any] = {k: round(v, 4) for k, v in params.items() if ":" not in k}
    out["overheads"] = {k.split(":", 1)[1]: round(v, 4) for k, v in params.items() if ":" in k}
    return out
