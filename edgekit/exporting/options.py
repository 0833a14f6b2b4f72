"""What an export is asked to do (ExportOptions), the float model it starts from (Source), and where it writes."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edgekit._version import __version__
from edgekit.exporting.base import ANY_BATCH_SUFFIX
from edgekit.ioutil import sha256_file
from edgekit.models.registry import Preprocess
from edgekit.safety import check_name

DEFAULT_OUT = Path("edgekit-out")


@dataclass
class ExportOptions:
    model: str  # a registered name or a path to a .keras file
    precision: str = "fp32"
    formats: tuple[str, ...] | None = None  # None: the default set
    calib: str = "builtin"
    calib_size: int = 200
    holdout: int = 32
    io: str = "int8"
    input_size: int | None = None
    alpha: float | None = None
    num_classes: int = 1000
    weights: str = "none"
    out: Path | None = None
    seed: int = 0
    min_cosine: float | None = None
    max_accuracy_drop: float | None = None
    layer_report: bool | None = None  # None: only when an int8 TFLite looks damaged
    recalibrate_bn: bool | None = None  # None: when the model is untrained (weights none)
    reuse: bool = False  # keep an earlier artifact built with the same options (profile uses this)
    # ONNX/OpenVINO in a side process while TensorFlow converts TFLite; EDGEKIT_EXPORT_SEQUENTIAL=1 turns it off
    # (benchmarks/export_speed.py --sequential measures what the side process gains).
    parallel: bool = field(default_factory=lambda: os.environ.get("EDGEKIT_EXPORT_SEQUENTIAL", "") in ("", "0"))
    # EDGEKIT_THREADS: a cluster task's CPUs (edgekit.cluster.worker), so the fidelity runtimes match its share
    threads: int = field(default_factory=lambda: int(os.environ.get("EDGEKIT_THREADS") or 0) or os.cpu_count() or 1)
    preprocess: str | None = None  # raw|tf|torch|caffe|mean=R,G,B:std=R,G,B; None: the model's own (or detected)
    keep_float: tuple[str, ...] = ()  # Keras layers left float in an INT8 export (mixed precision)
    targets: tuple[str, ...] = ()  # --target: the boards the artifacts are for (none: this host)
    dynamic_batch: bool = False  # --dynamic-batch: ONNX / OpenVINO with a symbolic first dimension

    def any_batch(self, fmt: str) -> bool:
        """--dynamic-batch, for a format that honours it (ExportFormat.any_batch; TFLite resizes at load anyway)."""
        from edgekit.exporting.formats import formats

        row = formats().get(fmt.partition("@")[0])
        return self.dynamic_batch and bool(row and row.any_batch)

    def key(self, fmt: str, setting: str = "") -> str:
        """What makes two exports the same artifact (the cache key); setting: the target setting's key."""
        d = asdict(self)
        skip = ("formats", "out", "min_cosine", "max_accuracy_drop", "layer_report", "reuse", "threads", "parallel")
        for k in (*skip, "targets"):  # the targets an artifact serves are not the artifact; its setting is
            d.pop(k)
        d["format"], d["edgekit"] = fmt, __version__
        if setting:
            d["setting"] = setting  # u8s8 and s8s8 ONNX models of the same options are different artifacts
        if not self.keep_float:
            d.pop("keep_float")  # keys of exports made before --keep-float existed stay valid
        if not self.any_batch(fmt):
            d.pop("dynamic_batch")  # nor do keys of batch-1 exports change
        if Path(self.model).suffix == ".keras" and Path(self.model).is_file():
            d["model_sha256"] = sha256_file(Path(self.model))  # same path, new weights: not the same artifact
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Source:
    """The float model every artifact is made from, and what the manifest says about it."""

    model: Any
    name: str
    preprocess: Preprocess
    input_size: int
    build: dict[str, Any]
    training: dict[str, Any] | None = None  # a model edgekit trained: its data split (edgekit.training.loop)


# --- orchestration ------------------------------------------------------------------------------------------------
def artifact_dir(root: Path, model: str, fmt: str, precision: str, any_batch: bool = False) -> Path:
    """<root>/<model>/<format>-<precision>, or .../<format>-<precision>@<targets> for fmt "onnx@rpi4+rpi5" (an
    artifact made with another setting than the host's: edgekit.exporting.targeting); <format>-<precision>-anybatch
    for a --dynamic-batch export, beside the batch-1 one."""
    base, _, targets = fmt.partition("@")
    suffix = ANY_BATCH_SUFFIX if any_batch else ""
    name = f"{base}-{precision}{suffix}" + (f"@{check_name(targets)}" if targets else "")
    return root / check_name(model) / name  # a foreign manifest's name must not climb out of root
