"""LiteRT with XNNPACK forced to FP16 (--xnnpack-fp16, benchmark_model's --xnnpack_force_fp16): through LiteRT's
CompiledModel API, the only Python API of ai-edge-litert 2.3 that takes XNNPACK flags (CpuOptions.xnnpack_flags); its
Interpreter takes none, and tflite-runtime has no CompiledModel. Float ops then run in FP16 (ARMv8.2 FP16 on a Pi 5;
emulated through conversions on an x86 CPU, so slower there); int8 ops are unchanged.

Standard library + numpy + ai-edge-litert; imported only for --xnnpack-fp16. Only run_by_index() is timed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import runtimes
from .base import Backend, RunnerError, RunnerUsageError, RunSettings, one_line, plain_info, timed_call

# XNNPACK delegate flags (tensorflow/lite/delegates/xnnpack/xnnpack_delegate.h): QS8 | QU8 are the defaults' int8
# kernels, FORCE_FP16 the flag benchmark_model's --xnnpack_force_fp16 sets.
XNNPACK_QS8, XNNPACK_QU8, XNNPACK_FORCE_FP16 = 0x1, 0x2, 0x4
FP16_FLAGS = XNNPACK_QS8 | XNNPACK_QU8 | XNNPACK_FORCE_FP16


class CompiledFp16Backend(Backend):
    """A .tflite on the CPU through CompiledModel with XNNPACK FORCE_FP16."""

    def __init__(
        self,
        runtime: str = "auto",
        device: str | None = None,
        delegate: str | None = None,
        precision: Any = None,
        settings: RunSettings | None = None,
    ):
        if runtime not in ("auto", "litert"):
            raise RunnerUsageError(f"--xnnpack-fp16 needs ai-edge-litert's CompiledModel; {runtime} has none")
        self.settings = settings or RunSettings(xnnpack="fp16")
        row = runtimes.get("litert")
        package = runtimes.import_module(row)
        from ai_edge_litert import compiled_model, cpu_options, hardware_accelerator, options

        self.api = (compiled_model.CompiledModel, options.Options, cpu_options.CpuOptions, hardware_accelerator)
        self.runtime = {"name": "litert", "version": getattr(package, "__version__", None) or row.pin.split("==")[1]}
        self.device = "cpu"
        self.threads = 1

    def _compile(self, model: Path, threads: int) -> tuple:
        """(compiled model, input buffers, output buffers), inputs resized to --batch."""
        compiled_cls, options_cls, cpu_cls, accel = self.api
        opts = options_cls(
            hardware_accelerators=accel.HardwareAccelerator.CPU,
            cpu_options=cpu_cls(num_threads=threads, xnnpack_flags=FP16_FLAGS),
        )
        compiled = compiled_cls.from_file(str(model), options=opts)
        if self.settings.batch != 1:
            for index, detail in enumerate(self._details(compiled, "input")):
                dims = [self.settings.batch, *detail["shape"][1:]]
                try:
                    compiled.resize_input_tensor(index, dims, strict=False)
                except (ValueError, RuntimeError) as exc:
                    message = f"--batch {self.settings.batch}: this model cannot take it ({one_line(exc)[:160]})"
                    raise RunnerUsageError(message) from exc
        return compiled, compiled.create_input_buffers(0), compiled.create_output_buffers(0)

    @staticmethod
    def _details(compiled: Any, kind: str) -> list:
        key = list(compiled.get_signature_list())[0]
        get = compiled.get_input_tensor_details if kind == "input" else compiled.get_output_tensor_details
        rows = sorted(get(key).values(), key=lambda d: d["index"])
        return [{"name": d["name"], "shape": [int(s) for s in d["shape"]], "dtype": str(d["dtype"])} for d in rows]

    def load(self, model: Path, threads: int) -> None:
        self.model, self.threads = model, threads
        try:
            start = time.perf_counter()
            self.compiled, self.ins, self.outs = self._compile(model, threads)
            self.compile_ms = (time.perf_counter() - start) * 1000.0  # read + XNNPACK compile in one call
            self.input_details = self._details(self.compiled, "input")
            self.output_details = self._details(self.compiled, "output")
        except RunnerError:
            raise
        except (ValueError, RuntimeError) as exc:
            raise RunnerError(f"cannot load {model} with XNNPACK FP16: {one_line(exc)}") from exc
        if self.settings.batch != 1:
            for detail in self.input_details:
                detail["shape"][0] = self.settings.batch

    def loaded_runtime(self) -> dict:
        return {"xnnpack": "fp16", "xnnpack_flags": FP16_FLAGS, "api": "CompiledModel"}

    def describe(self, detail: dict) -> dict:
        return plain_info(detail)

    def _runner(self, compiled: Any, ins: list, outs: list) -> Any:
        def infer(inputs: list, mark: bool = False) -> float:
            for buffer, array in zip(ins, inputs):  # noqa: B905 (same length; strict= needs 3.10)
                buffer.write(array)
            return timed_call(lambda: compiled.run_by_index(0, ins, outs), mark)

        return infer

    def infer(self, inputs: list, mark: bool = False) -> float:
        try:
            return self._runner(self.compiled, self.ins, self.outs)(inputs, mark)
        except (ValueError, RuntimeError) as exc:
            raise RunnerError(f"inference failed: {one_line(exc)}") from exc

    def inference_call(self, inputs: list) -> Any:
        for buffer, array in zip(self.ins, inputs):  # noqa: B905 (same length; strict= needs 3.10)
            buffer.write(array)
        return lambda: self.compiled.run_by_index(0, self.ins, self.outs)

    def instance(self) -> Any:
        return self._runner(*self._compile(self.model, self.threads))

    def outputs(self) -> list:
        import numpy as np

        arrays = []
        for buffer, detail in zip(self.outs, self.output_details):  # noqa: B905 (same length; strict= needs 3.10)
            shape = detail["shape"]
            if self.settings.batch != 1 and shape:
                shape = [self.settings.batch, *shape[1:]]
            count = int(np.prod(shape)) if shape else 1
            arrays.append(buffer.read(count, np.dtype(detail["dtype"])).reshape(shape))
        return arrays

    def output_infos(self) -> list:
        return [{**plain_info(d), "shape": list(a.shape)} for d, a in zip(self.output_details, self.outputs())]  # noqa: B905

    def output_specs(self) -> list:
        return [plain_info(d) for d in self.output_details]

    def profile_ops(self, model: Path, inputs: list, threads: int, runs: int = 5) -> list:
        raise RunnerError("per-op profiling runs LiteRT's Interpreter, which cannot force XNNPACK FP16")
