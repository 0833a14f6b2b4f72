"""Labelled image data sets: builtin ones materialised as image folders, folder fingerprints, and how pixels enter a
model (`--preprocess raw|tf|torch|caffe|mean=R,G,B:std=R,G,B`, a leading Rescaling/Normalization layer detected).

No TensorFlow at module level: `edgekit --help` imports the CLI, which only names these functions.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgekit import console
from edgekit.errors import EdgekitError, UsageError, did_you_mean
from edgekit.ioutil import atomic_dir
from edgekit.models.registry import PREPROCESS_CAFFE, PREPROCESS_RAW, PREPROCESS_TF, PREPROCESS_TORCH, Preprocess

BUILTIN_PREFIX = "builtin:"
# Real labelled image sets shipped inside an installed wheel (no download): name -> what it is.
BUILTIN_SETS = {"digits": "scikit-learn's handwritten digits (UCI optdigits): 1797 8x8 grayscale images, 10 classes"}
PREPROCESS_NAMES = {"raw": PREPROCESS_RAW, "tf": PREPROCESS_TF, "torch": PREPROCESS_TORCH, "caffe": PREPROCESS_CAFFE}


# --- builtin data sets ----------------------------------------------------------------------------------------
def data_home() -> Path:
    """Where builtin sets are materialised: $EDGEKIT_DATA_HOME, else ~/.cache/edgekit/datasets."""
    env = os.environ.get("EDGEKIT_DATA_HOME")
    return Path(env) if env else Path.home() / ".cache" / "edgekit" / "datasets"


def resolve_data(spec: str, input_size: int) -> tuple[Path, str]:
    """`--data DIR|builtin:NAME` -> (an image folder with one subfolder per class, a short data set name)."""
    if spec.startswith(BUILTIN_PREFIX):
        name = spec[len(BUILTIN_PREFIX) :].strip().lower()
        if name not in BUILTIN_SETS:
            raise did_you_mean("builtin data set", name, list(BUILTIN_SETS))
        return materialise_digits(data_home() / f"digits-{input_size}px", input_size), name
    folder = Path(spec).expanduser()
    if not folder.exists():
        raise UsageError(f"data folder {folder} does not exist")
    if not folder.is_dir():
        raise UsageError(f"--data {folder} is not a folder (give a folder with one subfolder per class)")
    return folder, folder.resolve().name


def materialise_digits(folder: Path, size: int) -> Path:
    """scikit-learn's digits as PNGs (8x8, 17 gray levels, upscaled to size x size), one folder per class.

    Written once into a temporary folder and renamed into place, so an interrupted run leaves nothing half-made.
    """
    if (folder / "COMPLETE").exists():
        return folder
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise EdgekitError("builtin:digits comes with scikit-learn; install it with: pip install scikit-learn") from exc
    from PIL import Image

    digits = load_digits()
    pixels = np.clip(digits.images * (255.0 / 16.0), 0, 255).astype(np.uint8)  # 0..16 ink -> 0..255
    counts: dict[int, int] = {}
    with atomic_dir(folder) as tmp:
        for img, label in zip(pixels, digits.target, strict=True):
            k = counts.get(int(label), 0)
            counts[int(label)] = k + 1
            (tmp / str(label)).mkdir(exist_ok=True)
            # Bilinear keeps the strokes smooth; nearest would make 4x4-pixel blocks the network must learn.
            Image.fromarray(img).resize((size, size), Image.BILINEAR).save(tmp / str(label) / f"{k:04d}.png")
        (tmp / "COMPLETE").write_text(f"{BUILTIN_SETS['digits']}\n")
    return folder


def fingerprint(files: list[Path], root: Path) -> str:
    """sha256 over (relative path, content hash) of every file: the same images in the same classes."""
    h = hashlib.sha256()
    for p in sorted(files):
        h.update(str(Path(p).relative_to(root)).encode())
        h.update(hashlib.sha256(Path(p).read_bytes()).digest())
    return h.hexdigest()


# --- preprocessing --------------------------------------------------------------------------------------------
def parse_preprocess(value: str) -> Preprocess:
    """`raw|tf|torch|caffe|mean=R,G,B:std=R,G,B`. mean/std of at most 1 are on the [0, 1] scale (torchvision's
    habit), larger ones on 0-255 pixels (OpenMMLab's habit)."""
    key = value.strip().lower()
    if key in PREPROCESS_NAMES:
        return PREPROCESS_NAMES[key]
    parts = dict(p.split("=", 1) for p in key.split(":") if "=" in p)
    if set(parts) != {"mean", "std"} or len(key.split(":")) != 2:
        raise UsageError(f"--preprocess must be raw, tf, torch, caffe or mean=R,G,B:std=R,G,B, got '{value}'")
    try:
        mean = tuple(float(v) for v in parts["mean"].split(","))
        std = tuple(float(v) for v in parts["std"].split(","))
    except ValueError as exc:
        raise UsageError(f"--preprocess mean/std must be numbers, got '{value}'") from exc
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise UsageError(f"--preprocess needs three means and three positive stds (R,G,B), got '{value}'")
    unit = max(*mean, *std) <= 1.0
    return Preprocess(scale=1 / 255 if unit else 1.0, offset=0.0, mean=mean, std=std)  # type: ignore[arg-type]


def preprocess_name(pre: Preprocess) -> str:
    """The --preprocess spelling of pre (for manifests and messages); resizing and cropping are not part of it."""
    for name, known in PREPROCESS_NAMES.items():
        if replace(pre, resize=known.resize, crop_fraction=known.crop_fraction) == known:
            return name
    if pre.scale == 1 / 255 or pre.scale == 1.0:
        fmt = ",".join
        return f"mean={fmt(f'{v:g}' for v in pre.mean)}:std={fmt(f'{v:g}' for v in pre.std)}"
    return "custom"


def leading_normalization(model: Any) -> str | None:
    """The class name of a Rescaling/Normalization layer that the model applies to its input first, else None:
    such a model takes raw 0-255 pixels (keras' own examples put one there)."""
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        return kind if kind in ("Rescaling", "Normalization") else None
    return None


def preprocess_from_dict(d: dict[str, Any]) -> Preprocess:
    """A manifest's `preprocess` record back to a Preprocess."""
    return Preprocess(
        scale=float(d["scale"]),
        offset=float(d["offset"]),
        mean=tuple(d["mean"]),  # type: ignore[arg-type]
        std=tuple(d["std"]),  # type: ignore[arg-type]
        resize=d.get("resize", "bilinear"),
        crop_fraction=float(d.get("crop_fraction", 0.875)),
        channels=d.get("channels", "RGB"),
    )


def keras_file_preprocess(model: Any, meta: dict[str, Any], override: str | None) -> tuple[Preprocess, str]:
    """How a .keras file's inputs are made, and why: --preprocess, else the manifest edgekit wrote beside it, else a
    leading Rescaling/Normalization layer (raw 0-255 pixels), else keras' 'tf' mode ([-1, 1])."""
    if override:
        return parse_preprocess(override), "--preprocess"
    if isinstance(meta.get("preprocess"), dict):
        try:
            return preprocess_from_dict(meta["preprocess"]), "manifest"
        except (KeyError, TypeError, ValueError):
            pass
    if meta.get("model"):
        from edgekit.models.registry import get_spec

        try:
            return get_spec(meta["model"]).preprocess, f"model {meta['model']}"
        except UsageError:
            pass
    layer = leading_normalization(model)
    if layer:
        return PREPROCESS_RAW, f"raw pixels: the model starts with a {layer} layer"
    return PREPROCESS_TF, "default (tf: [-1, 1])"


def warn_if_near_chance(reference: np.ndarray, labels: np.ndarray | None, pre: Preprocess, warn) -> float | None:
    """The float model's labelled accuracy; one loud line when it is no better than guessing."""
    if labels is None or not len(labels):
        return None
    logits = reference.reshape(len(reference), -1)
    acc = float(np.mean(np.argmax(logits, axis=-1) == labels))
    classes = logits.shape[-1]
    if classes > int(np.max(labels)) + 1:  # e.g. 1000 ImageNet outputs, 8 folders: the labels index other classes
        return acc
    if near_chance(acc, classes):
        warn(chance_warning(acc, classes, preprocess_name(pre)))
    return acc


def one_line(message: str) -> None:
    """A message on stderr as one line, however narrow the terminal (rich wraps at 80 columns when piped)."""

    console.err_console().print(message, markup=False, soft_wrap=True)


def near_chance(accuracy: float, classes: int) -> bool:
    """Accuracy no better than guessing (within 1.5x chance): the figures then measure nothing."""
    return classes > 1 and accuracy <= 1.5 / classes


def chance_warning(accuracy: float, classes: int, preprocess: str) -> str:
    return (
        f"the float model scores {accuracy:.1%} on the labelled images, near chance ({1 / classes:.1%} for {classes} "
        f"classes): every accuracy and fidelity figure below is meaningless. Likely cause: inputs preprocessed as "
        f"'{preprocess}' but the model was trained on others; fix with --preprocess raw|tf|torch|caffe|mean=..:std=.."
    )


# --- export's view of a trained model ---------------------------------------------------------------------------
def training_record(keras_path: Path) -> dict[str, Any] | None:
    """The `training` section of the manifest beside a .keras file edgekit trained (None otherwise)."""
    manifest = Path(keras_path).with_name("manifest.json")
    try:
        meta = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    if meta.get("path") and Path(meta["path"]).name != Path(keras_path).name:
        return None
    return meta.get("training")


def labelled_sets(training: dict[str, Any], n_calib: int, size: int, pre, seed: int):
    """(calibration set from the training images, held-out set = all validation images), labelled; None when the
    images are no longer where training found them."""
    from edgekit.data.calibration import CalibrationSet
    from edgekit.data.images import load_image

    root = Path(training["data_root"])
    names = training["classes"]

    def load(rel_paths: list[str], source: str) -> CalibrationSet:
        paths = [root / r for r in rel_paths]
        images = np.stack([load_image(p, size, pre) for p in paths])
        labels = np.asarray([names.index(Path(r).parts[0]) for r in rel_paths])
        return CalibrationSet(images, source, seed, labels, names, 0, [str(p) for p in paths])

    train_rel = training["split"]["train"]
    pick = np.random.default_rng(seed).permutation(len(train_rel))[:n_calib]
    try:
        calib = load([train_rel[i] for i in sorted(pick)], f"training-images:{root}")
        holdout = load(training["split"]["val"], f"validation-images:{root}")
    except (OSError, ValueError):
        return None
    return calib, holdout
