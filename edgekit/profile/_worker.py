"""Measurement worker: loads ONE model in a fresh process, times it, prints ONE JSON object on stdout.

    python -m edgekit.profile._worker run MODEL --json --threads N --runs N --warmup N --min-seconds S [--profile-ops]
        [--backend litert|onnxruntime|openvino] [--format NAME] [--precision P]

Same command-line contract as the device runner (`python -m edgekit.device run ...`), so edgekit.profile.measure can
use either. The backend is the timing runtime named by the model's formats-table row (edgekit.export): the parent
passes it; without --backend the worker looks up --format, or the file name, in the table. Running in its own process
keeps load time and peak memory honest, and lets the parent survive a runtime that crashes or hangs.

Test hooks (only active when the variable is set; used by tests/test_measure.py):
    EDGEKIT_TEST_CRASH=segv  the worker kills itself with SIGSEGV before loading the model
    EDGEKIT_TEST_HANG=1      the worker sleeps forever before loading the model
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

TOP_LAYERS = 10
TFLITE_LAYERS_NOTE = (
    "LiteRT's Python Interpreter (ai-edge-litert 2.3.0) exposes no per-op profiler and the wheel ships no "
    "benchmark_model binary; per-op times need the C++ benchmark_model tool (--enable_op_profiling)"
)


# ---------------------------------------------------------------------------------------------------- process helpers
def _claim_stdout() -> Any:
    """Keep the real stdout for our JSON only; native libraries that print go to stderr instead."""
    sys.stdout.flush()
    json_fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(json_fd, "w")


def _test_hooks() -> None:
    crash = os.environ.get("EDGEKIT_TEST_CRASH", "").strip().lower()
    if crash:
        sig = getattr(signal, f"SIG{crash.upper()}", signal.SIGSEGV)
        os.kill(os.getpid(), sig)
    if os.environ.get("EDGEKIT_TEST_HANG", "").strip() not in ("", "0"):
        while True:
            time.sleep(3600)


def _proc_status_bytes(field: str) -> int | None:
    """VmHWM (peak resident set) / VmRSS of this process in bytes, from /proc/self/status."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if field == "VmHWM":
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    return None


def _package_version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _random_input(shape: list[int], dtype: Any) -> Any:
    """Deterministic inputs: the value range matters little for timing, the dtype and shape do."""
    import numpy as np

    rng = np.random.default_rng(0)
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        low, high = max(int(info.min), -128), min(int(info.max), 255)
        return rng.integers(low, high + 1, size=shape).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, size=shape).astype(bool)
    return rng.random(size=shape).astype(dtype)


def _static_shape(dims: list[Any]) -> list[int]:
    """Dynamic dimensions (batch 'N', None, -1, '?') become 1: we measure batch-1 latency."""
    out = []
    for d in dims:
        try:
            value = int(d)
        except (TypeError, ValueError):
            value = -1
        out.append(value if value > 0 else 1)
    return out


def _top_layers(per_layer: dict[str, tuple[str, float]], extra: dict[str, dict] | None = None) -> list[dict]:
    """[{name, op, time_ms, percent}] slowest first, top 10; percent of the summed per-layer time."""
    total = sum(t for _, t in per_layer.values())
    ranked = sorted(per_layer.items(), key=lambda kv: kv[1][1], reverse=True)[:TOP_LAYERS]
    layers = []
    for name, (op, ms) in ranked:
        row = {"name": name, "op": op, "time_ms": round(ms, 6), "percent": round(100 * ms / total, 3) if total else 0.0}
        row.update((extra or {}).get(name, {}))
        layers.append(row)
    return layers


