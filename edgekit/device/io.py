"""The device runner's inputs and outputs: generated or read inputs, saved arrays, hashes, latency statistics.

Standard library + numpy (imported inside the functions), like the rest of edgekit/device.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from .base import RunnerError


def generate_inputs(details: list[dict[str, Any]], seed: int) -> list[Any]:
    """Deterministic inputs already in each input's dtype: full-range integers for int8/uint8, [-1, 1] for floats."""
    import numpy as np

    rng = np.random.default_rng(seed)
    arrays = []
    for detail in details:
        dtype = np.dtype(detail["dtype"])
        shape = tuple(int(d) for d in detail["shape"])
        if dtype.kind == "f":
            arrays.append(rng.uniform(-1.0, 1.0, size=shape).astype(dtype))
        elif dtype.kind in "iu" and dtype.itemsize == 1:
            info = np.iinfo(dtype)
            arrays.append(rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype))
        elif dtype.kind in "iu":
            # Wider integers are usually indices or ids: keep them small and non-negative.
            arrays.append(rng.integers(0, 10, size=shape).astype(dtype))
        elif dtype.kind == "b":
            arrays.append(rng.integers(0, 2, size=shape).astype(dtype))
        else:
            raise RunnerError(f"cannot generate inputs of dtype {dtype.name} for '{detail['name']}'; pass --inputs")
    return arrays


def read_inputs(path: Path, details: list[dict[str, Any]]) -> list[Any]:
    """Inputs from .npy (one input) or .npz (by input name, else arr_0.. in order), checked against the model."""
    import numpy as np

    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise RunnerError(f"cannot read inputs {path}: {exc}") from exc
    if isinstance(loaded, np.ndarray):
        if len(details) != 1:
            raise RunnerError(f"model has {len(details)} inputs; pass an .npz with one array per input")
        arrays = [loaded]
    else:
        with loaded:
            keys = list(loaded.keys())
            names = [d["name"] for d in details]
            order = names if all(n in keys for n in names) else [f"arr_{i}" for i in range(len(details))]
            missing = [k for k in order if k not in keys]
            if missing:
                raise RunnerError(f"{path} lacks arrays {missing}; it has {keys}")
            arrays = [loaded[k] for k in order]
    return [_check_input(a, d) for a, d in zip(arrays, details)]  # noqa: B905 (same length; strict= needs 3.10)


def read_input_folder(folder: Path, details: list[dict[str, Any]], batch: int) -> list[list[Any]]:
    """A folder of .npy samples (one per file, sorted by name; the model's single input with a batch dimension of
    1 or none, already preprocessed) -> feeds of `batch` samples each, cycling through the files to fill the last."""
    import numpy as np

    files = sorted(p for p in folder.iterdir() if p.suffix == ".npy" and not p.name.startswith("."))
    if not files:
        raise RunnerError(
            f"--inputs {folder}: no .npy samples in it (a folder of images is preprocessed by `edgekit profile "
            "--inputs DIR`, which writes such samples)"
        )
    if len(details) != 1:
        raise RunnerError(f"--inputs {folder}: a folder of samples feeds one input; this model has {len(details)}")
    detail = details[0]
    one = {**detail, "shape": [1, *[int(d) for d in detail["shape"][1:]]]}
    samples = []
    for path in files:
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise RunnerError(f"cannot read input sample {path}: {exc}") from exc
        if len(array.shape) == len(one["shape"]) - 1:
            array = array[None]
        samples.append(_check_input(array, one))
    feeds = []
    for start in range(0, max(len(samples), batch) - batch + 1, batch) or [0]:
        chunk = [samples[(start + i) % len(samples)] for i in range(batch)]
        feeds.append([np.ascontiguousarray(np.concatenate(chunk, axis=0))])
    return feeds


def _check_input(array: Any, detail: dict[str, Any]) -> Any:
    import numpy as np

    want_dtype = np.dtype(detail["dtype"])
    want_shape = tuple(int(d) for d in detail["shape"])
    dynamic = detail.get("dynamic") or [False] * len(want_shape)  # ONNX/OpenVINO: any size fits a dynamic dimension
    if len(array.shape) != len(want_shape) or any(
        int(a) != w and not d
        for a, w, d in zip(array.shape, want_shape, dynamic)  # noqa: B905 (same length; strict= needs 3.10)
    ):
        raise RunnerError(f"input '{detail['name']}' has shape {list(array.shape)}; the model wants {list(want_shape)}")
    if array.dtype != want_dtype:
        if array.dtype.kind == "f" and want_dtype.kind == "f":
            array = array.astype(want_dtype)
        else:
            raise RunnerError(
                f"input '{detail['name']}' is {array.dtype.name}; the model wants {want_dtype.name} (quantize first)"
            )
    return np.ascontiguousarray(array)


def save_arrays(path: Path, arrays: list[Any]) -> None:
    """Write .npy (one array) or .npz (several: arr_0..) atomically: a reader never sees half a file."""
    import numpy as np

    path = Path(path)
    if path.suffix not in (".npy", ".npz"):
        raise RunnerError(f"{path}: use a .npy or .npz file name")
    if path.suffix == ".npy" and len(arrays) != 1:
        raise RunnerError(f"{path}: {len(arrays)} tensors need an .npz file")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            if path.suffix == ".npy":
                np.save(f, arrays[0], allow_pickle=False)
            else:
                np.savez(f, *arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def outputs_sha256(arrays: list[Any]) -> str:
    import numpy as np

    h = hashlib.sha256()
    for array in arrays:
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def latency_stats(times_ms: list[float]) -> dict[str, Any]:
    import numpy as np

    a = np.asarray(times_ms, dtype=np.float64)
    return {
        "median": round(float(np.median(a)), 4),
        "p90": round(float(np.percentile(a, 90)), 4),
        "p99": round(float(np.percentile(a, 99)), 4),
        "std": round(float(a.std()), 4),
        "mean": round(float(a.mean()), 4),
        "min": round(float(a.min()), 4),
        "max": round(float(a.max()), 4),
        "n": int(a.size),
    }


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
