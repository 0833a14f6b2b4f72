"""Published device latencies (edgekit/costmodel/data/published-device-latency.csv), each predicted from the
committed reference graph of its model, and the one-dimensional searches the kinds' fits use."""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from edgekit.analyze import Graph
from edgekit.costmodel.constants import PUBLISHED_CSV
from edgekit.costmodel.predict import predict_graph
from edgekit.costmodel.reference import reference_graph
from edgekit.errors import EdgekitError
from edgekit.hardware.targets import Target

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
# Winograd F(6x6, 3x3): 8x8 multiplies per 6x6 outputs instead of 36 x 9 -> 324 / 64 = 5.06x fewer MACs.
WINOGRAD_F63 = 324 / 64


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
    if not path.is_file():
        raise EdgekitError(f"{path} not found: the published latencies ship with edgekit (reinstall it)")
    with open(path, newline="") as f:
        return [
            PublishedRow(
                target=TARGET_ALIASES.get(r["target"], r["target"]), model=r["model"], input=int(r["input"]),
                precision=r["precision"], runtime=r["runtime"], threads=int(r["threads"]),
                latency_ms=float(r["latency_ms"]), source=r["source"], notes=r.get("notes") or "",
            )
            for r in csv.DictReader(f)
        ]  # fmt: skip


def _ncnn_winograd(graph: Graph) -> Graph:
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
RUNTIME_GRAPH: dict[str, Callable[[Graph], Graph]] = {"ncnn": _ncnn_winograd}


@cache
def row_graph(row: PublishedRow, build: bool = False) -> Graph:
    graph = reference_graph(row.graph_model, row.input, row.graph_precision, build=build)
    return RUNTIME_GRAPH.get(row.runtime, lambda g: g)(graph)


def predict_row(row: PublishedRow, target: Target) -> float:
    res = predict_graph(row_graph(row), target, threads=row.threads, allow_any_format=True, fitted=False)
    return res["latency_ms"]["median"]


# ---------------------------------------------------------------------------------------------------------------------
# Searches


def bisect(f: Callable[[float], float], lo: float, hi: float, goal: float, increasing: bool, iters: int = 50) -> float:
    """x in [lo, hi] with f(x) == goal for a monotonic f (geometric bisection)."""
    for _ in range(iters):
        mid = (lo * hi) ** 0.5
        if (f(mid) < goal) == increasing:
            lo = mid
        else:
            hi = mid
    return (lo * hi) ** 0.5


def golden(f: Callable[[float], float], lo: float, hi: float, iters: int = 30) -> float:
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


def geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))
