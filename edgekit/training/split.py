"""The training images of one run: read, split into training and validation, and augmented per epoch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.data.folders import class_files, load_labelled, stratified_split


@dataclass
class Split:
    """Loaded, preprocessed images and the stratified split (indices into files/images/labels)."""

    root: Path
    files: list[Path]
    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    train: np.ndarray
    val: np.ndarray
    skipped: int


def prepare_data(folder: Path, size: int, pre, val_split: float, seed: int) -> Split:
    files, images, labels, skipped = load_labelled(folder, size, pre)
    classes = class_files(folder)[2]
    y = np.asarray(labels, np.int64)
    train, val = stratified_split(y, classes, val_split, seed)
    return Split(folder, files, np.stack(images), y, classes, train, val, skipped)


def augment(images: np.ndarray, rng: np.random.Generator, max_shift: float = 0.125) -> np.ndarray:
    """Random shifts of up to 12.5% with edge padding. Small images have no room for crops, and flips would change
    what digits and letters mean; shifts are what keeps a few hundred images from being memorised by position."""
    n, h, w, _ = images.shape
    pad_h, pad_w = max(1, int(h * max_shift)), max(1, int(w * max_shift))
    padded = np.pad(images, ((0, 0), (pad_h, pad_h), (pad_w, pad_w), (0, 0)), mode="edge")
    dy = rng.integers(0, 2 * pad_h + 1, n)
    dx = rng.integers(0, 2 * pad_w + 1, n)
    return np.stack([padded[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
