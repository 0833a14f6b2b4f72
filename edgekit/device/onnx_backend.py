"""The device runner's ONNX Runtime backend (.onnx files): CPU execution provider only, intra-op threads = --threads,
one inter-op thread, sequential execution, full graph optimisation. The only place edgekit opens an ONNX Runtime
session (the host measurements, export's fidelity check and the benchmarks come here through edgekit.device).

Standard library + numpy + onnxruntime; imported only for an .onnx file. Only session.run() is timed (it takes the
input feed and returns new output arrays: ONNX Runtime's own inference call).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from . import runtimes
from .base import (
    Backend,
    RunnerError,
    RunnerUsageError,
    RunSettings,
    array_infos,
    one_line,
    plain_info,
    rank_layers,
    timed_call,
)

ORT_PIN = runtimes.get("onnxruntime").pin
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
    return runtimes.import_module(runtimes.get("onnxruntime"))


def resolved_shape(dims: list) -> tuple:
    """Static dimensions as they are; dynamic ones ('batch', None, -1) fed as 1 (batch-1 latency) and flagged."""
    shape, dynamic = [], []
    for dim in dims:
        static = isinstance(dim, int) and dim > 0
        shape.append(dim if static else 1)
        dynamic.append(not static)
    return shape, dynamic


def session(ort: Any, model: Path, threads: int, profile_prefix: str | None = None, content: Any = None) -> Any:
    """The one way edgekit opens an ONNX model: CPU provider, sequential, full graph optimisation, quiet."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: warnings would go to stderr on every load
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    try:
        source = content if content is not None else str(model)
        return ort.InferenceSession(source, sess_options=options, providers=[PROVIDER])
    except Exception as exc:  # onnxruntime's own exceptions (InvalidProtobuf, Fail, ...) derive from Exception
        raise RunnerError(f"cannot load {model}: {one_line(exc)}") from exc


