"""`edgekit recommend`: the notes' rules of thumb (cnn-models-notes, "recommended strategy") as a command.

The training strategy comes from the images per class; the candidates from the notes' architecture rules, each
with the target's figures from `edgekit compare` (saved profiles first, else predicted), filtered by the user's
constraints and ranked by accuracy (then latency) among those that fit. When nothing fits, the answer names the
constraint that excludes everything and the closest candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.choose.compare import CompareRequest, compare
from edgekit.errors import UsageError
from edgekit.models.registry import get_spec

# The notes' thresholds (images per class): < 1000 transfer learning, 1000-5000 fine-tuning, > 5000 from scratch.
TRANSFER_BELOW, SCRATCH_ABOVE = 1000, 5000

# The notes' architecture rules, in their order: (candidate, rule).
RULES = (
    ("squeezenet", "to design your own layers, start from SqueezeNet: the simplest model that performs well"),
    ("mobilenetv2", "for edge devices that need small size, low latency and low power: MobileNetV2"),
    ("efficientnetb0", "for the best model when nothing limits you: EfficientNet"),
    ("resnet50", "for a proven architecture (the conservative choice): ResNet50 or a larger variant"),
    ("ensemble", "when cost and latency do not matter and small gains pay off: an ensemble"),
)
# The notes: ensemble members whose architectures differ most. NAS-searched inverted residuals with squeeze-excite
# (EfficientNet) and plain residual bottlenecks (ResNet) share the least among the rule candidates.
ENSEMBLE_MEMBERS = ("efficientnetb0", "resnet50")


@dataclass(frozen=True)
class Constraints:
    max_latency_ms: float | None = None
    max_size_mb: float | None = None
    max_energy_mj: float | None = None
    min_accuracy: float | None = None

    def given(self) -> list[tuple[str, float, str]]:
        """(option, limit, figure key) of the constraints the user set, in a fixed order."""
        table = (
            ("--max-latency", self.max_latency_ms, "latency_ms"),
            ("--max-size", self.max_size_mb, "size_mb"),
            ("--max-energy", self.max_energy_mj, "energy_mj"),
            ("--min-accuracy", self.min_accuracy, "accuracy"),
        )
        return [(opt, limit, key) for opt, limit, key in table if limit is not None]


UNITS = {"latency_ms": "ms", "size_mb": "MB", "energy_mj": "mJ", "accuracy": "top-1"}


def strategy_for(images_per_class: int) -> tuple[str, str]:
    if images_per_class < 1:
        raise UsageError("--images-per-class must be at least 1")
    if images_per_class < TRANSFER_BELOW:
        return "transfer-learning", (
            f"{images_per_class} images per class < {TRANSFER_BELOW}: too few to train a network; reuse a pretrained "
            "backbone and train a new head (the notes' rule)"
        )
    if images_per_class <= SCRATCH_ABOVE:
        return "fine-tuning", (
            f"{images_per_class} images per class ({TRANSFER_BELOW}-{SCRATCH_ABOVE}): enough to fine-tune the top "
            "layers of a pretrained network at a low learning rate (the notes' rule)"
        )
    return "from-scratch", (
        f"{images_per_class} images per class > {SCRATCH_ABOVE}: enough to train every layer from scratch "
        "(the notes' rule)"
    )


# ---------------------------------------------------------------------------------------------------------------------
# Figures per candidate


def figures_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """A candidate's facts from its compare row: latency, file size, energy and accuracy, each with its source."""
    size_key = "size_int8_bytes" if row["precision"] == "int8" else "size_fp32_bytes"
    size = row[size_key]
    lat = row.get("latency_ms") or {}
    return {
        "latency_ms": {k: lat.get(k) for k in ("median", "low", "high", "source", "runtime")},
        "size_mb": {
            "value": round(size["value"] / 1e6, 3) if size.get("value") else None,
            "source": size.get("source"),
        },
        "energy_mj": row["energy_mj"],
        "accuracy": row["accuracy"],
    }


def _ensemble_figures(members: list[dict[str, Any]]) -> dict[str, Any]:
    """Members run one after the other in one graph: latency, size and energy add up (each member's source kept)."""
    lats = [m["latency_ms"] for m in members]

    def total(key: str) -> float | None:
        values = [lat.get(key) for lat in lats]
        return round(sum(values), 4) if all(isinstance(v, (int, float)) for v in values) else None

    def added(key: str) -> dict[str, Any]:
        values = [m[key].get("value") for m in members]
        known = all(isinstance(v, (int, float)) for v in values)
        return {
            "value": round(sum(values), 3) if known else None,
            "source": _joint_source(members, key) if known else None,
        }

    best = max(members, key=lambda m: m["accuracy"].get("value") or 0)["accuracy"]
    return {
        "latency_ms": {
            "median": total("median"),
            "low": total("low"),
            "high": total("high"),
            "source": _joint_source(members, "latency_ms"),
            "runtime": lats[0].get("runtime"),
            "basis": "sum of the members' latencies (one graph, run member after member)",
        },
        "size_mb": added("size_mb"),
        "energy_mj": added("energy_mj"),
        "accuracy": {
            "value": best.get("value"),
            "source": best.get("source"),
            "what": "best member's top-1: the ensemble's own gain is measured by `edgekit ensemble` on your data",
        },
    }


def _joint_source(members: list[dict[str, Any]], key: str) -> str | None:
    sources = {m[key].get("source") for m in members}
    return sources.pop() if len(sources) == 1 else "predicted"


