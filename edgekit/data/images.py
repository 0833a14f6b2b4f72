"""One image file -> a preprocessed HWC float32 array: decode (Pillow), RGB, resize and centre-crop, normalise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekit.models.registry import Preprocess


# --- preprocessing ---------------------------------------------------------------------------------------------
def to_rgb(img) -> Any:
    """Any Pillow image -> RGB (grayscale replicated, alpha composited on white, palettes expanded)."""
    from PIL import Image

    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    return img.convert("RGB")


def resize_center_crop(img, size: int, crop_fraction: float, resample: str = "bilinear"):
    """Resize the shorter side to size / crop_fraction, then crop the centre size x size (the usual eval transform)."""
    from PIL import Image

    method = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}[resample]
    w, h = img.size
    short = max(int(round(size / crop_fraction)), size)
    scale = short / min(w, h)
    nw, nh = max(size, int(round(w * scale))), max(size, int(round(h * scale)))
    img = img.resize((nw, nh), method)
    left, top = (nw - size) // 2, (nh - size) // 2
    return img.crop((left, top, left + size, top + size))


def normalize(pixels: np.ndarray, pre: Preprocess) -> np.ndarray:
    """uint8 RGB pixels (…, 3) -> float32 model input per the model's spec."""
    x = pixels.astype(np.float32) * np.float32(pre.scale) + np.float32(pre.offset)
    mean = np.asarray(pre.mean, np.float32)
    std = np.asarray(pre.std, np.float32)
    out = ((x - mean) / std).astype(np.float32)
    if getattr(pre, "channels", "RGB") == "BGR":  # caffe-style models (VGG, ResNet50) were trained on BGR
        out = out[..., ::-1]
    return np.ascontiguousarray(out)


def load_image(path: Path, size: int, pre: Preprocess) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        rgb = to_rgb(img)
    cropped = resize_center_crop(rgb, size, pre.crop_fraction, pre.resize)
    return normalize(np.asarray(cropped, dtype=np.uint8), pre)
