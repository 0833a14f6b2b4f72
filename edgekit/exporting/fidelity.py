"""Reference (float Keras) vs artifact: top-1 agreement, top-5 overlap, cosine and SQNR of the logits, accuracy."""

from __future__ import annotations

from typing import Any

import numpy as np


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean per-sample cosine similarity of two (N, C) logit arrays."""
    a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    both_zero = den == 0
    sims = np.where(both_zero, 1.0, num / np.where(both_zero, 1.0, den))
    return float(sims.mean())


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB: 10 log10(|ref|^2 / |ref - test|^2); inf when identical."""
    ref = reference.astype(np.float64)
    noise = float(((ref - test.astype(np.float64)) ** 2).sum())
    signal = float((ref**2).sum())
    if noise == 0:
        return float("inf")
    if signal == 0:
        return float("-inf")
    return float(10 * np.log10(signal / noise))


def topk(x: np.ndarray, k: int) -> np.ndarray:
    k = min(k, x.shape[-1])
    return np.argsort(-x, axis=-1, kind="stable")[:, :k]


def fidelity_metrics(reference: np.ndarray, test: np.ndarray, labels: np.ndarray | None = None) -> dict[str, Any]:
    """Top-1 agreement, top-5 overlap, cosine and SQNR of an artifact's logits against the float model's (and labelled
    accuracy when labels are given)."""
    ref, out = reference.reshape(len(reference), -1), test.reshape(len(test), -1)
    top5_ref, top5_out = topk(ref, 5), topk(out, 5)
    overlap = np.mean([len(set(r) & set(o)) / len(r) for r, o in zip(top5_ref, top5_out, strict=True)])
    report: dict[str, Any] = {
        "n": int(len(ref)),
        "cosine": round(cosine(ref, out), 6),
        "sqnr_db": _finite(sqnr_db(ref, out)),
        "top1_agreement": float(np.mean(top5_ref[:, 0] == top5_out[:, 0])),
        "top5_overlap": float(overlap),
        "max_abs_diff": float(np.max(np.abs(ref - out))),
    }
    if labels is not None and len(labels) == len(ref):
        report["accuracy"] = float(np.mean(top5_out[:, 0] == labels))
        report["reference_accuracy"] = float(np.mean(top5_ref[:, 0] == labels))
        report["accuracy_drop_pp"] = accuracy_drop_pp(report)
    return report


def accuracy_drop_pp(fidelity: dict[str, Any]) -> float | None:
    """Labelled accuracy lost against the float model, in percentage points (accuracies are fractions); None
    without labels."""
    if fidelity.get("accuracy") is None or fidelity.get("reference_accuracy") is None:
        return None
    return round(100 * (fidelity["reference_accuracy"] - fidelity["accuracy"]), 4)


def _finite(x: float) -> float | None:
    """JSON has no inf: an exact match reports SQNR as null with cosine 1.0."""
    return round(x, 3) if np.isfinite(x) else None


def gate(fidelity: dict[str, Any], min_cosine: float | None, max_accuracy_drop: float | None) -> str | None:
    """The reason an artifact fails the user's bar, or None. max_accuracy_drop is in percentage points (1.0: the
    artifact may lose one point of labelled top-1 accuracy); without labels it cannot judge (warn_unjudged says so)."""
    if min_cosine is not None and fidelity.get("cosine", 1.0) < min_cosine:
        return f"cosine {fidelity['cosine']:.4f} is below --min-cosine {min_cosine}"
    drop = accuracy_drop_pp(fidelity)
    if max_accuracy_drop is not None and drop is not None and drop > max_accuracy_drop:
        return f"accuracy dropped by {drop:.2f} pp (more than --max-accuracy-drop {max_accuracy_drop:g} pp)"
    return None


UNJUDGED = (
    "--max-accuracy-drop cannot be judged: the held-out images carry no labels "
    "(give --calib DIR with one sub-folder of images per class)"
)
