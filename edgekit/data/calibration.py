"""Images -> preprocessed NHWC float32 arrays, and the calibration set every converter draws from.

One CalibrationSet (fixed n, seed, re-iterable) with thin adapters for each toolchain: TFLite's representative_dataset,
ONNX Runtime's CalibrationDataReader and nncf.Dataset -- the NNCF habit of one dataset object, many consumers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgekit.data.folders import IMAGE_SUFFIXES, class_subfolders, images_under, is_image_file
from edgekit.data.images import load_image, normalize
from edgekit.errors import EdgekitError, UsageError
from edgekit.models.registry import Preprocess

# Real photographs (and a few textures) that scikit-image ships inside its wheel: no download needed.
BUILTIN_PHOTOS = (
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "immunohistochemistry",
    "hubble_deep_field",
    "retina",
    "stereo_motorcycle",
    "camera",
    "moon",
    "grass",
    "gravel",
    "brick",
    "coins",
    "clock",
    "cell",
)


@dataclass
class CalibrationSet:
    """Preprocessed images (N, H, W, 3) float32, optional integer labels, and where they came from."""

    images: np.ndarray
    source: str
    seed: int
    labels: np.ndarray | None = None
    class_names: list[str] = field(default_factory=list)
    skipped: int = 0
    files: list[str] = field(default_factory=list)
    tick: Any = field(default=None, repr=False, compare=False)  # called once per image a toolchain consumes
    # called when TFLite's calibrator has taken the last image, before it quantizes (edgekit.exporting.offload)
    on_end: Any = field(default=None, repr=False, compare=False)

    def _ticked(self) -> None:
        if self.tick is not None:
            self.tick()

    def __len__(self) -> int:
        return len(self.images)

    def batches(self, batch_size: int = 1) -> Iterator[np.ndarray]:
        for i in range(0, len(self.images), batch_size):
            yield self.images[i : i + batch_size]

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "count": len(self),
            "seed": self.seed,
            "skipped": self.skipped,
            "labelled": self.labels is not None,
            "classes": len(self.class_names),
        }

    def split(self, n_holdout: int) -> tuple[CalibrationSet, CalibrationSet]:
        """Split off the last n_holdout images (a held-out set never used for calibration)."""
        n_holdout = min(n_holdout, max(len(self) // 2, 1)) if len(self) > 1 else 0
        cut = len(self) - n_holdout
        parts = []
        for sl in (slice(0, cut), slice(cut, None)):
            parts.append(
                CalibrationSet(
                    images=self.images[sl],
                    source=self.source,
                    seed=self.seed,
                    labels=None if self.labels is None else self.labels[sl],
                    class_names=self.class_names,
                    skipped=self.skipped,
                    files=self.files[sl] if self.files else [],
                )
            )
        return parts[0], parts[1]

    # --- adapters -------------------------------------------------------------------------------------------
    def representative_dataset(self):
        """TFLite converter: a callable returning a generator of [batch-of-1] lists."""

        def gen():
            for x in self.batches(1):
                self._ticked()
                yield [x.astype(np.float32)]
            if self.on_end is not None:
                self.on_end()

        return gen

    def onnx_reader(self, input_name: str):
        from onnxruntime.quantization import CalibrationDataReader

        images, ticked = self.images, self._ticked

        class _Reader(CalibrationDataReader):
            def __init__(self):
                self._it = iter(range(len(images)))

            def get_next(self):
                i = next(self._it, None)
                if i is None:
                    return None
                ticked()
                return {input_name: images[i : i + 1]}

            def rewind(self):
                self._it = iter(range(len(images)))

        return _Reader()

    def nncf_dataset(self):
        import nncf

        def transform(x: np.ndarray) -> np.ndarray:
            self._ticked()
            return x

        return nncf.Dataset([self.images[i : i + 1] for i in range(len(self.images))], transform)


# --- sources ---------------------------------------------------------------------------------------------------
def list_image_folder(folder: Path) -> tuple[list[Path], list[int] | None, list[str]]:
    """A flat folder of images, or class subfolders whose names become labels (sorted, like Keras)."""
    if not folder.exists():
        raise UsageError(f"calibration folder {folder} does not exist")
    if not folder.is_dir():
        raise UsageError(f"calibration path {folder} is not a folder")
    subdirs = class_subfolders(folder)
    flat = sorted(p for p in folder.iterdir() if is_image_file(p))
    if subdirs and not flat:
        files, labels = [], []
        for idx, d in enumerate(subdirs):
            found = images_under(d)
            files += found
            labels += [idx] * len(found)
        return files, labels, [d.name for d in subdirs]
    return flat, None, []


def from_folder(folder: Path, n: int, size: int, pre: Preprocess, seed: int = 0) -> CalibrationSet:
    files, labels, names = list_image_folder(Path(folder))
    if not files:
        raise UsageError(f"calibration folder {folder} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    order = np.random.default_rng(seed).permutation(len(files))[: max(n, 1)] if n else np.arange(len(files))
    images, kept_labels, kept_files, skipped = [], [], [], 0
    for i in order:
        try:
            images.append(load_image(files[i], size, pre))
        except Exception:  # corrupt, truncated or unreadable: skip and count
            skipped += 1
            continue
        kept_files.append(str(files[i]))
        if labels is not None:
            kept_labels.append(labels[i])
    if not images:
        raise EdgekitError(f"no readable images in {folder}: all {skipped} failed to decode")
    return CalibrationSet(
        images=np.stack(images),
        source=f"folder:{Path(folder).resolve()}",
        seed=seed,
        labels=np.asarray(kept_labels) if labels is not None else None,
        class_names=names,
        skipped=skipped,
        files=kept_files,
    )


def _builtin_photo(name: str) -> np.ndarray:
    import skimage.data

    img = getattr(skimage.data, name)()
    if isinstance(img, tuple):  # stereo pairs
        img = img[0]
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = (img.astype(np.float32) * (255.0 / max(float(img.max()), 1.0))).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return img[..., :3]


def random_crops(photos: list[np.ndarray], n: int, size: int, pre: Preprocess, seed: int) -> np.ndarray:
    """n varied crops (scale 25-100% of the shorter side, aspect 3:4-4:3, random flips) resized to size."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        photo = photos[i % len(photos)]
        h, w = photo.shape[:2]
        side = min(h, w) * np.sqrt(rng.uniform(0.25, 1.0))
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        ch, cw = int(min(h, side / np.sqrt(aspect))), int(min(w, side * np.sqrt(aspect)))
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        crop = Image.fromarray(photo[top : top + ch, left : left + cw]).resize((size, size), Image.BILINEAR)
        arr = np.asarray(crop)
        if rng.random() < 0.5:
            arr = arr[:, ::-1]
        out[i] = normalize(arr, pre)
    return out


