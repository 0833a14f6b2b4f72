"""Fitting the cost model to published device latencies, and judging it on rows each fit never saw (`edgekit fit`).

Every published row (benchmarks/published-device-latency.csv) is predicted from the committed reference graph of
its model (edgekit.costmodel.reference). Rows of runtimes edgekit deploys (LiteRT/XNNPACK, ONNX Runtime, Edge TPU,
OpenVINO NPU) fit constants; rows of other runtimes (ncnn, PyTorch) are context, predicted but never fitted.

What is fitted, per target (see fitted_target):
- CPU targets: one efficiency scale per (runtime, precision) multiplying the per-op-class priors (CPU_REL); a cell
  with no row of its own is carried over (same runtime other precision x the precision ratio seen elsewhere, then
  another runtime on the same board, then another board), and says so.
- ONNX Runtime on a CPU target: never fitted on a published ONNX Runtime row (there is one). Its cell is the board's
  LiteRT cell divided by the ONNX Runtime / LiteRT ratio of instructions per inference, both counted under QEMU as
  that board's CPU on the same reference models (benchmarks/results/ort-instructions.json, made by
  benchmarks/ort_instructions.py): kernels of equal instructions per cycle assumed, and said in carried_over_from.
- Edge TPU (every Coral target shares the chip): invoke overhead, array efficiency scale and link efficiency,
  least squares on the log ratios.
- NPU: the per-inference overhead.
Leave-one-out: each deployed row is predicted by a fit made without it. Its band is the spread of the other rows'
leave-one-out errors of the same target kind, so the coverage reported is of rows whose error did not set their band.
"""

from __future__ import annotations

import csv
import math
import statistics
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from edgekit.costmodel.instructions import ORT_INSTRUCTIONS_JSON
from edgekit.costmodel.reference import REPO
from edgekit.errors import EdgekitError

PUBLISHED_CSV = REPO / "benchmarks" / "published-device-latency.csv"
ORT, LITERT = "onnxruntime", "litert-xnnpack"
FITTED_JSON = Path(__file__).resolve().parent / "fitted.json"

TARGET_ALIASES = {"intel-npu-mtl": "intel-npu"}
# The runtime edgekit deploys whose kernels a published runtime ran (ExecuTorch's XNNPACK backend runs the same
# XNNPACK kernels LiteRT delegates to). Runtimes not listed are context only.
DEPLOYED = {
    "tflite-xnnpack": "litert-xnnpack",
    "executorch-xnnpack": "litert-xnnpack",
    "onnxruntime": "onnxruntime",
    "edgetpu": "edgetpu",
    "openvino-npu": "openvino-npu",
}
# Published model names whose graph is another zoo model (ncnn's benchmark runs SqueezeNet 1.1).
ROW_MODELS = {("ncnn", "squeezenet"): "squeezenet11"}

# Relative efficiency of the op classes, shared by every CPU target (XNNPACK: GEMM-based 1x1 convs are fastest,
# k x k convs pay for im2col / indirection, depthwise has little reuse, batch-1 FC is a GEMV).
CPU_REL = {"pointwise": 1.0, "conv": 0.9, "depthwise": 0.35, "fc": 0.5, "matmul": 0.8}
DENSE_REL = {k: v for k, v in CPU_REL.items() if k != "depthwise"}  # the classes the dense scale multiplies
# Edge TPU: a systolic array; depthwise convolutions use a fraction of it.
TPU_REL = {"pointwise": 1.0, "conv": 1.0, "depthwise": 0.3, "fc": 1.0, "matmul": 1.0}
# Winograd F(6x6, 3x3): 8x8 multiplies per 6x6 outputs instead of 36 x 9 -> 324 / 64 = 5.06x fewer MACs.
WINOGRAD_F63 = 324 / 64
MIN_BAND = math.log(1.1)  # never claim a band narrower than +-10%


@dataclass(frozen=True)
class PublishedRow:
    target: str
    model: str
    input: int
    precision: str
    runtime: str
    threads: int
    latency_ms: float
    source: str
    notes: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.target, self.model, self.precision, self.runtime)

    @property
    def family(self) -> str | None:
        """The deployed runtime this row fits, None for context rows."""
        return DEPLOYED.get(self.runtime)

    @property
    def graph_model(self) -> str:
        return ROW_MODELS.get((self.runtime, self.model), self.model)

    @property
    def graph_precision(self) -> str:
        return "int8" if self.precision == "int8" else "fp32"  # ncnn's fp16 rows: the fp32 graph, computed in fp16

    @property
    def label(self) -> str:
        return f"{self.target}/{self.model}@{self.input}/{self.precision}/{self.runtime}"


