"""The device runner's ONNX Runtime backend (.onnx files): CPU execution provider only, intra-op threads = --threads,
one inter-op thread, sequential execution, full graph optimisation: the session edgekit opens on the host too
(edgekit/export/onnx.py, ort_session), rebuilt here because this package imports nothing else of edgekit.

Standard library + numpy + onnxruntime; runner.py imports this module only for an .onnx file. Only session.run() is
timed (it takes the input feed and returns new output arrays: ONNX Runtime's own inference call).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .runner import RunnerError, RunnerUsageError, _one_line, array_infos, import_runtime, timed_call

ORT_PIN = "onnxruntime==1.32.0"  # the version the device-onnx extra pins (pyproject.toml)
PROVIDER = "CPUExecutionProvider"
# ONNX tensor element types -> numpy dtypes (onnxruntime's NodeArg.type strings).
DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int16)": "int16",
    "tensor(uint16)": "uint16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}


def import_onnxruntime() -> Any:
    return import_runtime("onnxruntime", ORT_PIN)


def resolved_shape(dims: list[Any]) -> tuple[list[int], list[bool]]:
    """Static dimensions as they are; dynamic ones ('batch', None, -1) fed as 1 (batch-1 latency) and flagged."""
    shape, dynamic = [], []
    for dim in dims:
        static = isinstance(dim, int) and dim > 0
        shape.append(dim if static else 1)
        dynamic.append(not static)
    return shape, dynamic


class OnnxBackend:
    """ONNX Runtime on the CPU: the runner's backend for .onnx files."""

    def __init__(self, args: argparse.Namespace):
        if args.delegate:
            raise RunnerUsageError("--delegate edgetpu runs .tflite models; an .onnx model runs on ONNX Runtime's CPU")
        if args.device not in (None, "CPU"):
            raise RunnerUsageError(f"--device {args.device} is for OpenVINO .xml models; .onnx models run on the CPU")
        self.ort = import_onnxruntime()
        self.runtime = {"name": "onnxruntime", "version": self.ort.__version__}
        self.device = "cpu"
        self.last: list[Any] = []

    def load(self, model: Path, threads: int) -> None:
        ort = self.ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: warnings would go to stderr on every load
        try:
            self.session = ort.InferenceSession(str(model), sess_options=options, providers=[PROVIDER])
        except Exception as exc:  # onnxruntime's own exceptions (InvalidProtobuf, Fail, ...) derive from Exception
            raise RunnerError(f"cannot load {model}: {_one_line(exc)}") from exc
        self.input_details = [self._detail(arg) for arg in self.session.get_inputs()]
        self.output_names = [arg.name for arg in self.session.get_outputs()]

    @staticmethod
    def _detail(arg: Any) -> dict[str, Any]:
        if arg.type not in DTYPES:
            raise RunnerError(f"input '{arg.name}' is {arg.type}: the device runner feeds numeric tensors only")
        shape, dynamic = resolved_shape(list(arg.shape))
        return {"name": arg.name, "shape": shape, "dtype": DTYPES[arg.type], "dynamic": dynamic}

    def loaded_runtime(self) -> dict[str, Any]:
        # Same keys as the host's ONNX Runtime measurements (edgekit/profile/_worker.py).
        return {"providers": self.session.get_providers(), "inter_op_threads": 1, "execution_mode": "sequential"}

    def describe(self, detail: dict[str, Any]) -> dict[str, Any]:
        return {"name": detail["name"], "shape": detail["shape"], "dtype": detail["dtype"], "quantization": None}

    def infer(self, inputs: list[Any], mark: bool = False) -> float:
        feed = {d["name"]: a for d, a in zip(self.input_details, inputs)}  # noqa: B905 (same length; strict= needs 3.10)
        try:
            return timed_call(lambda: self._run(feed), mark)
        except Exception as exc:  # onnxruntime's Fail/InvalidArgument derive from Exception, not RuntimeError
            raise RunnerError(f"inference failed: {_one_line(exc)}") from exc

    def _run(self, feed: dict[str, Any]) -> None:
        self.last = self.session.run(self.output_names, feed)

    def outputs(self) -> list[Any]:
        import numpy as np

        for name, value in zip(self.output_names, self.last):  # noqa: B905 (same length; strict= needs 3.10)
            if not isinstance(value, np.ndarray):
                raise RunnerError(f"output '{name}' is a {type(value).__name__}, not a tensor")
        return list(self.last)

    def output_infos(self) -> list[dict[str, Any]]:
        return array_infos(self.output_names, self.outputs())

    def profile_ops(self, model: Path, inputs: list[Any], threads: int) -> list[dict[str, Any]]:
        raise RunnerError("--profile-ops times TFLite operators only (each as a one-op model); not ONNX models")
