"""CPU cost model: a roofline per op, max(MACs / (peak x efficiency[op class]), bytes / bandwidth) + per-op
overhead, with per-class efficiencies, overheads and thread scaling (Amdahl) per target (targets/*.toml).

Fitted (`edgekit fit`): one efficiency scale per (runtime, precision) cell multiplying the per-op-class priors
(CPU_REL); a cell with no row of its own is carried over (same runtime other precision x the precision ratio seen
elsewhere, then another runtime on the same board, then another board), and says so. ONNX Runtime's cells are
fitted on its own published rows (timm ONNX exports on the Pi 4 and Pi 5, Arm's INT8 InceptionV3), with the
emulated ONNX Runtime / LiteRT instruction ratio (edgekit/costmodel/data/ort-instructions.json, counted under QEMU
by benchmarks/ort_instructions.py) as a prior only: the board's LiteRT cell over that ratio pulls the dense scale
with weight ORT_PRIOR. Instructions do not see the cycles: on depthwise-heavy models ONNX Runtime runs ~3x slower
than LiteRT where the instruction ratio says 1.1-1.5x, and the rows say so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from typing import Any

from edgekit.analyze import Graph, OpInfo
from edgekit.analyze.graph import MAC_CLASSES
from edgekit.costmodel.common import OpCost, Request, amdahl_speedup
from edgekit.costmodel.constants import LITERT, ORT, ORT_INSTRUCTIONS_JSON, package_relative
from edgekit.costmodel.predict import cpu_runtime_of_format
from edgekit.costmodel.rows import PublishedRow, geomean, golden, predict_row
from edgekit.hardware.targets import Efficiency, Target, get_target

KIND = "cpu"
LABEL = "CPU"
PER_RUNTIME = True  # .onnx runs with ONNX Runtime, .tflite with LiteRT: one fitted cell per runtime and precision

# Relative efficiency of the op classes, shared by every CPU target (XNNPACK: GEMM-based 1x1 convs are fastest,
# k x k convs pay for im2col / indirection, depthwise has little reuse, batch-1 FC is a GEMV).
CPU_REL = {"pointwise": 1.0, "conv": 0.9, "depthwise": 0.35, "fc": 0.5, "matmul": 0.8}
DENSE_REL = {k: v for k, v in CPU_REL.items() if k != "depthwise"}  # the classes the dense scale multiplies
# Prior weight that keeps the depthwise scale near the dense one unless the rows say otherwise (squared log units):
# rows of similar op mix (MobileNet V1 and V2) cannot separate the two, a dense model beside them can.
DEPTHWISE_PRIOR = 0.1
# Weight of the emulated-instruction prior on an ONNX Runtime cell's dense scale (squared log units): a row's error
# weighs 1, so a few rows outweigh it.
ORT_PRIOR = 0.25
MIN_OVERHEAD_ROWS = 4  # an ONNX Runtime cell fits its per-op overhead from this many rows on


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
    if request.precision_hint is not None and request.precision_hint != graph.precision:
        graph = replace(graph, precision=request.precision_hint)  # the runtime computes in the asked precision
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
        "precision": graph.precision,
    }


# ---------------------------------------------------------------------------------------------------------------------
# Hooks (edgekit.costmodel.kinds)


def fit_constants(rows: list[PublishedRow], target: Target) -> dict[str, Any]:
    """One cell per (runtime, precision) the target runs, from the deployed published rows."""
    runtimes = {target.runtime.name} | {name for name, _ in cpu_runtime_of_format().values()}  # what CPU targets run
    out: dict[str, Any] = {}
    for runtime in sorted(runtimes):
        for precision in ("int8", "fp32"):
            cell = cpu_cell(rows, target.id, runtime, precision)
            if cell:
                out[f"{runtime}/{precision}"] = cell
    return {"cpu": out}


def apply_constants(target: Target, constants: dict[str, Any], runtime: str, precision: str) -> Target:
    cell = constants.get("cpu", {}).get(f"{runtime}/{'int8' if precision == 'int8' else 'fp32'}")
    if not cell:
        return target
    field = "int8_efficiency" if precision == "int8" else "fp32_efficiency"
    eff = cpu_efficiency(cell["scale"], cell.get("depthwise_scale", cell["scale"]))
    cost = replace(target.cpu_cost, **{field: eff})
    if "op_overhead_us" in cell:  # ONNX Runtime's own per-node cost
        cost = replace(cost, op_overhead_us=cell["op_overhead_us"])
    return replace(target, cpu_cost=cost)


def fitted_cell(constants: dict[str, Any], runtime: str, precision: str) -> dict[str, Any] | None:
    return constants.get("cpu", {}).get(f"{runtime}/{precision}")


def with_bands(constants: dict[str, Any], target: Target, band: Callable[[str | None], float]) -> dict[str, Any]:
    """Each cell's band from its runtime's held-out rows; the target's from every runtime of the kind."""
    for key, cell in constants.get("cpu", {}).items():
        cell["band_log"] = band(key.split("/")[0])
    return {**constants, "band_log": band(None)}


