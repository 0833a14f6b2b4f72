"""Publisher checkpoints as numpy arrays, without torch: `.safetensors` files and PyTorch `.pth` state dicts.

A `.pth` file is a pickle, and unpickling runs whatever callable the file names. So edgekit unpickles with an
allow-list holding only what a weights-only state dict needs (OrderedDict, torch's tensor/parameter rebuild
functions, its storage types) and refuses any other global with the one-line error of other hostile files. The
tensors' bytes are never unpickled: they are raw buffers (the zip's data/N members, or the legacy format's tail)
read with numpy. A `.safetensors` file is an 8-byte header length, a JSON header and raw buffers: parsed here too.
"""

from __future__ import annotations

import io
import json
import math
import pickle
import struct
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from edgekit.errors import UsageError

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".safetensors")
MAX_HEADER_BYTES = 100 << 20
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch.save before the zip format (torch < 1.6)
# torch storage type -> numpy dtype ('bf16' is widened to float32 by hand: numpy has no bfloat16)
STORAGE_DTYPES = {
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "BFloat16Storage": "bf16",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}
SAFETENSORS_DTYPES = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "BF16": "bf16",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}


def refuse(path: Path, why: str) -> UsageError:
    """The one-line refusal shared with edgekit.safety's checks of .keras files."""
    return UsageError(f"refusing to load {path.name} (weights-only checkpoint reader): {why}")


def read_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """name -> array of a `.safetensors` file or a `.pth`/`.pt` state dict (zip or legacy format)."""
    if path.name.endswith(".safetensors"):
        return read_safetensors(path)
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if head.startswith(b"PK"):
        return read_pth_zip(path)
    if head[:1] == b"\x80":  # a pickle stream: torch's legacy format starts with its magic number
        return read_pth_legacy(path)
    raise refuse(path, "not a PyTorch checkpoint (neither a zip nor torch's legacy pickle format)")


# --- safetensors ------------------------------------------------------------------------------------------------
def _as_array(buffer: bytes | memoryview, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype == "bf16":  # bfloat16 is the top half of a float32
        raw = np.frombuffer(buffer, "<u2").astype(np.uint32) << 16
        return raw.view(np.float32).reshape(shape)
    return np.frombuffer(buffer, dtype).reshape(shape)


def _itemsize(dtype: str) -> int:
    return 2 if dtype == "bf16" else np.dtype(dtype).itemsize


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    data = path.read_bytes()
    if len(data) < 8:
        raise refuse(path, "truncated safetensors file (no header)")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(MAX_HEADER_BYTES, len(data) - 8):
        raise refuse(path, f"safetensors header of {header_len} bytes does not fit the file")
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise refuse(path, f"safetensors header is not JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise refuse(path, "safetensors header is not a JSON object")
    body = memoryview(data)[8 + header_len :]
    out: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = SAFETENSORS_DTYPES[info["dtype"]]
            shape = tuple(int(d) for d in info["shape"])
            start, end = (int(v) for v in info["data_offsets"])
        except (KeyError, TypeError, ValueError) as exc:
            raise refuse(path, f"tensor {name!r}: unsupported or malformed entry ({exc})") from exc
        if min(shape, default=0) < 0 or not 0 <= start <= end <= len(body):
            raise refuse(path, f"tensor {name!r} lies outside the file (truncated?)")
        if end - start != math.prod(shape) * _itemsize(dtype):
            raise refuse(path, f"tensor {name!r}: {end - start} bytes for shape {list(shape)} {info['dtype']}")
        out[name] = _as_array(body[start:end], dtype, shape)
    return out


# --- PyTorch pickles -------------------------------------------------------------------------------------------
@dataclass
class _Storage:
    key: str
    dtype: str
    numel: int | None = None
    array: np.ndarray | None = None


@dataclass
class _Tensor:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *_rest: Any) -> _Tensor:
    if not isinstance(storage, _Storage):
        raise pickle.UnpicklingError("a tensor without a storage")
    return _Tensor(storage, int(offset), tuple(int(s) for s in size), tuple(int(s) for s in stride))


def _rebuild_parameter(data: Any, *_rest: Any) -> Any:
    return data  # requires_grad and hooks mean nothing to a weights reader


class _StorageType:
    def __init__(self, name: str):
        self.dtype = STORAGE_DTYPES[name]


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in STORAGE_DTYPES},
}


class _WeightsOnly(pickle.Unpickler):
    """Resolves only _ALLOWED globals; storages become _Storage placeholders filled from raw bytes afterwards."""

    def __init__(self, file: BinaryIO, path: Path, storages: dict[str, _Storage]):
        super().__init__(file)
        self.path = path
        self.storages = storages

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise refuse(self.path, f"{module}.{name} is not part of a weights-only state dict")
        return _ALLOWED[(module, name)]

    def persistent_load(self, pid: Any) -> _Storage:
        # zip: ('storage', type, key, location, numel); legacy: the same plus view metadata (None for plain storages)
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
            raise refuse(self.path, f"unexpected persistent id {str(pid)[:80]}")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(storage_type, _StorageType) or (len(pid) == 6 and pid[5] is not None):
            raise refuse(self.path, f"unsupported storage {str(pid)[:80]}")
        if key not in self.storages:
            self.storages[key] = _Storage(key, storage_type.dtype, int(numel))
        return self.storages[key]


