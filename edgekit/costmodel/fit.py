"""Fitting the cost model to published device latencies, and judging it on rows each fit never saw (`edgekit fit`).

Every published row (edgekit/costmodel/data/published-device-latency.csv) is predicted from the committed reference
graph of its model (edgekit.costmodel.reference). Rows of runtimes edgekit deploys (LiteRT/XNNPACK, ONNX Runtime,
Edge TPU, OpenVINO NPU) fit constants; rows of other runtimes (ncnn, PyTorch) are context, predicted but never fitted.

What is fitted is the target kind's business: each kind module's fit_constants (edgekit.costmodel.cpu, .edgetpu,
.npu say what they fit) and apply_constants (how the constants enter its targets; edgekit.costmodel.kinds).
Leave-one-out (edgekit.costmodel.evidence): each deployed row is predicted by a fit made without it. Its band is the
spread of the other rows' leave-one-out errors of the same target kind, so the coverage reported is of rows whose
error did not set their band.
"""

from __future__ import annotations

from typing import Any

from edgekit.costmodel.constants import FITTED_JSON, MIN_BAND
from edgekit.costmodel.kinds import fitted_target, hook
from edgekit.costmodel.rows import PublishedRow, predict_row, published_rows, row_graph
from edgekit.hardware.targets import get_target

__all__ = ["FITTED_JSON", "MIN_BAND", "PublishedRow", "fit", "fitted_target", "predict_row", "published_rows",
           "row_graph"]  # fmt: skip


def fit(rows: list[PublishedRow], target: str) -> dict[str, Any]:
    """The constants of one target fitted on `rows` (deployed rows whose conditions are not in doubt only)."""
    t = get_target(target)
    return hook(t, "fit_constants")([r for r in rows if r.fitted], t)
