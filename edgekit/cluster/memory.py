"""What one export job needs in memory: the zoo's measured peaks (benchmarks/results/export_memory.json, copied
into export_peaks.json beside this module), scaled to the job's input size and calibration set.

The measured peak of a model (INT8, 200 calibration images, at its own input size) splits into three parts: the
process's floor (Python, TensorFlow and the converters loaded), its weights (a few copies while converting), and
what scales with the pixels (activations, calibration and held-out images). Only the last part is scaled.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from statistics import median
from typing import Any

PEAKS = Path(__file__).with_name("export_peaks.json")
GB = 1e9
FLOOR_GB = 1.0  # an export process with TensorFlow, tf2onnx, ONNX Runtime and OpenVINO loaded, before any model
WEIGHT_COPIES = 3  # Keras's weights, the converter's graph, the written model
MARGIN = 1.1  # the peaks were measured once, on one machine
CALIB_MEASURED = 200  # calibration images of the measured runs (export's default)


def peaks_from_benchmark(doc: dict[str, Any]) -> dict[str, Any]:
    """export_peaks.json's content, derived from benchmarks/results/export_memory.json (tests check they agree)."""
    models = {}
    for name, row in sorted(doc["models"].items()):
        export = row.get("export") or {}
        if export.get("exit_code") != 0 or not export.get("peak_tree_gb"):
            continue
        per_format = {f: v["peak_tree_gb"] for f, v in (export.get("formats") or {}).items() if v.get("peak_tree_gb")}
        models[name] = {
            "input_size": row["input_size"],
            "params": row["params"],
            "peak_gb": export["peak_tree_gb"],
            "format_peak_gb": per_format,
        }
    return {
        "from": "benchmarks/results/export_memory.json",
        "measured": doc["date"],
        "precision": "int8",
        "calib_size": CALIB_MEASURED,
        "machine": doc.get("machine"),
        "models": models,
    }


@cache
def measured_peaks() -> dict[str, Any]:
    return json.loads(PEAKS.read_text())["models"]


def export_memory_bytes(
    model: str, input_size: int | None, formats: tuple[str, ...] | None = None, calib_size: int = CALIB_MEASURED
) -> int:
    """The memory (bytes) to reserve for one export of model at input_size (None: its own) to formats (None: the
    default set). A model not measured (a .keras file, a new zoo entry) gets the median measured peak."""
    peaks = measured_peaks()
    row = peaks.get(model)
    if row is None:
        sizes = sorted(peaks.values(), key=lambda r: r["peak_gb"])
        row = sizes[len(sizes) // 2]
        peak, params, base = median(r["peak_gb"] for r in sizes), row["params"], row["input_size"]
    else:
        wanted = [row["format_peak_gb"].get(f, row["peak_gb"]) for f in (formats or ())]  # edgetpu: as tflite
        peak, params, base = (max(wanted) if wanted else row["peak_gb"]), row["params"], row["input_size"]
    weights = min(params * 4 * WEIGHT_COPIES / GB, max(peak - FLOOR_GB, 0.0))
    pixels = max(peak - FLOOR_GB - weights, 0.0)
    size = input_size or base
    scaled = pixels * (size / base) ** 2
    extra_calib = max(calib_size - CALIB_MEASURED, 0) * size * size * 3 * 4 / GB  # float32 images held in memory
    return int((FLOOR_GB + weights + scaled + extra_calib) * MARGIN * GB)


def train_memory_bytes(model: str, input_size: int | None) -> int:
    """A training job: the export figure of the same model (no measured training peaks yet; training holds one
    model, its gradients and optimizer state, in the same range as a conversion's copies)."""
    return export_memory_bytes(model, input_size)
