"""The device runner's OpenVINO backend (IR: MODEL.xml + MODEL.bin): --device CPU (default), GPU or NPU.

A device is measured only when `openvino.Core().available_devices` lists it (NPU and GPU need their drivers; the
wheel carries the plugins either way), and the model is compiled for that device by name, never through AUTO or
HETERO, which would silently run on the CPU. The device reported is the one the compiled model says it executes on
(EXECUTION_DEVICES); anything but the requested device alone is refused, so a CPU fallback is never an NPU figure.

CPU: PERFORMANCE_HINT LATENCY, one stream, INFERENCE_NUM_THREADS = --threads, and for an FP32 IR (--precision, else
read from the IR) INFERENCE_PRECISION_HINT f32: OpenVINO would otherwise run it in bfloat16 on CPUs that have it; FP16
and INT8 IRs keep the plugin's default. GPU/NPU: LATENCY hint only (no thread count). Dynamic input dimensions are
fixed to 1 before compiling (an NPU compiles static shapes); --batch N sets the first dimension. Throughput mode:
PERFORMANCE_HINT THROUGHPUT (the plugin picks the streams; INFERENCE_NUM_THREADS only with --threads) and an
AsyncInferQueue of OPTIMAL_NUMBER_OF_INFER_REQUESTS requests. CACHE_DIR (when given) is OpenVINO's compile cache; the
compiled model's LOADED_FROM_CACHE says whether this compile was a hit. The only place edgekit creates an OpenVINO Core.
Standard library + numpy + openvino; imported only for an .xml file. Only infer() is timed.
"""

from __future__ import annotations

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

OPENVINO_PIN = runtimes.get("openvino").pin
NPU_DRIVER_HINT = "install the Intel NPU driver (github.com/intel/linux-npu-driver) and check /dev/accel/accel0"


def import_openvino() -> Any:
    return runtimes.import_module(runtimes.get("openvino"))


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


def available_devices() -> list:
    """The devices OpenVINO lists here (CPU, GPU, NPU...): what --device can name."""
    return list(import_openvino().Core().available_devices)


def device_description(device: str) -> str:
    """A device's full name and architecture, as its plugin reports them ("" for a property it lacks)."""
    core = import_openvino().Core()
    values = []
    for key in ("FULL_DEVICE_NAME", "DEVICE_ARCHITECTURE"):
        try:
            values.append(str(core.get_property(device, key)))
        except Exception:  # a plugin without that property
            continue
    return " ".join(values)


def read_ir(path: Any) -> Any:
    """An IR (or ONNX file) as an openvino.Model, uncompiled: for tools that transform it (NNCF)."""
    return import_openvino().Core().read_model(str(path))


def _version(ov: Any) -> str:
    try:
        from importlib.metadata import version

        return version("openvino")
    except Exception:  # a build without package metadata: "2026.4.1-22982-..." -> "2026.4.1"
        return ov.get_version().split("-")[0]


