"""What every format module provides: one ExportFormat row, a converter and a runner loader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PRECISIONS = ("fp32", "fp16", "dynamic", "int8")


@dataclass
class ExportJob:
    """Everything a converter needs: the float Keras model, the calibration set and the user's options."""

    model: Any  # keras.Model
    model_name: str
    precision: str
    io: str  # "int8" | "float": TFLite full-integer input/output type
    calib: Any  # edgekit.data.CalibrationSet
    out_dir: Path  # a temporary folder, renamed into place by the orchestrator
    work_dir: Path  # scratch shared between formats (the ONNX file is reused by OpenVINO)
    extra: dict[str, Any] = field(default_factory=dict)  # per-format details to record in the manifest
    input_size: int = 0  # square NHWC input, batch 1

    @property
    def input_shape(self) -> list[int]:
        return [1, self.input_size, self.input_size, 3]


@dataclass(frozen=True)
class ExportFormat:
    name: str
    suffix: str  # of the main model file
    precisions: tuple[str, ...]
    extra: str  # the pip extra that brings its toolchain
    convert: Callable[[ExportJob], list[Path]] = field(repr=False)  # writes files into job.out_dir, returns them
    load: Callable[[Path, dict[str, Any], int], Runner] = field(repr=False)  # (model file, manifest, threads)
    default: bool = True  # part of the default --format set


class Runner:
    """Maps an NHWC float32 batch to float32 logits; hides int8 input/output scaling."""

    def __call__(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def run(self, images: np.ndarray) -> np.ndarray:
        return np.concatenate([self(images[i : i + 1]) for i in range(len(images))], axis=0)
