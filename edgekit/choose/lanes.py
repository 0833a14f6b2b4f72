"""The runtimes a target compares models on: one table per runtime, so a ranking never mixes two of them.

A lane is one runtime of a target and the artifact formats it runs. CPU targets (kinds with PER_RUNTIME) run each
format with that format's own runtime: .tflite with the target's LiteRT (litert-xnnpack), .onnx with ONNX Runtime,
OpenVINO IR with OpenVINO; accelerator targets run all their formats with their one runtime (litert-edgetpu on the
Coral, openvino-npu on the NPUs). The default lane is that of the target's first format (LiteRT on the Pis and the
host, the Edge TPU on the Coral, OpenVINO on the NPUs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgekit.errors import UsageError, did_you_mean

ALL = "all"


@dataclass(frozen=True)
class Lane:
    runtime: str  # what the table, its rows and its plots are titled with
    formats: tuple[str, ...]  # the artifact formats it runs (the first: what compare predicts a zoo model as)

    @property
    def format(self) -> str:
        return self.formats[0]


def lane_runtime(target: Any, fmt: str) -> str:
    """The runtime a target runs a format's artifacts with."""
    from edgekit.costmodel.kinds import hook
    from edgekit.exporting.formats import get_format

    if not hook(target, "PER_RUNTIME"):
        return target.runtime.name
    timing = get_format(fmt).timing
    return target.runtime.name if timing in ("litert", "tflite-runtime") else timing


def target_lanes(target: Any) -> list[Lane]:
    """Every lane of a target, the default first."""
    by_runtime: dict[str, list[str]] = {}
    for fmt in target.runtime.formats:
        by_runtime.setdefault(lane_runtime(target, fmt), []).append(fmt)
    return [Lane(runtime, tuple(formats)) for runtime, formats in by_runtime.items()]


def _aliases(target: Any) -> dict[str, Lane]:
    """Names --runtime takes for each lane: its runtime, and the device runtime of each of its formats (litert)."""
    from edgekit.exporting.formats import get_format

    names: dict[str, Lane] = {}
    for lane in target_lanes(target):
        names.setdefault(lane.runtime, lane)
        for fmt in lane.formats:
            names.setdefault(get_format(fmt).timing, lane)
    return names


def choose_lanes(target: Any, runtime: str | None = None, fmt: str | None = None) -> list[Lane]:
    """The lanes asked for: --runtime NAME|all, or --format F (the lane running F), else the target's default."""
    lanes = target_lanes(target)
    if runtime and fmt:
        raise UsageError("compare takes --runtime or --format, not both")
    if fmt:
        from edgekit.exporting.formats import get_format

        get_format(fmt)  # an unknown format: "did you mean"
        for lane in lanes:
            if fmt in lane.formats:
                return [lane]
        raise UsageError(f"{target.id} does not run {fmt} artifacts (it runs {', '.join(target.runtime.formats)})")
    if runtime == ALL:
        return lanes
    if runtime:
        names = _aliases(target)
        if runtime not in names:
            known = ", ".join([*(lane.runtime for lane in lanes), ALL])
            raise UsageError(f"{did_you_mean('runtime', runtime, [*names, ALL])} ({target.id} runs: {known})")
        return [names[runtime]]
    return lanes[:1]


def result_lane(target: Any, result: dict[str, Any]) -> str | None:
    """The runtime of the lane a saved result belongs to (by its artifact format; None for a format the target does
    not run)."""
    fmt = result.get("format")
    if fmt not in target.runtime.formats:
        return None
    return lane_runtime(target, str(fmt))