def utilisation(target: Target, busy: dict[str, float], threads: int) -> float:
    return min(threads, target.cpu.cores) / target.cpu.cores * busy.get("cpu", 1.0)


# ---------------------------------------------------------------------------------------------------------------------
# Fitting the cells


def cpu_efficiency(dense: float, depthwise: float) -> Efficiency:
    """CPU_REL with the dense classes x dense and depthwise x depthwise (an A76's dot-product kernels speed up
    dense int8 convolutions far more than depthwise ones: one scale for both does not hold across boards)."""
    rel = {k: v * (depthwise if k == "depthwise" else dense) for k, v in CPU_REL.items()}
    return Efficiency(**{k: round(min(1.0, v), 4) for k, v in rel.items()})


def _cell_loss(rows, dense: float, depthwise: float, prior: float | None, op_us: float | None) -> float:
    err = 0.0
    for r in rows:
        t = get_target(r.target)
        field = "int8_efficiency" if r.graph_precision == "int8" else "fp32_efficiency"
        cost = replace(t.cpu_cost, **{field: cpu_efficiency(dense, depthwise)})
        t = replace(t, cpu_cost=cost if op_us is None else replace(cost, op_overhead_us=op_us))
        err += math.log(predict_row(r, t) / r.latency_ms) ** 2
    err += ORT_PRIOR * math.log(dense / prior) ** 2 if prior else 0.0
    return err + DEPTHWISE_PRIOR * math.log(depthwise / dense) ** 2


@cache
def fit_cpu_cell(
    rows: tuple[PublishedRow, ...], prior: float | None = None, op_us: float | None = None
) -> tuple[float, float]:
    """(dense scale, depthwise scale) minimising the rows' squared log errors plus the prior on their ratio (and,
    given `prior`, on the dense scale's distance from it); op_us: per-op overhead (the target file's when None)."""

    def loss(dense: float, depthwise: float) -> float:
        return _cell_loss(rows, dense, depthwise, prior, op_us)

    # Up to the scale that takes a class to efficiency 1 and no further: beyond it cpu_efficiency clips, the loss is
    # flat and the search wanders to the bound (the Pi 5's LiteRT int8 scale read 2.86 where 1.0 acts the same), and
    # a ratio of such scales carried ONNX Runtime to the Pi 4 at 1/12 of LiteRT's speed instead of about 1/4.
    lo, hi_dense, hi_depthwise = math.log(0.005), -math.log(max(DENSE_REL.values())), -math.log(CPU_REL["depthwise"])
    dense = depthwise = golden(lambda v: loss(v, v), lo, min(hi_dense, hi_depthwise))
    if len(rows) > 1:
        for _ in range(3):
            dense = golden(lambda v, w=depthwise: loss(v, w), lo, hi_dense)
            depthwise = golden(lambda v, d=dense: loss(d, v), lo, hi_depthwise)
    return dense, depthwise


