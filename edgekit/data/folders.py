"""Image folders on disk: which files are images, class subfolders as labels, and a stratified split.

One listing for calibration (a flat folder or class subfolders) and for training (class subfolders only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgekit.data.images import load_image
from edgekit.errors import UsageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def class_subfolders(root: Path) -> list[Path]:
    """The class folders of a labelled image folder, sorted by name like Keras (hidden ones skipped)."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def images_under(folder: Path) -> list[Path]:
    """Every image file below a folder, in sorted order."""
    return sorted(p for p in folder.rglob("*") if is_image_file(p))


# --- data -------------------------------------------------------------------------------------------------------
def class_files(root: Path) -> tuple[list[Path], list[int], list[str]]:
    """Class subfolders -> files and labels; one class, or a class without images, is a usage error."""
    subdirs = class_subfolders(root)
    if not subdirs:
        raise UsageError(f"{root} has no class subfolders: put each class's images in a folder named after it")
    if len(subdirs) == 1:
        raise UsageError(f"{root} has one class ({subdirs[0].name}): a classifier needs at least two")
    files, labels, empty = [], [], []
    for idx, d in enumerate(subdirs):
        found = images_under(d)
        if not found:
            empty.append(d.name)
        files += found
        labels += [idx] * len(found)
    if empty:
        raise UsageError(f"{root}: class folder(s) without images: {', '.join(empty[:5])}")
    return files, labels, [d.name for d in subdirs]


def load_labelled(root: Path, size: int, pre, classes_hint: list[str] | None = None) -> tuple[list, list, list, int]:
    """Read every image (unreadable ones skipped and counted); a class left without readable images is an error."""
    files, labels, names = class_files(root)
    kept_files, images, kept_labels, skipped = [], [], [], 0
    for path, label in zip(files, labels, strict=True):
        try:
            images.append(load_image(path, size, pre))
        except Exception:  # corrupt, truncated or not an image: skip and count
            skipped += 1
            continue
        kept_files.append(path)
        kept_labels.append(label)
    lost = sorted(set(range(len(names))) - set(kept_labels))
    if lost:
        raise UsageError(f"{root}: no readable images in class(es) {', '.join(names[i] for i in lost[:5])}")
    return kept_files, images, kept_labels, skipped


def stratified_split(labels: np.ndarray, classes: list[str], val_split: float, seed: int):
    """Each class keeps its share of validation images (at least one, and at least one for training)."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c, name in enumerate(classes):
        idx = np.flatnonzero(labels == c)
        if len(idx) < 2:
            raise UsageError(
                f"class '{name}' has {len(idx)} readable image: the validation split needs at least 2 per class"
            )
        idx = rng.permutation(idx)
        n_val = min(max(1, round(len(idx) * val_split)), len(idx) - 1)
        val += idx[:n_val].tolist()
        train += idx[n_val:].tolist()
    return np.sort(np.asarray(train)), np.sort(np.asarray(val))