def published_rows(path: Path = PUBLISHED_CSV) -> list[PublishedRow]:
    if not path.is_file():  # e.g. an installed wheel: the table lives in the source tree's benchmarks/
        raise EdgekitError(f"{path} not found: run `edgekit fit` from an edgekit source checkout")
    with open(path, newline="") as f:
        return [
            PublishedRow(
                target=TARGET_ALIASES.get(r["target"], r["target"]), model=r["model"], input=int(r["input"]),
                precision=r["precision"], runtime=r["runtime"], threads=int(r["threads"]),
                latency_ms=float(r["latency_ms"]), source=r["source"], notes=r.get("notes") or "",
            )
            for r in csv.DictReader(f)
        ]  # fmt: skip


# ---------------------------------------------------------------------------------------------------------------------
# Predicting one row


def _ncnn_winograd(graph):
    """ncnn runs stride-1 3x3 convolutions with >= 16 in/out channels as Winograd F(6,3): count the multiplies it
    does. Theoretical factor, not fitted; the transforms' cost is ignored."""
    ops = []
    for op in graph.ops:
        w = op.inputs[1].shape if op.type == "CONV_2D" and len(op.inputs) > 1 else ()
        if (
            len(w) == 4 and w[1] == w[2] == 3 and op.options.get("stride") == (1, 1)
            and op.options.get("dilation") == (1, 1) and w[0] >= 16 and w[3] >= 16
        ):  # fmt: skip
            op = replace(op, macs=int(op.macs / WINOGRAD_F63))
        ops.append(op)
    return replace(graph, ops=tuple(ops))


# How another runtime's published row maps onto our graph (rows from deployed runtimes need none).
RUNTIME_GRAPH = {"ncnn": _ncnn_winograd}


@cache
def row_graph(row: PublishedRow, build: bool = False):
    from edgekit.costmodel.reference import reference_graph

    graph = reference_graph(row.graph_model, row.input, row.graph_precision, build=build)
    return RUNTIME_GRAPH.get(row.runtime, lambda g: g)(graph)


def predict_row(row: PublishedRow, target) -> float:
    from edgekit.costmodel.predict import predict_graph

    res = predict_graph(row_graph(row), target, threads=row.threads, allow_any_format=True, fitted=False)
    return res["latency_ms"]["median"]


# ---------------------------------------------------------------------------------------------------------------------
# Constants <-> targets


def _efficiency(rel: dict[str, float], scale: float):
    from edgekit.targets import Efficiency

    return Efficiency(**{k: round(min(1.0, v * scale), 4) for k, v in rel.items()})


def cpu_efficiency(dense: float, depthwise: float):
    """CPU_REL with the dense classes x dense and depthwise x depthwise (an A76's dot-product kernels speed up
    dense int8 convolutions far more than depthwise ones: one scale for both does not hold across boards)."""
    from edgekit.targets import Efficiency

    rel = {k: v * (depthwise if k == "depthwise" else dense) for k, v in CPU_REL.items()}
    return Efficiency(**{k: round(min(1.0, v), 4) for k, v in rel.items()})


def fitted_target(target, constants: dict[str, Any] | None, runtime: str, precision: str):
    """The target with fitted constants applied for one runtime and precision (the file's values otherwise)."""
    if not constants:
        return target
    if target.kind == "cpu":
        cell = constants.get("cpu", {}).get(f"{runtime}/{'int8' if precision == 'int8' else 'fp32'}")
        if not cell:
            return target
        field = "int8_efficiency" if precision == "int8" else "fp32_efficiency"
        eff = cpu_efficiency(cell["scale"], cell.get("depthwise_scale", cell["scale"]))
        return replace(target, cpu_cost=replace(target.cpu_cost, **{field: eff}))
    acc = constants.get("accelerator")
    if not acc or target.accelerator_cost is None:
        return target
    cost = target.accelerator_cost
    if "efficiency_scale" in acc:
        cost = replace(cost, efficiency=_efficiency(TPU_REL, acc["efficiency_scale"]))
    cost = replace(cost, **{k: acc[k] for k in ("invoke_overhead_us", "link_efficiency") if k in acc})
    return replace(target, accelerator_cost=cost)


def _bisect(f, lo: float, hi: float, goal: float, increasing: bool, iters: int = 50) -> float:
    """x in [lo, hi] with f(x) == goal for a monotonic f (geometric bisection)."""
    for _ in range(iters):
        mid = (lo * hi) ** 0.5
        if (f(mid) < goal) == increasing:
            lo = mid
        else:
            hi = mid
    return (lo * hi) ** 0.5


