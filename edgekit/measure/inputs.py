"""`edgekit profile --inputs DIR`: real images for timing, preprocessed as the artifact's manifest says (resize, crop,
scale/mean/std, channel order, layout, INT8 quantization of the input) into one .npy sample per image, the folder the
device runner cycles through (`python -m edgekit.device run --inputs FOLDER`; on a board the folder is copied over).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from edgekit.errors import UsageError

MAX_IMAGES = 256  # the timed runs cycle through them; more only costs preprocessing time


def image_files(folder: Path) -> list[Path]:
    """The images under folder (its subfolders too, as class folders hold them), sorted, at most MAX_IMAGES."""
    from edgekit.data.folders import is_image_file

    files = sorted(p for p in Path(folder).rglob("*") if p.is_file() and is_image_file(p))
    if not files:
        raise UsageError(f"--inputs {folder}: no images in it (.jpg, .png, ...)")
    return files[:MAX_IMAGES]


def prepare_samples(folder: Path, manifest: dict[str, Any] | None, artifact: Path, dest: Path) -> int:
    """Write one preprocessed .npy per image of folder into dest, in the artifact's input dtype; the count."""
    import numpy as np

    from edgekit.data.images import load_image
    from edgekit.data.labelled import preprocess_from_dict

    if not manifest or not isinstance(manifest.get("preprocess"), dict) or not isinstance(manifest.get("input"), dict):
        raise UsageError(
            f"--inputs needs the artifact's manifest.json (its preprocessing and input): {artifact} has none beside it"
        )
    spec = manifest["input"]
    shape = [d if isinstance(d, int) else -1 for d in spec.get("shape") or []]  # "batch": a --dynamic-batch export
    if len(shape) != 4:
        raise UsageError(f"--inputs feeds image models (NHWC or NCHW input); {artifact} takes {shape}")
    channels_first = shape[1] == 3 and shape[3] != 3
    size = shape[2] if channels_first else shape[1]
    pre = preprocess_from_dict(manifest["preprocess"])
    dest.mkdir(parents=True, exist_ok=True)
    files = image_files(folder)
    for index, path in enumerate(files):
        try:
            pixels = load_image(path, size, pre)  # HWC float32, normalized
        except OSError as exc:
            raise UsageError(f"--inputs: cannot read {path}: {exc}") from None
        sample = np.transpose(pixels, (2, 0, 1)) if channels_first else pixels
        np.save(dest / f"{index:05d}.npy", quantize(sample, spec)[None], allow_pickle=False)
    return len(files)


def quantize(sample: Any, spec: dict[str, Any]) -> Any:
    """A float sample in the input's dtype: int8/uint8 through its scale and zero point, float as it is."""
    import numpy as np

    dtype = np.dtype(spec.get("dtype") or "float32")
    if dtype.kind == "f":
        return sample.astype(dtype)
    quant = spec.get("quantization") or {}
    if dtype.kind not in "iu" or not quant.get("scale"):
        raise UsageError(f"--inputs: the model's input is {dtype.name} without a quantization scale")
    info = np.iinfo(dtype)
    values = np.round(sample / float(quant["scale"]) + int(quant.get("zero_point", 0)))
    return np.clip(values, info.min, info.max).astype(dtype)


def folder_digest(folder: Path) -> str:
    """A short hash of a prepared folder's contents (the remote's cache name for it)."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).glob("*.npy")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
