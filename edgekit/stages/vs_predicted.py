"""A measured result beside the prediction for the same artifact and target, with their ratio.

The measured side is what keeps the cost model honest: every remote measurement on a known board carries what
edgekit would have predicted for it, so a drifting constant shows up as a ratio far from 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError


def attach_prediction(result: dict[str, Any], artifact: Path) -> dict[str, Any]:
    """Add result["predicted"] and result["measured_over_predicted"] where the target has a cost model.

    Targets edgekit does not know (ssh-<machine>) get neither; a prediction that fails says why, never breaks the
    measurement.
    """
    from edgekit.hardware.targets import get_target

    median = (result.get("latency_ms") or {}).get("median")
    if result.get("source") != "measured" or not median or str(result.get("target", "")).startswith("ssh-"):
        return result
    try:
        from edgekit.costmodel.predict import predict_artifact

        target = get_target(result["target"])
        threads = (result.get("runtime") or {}).get("threads")
        predicted = predict_artifact(Path(artifact), target, threads=threads)
    except (EdgekitError, OSError, ValueError) as exc:
        result["predicted"] = {"source": "predicted", "status": "failed", "error": str(exc)}
        return result
    guess = (predicted.get("latency_ms") or {}).get("median")
    result["predicted"] = {
        "source": "predicted",
        "status": predicted.get("status"),
        "latency_ms": predicted.get("latency_ms"),
        "runtime": predicted.get("runtime"),
    }
    result["measured_over_predicted"] = round(median / guess, 4) if guess else None
    return result