# ------------------------------------------------------------------------------------------------------ ONNX Runtime
class OnnxBackend:
    name = "onnxruntime"

    def __init__(self, path: Path, threads: int):
        self.path, self.threads = path, threads

    def _session(self, profile_prefix: str | None = None) -> Any:
        from edgekit.export.onnx import ort_session

        return ort_session(self.path, self.threads, profile_prefix)

    def load(self) -> Callable[[], Any]:
        self.session = self._session()
        self.feeds = {
            i.name: _random_input(_static_shape(i.shape), _ort_dtype(i.type)) for i in self.session.get_inputs()
        }
        session, feeds = self.session, self.feeds
        return lambda: session.run(None, feeds)

    def runtime_info(self) -> dict:
        import onnxruntime as ort

        providers = self.session.get_providers()
        return {
            "name": self.name,
            "version": ort.__version__,
            "threads": self.threads,
            "device": "CPU",
            "providers": providers,
            "inter_op_threads": 1,
            "execution_mode": "sequential",
        }

    def check_device(self) -> None:
        if self.session.get_providers()[:1] != ["CPUExecutionProvider"]:
            raise RuntimeError(f"ONNX Runtime used providers {self.session.get_providers()}, not CPUExecutionProvider")

    def inputs(self) -> list[dict]:
        return [{"name": k, "shape": list(v.shape), "dtype": str(v.dtype)} for k, v in self.feeds.items()]

    def precision(self) -> str | None:
        """fp32 / fp16 / int8 (QDQ or QLinear) / dynamic (dynamically quantized) from the graph."""
        try:
            import onnx
        except ImportError:
            return None
        model = onnx.load(str(self.path), load_external_data=False)
        ops = {n.op_type for n in model.graph.node}
        if ops & {"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul"}:
            return "dynamic"
        if ops & {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul"}:
            return "int8"
        if any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
            return "fp16"
        return "fp32"

    def layers(self, runs: int) -> tuple[list[dict], str]:
        """ONNX Runtime's profiler: average node kernel time over `runs` runs (the first, warm-up run dropped)."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="edgekit-ortprof-") as tmp:
            session = self._session(profile_prefix=str(Path(tmp) / "ort"))
            for _ in range(runs + 1):
                session.run(None, self.feeds)
            trace = Path(session.end_profiling())
            events = json.loads(trace.read_text())
        durations: dict[str, list[float]] = {}
        ops: dict[str, str] = {}
        for event in events:
            if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
                continue
            node = event["name"][: -len("_kernel_time")]
            durations.setdefault(node, []).append(float(event.get("dur", 0)) / 1000.0)
            ops[node] = (event.get("args") or {}).get("op_name", "")
        per_layer = {}
        for node, times in durations.items():
            kept = times[1:] or times  # drop the first (warm-up) occurrence
            per_layer[node] = (ops[node], sum(kept) / len(kept))
        note = f"ONNX Runtime profiler (enable_profiling), mean node kernel time over {runs} runs"
        return _top_layers(per_layer), note


def _ort_dtype(type_string: str) -> str:
    from edgekit.device.onnx_backend import DTYPES  # one table for the host worker and the device runner

    return DTYPES.get(type_string, "float32")


# ---------------------------------------------------------------------------------------------------------- OpenVINO
class OpenVinoBackend:
    name = "openvino"

    def __init__(self, path: Path, threads: int, precision: str | None):
        self.path, self.threads, self.declared_precision = path, threads, precision

    def _config(self, perf_count: bool = False) -> dict:
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": self.threads,
            "NUM_STREAMS": 1,
        }
        if self.effective_precision == "fp32":
            # This CPU has bf16: without the hint OpenVINO silently runs an FP32 IR in bfloat16.
            config["INFERENCE_PRECISION_HINT"] = "f32"
        if perf_count:
            config["PERF_COUNT"] = True
        return config

    def load(self) -> Callable[[], Any]:
        import openvino as ov

        self.core = ov.Core()
        self.model = self.core.read_model(str(self.path))
        self.detected = _ov_precision(self.model)
        self.effective_precision = self.declared_precision or self.detected
        shapes = {}
        for port in self.model.inputs:
            shape = port.get_partial_shape()
            if shape.is_dynamic:
                shapes[port.get_any_name()] = _static_shape([d.get_length() if d.is_static else -1 for d in shape])
        if shapes:
            self.model.reshape(shapes)
        self.compiled = self.core.compile_model(self.model, "CPU", self._config())
        self.check_device()
        self.tensors = [
            _random_input(list(p.get_shape()), p.get_element_type().to_dtype()) for p in self.compiled.inputs
        ]
        self.request = self.compiled.create_infer_request()
        for index, array in enumerate(self.tensors):
            self.request.set_input_tensor(index, ov.Tensor(array))
        request = self.request
        return request.infer

    def check_device(self) -> None:
        devices = list(self.compiled.get_property("EXECUTION_DEVICES"))
        if devices != ["CPU"]:
            raise RuntimeError(f"OpenVINO executed on {devices}, not CPU; refusing to report it as a CPU run")

    def runtime_info(self) -> dict:
        import openvino as ov

        def prop(key: str) -> Any:
            try:
                value = self.compiled.get_property(key)
            except Exception:  # a property this plugin version lacks: leave it out
                return None
            if hasattr(value, "get_type_name"):
                return value.get_type_name()  # ov.Type -> "f32" / "bf16"
            return value if isinstance(value, (int, float, str, bool, list)) else str(value)

        return {
            "name": self.name,
            "version": _package_version("openvino") or ov.get_version(),
            "build": ov.get_version(),
            "threads": self.threads,
            "device": "CPU",
            "execution_devices": list(self.compiled.get_property("EXECUTION_DEVICES")),
            "inference_precision": prop("INFERENCE_PRECISION_HINT"),
            "inference_precision_requested": self._config().get("INFERENCE_PRECISION_HINT", "default"),
            "inference_num_threads": prop("INFERENCE_NUM_THREADS"),
            "num_streams": prop("NUM_STREAMS"),
            "performance_hint": prop("PERFORMANCE_HINT"),
            "cpu_pinning": prop("ENABLE_CPU_PINNING"),
        }

    def inputs(self) -> list[dict]:
        return [
            {"name": p.get_any_name(), "shape": list(p.get_shape()), "dtype": str(a.dtype)}
            for p, a in zip(self.compiled.inputs, self.tensors, strict=True)
        ]

    def precision(self) -> str | None:
        return self.detected

    def layers(self, runs: int) -> tuple[list[dict], str]:
        """OpenVINO performance counters (PERF_COUNT=True) summed over `runs` inferences of a second compile."""
        import openvino as ov

        compiled = self.core.compile_model(self.model, "CPU", self._config(perf_count=True))
        request = compiled.create_infer_request()
        for index, array in enumerate(self.tensors):
            request.set_input_tensor(index, ov.Tensor(array))
        request.infer()  # warm-up, not counted
        totals: dict[str, float] = {}
        ops: dict[str, str] = {}
        exec_types: dict[str, dict] = {}
        for _ in range(runs):
            request.infer()
            for info in request.profiling_info:
                if info.status != info.Status.EXECUTED:
                    continue
                totals[info.node_name] = totals.get(info.node_name, 0.0) + info.real_time.total_seconds() * 1e3
                ops[info.node_name] = info.node_type
                exec_types[info.node_name] = {"exec_type": info.exec_type}
        per_layer = {name: (ops[name], total / runs) for name, total in totals.items()}
        note = f"OpenVINO performance counters (PERF_COUNT), mean real time over {runs} runs"
        return _top_layers(per_layer, exec_types), note


def _ov_precision(model: Any) -> str:
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


# ------------------------------------------------------------------------------------------------------------ LiteRT
class TfliteBackend:
    """Fallback LiteRT path; edgekit.profile.measure prefers the device runner (python -m edgekit.device)."""

    name = "litert"

    def __init__(self, path: Path, threads: int):
        self.path, self.threads = path, threads

    def load(self) -> Callable[[], Any]:
        try:
            from ai_edge_litert.interpreter import Interpreter

            self.package = "ai-edge-litert"
        except ImportError:  # older devices (e.g. Coral's stack) still ship tflite-runtime
            from tflite_runtime.interpreter import Interpreter

            self.package = "tflite-runtime"
        self.interpreter = Interpreter(model_path=str(self.path), num_threads=self.threads)
        self.interpreter.allocate_tensors()
        self.details = self.interpreter.get_input_details()
        for d in self.details:
            self.interpreter.set_tensor(d["index"], _random_input(list(d["shape"]), d["dtype"]))
        return self.interpreter.invoke

    def check_device(self) -> None:
        pass

    def runtime_info(self) -> dict:
        return {
            "name": self.name,
            "version": _package_version(self.package),
            "package": self.package,
            "threads": self.threads,
            "device": "CPU",
        }

    def inputs(self) -> list[dict]:
        return [
            {"name": d["name"], "shape": [int(x) for x in d["shape"]], "dtype": d["dtype"].__name__}
            for d in self.details
        ]

    def precision(self) -> str | None:
        return None  # the parent reads it from the flatbuffer (it must also do so for the device runner)

    def layers(self, runs: int) -> tuple[list[dict], str]:
        return [], TFLITE_LAYERS_NOTE


# ----------------------------------------------------------------------------------------------------------- measure
def _latency_stats(times_ms: list[float]) -> dict:
    import numpy as np

    arr = np.asarray(times_ms, dtype=np.float64)
    return {
        "median": float(np.median(arr)),
        "p90": float(np.percentile(arr, 90)),
        "p99": float(np.percentile(arr, 99)),
        "std": float(arr.std()),  # population std, as the device runner reports it
        "n": int(arr.size),
        "mean": float(arr.mean()),
        "min": float(arr.min()),
        "max": float(arr.max()),
    }


def timed_loop(run: Callable[[], Any], runs: int, min_seconds: float) -> tuple[list[float], float]:
    """Run until at least `runs` runs AND at least `min_seconds` have passed; per-run times in ms, total s."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < runs or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter_ns()
        run()
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return times, time.perf_counter() - start


# Timing backends by runtime name: the values of ExportFormat.timing (edgekit.export.base.TIMING_BACKENDS).
BACKENDS: dict[str, Callable[[Path, int, str | None], Any]] = {
    "onnxruntime": lambda path, threads, precision: OnnxBackend(path, threads),
    "openvino": lambda path, threads, precision: OpenVinoBackend(path, threads, precision),
    "litert": lambda path, threads, precision: TfliteBackend(path, threads),
}


def make_backend(path: Path, backend: str, threads: int, precision: str | None) -> Any:
    if backend not in BACKENDS:
        raise ValueError(f"unsupported timing backend {backend!r} (known: {', '.join(BACKENDS)})")
    return BACKENDS[backend](path, threads, precision)


def backend_of(path: Path, fmt: str | None) -> tuple[str, str]:
    """(timing backend, format name) of a model from the formats table: by --format, else by its file name."""
    from edgekit.export import format_of_suffix, formats, suffixes_text

    fmt = fmt or format_of_suffix(path)
    row = formats().get(fmt or "")
    if row is None:
        raise ValueError(f"cannot tell the format of {path} (expected {suffixes_text()}, or pass --backend)")
    return row.timing, row.name


def measure(
    path: Path,
    fmt: str,
    threads: int,
    runs: int,
    warmup: int,
    min_seconds: float,
    profile_layers: bool,
    precision: str | None = None,
    backend_name: str | None = None,
) -> dict:
    from edgekit.profile.energy import RaplMeter, energy_fields

    baseline_rss = _proc_status_bytes("VmRSS")
    if backend_name is None:
        backend_name, fmt = backend_of(path, fmt)
    backend = make_backend(path, backend_name, threads, precision)
    t0 = time.perf_counter()
    run = backend.load()
    load_ms = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    run()
    first_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(warmup):
        run()
    meter = RaplMeter()
    meter.start()
    times, seconds = timed_loop(run, runs, min_seconds)
    joules = meter.stop()
    peak = _proc_status_bytes("VmHWM")  # before the profiling pass, which compiles a second copy
    result: dict[str, Any] = {
        "status": "ok",
        "format": fmt,
        "runtime": backend.runtime_info(),
        "load_ms": load_ms,
        "first_inference_ms": first_ms,
        "warmup": warmup,
        "latency_ms": _latency_stats(times),
        "timed_seconds": seconds,
        "throughput_ips": len(times) / seconds if seconds > 0 else None,
        "peak_memory_bytes": peak,
        "baseline_memory_bytes": baseline_rss,
        "inputs": backend.inputs(),
        "precision_detected": backend.precision(),
    }
    result.update(energy_fields(joules, seconds, len(times), meter))
    if profile_layers:
        # Enough runs to average out noise, but bounded to ~3 s for big models (the profiler slows each run).
        median_ms = result["latency_ms"]["median"]
        profile_runs = max(3, min(50, max(runs, 10), int(3000 / max(median_ms, 1e-3)) + 1))
        result["layers"], result["layers_note"] = backend.layers(profile_runs)
    else:
        result["layers"], result["layers_note"] = [], "layer profiling not requested"
    return result


# --------------------------------------------------------------------------------------------------------------- CLI
def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m edgekit.profile._worker")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="measure one model and print one JSON object")
    run.add_argument("model", type=Path)
    run.add_argument("--json", action="store_true", help="accepted for CLI parity; output is always JSON")
    run.add_argument("--threads", type=int, default=1)
    run.add_argument("--runs", type=int, default=50)
    run.add_argument("--warmup", type=int, default=5)
    run.add_argument("--min-seconds", type=float, default=1.0)
    run.add_argument("--profile-ops", "--profile-layers", dest="profile_ops", action="store_true")
    run.add_argument("--backend", choices=sorted(BACKENDS), default=None, help="timing runtime (default: by format)")
    run.add_argument("--format", default=None, help="the model's format name (recorded; picks the backend)")
    run.add_argument("--precision", default=None, help="declared precision (fp32 makes OpenVINO keep f32)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    out = _claim_stdout()
    args = _parse(argv)
    try:
        _test_hooks()
        backend, fmt = (args.backend, args.format or "") if args.backend else backend_of(args.model, args.format)
        if not args.model.is_file():
            raise FileNotFoundError(f"no such file: {args.model}")
        timing = (args.threads, args.runs, args.warmup, args.min_seconds, args.profile_ops, args.precision, backend)
        result = measure(args.model, fmt, *timing)
        code = 0
    except Exception as exc:  # the parent turns this into a one-line EdgekitError
        message = " ".join(str(exc).split()) or type(exc).__name__
        result = {"status": "failed", "error": f"{type(exc).__name__}: {message}"}
        code = 1
    out.write(json.dumps(result, default=str) + "\n")
    out.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
