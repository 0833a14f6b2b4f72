"""What every device backend shares: the runner's errors, the timed call, tensor descriptions.

Standard library only at import (numpy inside functions), like the rest of edgekit/device.

A backend loads one model format and runs it. Constructed with (runtime, device, delegate, precision), it has
runtime ({name, version}), device, input_details (dicts with name, shape, dtype; "dynamic" per dimension where the
format has dynamic sizes), load(model, threads), loaded_runtime() (runtime keys known only once loaded),
describe(detail), infer(inputs, mark) -> ms, outputs(), output_infos() (after a run), output_specs() (before one),
precision_detected, and profile_ops(model, inputs, threads, runs) -> layer rows, with profile_note saying how.
run(inputs) -> outputs comes from Backend.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

MODES = ("latency", "throughput")
XNNPACK = ("default", "fp16", "off")  # LiteRT's CPU delegate: as the runtime applies it, forced to FP16, or none


@dataclass(frozen=True)
class RunSettings:
    """How a backend compiles and runs a model beyond threads/device/delegate: the benchmark_app and LiteRT
    benchmark_model options (--mode, --batch, --xnnpack-fp16/--no-xnnpack, OpenVINO's compile cache)."""

    mode: str = "latency"  # throughput: OpenVINO THROUGHPUT hint + async requests; others: parallel instances
    batch: int = 1  # the first input dimension, reshaped/resized where the model allows
    xnnpack: str = "default"  # LiteRT only: "default" | "fp16" | "off"
    cache_dir: str | None = None  # OpenVINO CACHE_DIR (None: no compile cache)
    requests: int | None = None  # throughput: parallel requests / instances (None: the runtime's optimum / CPUs)
    threads_given: bool = True  # False: --threads left to the runtime in throughput mode (OpenVINO: all cores)


class RunnerError(Exception):
    """An expected failure, reported as one line (and exit code 1)."""


class RunnerUsageError(RunnerError):
    """A bad combination of arguments (say --delegate edgetpu on an .onnx file): one line, exit code 2."""


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class Backend:
    """The calls every backend shares; subclasses set input_details and implement infer/outputs/describe."""

    input_details: list
    precision_detected: Any = None
    profile_note = ""
    settings: RunSettings = RunSettings()
    # Filled by load(): reading the file and compiling/allocating it, apart (ms); the compile cache, where one is used.
    read_ms: Any = None
    compile_ms: Any = None
    cache: Any = None

    def instance(self) -> Any:
        """Another loaded copy of the model (throughput mode's parallel interpreters/sessions): a callable
        infer(inputs) -> ms. Backends with their own asynchronous API (OpenVINO) override throughput() instead."""
        raise RunnerUsageError(f"{self.runtime['name']} has no parallel mode here")

    def throughput(self, feeds: list, bound: Any) -> dict:
        """Measure throughput: parallel instances in threads, each fed in turn from feeds (throughput.py)."""
        from .throughput import parallel_instances

        return parallel_instances(self, feeds, bound)

    def loaded_runtime(self) -> dict:
        return {}

    def input_specs(self) -> list:
        """The inputs as {name, shape, dtype, quantization} (dynamic dimensions shown as 1)."""
        return [self.describe(d) for d in self.input_details]

    def inference_call(self, inputs: list) -> Any:
        """Feed the inputs once; return the runtime's own inference call (what the runner times), for benchmarks
        that time it themselves."""
        raise NotImplementedError

    def run(self, inputs: list) -> list:
        """Feed the inputs (already in the model's dtypes), run once, return the outputs (numpy arrays)."""
        self.infer(inputs)
        return self.outputs()


def tensor_info(detail: dict) -> dict:
    """A JSON-able description of one TFLite tensor (per-tensor quantization only: model inputs/outputs)."""
    import numpy as np

    scale, zero_point = detail.get("quantization", (0.0, 0))
    quant = {"scale": float(scale), "zero_point": int(zero_point)} if scale else None
    return {
        "name": detail["name"],
        "shape": [int(d) for d in detail["shape"]],
        "dtype": np.dtype(detail["dtype"]).name,
        "quantization": quant,
    }


def plain_info(detail: dict) -> dict:
    """ONNX and OpenVINO tensors carry no quantization parameters."""
    return {"name": detail["name"], "shape": list(detail["shape"]), "dtype": detail["dtype"], "quantization": None}


def array_infos(names: list, arrays: list) -> list:
    """Tensor info from the arrays of the last run: their shapes are concrete even where the graph's are symbolic."""
    return [
        {"name": name, "shape": [int(d) for d in value.shape], "dtype": value.dtype.name, "quantization": None}
        for name, value in zip(names, arrays)  # noqa: B905 (same length; strict= needs 3.10)
    ]


def rank_layers(per_layer: dict, extra: Any = None) -> list:
    """{name: (op, ms)} -> [{index, name, op, time_ms, percent}] slowest first (index: order first seen)."""
    total = sum(ms for _, ms in per_layer.values()) or 1.0
    rows = []
    for index, (name, (op, ms)) in enumerate(per_layer.items()):
        row = {"index": index, "name": name, "op": op, "time_ms": round(ms, 6), "percent": round(100.0 * ms / total, 3)}
        row.update((extra or {}).get(name, {}))
        rows.append(row)
    return sorted(rows, key=lambda r: r["time_ms"], reverse=True)


# Markers for edgekit's QEMU instruction-counting plugin (edgekit/emulate/insn_count.c): lseek(-1, MAGIC, 0) fails
# with EBADF and does nothing, but the plugin sees the syscall and counts the guest instructions between START and
# STOP.
MARK_START = 0x6564676B69740001
MARK_STOP = 0x6564676B69740002


def insn_marker(magic: int) -> None:
    try:
        os.lseek(-1, magic, 0)
    except OSError:
        pass


def timed_call(call: Any, mark: bool = False) -> float:
    """Time one inference call in ms (every backend times only its runtime's own inference call)."""
    if mark:
        insn_marker(MARK_START)
    start = time.perf_counter()
    call()
    elapsed = time.perf_counter() - start
    if mark:
        insn_marker(MARK_STOP)
    return elapsed * 1000.0


def invoke(interpreter: Any, input_details: list, inputs: list, mark: bool = False) -> float:
    """A TFLite interpreter (LiteRT or tflite-runtime): set the inputs, invoke once, return the invoke time in ms (only
    invoke() is timed). Here, not in litert_backend, because the per-op profiler uses it too."""
    for detail, array in zip(input_details, inputs):  # noqa: B905 (same length; strict= needs 3.10)
        interpreter.set_tensor(detail["index"], array)
    return timed_call(interpreter.invoke, mark)
