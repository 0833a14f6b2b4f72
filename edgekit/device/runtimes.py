"""The runtime table: one row per runtime edgekit runs a model with. Every other list of runtimes, runtime pins or
format -> runtime mappings in edgekit derives from it (edgekit.exporting.base.TIMING_BACKENDS, edgekit.measure's host
and remote runners, the device runner's --runtime choices). A new runtime is one row here plus its backend module.

Standard library only: importing this module imports no runtime.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, NamedTuple

from .base import RunnerError, RunnerUsageError


class Runtime(NamedTuple):
    name: str  # what --runtime, results and ExportFormat.timing call it
    module: str  # the Python module it imports
    pin: str  # the pip requirement installing it (the device extras' pins, pyproject.toml)
    suffixes: tuple  # model file suffixes it runs; the first row listing a suffix is that suffix's runtime
    backend: str  # "module:Class" in edgekit.device, imported only when a model of it is opened
    # The same file gives the same outputs on aarch64 as on x86-64 (INT8 bit for bit): what an emulated check may
    # demand. LiteRT: measured equal under QEMU. ONNX Runtime 1.32: its MLAS kernels round differently (an S8S8
    # MobileNetV2 differs by 7 quantization steps, with and without graph optimisation; benchmarks/target_fidelity.py).
    same_across_isas: bool = False


TABLE = (
    Runtime("litert", "ai_edge_litert", "ai-edge-litert==2.3.0", (".tflite",), "litert_backend:TfliteBackend", True),
    # Coral's Mendel Linux (Python 3.7) has no LiteRT wheel: tflite-runtime runs .tflite there, unpinned.
    Runtime("tflite-runtime", "tflite_runtime", "tflite-runtime", (".tflite",), "litert_backend:TfliteBackend"),
    Runtime("onnxruntime", "onnxruntime", "onnxruntime==1.32.0", (".onnx",), "onnx_backend:OnnxBackend"),
    Runtime("openvino", "openvino", "openvino==2026.4.1", (".xml",), "openvino_backend:OpenVinoBackend"),
)


def isa_note(name: str) -> str:
    """Why outputs of one file may differ between x86-64 and aarch64 under this runtime ("" where they must not)."""
    row = get(name)
    if row.same_across_isas:
        return ""
    return f"{name}'s aarch64 and x86-64 kernels round differently, so the same file gives slightly other outputs"


DEFAULT_SUFFIX = ".tflite"  # any other suffix is read as TFLite: the runner's original and only format until 0.2


def names() -> tuple:
    return tuple(row.name for row in TABLE)


def get(name: str) -> Runtime:
    for row in TABLE:
        if row.name == name:
            return row
    raise RunnerUsageError(f"unknown runtime {name!r} (known: {', '.join(names())})")


def for_suffix(path_or_suffix: Any) -> Runtime | None:
    """The runtime a file (or a suffix such as ".onnx") runs with by default: the first row listing its suffix."""
    text = str(path_or_suffix)
    suffix = text.lower() if text.startswith(".") else Path(text).suffix.lower()
    for row in TABLE:
        if suffix in row.suffixes:
            return row
    return None


def default_runtimes() -> tuple:
    """Each suffix's default runtime, in table order: the runtimes edgekit times models with on a host."""
    return tuple(dict.fromkeys(for_suffix(s).name for row in TABLE for s in row.suffixes))


def candidates(suffix: str, runtime: str = "auto") -> tuple:
    """The rows that may run this suffix, in preference order ("auto": every row listing it)."""
    if runtime != "auto":
        return (get(runtime),)
    return tuple(row for row in TABLE if suffix in row.suffixes)


def resolve(model: Path, runtime: str = "auto") -> tuple:
    """(suffix, backend class) for a model file: by --runtime when named, else by its suffix, else TFLite."""
    suffix = Path(model).suffix.lower()
    by_suffix = suffix if for_suffix(suffix) else None
    if runtime != "auto":
        row = get(runtime)
        if by_suffix and by_suffix not in row.suffixes:
            raise RunnerUsageError(f"--runtime {runtime} does not run {by_suffix} files ({Path(model).name})")
        suffix = row.suffixes[0]
    else:
        suffix = by_suffix or DEFAULT_SUFFIX
        row = for_suffix(suffix)
    module_name, class_name = row.backend.split(":")
    return suffix, getattr(importlib.import_module("." + module_name, __package__), class_name)


def import_module(row: Runtime) -> Any:
    """Import a runtime's module, or fail in one line with the install command for it."""
    import sys

    from .base import one_line

    try:
        return importlib.import_module(row.module)
    except ImportError as exc:
        raise RunnerError(
            f'{row.module} is not importable by {sys.executable} ({one_line(exc)}); install it: pip install "{row.pin}"'
        ) from exc
