"""The device runner's LiteRT backend (.tflite): LiteRT or tflite-runtime on the CPU (XNNPACK), or with --delegate
edgetpu on a Coral. Standard library + numpy + the one runtime; imported only for a .tflite file.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from . import runtimes
from .base import Backend, RunnerError, RunnerUsageError, RunSettings, invoke, one_line, tensor_info

EDGETPU_LIBRARY = "libedgetpu.so.1"


def check_xnnpack(settings: RunSettings, delegate: str | None) -> None:
    """--xnnpack-fp16 / --no-xnnpack: CPU-only settings of LiteRT's XNNPACK delegate."""
    if settings.xnnpack != "default" and delegate:
        raise RunnerUsageError(f"--{'no-xnnpack' if settings.xnnpack == 'off' else 'xnnpack-fp16'} is for the CPU; "
                               f"--delegate {delegate} runs the model on the accelerator")  # fmt: skip


def load_runtime(name: str = "auto") -> tuple:
    """(Interpreter class, {name, version}) for a .tflite runtime of the table, or "auto" (the first importable)."""
    rows = runtimes.candidates(".tflite", name)
    errors = []
    for row in rows:
        try:
            module = __import__(f"{row.module}.interpreter", fromlist=["Interpreter"])
            package = sys.modules[row.module]
        except ImportError as exc:
            errors.append(f"{row.module}: {exc}")
            continue
        version = getattr(package, "__version__", None) or _dist_version(row.pin.split("==")[0])
        return module.Interpreter, {"name": row.name, "version": version}
    wanted = " or ".join(row.module.replace("_", "-") for row in rows)
    raise RunnerError(f"no TFLite runtime importable ({'; '.join(errors)}); install {wanted}")


def _dist_version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


def edgetpu_missing() -> str | None:
    """Why the Edge TPU delegate cannot load here (one line), or None when libedgetpu.so.1 loads."""
    import ctypes

    try:
        ctypes.CDLL(EDGETPU_LIBRARY)  # probe first: load_delegate's own failure prints noise from its __del__
    except OSError as exc:
        return (
            f"Edge TPU delegate {EDGETPU_LIBRARY} not found ({one_line(exc)}); install the Edge TPU runtime "
            "(Debian package libedgetpu1-std, https://coral.ai/software/#debian-packages)"
        )
    return None


def edgetpu_delegate(interpreter_cls: Any) -> Any:
    """The Coral Edge TPU delegate (libedgetpu.so.1) from the runtime's load_delegate, or a clear one-line error."""
    missing = edgetpu_missing()
    if missing:
        raise RunnerError(missing)
    load_delegate = sys.modules[interpreter_cls.__module__].load_delegate
    try:
        return load_delegate(EDGETPU_LIBRARY)
    except (ValueError, OSError, RuntimeError) as exc:
        raise RunnerError(f"Edge TPU delegate failed to load (is the Coral plugged in?): {one_line(exc)}") from exc


def tflite_ops(content: bytes, runtime: str = "auto") -> dict:
    """Tensors, operators, inputs and outputs of a TFLite flatbuffer, read through the interpreter (no tensors
    allocated): {"tensors": get_tensor_details(), "ops": _get_ops_details(), "inputs", "outputs": tensor indices}."""
    interpreter_cls, _ = load_runtime(runtime)
    try:
        interp = interpreter_cls(model_content=content)
    except (ValueError, RuntimeError) as exc:
        raise RunnerError(f"cannot read the TFLite model: {one_line(exc)}") from exc
    return {
        "tensors": interp.get_tensor_details(),
        "ops": interp._get_ops_details(),  # noqa: SLF001 - the only per-op listing LiteRT's Python API offers
        "inputs": [d["index"] for d in interp.get_input_details()],
        "outputs": [d["index"] for d in interp.get_output_details()],
    }


