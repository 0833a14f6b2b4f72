"""The figures compare, recommend and the report share: one figure with its source, a saved result's latency, a
model's accuracy. The lowest module of edgekit.choose: it imports none of the others, so they import it freely."""

from __future__ import annotations

from typing import Any

from edgekit.errors import UsageError
from edgekit.models.registry import ModelSpec, get_spec


def figure(value: Any, source: str | None, **extra: Any) -> dict[str, Any]:
    """A figure and where it came from (measured, predicted, published); an unknown value has no source."""
    return {"value": value, "source": source if value is not None else None, **extra}


def latency_from_result(result: dict[str, Any]) -> dict[str, Any]:
    """A saved profile's latency as compare reports it: median with its band, source and runtime."""
    lat = result["latency_ms"]
    measured = result.get("source") == "measured"
    return {
        "median": lat.get("median"),
        # A measured band is the spread of the timed runs; a predicted one is the cost model's uncertainty.
        "low": lat.get("min") if measured else lat.get("low"),
        "high": lat.get("p99") if measured else lat.get("high"),
        "band": "min-p99 of the timed runs" if measured else "cost-model band",
        "source": result.get("source"),
        "runtime": result.get("runtime"),
    }


def accuracy_figure(
    spec: ModelSpec, size: int, num_classes: int, fidelity: dict | None, weights: str | None = None
) -> dict[str, Any]:
    """Labelled accuracy measured on an export's held-out images, else the published ImageNet top-1 of the weights
    the model can load (`--weights imagenet`). A saved result whose artifact held other weights (random, a file) has
    no published figure: `weights` is what it recorded (None: predicted on the spot, or not recorded)."""
    if fidelity and fidelity.get("accuracy") is not None:
        return figure(fidelity["accuracy"], "measured", what="labelled accuracy of the export's held-out images")
    if weights is not None and weights != "imagenet":
        return figure(None, None, what=f"no published top-1: the measured artifact holds {weights} weights")
    published = spec.published_top1
    if published is not None and num_classes == 1000:
        what = "ImageNet top-1 of the trained fp32 weights"
        if size != spec.default_input_size:
            what += f" at {spec.default_input_size} px (not {size})"
        return figure(published.value, "published", what=what, ref=published.source)
    return figure(None, None)


def profile_accuracy(result: dict[str, Any]) -> dict[str, Any] | None:
    """A saved profile's accuracy: its export's measured one, else its model's published top-1 when the artifact
    holds those published weights (random or other weights have no published figure), else None."""
    fid = result.get("fidelity") or {}
    if fid.get("accuracy") is not None:
        return {"value": fid["accuracy"], "source": "measured"}
    if result.get("weights") != "imagenet":  # random, a file, or not recorded (results older than the key)
        return None
    try:
        published = get_spec(str(result.get("model"))).published_top1
    except UsageError:  # a profile of a model the registry does not know (a .keras file): no published figure
        return None
    return {"value": published.value, "source": "published"} if published is not None else None
