"""Walking a Keras model's layers and settling its BatchNorm statistics: shared by export and training."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


def iter_layers(model) -> Iterator[Any]:
    """Every layer, nested models' layers included (depth first)."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from iter_layers(layer)


def batchnorm_layers(model) -> list:
    import keras

    return [layer for layer in iter_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]


def reestimate_batchnorm(model, images: np.ndarray, batch: int | None = 64, chunk: int = 8) -> int:
    """Replace every BatchNorm layer's moving statistics by those of real images (training-mode passes over the
    first `batch` images, all of them when None). Untrained BatchNorm layers hold mean 0 / var 1, so activations
    explode or collapse and int8 ranges mean nothing; a small data set's training run leaves them far behind.

    Eager Keras keeps every activation of a call alive until it returns (ResNet50, 64 images at 224 px: 10.2 GB),
    so the images go through in chunks; momentum i/(i+1) at chunk i makes the moving statistics the mean of the
    chunks' statistics (the mean exactly; the variance without the small spread between chunk means)."""
    bns = batchnorm_layers(model)
    if not bns:
        return 0
    saved = [layer.momentum for layer in bns]
    try:
        end = len(images) if batch is None else min(batch, len(images))
        for i, start in enumerate(range(0, end, chunk)):
            for layer in bns:
                layer.momentum = i / (i + 1)
            model(images[start : min(start + chunk, end)], training=True)
    finally:
        for layer, m in zip(bns, saved, strict=True):
            layer.momentum = m
    return len(bns)


def predict_in_chunks(model, images: np.ndarray, chunk: int = 8) -> np.ndarray:
    """Inference-mode logits, a few images per call (ResNet50, 32 images in one call: 5.5 GB peak)."""
    parts = [model(images[i : i + chunk], training=False) for i in range(0, len(images), chunk)]
    return np.concatenate([np.asarray(p, np.float32) for p in parts], axis=0)