class TfliteBackend(Backend):
    """LiteRT or tflite-runtime, on the CPU (XNNPACK) or with --delegate edgetpu on a Coral."""

    profile_note = "each op timed alone as a one-op model (the sum is close to the latency)"

    def __new__(cls, *args: Any, settings: RunSettings | None = None, **kwargs: Any) -> Any:
        """--xnnpack-fp16: LiteRT's Interpreter takes no XNNPACK flags, its CompiledModel does (litert_compiled.py)."""
        if cls is TfliteBackend and settings is not None and settings.xnnpack == "fp16":
            check_xnnpack(settings, kwargs.get("delegate"))
            from .litert_compiled import CompiledFp16Backend

            return CompiledFp16Backend(*args, settings=settings, **kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        runtime: str = "auto",
        device: str | None = None,
        delegate: str | None = None,
        precision: Any = None,
        settings: RunSettings | None = None,
    ):
        if device not in (None, "CPU"):
            raise RunnerUsageError(f"--device {device} is for OpenVINO .xml models; a .tflite runs on the CPU "
                                   "or, with --delegate edgetpu, on a Coral")  # fmt: skip
        self.settings = settings or RunSettings()
        check_xnnpack(self.settings, delegate)
        self.interpreter_cls, self.runtime = load_runtime(runtime)
        self.delegates = [edgetpu_delegate(self.interpreter_cls)] if delegate == "edgetpu" else []
        self.device = delegate or "cpu"
        self.threads = 1

    def _interpreter(self, model: Path, threads: int) -> Any:
        """One interpreter as the settings say: the Edge TPU delegate, or XNNPACK as applied by default or off."""
        extra: dict = {"experimental_delegates": self.delegates} if self.delegates else {}
        if self.settings.xnnpack == "off":
            resolver = sys.modules[self.interpreter_cls.__module__].OpResolverType
            extra["experimental_op_resolver_type"] = resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        return self.interpreter_cls(model_path=str(model), num_threads=threads, **extra)

    def load(self, model: Path, threads: int) -> None:
        self.model, self.threads = model, threads
        try:
            start = time.perf_counter()
            self.interpreter = self._interpreter(model, threads)
            self.read_ms = (time.perf_counter() - start) * 1000.0
            start = time.perf_counter()
            self._allocate(self.interpreter)
            self.compile_ms = (time.perf_counter() - start) * 1000.0  # XNNPACK is applied in the first allocation
        except (ValueError, RuntimeError) as exc:
            raise RunnerError(f"cannot load {model}: {one_line(exc)}") from exc
        self.input_details = self.interpreter.get_input_details()
        self.output_details = self.interpreter.get_output_details()

    def _allocate(self, interpreter: Any) -> None:
        """allocate_tensors(), after resizing every input's first dimension to --batch (where the model allows)."""
        batch = self.settings.batch
        if batch != 1:
            if self.delegates:
                raise RunnerUsageError(f"--batch {batch}: an Edge TPU model is compiled for batch 1")
            for detail in interpreter.get_input_details():
                shape = [batch, *[int(d) for d in detail["shape"][1:]]]
                interpreter.resize_tensor_input(detail["index"], shape, strict=False)
            try:
                interpreter.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                message = f"--batch {batch}: this model cannot run a batch of {batch} ({one_line(exc)[:160]})"
                raise RunnerUsageError(message) from exc
            return
        interpreter.allocate_tensors()

    def loaded_runtime(self) -> dict:
        return {"xnnpack": None if self.delegates else self.settings.xnnpack}

    def instance(self) -> Any:
        """Another interpreter of the same model (throughput mode): its infer(inputs) -> ms."""
        interpreter = self._interpreter(self.model, self.threads)
        self._allocate(interpreter)
        details = interpreter.get_input_details()
        return lambda inputs: invoke(interpreter, details, inputs)

    def describe(self, detail: dict) -> dict:
        return tensor_info(detail)

    def inference_call(self, inputs: list) -> Any:
        invoke(self.interpreter, self.input_details, inputs)
        return self.interpreter.invoke

    def infer(self, inputs: list, mark: bool = False) -> float:
        return invoke(self.interpreter, self.input_details, inputs, mark)

    def outputs(self) -> list:
        import numpy as np

        return [np.array(self.interpreter.get_tensor(d["index"])) for d in self.output_details]

    def output_infos(self) -> list:
        return [tensor_info(d) for d in self.output_details]

    output_specs = output_infos  # a TFLite graph's output shapes are known before running it

    def profile_ops(self, model: Path, inputs: list, threads: int, runs: int = 5) -> list:
        from .opprofile import profile_ops

        return profile_ops(model, self.interpreter_cls, inputs, threads)  # 5 runs per op: each is timed alone