def _unpickle(file: BinaryIO, path: Path, storages: dict[str, _Storage]) -> Any:
    try:
        return _WeightsOnly(file, path, storages).load()
    except UsageError:
        raise
    except Exception as exc:  # a malformed pickle raises anything from EOFError to TypeError
        raise refuse(path, f"unreadable pickle ({type(exc).__name__}: {str(exc)[:120]})") from exc


def _materialize(obj: Any, path: Path) -> Any:
    if isinstance(obj, _Tensor):
        storage = obj.storage.array
        if storage is None:
            raise refuse(path, f"storage {obj.storage.key} has no data")
        count = math.prod(obj.size)
        last = obj.offset + sum((s - 1) * st for s, st in zip(obj.size, obj.stride, strict=True)) if count else 0
        if obj.offset < 0 or last >= max(len(storage), 1) or min(obj.stride, default=0) < 0:
            raise refuse(path, f"a tensor reaches outside its storage {obj.storage.key}")
        item = storage.itemsize
        view = np.lib.stride_tricks.as_strided(
            storage[obj.offset :], obj.size, tuple(st * item for st in obj.stride), writeable=False
        )
        return np.array(view)
    if isinstance(obj, dict):
        return {k: _materialize(v, path) for k, v in obj.items()}
    return obj


def _state_dict(obj: Any, path: Path) -> dict[str, np.ndarray]:
    """The tensors of a state dict, or of the state dict inside a training checkpoint ({'state_dict': ...})."""
    if isinstance(obj, dict):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict):
        raise refuse(path, f"holds a {type(obj).__name__}, not a state dict")
    arrays = {str(k): v for k, v in obj.items() if isinstance(v, np.ndarray)}
    if not arrays:
        raise refuse(path, "holds no tensors")
    return arrays


def read_pth_zip(path: Path) -> dict[str, np.ndarray]:
    """torch.save's zip format: <root>/data.pkl references storages stored as <root>/data/<key>."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise refuse(path, f"not a readable zip archive ({exc})") from exc
    with archive:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") <= 1]
        if len(pickles) != 1:
            raise refuse(path, "no single data.pkl: not a torch.save archive")
        root = pickles[0][: -len("data.pkl")]
        storages: dict[str, _Storage] = {}
        try:
            obj = _unpickle(io.BytesIO(archive.read(pickles[0])), path, storages)
            for storage in storages.values():
                raw = archive.read(f"{root}data/{storage.key}")
                storage.array = _storage_array(raw, storage, path)
        except (KeyError, zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            raise refuse(path, f"damaged archive ({exc})") from exc
    return _state_dict(_materialize(obj, path), path)


def _storage_array(raw: bytes, storage: _Storage, path: Path) -> np.ndarray:
    item = _itemsize(storage.dtype)
    if len(raw) % item or (storage.numel is not None and len(raw) // item < storage.numel):
        raise refuse(path, f"storage {storage.key} holds {len(raw)} bytes, fewer than its {storage.numel} elements")
    return _as_array(raw, storage.dtype, (len(raw) // item,))


def read_pth_legacy(path: Path) -> dict[str, np.ndarray]:
    """torch.save's format before torch 1.6: pickles of (magic, protocol, sys info, object, storage keys), then each
    storage as an int64 element count and its raw bytes, in the order of the keys."""
    with path.open("rb") as f:
        storages: dict[str, _Storage] = {}
        if _unpickle(f, path, storages) != LEGACY_MAGIC:
            raise refuse(path, "not a PyTorch checkpoint (bad magic number)")
        _unpickle(f, path, storages)  # protocol version
        _unpickle(f, path, storages)  # sys info: endianness, type sizes
        obj = _unpickle(f, path, storages)
        keys = _unpickle(f, path, storages)
        if not isinstance(keys, list) or set(map(str, keys)) != set(storages):
            raise refuse(path, "its storage list does not match its tensors")
        for key in keys:
            storage = storages[str(key)]
            head = f.read(8)
            if len(head) != 8:
                raise refuse(path, "truncated checkpoint")
            (numel,) = struct.unpack("<q", head)
            raw = f.read(numel * _itemsize(storage.dtype))
            if numel < 0 or len(raw) != numel * _itemsize(storage.dtype):
                raise refuse(path, "truncated checkpoint")
            storage.array = _storage_array(raw, storage, path)
    return _state_dict(_materialize(obj, path), path)
