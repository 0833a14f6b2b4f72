"""Published device latencies (edgekit/costmodel/data/published-device-latency.csv), each predicted from the
committed reference graph of its model, and the one-dimensional searches the kinds' fits use."""

from __future__ import annotations

import csv
import math
import re
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
# Rows whose notes name the timm model they ran ("timm name X") rest on that model's ONNX export (timm_X), not on
# the zoo's Keras model of the same architecture (edgekit.costmodel.foreign; benchmarks/reference_graphs.py).
TIMM_NAME = re.compile(r"timm name (\w+)")
# The runtime edgekit deploys whose kernels a published runtime ran (ExecuTorch's XNNPACK backend runs the same
# XNNPACK kernels LiteRT delegates to). Runtimes not listed are context only.
DEPLOYED = {
    "tflite-xnnpack": "litert-xnnpack",
    "executorch-xnnpack": "litert-xnnpack",
    "onnxruntime": "onnxruntime",
    "edgetpu": "edgetpu",
    "openvino-npu": "openvino-npu",
}
# Rows of a deployed runtime that fit no constant but are held out and counted in the evidence like any other: their
# stated conditions are in doubt, and fitted they would pull the other rows of their cell off. GoogLeNet INT8 on the
# Pi 5 reads about as one thread would where the row says four (fit.json's lomo_one_thread_ratio), as does the ONNX
# Runtime InceptionV3 row of the same publisher, while that publisher's ResNet-50 and SqueezeNet rows read as four
# threads; [U] a second explanation: ExecuTorch's XNNPACK partitioner leaves ceil-mode max pools (13 in
# torchvision's GoogLeNet) to portable kernels. (The InceptionV3 row is fitted: ONNX Runtime's only INT8 row on ARM.)
NOT_FITTED = {
    ("rpi5", "inceptionv1", "int8", "executorch-xnnpack"): (
        "conditions in doubt: reads as one thread where the row says four, or ceil-mode max pools outside "
        "ExecuTorch's XNNPACK delegate [U]; fitted, it would pull the Pi 5's other LiteRT rows far off"
    ),
}
# Published model names whose graph is another model (ncnn's benchmark runs SqueezeNet 1.1; Inception v4 is in no
# Keras: timm's, lowered for the Edge TPU by edgekit.costmodel.lowering).
ROW_MODELS = {("ncnn", "squeezenet"): "squeezenet11", ("edgetpu", "inceptionv4"): "timm_inception_v4"}
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
    alpha: float | None = None  # width multiplier (MobileNet), when not 1

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.target, self.model, self.precision, self.runtime)

    @property
    def family(self) -> str | None:
        """The deployed runtime whose kernels this row ran, None for context rows."""
        return DEPLOYED.get(self.runtime)

    @property
    def fitted(self) -> bool:
        """Whether the row fits constants: a deployed row whose conditions are not in doubt (NOT_FITTED)."""
        return self.family is not None and self.key not in NOT_FITTED

    @property
    def graph_model(self) -> str:
        timm = TIMM_NAME.search(self.notes)
        if timm:
            return f"timm_{timm.group(1)}"
        return ROW_MODELS.get((self.runtime, self.model), self.model)

    @property
    def graph_precision(self) -> str:
        """The precision the row computes in as far as the fitted cells go (ncnn's fp16 rows: fp32)."""
        return "int8" if self.precision == "int8" else "fp32"

    @property
    def file_precision(self) -> str:
        """The precision of the reference graph the row is predicted from: a timm export is fp32, run at the row's
        precision (NNCF INT8 on the NPU, FP32 IR computed in FP16), and so is the timm Inception v4 the Edge TPU
        rows lower to int8."""
        return "fp32" if self.graph_model.startswith("timm_") else self.graph_precision

    @property
    def label(self) -> str:
        alpha = f"x{self.alpha:g}" if self.alpha else ""
        return f"{self.target}/{self.model}{alpha}@{self.input}/{self.precision}/{self.runtime}"


def published_rows(path: Path = PUBLISHED_CSV) -> list[PublishedRow]:
    if not path.is_file():
        raise EdgekitError(f"{path} not found: the published latencies ship with edgekit (reinstall it)")
    with open(path, newline="") as f:
        return [
            PublishedRow(
                target=TARGET_ALIASES.get(r["target"], r["target"]), model=r["model"], input=int(r["input"]),
                precision=r["precision"], runtime=r["runtime"], threads=int(r["threads"]),
                latency_ms=float(r["latency_ms"]), source=r["source"], notes=r.get("notes") or "",
                alpha=float(r["alpha"]) if r.get("alpha") else None,
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
    graph = reference_graph(row.graph_model, row.input, row.file_precision, build=build)
    if row.family == "edgetpu" and graph.format != "tflite":
        from edgekit.analyze.lowering import as_int8_tflite

        graph = as_int8_tflite(graph)  # the ops and int8 tensors a full-integer TFLite conversion gives
    return RUNTIME_GRAPH.get(row.runtime, lambda g: g)(graph)


def row_precision_hint(row: PublishedRow, graph: Graph) -> str | None:
    """The precision a row's runtime computes in when its graph file says otherwise (an fp32 timm export run as
    NNCF INT8), else None."""
    return "int8" if row.precision == "int8" and graph.precision != "int8" else None


def predict_row(row: PublishedRow, target: Target) -> float:
    graph = row_graph(row)
    res = predict_graph(graph, target, threads=row.threads, precision_hint=row_precision_hint(row, graph),
                        allow_any_format=True, fitted=False)  # fmt: skip
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
