"""The device runner's OpenVINO backend (IR: MODEL.xml + MODEL.bin): --device CPU (default), GPU or NPU.

A device is measured only when `openvino.Core().available_devices` lists it (NPU and GPU need their drivers; the
wheel carries the plugins either way), and the model is compiled for that device by name, never through AUTO or
HETERO, which would silently run on the CPU. The device reported is the one the compiled model says it executes on
(EXECUTION_DEVICES); anything but the requested device alone is refused, so a CPU fallback is never an NPU figure.

CPU: PERFORMANCE_HINT LATENCY, one stream, INFERENCE_NUM_THREADS = --threads, and INFERENCE_PRECISION_HINT f32
(OpenVINO would otherwise run an FP32 IR in bfloat16 on CPUs that have it; INT8 layers stay INT8). GPU/NPU: LATENCY
hint only (no thread count). Dynamic input dimensions are fixed to 1 before compiling (an NPU compiles static shapes).
Standard library + numpy + openvino; runner.py imports this module only for an .xml file. Only infer() is timed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .runner import RunnerError, RunnerUsageError, _one_line, array_infos, import_runtime, timed_call

OPENVINO_PIN = "openvino==2026.4.1"  # the version the device-openvino extra pins (pyproject.toml)
NPU_DRIVER_HINT = "install the Intel NPU driver (github.com/intel/linux-npu-driver) and check /dev/accel/accel0"


def import_openvino() -> Any:
    return import_runtime("openvino", OPENVINO_PIN)


def is_device(name: str, wanted: str) -> bool:
    """'NPU' and 'NPU.0' are the NPU; 'AUTO', 'HETERO:NPU,CPU' or 'CPU' are not."""
    return name == wanted or name.startswith(wanted + ".")


def choose_device(available: list[str], wanted: str) -> str:
    """The listed device to compile for, or a one-line error naming what OpenVINO lists here."""
    listed = [d for d in available if is_device(d, wanted)]
    if not listed:
        hint = f"; {NPU_DRIVER_HINT}" if wanted == "NPU" else ""
        raise RunnerError(f"OpenVINO lists no {wanted} here (available: {', '.join(available) or 'none'}){hint}")
    return listed[0]


def check_execution(wanted: str, executed: list[str]) -> None:
    """Refuse a compiled model that runs anywhere but the requested device (a fallback is not that device's figure)."""
    if not executed or not all(is_device(d, wanted) for d in executed):
        raise RunnerError(
            f"OpenVINO executes the model on {', '.join(executed) or 'nothing'}, not on {wanted} alone; "
            f"refusing to report it as {wanted}"
        )


def _version(ov: Any) -> str:
    try:
        from importlib.metadata import version

        return version("openvino")
    except Exception:  # a build without package metadata: "2026.4.1-22982-..." -> "2026.4.1"
        return ov.get_version().split("-")[0]


class OpenVinoBackend:
    """OpenVINO on the CPU, GPU or NPU, by name only: the runner's backend for .xml files."""

    def __init__(self, args: argparse.Namespace):
        if args.delegate:
            raise RunnerUsageError("--delegate edgetpu runs .tflite models; for OpenVINO name the --device")
        self.ov = import_openvino()
        self.requested = args.device or "CPU"
        self.core = self.ov.Core()
        self.compile_device = choose_device(list(self.core.available_devices), self.requested)
        self.runtime = {"name": "openvino", "version": _version(self.ov)}
        self.device = self.compile_device  # until the compiled model says where it executes
        self.threads = args.threads

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if self.requested == "CPU":
            config.update(NUM_STREAMS=1, INFERENCE_NUM_THREADS=self.threads, INFERENCE_PRECISION_HINT="f32")
        return config

    def load(self, model: Path, threads: int) -> None:
        weights = model.with_suffix(".bin")
        if not weights.is_file():
            raise RunnerError(f"{weights} not found: an OpenVINO IR is {model.name} with {weights.name} beside it")
        try:
            ir = self.core.read_model(str(model))
            static = {}
            for port in ir.inputs:
                shape = port.get_partial_shape()
                if shape.is_dynamic:
                    static[port] = [d.get_length() if d.is_static else 1 for d in shape]
            if static:
                ir.reshape(static)
            self.compiled = self.core.compile_model(ir, self.compile_device, self._config())
        except Exception as exc:  # OpenVINO raises RuntimeError or its own Exception subclasses
            raise RunnerError(f"cannot load {model}: {_one_line(exc)}") from exc
        self.executed = [str(d) for d in self.compiled.get_property("EXECUTION_DEVICES")]
        check_execution(self.requested, self.executed)
        self.request = self.compiled.create_infer_request()
        self.input_details = [
            {"name": _port_name(p, f"input_{i}"), "shape": [int(d) for d in p.get_shape()], "dtype": _dtype(p)}
            for i, p in enumerate(self.compiled.inputs)
        ]
        self.output_names = [_port_name(p, f"output_{i}") for i, p in enumerate(self.compiled.outputs)]

    def _property(self, key: str) -> Any:
        try:
            value = self.compiled.get_property(key)
        except Exception:  # a property this device's plugin does not have
            return None
        if hasattr(value, "get_type_name"):
            return value.get_type_name()  # ov.Type -> "f32" / "bf16" / "f16"
        return value if isinstance(value, (int, float, str, bool)) else str(value)

    def loaded_runtime(self) -> dict[str, Any]:
        on_cpu = self.requested == "CPU"
        return {
            "device": self.executed[0] if len(self.executed) == 1 else ",".join(self.executed),
            "requested_device": self.requested,
            "execution_devices": self.executed,
            # What OpenVINO uses: fewer than --threads where --cpus leaves fewer CPUs; GPU and NPU take no count.
            "threads": (self._property("INFERENCE_NUM_THREADS") or self.threads) if on_cpu else None,
            "threads_requested": self.threads,
            "build": self.ov.get_version(),
            "inference_precision": self._property("INFERENCE_PRECISION_HINT"),
            "performance_hint": self._property("PERFORMANCE_HINT"),
            "num_streams": self._property("NUM_STREAMS"),
            "cpu_pinning": self._property("ENABLE_CPU_PINNING") if on_cpu else None,
        }

    def describe(self, detail: dict[str, Any]) -> dict[str, Any]:
        return {"name": detail["name"], "shape": detail["shape"], "dtype": detail["dtype"], "quantization": None}

    def infer(self, inputs: list[Any], mark: bool = False) -> float:
        try:
            for index, array in enumerate(inputs):  # copied in, outside the timed call (as TFLite's set_tensor)
                self.request.set_input_tensor(index, self.ov.Tensor(array))
            return timed_call(self.request.infer, mark)
        except Exception as exc:
            raise RunnerError(f"inference failed: {_one_line(exc)}") from exc

    def outputs(self) -> list[Any]:
        import numpy as np

        return [np.array(self.request.get_output_tensor(i).data) for i in range(len(self.output_names))]

    def output_infos(self) -> list[dict[str, Any]]:
        return array_infos(self.output_names, self.outputs())

    def profile_ops(self, model: Path, inputs: list[Any], threads: int) -> list[dict[str, Any]]:
        raise RunnerError("--profile-ops times TFLite operators only (each as a one-op model); not OpenVINO models")


def _port_name(port: Any, fallback: str) -> str:
    try:
        return port.get_any_name()
    except RuntimeError:  # a tensor without names
        return fallback


def _dtype(port: Any) -> str:
    import numpy as np

    return np.dtype(port.get_element_type().to_dtype()).name