@cache
def fit_ort_cell(
    rows: tuple[PublishedRow, ...], prior: float | None, given_op_us: float | None = None
) -> tuple[float, float, float | None]:
    """An ONNX Runtime cell: the scales and, with rows enough (MIN_OVERHEAD_ROWS), its own per-op overhead (ONNX
    Runtime dispatches every node through its thread pool: a squeeze-excitation network's hundreds of small
    elementwise nodes cost it more than XNNPACK's fused operators); with fewer, `given_op_us` (or the target's)."""
    if len(rows) < MIN_OVERHEAD_ROWS:
        return (*fit_cpu_cell(rows, prior, given_op_us), given_op_us)
    op_us = get_target(rows[0].target).cpu_cost.op_overhead_us
    for _ in range(3):
        dense, depthwise = fit_cpu_cell(rows, prior, op_us)
        op_us = round(golden(lambda v, d=dense, w=depthwise: _cell_loss(rows, d, w, prior, v), 0.0, math.log(2000)), 3)
    dense, depthwise = fit_cpu_cell(rows, prior, op_us)
    return dense, depthwise, op_us


def _cpu_cells(rows: list[PublishedRow]) -> dict[tuple[str, str, str], tuple[PublishedRow, ...]]:
    cells: dict[tuple[str, str, str], list[PublishedRow]] = {}
    for r in rows:
        cells.setdefault((r.target, r.family or "", r.graph_precision), []).append(r)
    return {k: tuple(v) for k, v in cells.items()}


def _ratio(cells, want: tuple[str, str, str], have: tuple[str, str, str], target: str) -> float | None:
    """Geometric mean over other boards of dense scale(cell like `want`) / scale(cell like `have`): how another
    precision or runtime relates, where a board has rows of both. Cells are (board, runtime, precision)."""
    ratios = []
    for board in {b for b, _, _ in cells if b != target}:
        a, b = (board, *want[1:]), (board, *have[1:])
        if a in cells and b in cells:
            ratios.append(fit_cpu_cell(cells[a])[0] / fit_cpu_cell(cells[b])[0])
    return geomean(ratios) if ratios else None


def cpu_cell(rows: list[PublishedRow], target: str, runtime: str, precision: str) -> dict[str, Any] | None:
    """The fitted scales of one (board, runtime, precision) cell, carried over from another cell when it has no
    rows of its own (and saying from which), or None when nothing constrains it."""
    cells = _cpu_cells([r for r in rows if r.fitted])
    other = "fp32" if precision == "int8" else "int8"

    def cell(key, factor: float = 1.0, carried: str | None = None) -> dict[str, Any]:
        prior = _ort_prior(rows, key[0], key[2]) if key[1] == ORT else None
        given_us, given_from = _overhead_elsewhere(cells, rows, key) if key[1] == ORT else (None, None)
        dense, depthwise, op_us = (
            fit_ort_cell(cells[key], prior and prior["scale"], given_us)
            if key[1] == ORT
            else (*fit_cpu_cell(cells[key]), None)
        )
        out = {
            "scale": round(dense * factor, 4), "depthwise_scale": round(depthwise * factor, 4),
            "rows": [r.label for r in cells[key]], "carried_over_from": carried,
        }  # fmt: skip
        if op_us is not None:
            out["op_overhead_us"] = op_us
        if given_from:
            out["op_overhead_from"] = given_from
        if prior:
            out["prior"] = {"scale": prior["scale"], "weight": ORT_PRIOR, "from": prior["carried_over_from"]}
        return out

    want = (target, runtime, precision)
    if want in cells:
        return cell(want)
    ratio = _ratio(cells, want, (target, runtime, other), target)
    if (target, runtime, other) in cells and ratio:
        return cell(
            (target, runtime, other), ratio, f"{target} {runtime} {other} x the {precision}/{other} ratio elsewhere"
        )
    same_board = [
        k for k in sorted(cells) if k[0] == target and k[1] != runtime and k[2] == precision and (target, k[1], other)
        in cells
    ]  # fmt: skip
    if (target, runtime, other) in cells and same_board:
        # the precision ratio another runtime shows on this board (no board has this runtime at both precisions)
        key = same_board[0]
        ratio = fit_cpu_cell(cells[key])[0] / fit_cpu_cell(cells[(target, key[1], other)])[0]
        return cell(
            (target, runtime, other), ratio, f"{target} {runtime} {other} x {key[1]}'s {precision}/{other} ratio"
        )
    for key in sorted(k for k in cells if k[0] == target and k[2] == precision):  # another runtime, same board
        ratio = _ratio(cells, want, key, target)
        note = f"{target} {key[1]} {precision}" + (f" x the {runtime}/{key[1]} ratio elsewhere" if ratio else "")
        return cell(key, ratio or 1.0, note)
    for key in sorted(k for k in cells if k[1] == runtime and k[2] == precision):  # same runtime, another board
        return cell(key, 1.0, f"{key[0]} {runtime} {precision}")
    if runtime == ORT:  # no ONNX Runtime row anywhere: the emulated instruction ratio alone
        return _ort_cell(rows, target, precision)
    return None