class OnnxBackend(Backend):
    """ONNX Runtime on the CPU: the runner's backend for .onnx files."""

    def __init__(
        self,
        runtime: str = "auto",
        device: str | None = None,
        delegate: str | None = None,
        precision: Any = None,
        settings: RunSettings | None = None,
    ):
        self.settings = settings or RunSettings()
        if self.settings.xnnpack != "default":
            raise RunnerUsageError("--xnnpack-fp16 and --no-xnnpack are LiteRT's (.tflite); ONNX Runtime runs MLAS")
        if delegate:
            raise RunnerUsageError("--delegate edgetpu runs .tflite models; an .onnx model runs on ONNX Runtime's CPU")
        if device not in (None, "CPU"):
            raise RunnerUsageError(f"--device {device} is for OpenVINO .xml models; .onnx models run on the CPU")
        self.ort = import_onnxruntime()
        self.runtime = {"name": "onnxruntime", "version": self.ort.__version__}
        self.device = "cpu"
        self.last: list = []

    def load(self, model: Path, threads: int) -> None:
        self.model, self.threads = model, threads
        start = time.perf_counter()
        try:
            content = model.read_bytes()
        except OSError as exc:
            raise RunnerError(f"cannot read {model}: {one_line(exc)}") from exc
        self.read_ms = (time.perf_counter() - start) * 1000.0
        start = time.perf_counter()
        self.session = session(self.ort, model, threads, content=content)
        self.compile_ms = (time.perf_counter() - start) * 1000.0  # graph optimisation and kernel set-up
        self.input_details = [self._detail(arg) for arg in self.session.get_inputs()]
        self.output_names = [arg.name for arg in self.session.get_outputs()]

    def _detail(self, arg: Any) -> dict:
        if arg.type not in DTYPES:
            raise RunnerError(f"input '{arg.name}' is {arg.type}: the device runner feeds numeric tensors only")
        shape, dynamic = resolved_shape(list(arg.shape))
        batch = self.settings.batch
        if batch != 1 and shape:
            if not dynamic[0]:
                raise RunnerUsageError(
                    f"--batch {batch}: input '{arg.name}' has a fixed batch of {shape[0]} in this ONNX model "
                    "(export it with a dynamic batch dimension: edgekit export MODEL --dynamic-batch)"
                )
            shape[0] = batch
        return {"name": arg.name, "shape": shape, "dtype": DTYPES[arg.type], "dynamic": dynamic}

    def instance(self) -> Any:
        """Another session of the same model (throughput mode): its infer(inputs) -> ms."""
        other = session(self.ort, self.model, self.threads)
        names = [d["name"] for d in self.input_details]

        def infer(inputs: list) -> float:
            feed = dict(zip(names, inputs))  # noqa: B905 (same length; strict= needs 3.10)
            return timed_call(lambda: other.run(self.output_names, feed))

        return infer

    def loaded_runtime(self) -> dict:
        return {"providers": self.session.get_providers(), "inter_op_threads": 1, "execution_mode": "sequential"}

    def describe(self, detail: dict) -> dict:
        return plain_info(detail)

    def infer(self, inputs: list, mark: bool = False) -> float:
        feed = {d["name"]: a for d, a in zip(self.input_details, inputs)}  # noqa: B905 (same length; strict= needs 3.10)
        try:
            return timed_call(lambda: self._run(feed), mark)
        except Exception as exc:  # onnxruntime's Fail/InvalidArgument derive from Exception, not RuntimeError
            raise RunnerError(f"inference failed: {one_line(exc)}") from exc

    def inference_call(self, inputs: list) -> Any:
        feed = {d["name"]: a for d, a in zip(self.input_details, inputs)}  # noqa: B905 (same length; strict= needs 3.10)
        return lambda: self._run(feed)

    def _run(self, feed: dict) -> None:
        self.last = self.session.run(self.output_names, feed)

    def outputs(self) -> list:
        import numpy as np

        for name, value in zip(self.output_names, self.last):  # noqa: B905 (same length; strict= needs 3.10)
            if not isinstance(value, np.ndarray):
                raise RunnerError(f"output '{name}' is a {type(value).__name__}, not a tensor")
        return list(self.last)

    def output_infos(self) -> list:
        return array_infos(self.output_names, self.outputs())

    def output_specs(self) -> list:
        return [
            plain_info({"name": a.name, "shape": resolved_shape(list(a.shape))[0], "dtype": DTYPES.get(a.type, a.type)})
            for a in self.session.get_outputs()
        ]

    def profile_ops(self, model: Path, inputs: list, threads: int, runs: int = 10) -> list:
        """ONNX Runtime's profiler: mean node kernel time over `runs` runs of a second, profiling session (its
        first, warm-up run dropped)."""
        feed = {d["name"]: a for d, a in zip(self.input_details, inputs)}  # noqa: B905 (same length; strict= needs 3.10)
        with tempfile.TemporaryDirectory(prefix="edgekit-ortprof-") as tmp:
            profiling = session(self.ort, model, threads, profile_prefix=str(Path(tmp) / "ort"))
            try:
                for _ in range(runs + 1):
                    profiling.run(self.output_names, feed)
            except Exception as exc:
                raise RunnerError(f"profiling failed: {one_line(exc)}") from exc
            events = json.loads(Path(profiling.end_profiling()).read_text())
        durations: dict = {}
        ops: dict = {}
        for event in events:
            if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
                continue
            node = event["name"][: -len("_kernel_time")]
            durations.setdefault(node, []).append(float(event.get("dur", 0)) / 1000.0)
            ops[node] = (event.get("args") or {}).get("op_name", "")
        if not durations:
            raise RunnerError("ONNX Runtime's profiler recorded no node times")
        per_layer = {}
        for node, times in durations.items():
            kept = times[1:] or times  # drop the first (warm-up) occurrence
            per_layer[node] = (ops[node], sum(kept) / len(kept))
        self.profile_note = f"ONNX Runtime profiler (enable_profiling), mean node kernel time over {runs} runs"
        return rank_layers(per_layer)