def candidate_figures(target: str, precision: str | None, input_size: int | None, profiles_dir: Path, progress=None):
    """{candidate: figures} for the rule candidates (and the ensemble), plus the comparison they came from."""
    names = tuple(dict.fromkeys([m for m, _ in RULES if m != "ensemble"] + list(ENSEMBLE_MEMBERS)))
    req = CompareRequest(names, target, precision, input_size, profiles_dir=profiles_dir, progress=progress)
    result = compare(req)
    figures = {row["model"]: figures_from_row(row) for row in result["rows"]}
    figures["ensemble"] = _ensemble_figures([figures[m] for m in ENSEMBLE_MEMBERS])
    return figures, result


# ---------------------------------------------------------------------------------------------------------------------
# Filtering and ranking


def _value(fig: dict[str, Any], key: str) -> float | None:
    f = fig[key]
    return f.get("median") if key == "latency_ms" else f.get("value")


def misses(fig: dict[str, Any], constraints: Constraints) -> list[tuple[str, float | None, float]]:
    """(option, how far off as a ratio >= 1, or None when the figure is unknown, limit) for each broken constraint."""
    out = []
    for opt, limit, key in constraints.given():
        value = _value(fig, key)
        if value is None:
            out.append((opt, None, limit))
        elif key == "accuracy" and value < limit:
            out.append((opt, limit / value if value else float("inf"), limit))
        elif key != "accuracy" and value > limit:
            out.append((opt, value / limit if limit else float("inf"), limit))
    return out


def _describe(fig: dict[str, Any]) -> str:
    parts = []
    for key in ("latency_ms", "size_mb", "energy_mj", "accuracy"):
        value, source = _value(fig, key), fig[key].get("source")
        if value is None:
            why = fig[key].get("what")  # e.g. the saved artifact holds random weights: no published top-1 applies
            parts.append(f"{key.split('_')[0]} unknown" + (f" ({why})" if why else ""))
        elif key == "accuracy":
            parts.append(f"top-1 {value:.3f} ({source})")
        else:
            parts.append(f"{value:.3g} {UNITS[key]} ({source})")
    return ", ".join(parts)


def candidate(model: str, rule: str, fig: dict[str, Any], broken: list, strategy: str) -> dict[str, Any]:
    """One candidate of the answer: its figures, why the notes name it, and what excludes it (if anything)."""
    reason = f"the notes: {rule}; on this target: {_describe(fig)}"
    if model not in ("ensemble",) and strategy != "from-scratch" and not _has_pretrained(model):
        reason += "; edgekit has no pretrained ImageNet weights for it: bring your own (--weights PATH) to transfer"
    out = {"model": model, "figures": fig, "reason": reason, "fits": not broken}
    if model == "ensemble":
        out["members"] = list(ENSEMBLE_MEMBERS)
    if broken:
        out["excluded_by"] = [
            f"{opt} {limit:g}" + (" (figure unknown)" if ratio is None else f" ({ratio:.2f}x off)")
            for opt, ratio, limit in broken
        ]
    return out


def _has_pretrained(model: str) -> bool:
    return get_spec(model).imagenet_weights


def rank(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Best accuracy first among those that fit, then lower latency."""

    def key(c: dict[str, Any]) -> tuple:
        acc = _value(c["figures"], "accuracy") or 0.0
        lat = _value(c["figures"], "latency_ms") or float("inf")
        return (-acc, lat)

    return sorted(candidates, key=key)


def impossible(candidates: list[dict[str, Any]], constraints: Constraints, broken: dict[str, list]) -> dict[str, Any]:
    """Which constraint excludes everything (alone if one does), and the closest candidate."""
    given = constraints.given()
    excludes = {opt: sum(any(b[0] == opt for b in broken[c["model"]]) for c in candidates) for opt, _, _ in given}
    alone = [opt for opt, n in excludes.items() if n == len(candidates)]
    culprit = alone[0] if alone else max(excludes, key=excludes.get)

    def distance(c: dict[str, Any]) -> float:
        ratios = [r if r is not None else float("inf") for _, r, _ in broken[c["model"]]]
        return max(ratios) if ratios else 1.0

    closest = min(candidates, key=distance)
    limit = next(limit for opt, limit, _ in given if opt == culprit)
    return {
        "constraint": f"{culprit} {limit:g}",
        "alone": bool(alone),
        "excludes": excludes,
        "closest": {"model": closest["model"], "figures": closest["figures"], "misses": closest.get("excluded_by")},
    }


def recommend(
    target: str,
    images_per_class: int,
    constraints: Constraints,
    precision: str | None = None,
    input_size: int | None = None,
    profiles_dir: Path = Path("profiles"),
    progress=None,
) -> dict[str, Any]:
    strategy, strategy_reason = strategy_for(images_per_class)
    figures, result = candidate_figures(target, precision, input_size, profiles_dir, progress)
    candidates, broken = [], {}
    for model, rule in RULES:
        broken[model] = misses(figures[model], constraints)
        candidates.append(candidate(model, rule, figures[model], broken[model], strategy))
    fitting = rank([c for c in candidates if c["fits"]])
    out: dict[str, Any] = {
        "strategy": strategy,
        "reason": strategy_reason,
        "candidates": fitting,
        "excluded": [c for c in candidates if not c["fits"]],
        "target": result["target"],
        "precision": result["precision"],
        "constraints": {opt: limit for opt, limit, _ in constraints.given()},
    }
    if not fitting:
        out["impossible"] = impossible(candidates, constraints, broken)
    return out


def impossible_line(out: dict[str, Any]) -> str:
    imp = out["impossible"]
    closest = imp["closest"]
    how = "excludes every candidate" if imp["alone"] else "together with the other limits excludes every candidate"
    return (
        f"no model fits on {out['target']}: {imp['constraint']} {how}; the closest is {closest['model']} "
        f"({_describe(closest['figures'])}), missing {', '.join(closest['misses'] or [])}"
    )