def _overhead_elsewhere(cells, rows: list[PublishedRow], key: tuple[str, str, str]) -> tuple[float | None, str | None]:
    """The per-node overhead an ONNX Runtime cell with too few rows to fit its own takes: that of the same board and
    runtime at the other precision, where that cell has rows enough (dispatching a node through the thread pool
    costs the same for an int8 and a float kernel; with the target file's generic 10 us/op, MobileNetV2 0.35 at 96 px
    was predicted at 0.95 ms in INT8 against 13.9 ms in FP32 on the Pi 5, the difference mostly overhead)."""
    donor = (key[0], key[1], "fp32" if key[2] == "int8" else "int8")
    if len(cells[key]) >= MIN_OVERHEAD_ROWS or len(cells.get(donor, ())) < MIN_OVERHEAD_ROWS:
        return None, None
    prior = _ort_prior(rows, donor[0], donor[2])
    return fit_ort_cell(cells[donor], prior and prior["scale"])[2], " ".join(donor)


def _ort_prior(rows: list[PublishedRow], target: str, precision: str) -> dict[str, Any] | None:
    """The emulated-instruction estimate of an ONNX Runtime cell (its dense scale is the fit's prior)."""
    return _ort_cell([r for r in rows if r.family != ORT], target, precision)


@cache
def ort_instruction_ratios() -> dict[tuple[str, str], dict[str, Any]]:
    """(board, precision) -> the geometric mean over reference models of ONNX Runtime / LiteRT emulated instructions
    per inference, with the models and CPU it rests on ({} when the counts are absent)."""
    try:
        entries = json.loads(ORT_INSTRUCTIONS_JSON.read_text())["entries"]
    except (OSError, ValueError, KeyError):
        return {}
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in entries:
        grouped.setdefault((e["target"], e["precision"]), []).append(e)
    return {
        key: {
            "ratio": round(geomean([e["ratio"] for e in es]), 4),
            "models": sorted(f"{e['model']}@{e['input']}" for e in es),
            "cpu": es[0]["onnxruntime"]["emulation"]["cpu"],
            "onnxruntime": es[0]["onnxruntime"]["runtime"]["version"],
        }
        for key, es in grouped.items()
    }


def _ort_cell(rows: list[PublishedRow], target: str, precision: str) -> dict[str, Any] | None:
    """ONNX Runtime's cell: the board's LiteRT cell / its emulated ONNX Runtime / LiteRT instruction ratio (another
    board's ratio when this one has none, said so); the LiteRT cell alone, said so, when no board has one."""
    base = cpu_cell(rows, target, LITERT, precision)
    if base is None:
        return None
    ratios = ort_instruction_ratios()
    measured = ratios.get((target, precision)) or next((ratios[k] for k in sorted(ratios) if k[1] == precision), None)
    base_from = base["carried_over_from"] or f"{target} {LITERT} {precision}"
    if measured is None:
        return {**base, "carried_over_from": f"{base_from} (no emulated ONNX Runtime instruction count)"}
    ratio = measured["ratio"]
    where = "" if (target, precision) in ratios else f" (another board's: {target} has no count of its own)"
    return {
        **base,
        "scale": round(min(base["scale"] / ratio, 1 / max(DENSE_REL.values())), 4),
        "depthwise_scale": round(min(base["depthwise_scale"] / ratio, 1 / CPU_REL["depthwise"]), 4),
        "carried_over_from": (
            f"{base_from} / {ratio:g}, ONNX Runtime {measured['onnxruntime']}'s instructions per inference over "
            f"LiteRT's, emulated as a {measured['cpu']} on {', '.join(measured['models'])}{where} "
            f"({package_relative(ORT_INSTRUCTIONS_JSON)}; equal instructions per cycle assumed)"
        ),
        "emulated_instruction_ratio": measured,
    }