def _golden(f, lo: float, hi: float, iters: int = 30) -> float:
    """argmin of f(exp(x)) over [lo, hi] (golden-section search in log space)."""
    g = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = f(math.exp(c)), f(math.exp(d))
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = f(math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = f(math.exp(d))
    return math.exp((a + b) / 2)


def _geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


# ---------------------------------------------------------------------------------------------------------------------
# Fitting on a set of rows

# Prior weight that keeps the depthwise scale near the dense one unless the rows say otherwise (squared log units):
# rows of similar op mix (MobileNet V1 and V2) cannot separate the two, a dense model beside them can.
DEPTHWISE_PRIOR = 0.1


@cache
def fit_cpu_cell(rows: tuple[PublishedRow, ...]) -> tuple[float, float]:
    """(dense scale, depthwise scale) minimising the rows' squared log errors plus the prior on their ratio."""
    from edgekit.targets import get_target

    def loss(dense: float, depthwise: float) -> float:
        err = 0.0
        for r in rows:
            t = get_target(r.target)
            field = "int8_efficiency" if r.graph_precision == "int8" else "fp32_efficiency"
            t = replace(t, cpu_cost=replace(t.cpu_cost, **{field: cpu_efficiency(dense, depthwise)}))
            err += math.log(predict_row(r, t) / r.latency_ms) ** 2
        return err + DEPTHWISE_PRIOR * math.log(depthwise / dense) ** 2

    # Up to the scale that takes a class to efficiency 1 and no further: beyond it cpu_efficiency clips, the loss is
    # flat and the search wanders to the bound (the Pi 5's LiteRT int8 scale read 2.86 where 1.0 acts the same), and
    # a ratio of such scales carried ONNX Runtime to the Pi 4 at 1/12 of LiteRT's speed instead of about 1/4.
    lo, hi_dense, hi_depthwise = math.log(0.005), -math.log(max(DENSE_REL.values())), -math.log(CPU_REL["depthwise"])
    dense = depthwise = _golden(lambda v: loss(v, v), lo, min(hi_dense, hi_depthwise))
    if len(rows) > 1:
        for _ in range(3):
            dense = _golden(lambda v, w=depthwise: loss(v, w), lo, hi_dense)
            depthwise = _golden(lambda v, d=dense: loss(d, v), lo, hi_depthwise)
    return dense, depthwise


def _cpu_cells(rows: list[PublishedRow]) -> dict[tuple[str, str, str], tuple[PublishedRow, ...]]:
    cells: dict[tuple[str, str, str], list[PublishedRow]] = {}
    for r in rows:
        if r.family != ORT:  # ONNX Runtime's rows are held out: its cells come from emulated instructions
            cells.setdefault((r.target, r.family or "", r.graph_precision), []).append(r)
    return {k: tuple(v) for k, v in cells.items()}


def _ratio(cells, want: tuple[str, str, str], have: tuple[str, str, str], target: str) -> float | None:
    """Geometric mean over other boards of dense scale(cell like `want`) / scale(cell like `have`): how another
    precision or runtime relates, where a board has rows of both. Cells are (board, runtime, precision); '*' in
    the board slot."""
    ratios = []
    for board in {b for b, _, _ in cells if b != target}:
        a, b = (board, *want[1:]), (board, *have[1:])
        if a in cells and b in cells:
            ratios.append(fit_cpu_cell(cells[a])[0] / fit_cpu_cell(cells[b])[0])
    return _geomean(ratios) if ratios else None


def cpu_cell(rows: list[PublishedRow], target: str, runtime: str, precision: str) -> dict[str, Any] | None:
    """The fitted scales of one (board, runtime, precision) cell, carried over from another cell when it has no
    rows of its own (and saying from which), or None when nothing constrains it."""
    cells = _cpu_cells([r for r in rows if r.family])
    other = "fp32" if precision == "int8" else "int8"

    def cell(key, factor: float = 1.0, carried: str | None = None) -> dict[str, Any]:
        dense, depthwise = fit_cpu_cell(cells[key])
        return {
            "scale": round(dense * factor, 4), "depthwise_scale": round(depthwise * factor, 4),
            "rows": [r.label for r in cells[key]], "carried_over_from": carried,
        }  # fmt: skip

    want = (target, runtime, precision)
    if want in cells:
        return cell(want)
    if runtime == ORT:
        return _ort_cell(rows, target, precision)
    ratio = _ratio(cells, want, (target, runtime, other), target)
    if (target, runtime, other) in cells and ratio:
        return cell(
            (target, runtime, other), ratio, f"{target} {runtime} {other} x the {precision}/{other} ratio elsewhere"
        )
    for key in sorted(k for k in cells if k[0] == target and k[2] == precision):  # another runtime, same board
        ratio = _ratio(cells, want, key, target)
        note = f"{target} {key[1]} {precision}" + (f" x the {runtime}/{key[1]} ratio elsewhere" if ratio else "")
        return cell(key, ratio or 1.0, note)
    for key in sorted(k for k in cells if k[1] == runtime and k[2] == precision):  # same runtime, another board
        return cell(key, 1.0, f"{key[0]} {runtime} {precision}")
    return None


@cache
def ort_instruction_ratios() -> dict[tuple[str, str], dict[str, Any]]:
    """(board, precision) -> the geometric mean over reference models of ONNX Runtime / LiteRT emulated instructions
    per inference, with the models and CPU it rests on ({} when benchmarks/results/ort-instructions.json is absent)."""
    import json

    try:
        entries = json.loads(ORT_INSTRUCTIONS_JSON.read_text())["entries"]
    except (OSError, ValueError, KeyError):
        return {}
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in entries:
        grouped.setdefault((e["target"], e["precision"]), []).append(e)
    return {
        key: {
            "ratio": round(_geomean([e["ratio"] for e in es]), 4),
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
            f"({ORT_INSTRUCTIONS_JSON.relative_to(REPO)}; equal instructions per cycle assumed)"
        ),
        "emulated_instruction_ratio": measured,
    }


def _tpu_fit(rows: list[PublishedRow]) -> dict[str, float] | None:
    """Invoke overhead, efficiency scale and link efficiency minimising the squared log errors (coordinate
    descent; with fewer than three rows only the overhead, then the overhead and the efficiency, are fitted)."""
    from edgekit.targets import get_target

    if not rows:
        return None
    base = {r.target: get_target(r.target) for r in rows}
    start = base[rows[0].target].accelerator_cost
    params = {"invoke_overhead_us": start.invoke_overhead_us, "efficiency_scale": 0.5,
              "link_efficiency": start.link_efficiency}  # fmt: skip
    bounds = {"invoke_overhead_us": (1.0, 20000.0), "efficiency_scale": (0.01, 1.0), "link_efficiency": (0.05, 1.0)}
    free = list(params)[: min(3, len(rows))]

    def loss(p: dict[str, float]) -> float:
        acc = {"accelerator": p}
        return sum(
            math.log(predict_row(r, fitted_target(base[r.target], acc, "edgetpu", "int8")) / r.latency_ms) ** 2
            for r in rows
        )

    for _ in range(3):
        for name in free:
            lo, hi = bounds[name]
            params[name] = _golden(lambda v, n=name: loss({**params, n: v}), math.log(lo), math.log(hi))
    return {k: round(v, 4) for k, v in params.items()}


def _npu_fit(rows: list[PublishedRow]) -> dict[str, float] | None:
    from edgekit.targets import get_target

    if not rows:
        return None
    implied = []
    for r in rows:
        t = get_target(r.target)

        def ms(v: float, r=r, t=t) -> float:
            return predict_row(r, fitted_target(t, {"accelerator": {"invoke_overhead_us": v}}, "openvino-npu", "int8"))

        implied.append(_bisect(ms, 0.5, 20000.0, r.latency_ms, True))
    return {"invoke_overhead_us": round(_geomean(implied), 1)}


def fit(rows: list[PublishedRow], target: str) -> dict[str, Any]:
    """The constants of one target fitted on `rows` (deployed rows only are used)."""
    from edgekit.targets import get_target

    t = get_target(target)
    deployed = [r for r in rows if r.family]
    if t.kind == "cpu":
        out: dict[str, Any] = {"cpu": {}}
        from edgekit.costmodel.predict import CPU_RUNTIME_OF_FORMAT

        runtimes = {t.runtime.name} | {name for name, _ in CPU_RUNTIME_OF_FORMAT.values()}  # what CPU targets run
        for runtime in sorted(runtimes):
            for precision in ("int8", "fp32"):
                cell = cpu_cell(deployed, target, runtime, precision)
                if cell:
                    out["cpu"][f"{runtime}/{precision}"] = cell
        return out
    same_kind = [r for r in deployed if get_target(r.target).kind == t.kind]
    acc = _tpu_fit(same_kind) if t.kind == "edgetpu" else _npu_fit([r for r in same_kind if r.target == target])
    carried = None
    if acc is None and t.kind == "npu":  # e.g. Lunar Lake: no row of its own
        donors = sorted({r.target for r in same_kind})
        acc = _npu_fit([r for r in same_kind if r.target == donors[0]]) if donors else None
        carried = f"{donors[0]} invoke overhead" if donors else None
    return {
        "accelerator": acc or {},
        "rows": [r.label for r in (same_kind if t.kind == "edgetpu" else [r for r in same_kind if r.target == target])],
        "carried_over_from": carried,
    }