def builtin(n: int, size: int, pre: Preprocess, seed: int = 0) -> CalibrationSet:
    try:
        photos = [_builtin_photo(name) for name in BUILTIN_PHOTOS]
    except ImportError as exc:
        raise EdgekitError(
            "the builtin calibration images come with scikit-image; install it with: pip install 'edgekit[tf]'"
        ) from exc
    return CalibrationSet(images=random_crops(photos, n, size, pre, seed), source="builtin:scikit-image", seed=seed)


def synthetic(n: int, size: int, pre: Preprocess, seed: int = 0) -> CalibrationSet:
    """Smooth random images (upsampled noise): only when asked for, and always recorded as such."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        coarse = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(coarse).resize((size, size), Image.BICUBIC))
        out[i] = normalize(img, pre)
    return CalibrationSet(images=out, source="synthetic", seed=seed)


def calibration_set(source: str, n: int, size: int, pre: Preprocess, seed: int = 0) -> CalibrationSet:
    """`--calib DIR|builtin|synthetic`."""
    if n < 1:
        raise UsageError("--calib-size must be at least 1")
    if source == "builtin":
        return builtin(n, size, pre, seed)
    if source == "synthetic":
        return synthetic(n, size, pre, seed)
    return from_folder(Path(source), n, size, pre, seed)
