"""What every format module provides: one ExportFormat row, a converter and a runner loader.

The row is the one place a format is described: export, verify, analyze, profile and the target schema read it
through the helpers in edgekit.exporting.formats. It must stay importable without TensorFlow, ONNX or OpenVINO: every
callable imports its toolchain when called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgekit.device.runtimes import default_runtimes
from edgekit.errors import EdgekitError

if TYPE_CHECKING:  # numpy is only needed by type checkers here
    import numpy as np

PRECISIONS = ("fp32", "fp16", "dynamic", "int8")
ANY_BATCH_SUFFIX = "-anybatch"  # of a --dynamic-batch export's folder: <format>-<precision>-anybatch[@targets]
TIMING_BACKENDS = default_runtimes()  # each file suffix's runtime in edgekit.device's runtime table (runtimes.py)


@dataclass
class ExportJob:
    """Everything a converter needs: the float Keras model, the calibration set and the user's options."""

    model: Any  # keras.Model
    model_name: str
    precision: str
    io: str  # "int8" | "float": TFLite full-integer input/output type
    calib: Any  # edgekit.data.calibration.CalibrationSet
    out_dir: Path  # a temporary folder, renamed into place by the orchestrator
    work_dir: Path  # scratch shared between formats (the ONNX file is reused by OpenVINO)
    extra: dict[str, Any] = field(default_factory=dict)  # per-format details to record in the manifest
    input_size: int = 0  # square NHWC input
    dynamic_batch: bool = False  # --dynamic-batch, for a format whose row has any_batch: a symbolic first dimension
    keep_float: dict[str, Any] | None = None  # --keep-float: edgekit.exporting.keepfloat.plan (INT8 only)
    settings: dict[str, Any] | None = None  # the target's settings (ExportFormat.target_settings); None: the host's
    layer_scopes: dict[str, list[str]] | None = None  # Keras layer -> scope segments (edgekit.analyze.layernames)

    @property
    def input_shape(self) -> list[int]:
        """NHWC; the batch is -1 (any) under --dynamic-batch, else 1."""
        return [-1 if self.dynamic_batch else 1, self.input_size, self.input_size, 3]


@dataclass(frozen=True)
class ExportFormat:
    name: str
    suffix: str  # of the main model file (the one the manifest lists first)
    precisions: tuple[str, ...]
    extra: str  # the pip extra that brings its toolchain
    convert: Callable[[ExportJob], list[Path]] = field(repr=False)  # writes files into job.out_dir, returns them
    load: Callable[[Path, dict[str, Any], int], LoadedArtifact] = field(repr=False)  # (model file, manifest, threads)
    io_details: Callable[[Path], dict[str, Any]] = field(repr=False)  # {"input": ..., "output": ...} for the manifest
    # edgekit.analyze's per-op reader of the model file, returning an analyze.graph.Graph (not imported here:
    # analyze reads this table, so the table must not import analyze)
    read_graph: Callable[[Path], Any] = field(repr=False)
    timing: str  # runtime that times it (one of TIMING_BACKENDS; measuring follows edgekit.device.runtimes by suffix)
    default: bool = True  # part of the default --format set
    order: int = 100  # position in the table (the order of `--format all` and of the listings)
    # File-name endings that mean this format (default: the suffix). The longest match wins, so
    # "model_edgetpu.tflite" is edgetpu while "model.tflite" stays tflite.
    suffixes: tuple[str, ...] = ()
    companions: tuple[str, ...] = ()  # suffixes of files read together with the main one (OpenVINO's .bin)
    any_batch: bool = False  # --dynamic-batch leaves its first dimension symbolic (TFLite resizes at load anyway)
    side: bool = False  # converted in export's side process (needs no TensorFlow once the FP32 ONNX file exists)
    precision_of: Callable[[Path], str | None] | None = field(default=None, repr=False)  # without a runtime
    host_note: str = ""  # non-empty: cannot be measured on the host, and why (e.g. it needs an Edge TPU)
    export_hint: str = ""  # the command that makes one (default: edgekit export MODEL --format NAME)
    # What a target's runtime wants at a precision (edgekit.exporting.targeting): {"key": short and stable, "" where
    # every target gets the same, "reason": why, ...what the converter reads}; None (or no callable): one artifact.
    target_settings: Callable[[Any, str], dict[str, Any] | None] | None = field(default=None, repr=False)
    # The key of the setting an older manifest (written before --target) was made with, from what it recorded.
    recorded_setting: Callable[[dict[str, Any]], str | None] | None = field(default=None, repr=False)

    @property
    def file_endings(self) -> tuple[str, ...]:
        return self.suffixes or (self.suffix,)

    @property
    def hint(self) -> str:
        return self.export_hint or f"edgekit export MODEL --format {self.name}"


class LoadedArtifact:
    """An artifact loaded in its runtime for the fidelity check: maps an NHWC float32 batch to float32 logits and hides
    int8 input/output scaling. (The board program is edgekit.device's runner; this is not it.)"""

    def __call__(self, x: np.ndarray) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def run(self, images: np.ndarray) -> np.ndarray:
        import numpy as np

        return np.concatenate([self(images[i : i + 1]) for i in range(len(images))], axis=0)


def open_artifact(path: Path, runtime: str, threads: int = 1, precision: str | None = None) -> Any:
    """An artifact loaded by edgekit.device (the runtime layer every measurement uses too): on the CPU, with its
    RunnerError turned into the one-line EdgekitError the command line prints."""
    from edgekit.device import RunnerError, open_model

    try:
        return open_model(path, runtime=runtime, threads=threads, device="CPU", precision=precision)
    except RunnerError as exc:
        raise EdgekitError(str(exc)) from exc