class OpenVinoBackend(Backend):
    """OpenVINO on the CPU, GPU or NPU, by name only: the runner's backend for .xml files."""

    def __init__(
        self,
        runtime: str = "auto",
        device: str | None = None,
        delegate: str | None = None,
        precision: Any = None,
        settings: RunSettings | None = None,
    ):
        self.settings = settings or RunSettings()
        if delegate:
            raise RunnerUsageError("--delegate edgetpu runs .tflite models; for OpenVINO name the --device")
        if self.settings.xnnpack != "default":
            raise RunnerUsageError("--xnnpack-fp16 and --no-xnnpack are LiteRT's (.tflite); OpenVINO has its own")
        self.ov = import_openvino()
        self.requested = device or "CPU"
        self.core = self.ov.Core()
        self.compile_device = choose_device(list(self.core.available_devices), self.requested)
        self.runtime = {"name": "openvino", "version": _version(self.ov)}
        self.device = self.compile_device  # until the compiled model says where it executes
        self.declared_precision = precision
        self.threads = 1

    def _config(self, perf_count: bool = False) -> dict:
        throughput = self.settings.mode == "throughput"
        config: dict = {"PERFORMANCE_HINT": "THROUGHPUT" if throughput else "LATENCY"}
        if self.requested == "CPU":
            if not throughput:
                config["NUM_STREAMS"] = 1
            if self.settings.threads_given or not throughput:  # throughput, no --threads: every core, as benchmark_app
                config["INFERENCE_NUM_THREADS"] = self.threads
            if (self.declared_precision or self.precision_detected) == "fp32":
                config["INFERENCE_PRECISION_HINT"] = "f32"  # no silent bfloat16 for an FP32 IR
        if self.settings.cache_dir and not perf_count:
            config["CACHE_DIR"] = self.settings.cache_dir
        if perf_count:
            config["PERF_COUNT"] = True
        return config

    def load(self, model: Path, threads: int) -> None:
        weights = model.with_suffix(".bin")
        if not weights.is_file():
            raise RunnerError(f"{weights} not found: an OpenVINO IR is {model.name} with {weights.name} beside it")
        self.threads = threads
        try:
            start = time.perf_counter()
            self.ir = self.core.read_model(str(model))
            self.read_ms = (time.perf_counter() - start) * 1000.0
            self.precision_detected = ir_precision(self.ir)
        except Exception as exc:  # OpenVINO raises RuntimeError or its own Exception subclasses
            raise RunnerError(f"cannot load {model}: {one_line(exc)}") from exc
        self._reshape()
        try:
            start = time.perf_counter()
            self.compiled = self.core.compile_model(self.ir, self.compile_device, self._config())
            self.compile_ms = (time.perf_counter() - start) * 1000.0
        except Exception as exc:
            raise RunnerError(f"cannot compile {model} for {self.compile_device}: {one_line(exc)}") from exc
        self.cache = self._cache_record()
        self.executed = [str(d) for d in self.compiled.get_property("EXECUTION_DEVICES")]
        check_execution(self.requested, self.executed)
        self.request = self.compiled.create_infer_request()
        self.input_details = [
            {"name": _port_name(p, f"input_{i}"), "shape": [int(d) for d in p.get_shape()], "dtype": _dtype(p)}
            for i, p in enumerate(self.compiled.inputs)
        ]
        self.output_names = [_port_name(p, f"output_{i}") for i, p in enumerate(self.compiled.outputs)]

    def _reshape(self) -> None:
        """Fix dynamic dimensions to 1 and the first (batch) dimension to --batch, where the model allows."""
        batch = self.settings.batch
        shapes, changed = {}, False
        for port in self.ir.inputs:
            partial = port.get_partial_shape()
            dims = [d.get_length() if d.is_static else 1 for d in partial]
            if dims and batch != 1:
                dims[0] = batch
            changed = changed or partial.is_dynamic or batch != 1
            shapes[port] = dims
        if not changed:
            return
        try:
            self.ir.reshape(shapes)
        except Exception as exc:
            if batch == 1:
                raise RunnerError(f"cannot fix the dynamic input dimensions: {one_line(exc)}") from exc
            raise RunnerUsageError(f"--batch {batch}: this model cannot be reshaped to a batch of {batch} "
                                   f"({one_line(exc)[:160]})") from exc  # fmt: skip

    def _cache_record(self) -> dict | None:
        """The compile cache: its folder and whether this compile was loaded from it (LOADED_FROM_CACHE)."""
        if not self.settings.cache_dir:
            return None
        hit = self._property("LOADED_FROM_CACHE")
        return {"dir": self.settings.cache_dir, "hit": bool(hit) if hit is not None else None}

    def throughput(self, feeds: list, bound: Any) -> dict:
        """OpenVINO's asynchronous infer requests (AsyncInferQueue, OPTIMAL_NUMBER_OF_INFER_REQUESTS of them),
        kept busy until the bound stops them; each request holds its own input set, filled once, as benchmark_app
        does."""
        from .throughput import summary

        requests = self.settings.requests or int(self._property("OPTIMAL_NUMBER_OF_INFER_REQUESTS") or 1)
        queue = self.ov.AsyncInferQueue(self.compiled, requests)
        times: list = []
        queue.set_callback(lambda request, _: times.append(request.latency))
        for index in range(requests):
            self._set_inputs(queue[index], feeds[index % len(feeds)])
        calls = 0
        start = time.perf_counter()
        try:
            while not bound.done(calls, time.perf_counter() - start):
                queue.start_async()  # waits for an idle request
                calls += 1
            queue.wait_all()
        except Exception as exc:
            raise RunnerError(f"inference failed: {one_line(exc)}") from exc
        seconds = time.perf_counter() - start
        streams = self._property("NUM_STREAMS")
        hint = self._config()["PERFORMANCE_HINT"]
        method = f"OpenVINO AsyncInferQueue: {requests} infer requests, {streams} streams, {hint} hint"
        return {
            "times": times,
            "calls": calls,
            "seconds": seconds,
            "stopped_by": bound.stopped_by(calls, seconds),
            "throughput": summary(calls, self.settings.batch, seconds, requests, streams, method),
        }

    def _property(self, key: str) -> Any:
        try:
            value = self.compiled.get_property(key)
        except Exception:  # a property this device's plugin does not have
            return None
        if hasattr(value, "get_type_name"):
            return value.get_type_name()  # ov.Type -> "f32" / "bf16" / "f16"
        return value if isinstance(value, (int, float, str, bool)) else str(value)

    def loaded_runtime(self) -> dict:
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
            "inference_precision_requested": self._config().get("INFERENCE_PRECISION_HINT", "default"),
            "inference_num_threads": self._property("INFERENCE_NUM_THREADS") if on_cpu else None,
            "performance_hint": self._property("PERFORMANCE_HINT"),
            "num_streams": self._property("NUM_STREAMS"),
            "cpu_pinning": self._property("ENABLE_CPU_PINNING") if on_cpu else None,
            "optimal_infer_requests": self._property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"),
        }

    def describe(self, detail: dict) -> dict:
        return plain_info(detail)

    def _set_inputs(self, request: Any, inputs: list) -> None:
        for index, array in enumerate(inputs):  # copied in, outside the timed call (as TFLite's set_tensor)
            request.set_input_tensor(index, self.ov.Tensor(array))

    def inference_call(self, inputs: list) -> Any:
        self._set_inputs(self.request, inputs)
        return self.request.infer

    def infer(self, inputs: list, mark: bool = False) -> float:
        try:
            self._set_inputs(self.request, inputs)
            return timed_call(self.request.infer, mark)
        except Exception as exc:
            raise RunnerError(f"inference failed: {one_line(exc)}") from exc

    def outputs(self) -> list:
        import numpy as np

        return [np.array(self.request.get_output_tensor(i).data) for i in range(len(self.output_names))]

    def output_infos(self) -> list:
        return array_infos(self.output_names, self.outputs())

    def output_specs(self) -> list:
        return [
            plain_info({"name": name, "shape": [int(d) for d in p.get_shape()], "dtype": _dtype(p)})
            for name, p in zip(self.output_names, self.compiled.outputs)  # noqa: B905 (same length; 3.10)
        ]

    def profile_ops(self, model: Path, inputs: list, threads: int, runs: int = 10) -> list:
        """OpenVINO's performance counters (PERF_COUNT) of a second compile: mean real time per executed node over
        `runs` inferences after one warm-up; exec_type names the kernel (e.g. jit_avx512_I8, never bf16 for f32)."""
        try:
            compiled = self.core.compile_model(self.ir, self.compile_device, self._config(perf_count=True))
            request = compiled.create_infer_request()
            self._set_inputs(request, inputs)
            request.infer()  # warm-up, not counted
            totals: dict = {}
            ops: dict = {}
            kernels: dict = {}
            for _ in range(runs):
                request.infer()
                for info in request.profiling_info:
                    if info.status != info.Status.EXECUTED:
                        continue
                    totals[info.node_name] = totals.get(info.node_name, 0.0) + info.real_time.total_seconds() * 1e3
                    ops[info.node_name] = info.node_type
                    kernels[info.node_name] = {"exec_type": info.exec_type}
        except Exception as exc:
            raise RunnerError(f"profiling failed: {one_line(exc)}") from exc
        if not totals:
            raise RunnerError("OpenVINO's performance counters recorded no executed nodes")
        self.profile_note = f"OpenVINO performance counters (PERF_COUNT), mean real time over {runs} runs"
        return rank_layers({name: (ops[name], total / runs) for name, total in totals.items()}, kernels)


def ir_precision(model: Any) -> str:
    """int8 when the IR holds FakeQuantize or 8/4-bit weights, fp16 when weights are stored as f16, else fp32."""
    types = set()
    has_fake_quantize = False
    for op in model.get_ops():
        kind = op.get_type_name()
        if kind == "FakeQuantize":
            has_fake_quantize = True
        elif kind == "Constant":
            types.add(op.get_output_element_type(0).get_type_name())
    if has_fake_quantize or types & {"i8", "u8", "i4", "u4"}:
        return "int8"
    if "f16" in types:
        return "fp16"
    return "fp32"


def _port_name(port: Any, fallback: str) -> str:
    try:
        return port.get_any_name()
    except RuntimeError:  # a tensor without names
        return fallback


def _dtype(port: Any) -> str:
    import numpy as np

    return np.dtype(port.get_element_type().to_dtype()).name
