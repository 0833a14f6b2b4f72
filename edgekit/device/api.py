"""The in-process API: the rest of edgekit opens models here instead of creating runtimes itself.

    model = open_model("model.onnx", threads=1)           # runtime by suffix, or runtime="litert"|"onnxruntime"|...
    model.input_specs(), model.output_specs()              # [{name, shape, dtype, quantization}]
    outputs = model.run([array])                           # inputs already in the model's dtypes; numpy outputs

The model is the device runner's own backend (the same session options, OpenVINO configuration and interpreter
threads as `python -m edgekit.device run`), already loaded. Failures raise RunnerError with one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import runtimes
from .base import RunnerError, RunSettings


def open_model(
    path: Any,
    runtime: str | None = None,
    threads: int = 1,
    device: str | None = "CPU",
    precision: str | None = None,
    delegate: str | None = None,
    settings: RunSettings | None = None,
) -> Any:
    """A loaded backend for this model file. precision: the declared one (OpenVINO: "fp32" keeps f32 inference on
    the CPU; None reads it from the IR). settings: mode, batch, XNNPACK, compile cache (base.RunSettings)."""
    model = Path(path)
    if not model.is_file():
        raise RunnerError(f"model file not found: {model}")
    name = runtime or "auto"
    _, backend_cls = runtimes.resolve(model, name)
    backend = backend_cls(runtime=name, device=device, delegate=delegate, precision=precision, settings=settings)
    backend.load(model, threads)
    return backend


def edgetpu_missing() -> str | None:
    """Why --delegate edgetpu cannot run here (libedgetpu.so.1 does not load), in one line; None when it can."""
    from .litert_backend import edgetpu_missing as probe

    return probe()


def openvino_devices() -> list:
    """The devices OpenVINO lists on this machine (a one-line RunnerError without OpenVINO)."""
    from .openvino_backend import available_devices

    return available_devices()


def openvino_device_description(device: str) -> str:
    """The full name and architecture OpenVINO reports for a device ("NPU": e.g. "Intel(R) AI Boost 4000")."""
    from .openvino_backend import device_description

    return device_description(device)


def read_openvino_model(path: Any) -> Any:
    """An OpenVINO IR (or ONNX file) as an uncompiled openvino.Model, for tools that transform it (NNCF)."""
    from .openvino_backend import read_ir

    return read_ir(path)


def tflite_ops(content: bytes, runtime: str | None = None) -> dict:
    """The tensors and operators of a TFLite flatbuffer (see litert_backend.tflite_ops)."""
    from .litert_backend import tflite_ops as read

    return read(content, runtime or "auto")
