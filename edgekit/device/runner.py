"""The device runner: load a model, feed fixed inputs, time inference, print one JSON object.

Standard library + numpy + one runtime only: this file must run alone on a Raspberry Pi or in an emulated arm64
userland. The runtime follows the file's suffix (BACKENDS): .tflite runs with LiteRT/tflite-runtime (here), .onnx with
ONNX Runtime (onnx_backend.py), .xml with OpenVINO (openvino_backend.py); a runtime is imported only for its own
format. The JSON contract is documented in edgekit/device/__init__.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import socket
import sys
import time
from pathlib import Path
from typing import Any

from . import system

SCHEMA = "edgekit.device.run/1"
RUNTIME_MODULES = {"litert": "ai_edge_litert", "tflite-runtime": "tflite_runtime"}
EDGETPU_LIBRARY = "libedgetpu.so.1"


class RunnerError(Exception):
    """An expected failure, reported as one line (and exit code 1)."""


class RunnerUsageError(RunnerError):
    """A bad combination of arguments (say --delegate edgetpu on an .onnx file): one line, exit code 2."""


# ---------------------------------------------------------------- runtime


def load_runtime(name: str) -> tuple[Any, dict[str, Any]]:
    """Return (Interpreter class, {name, version}) for 'litert', 'tflite-runtime' or 'auto' (first one importable)."""
    names = list(RUNTIME_MODULES) if name == "auto" else [name]
    errors = []
    for candidate in names:
        module_name = RUNTIME_MODULES[candidate]
        try:
            module = __import__(f"{module_name}.interpreter", fromlist=["Interpreter"])
            package = sys.modules[module_name]
        except ImportError as exc:
            errors.append(f"{module_name}: {exc}")
            continue
        version = getattr(package, "__version__", None) or _dist_version(candidate)
        return module.Interpreter, {"name": candidate, "version": version}
    wanted = " or ".join(RUNTIME_MODULES[n].replace("_", "-") for n in names)
    raise RunnerError(f"no TFLite runtime importable ({'; '.join(errors)}); install {wanted}")


def import_runtime(module: str, pin: str) -> Any:
    """Import a runtime, or fail in one line with the install command for it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise RunnerError(
            f'{module} is not importable by {sys.executable} ({_one_line(exc)}); install it: pip install "{pin}"'
        ) from exc


def _dist_version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version("ai-edge-litert" if dist == "litert" else dist)
    except Exception:
        return None


def tensor_info(detail: dict[str, Any]) -> dict[str, Any]:
    """A JSON-able description of one interpreter tensor (per-tensor quantization only: model inputs/outputs)."""
    import numpy as np

    scale, zero_point = detail.get("quantization", (0.0, 0))
    quant = {"scale": float(scale), "zero_point": int(zero_point)} if scale else None
    return {
        "name": detail["name"],
        "shape": [int(d) for d in detail["shape"]],
        "dtype": np.dtype(detail["dtype"]).name,
        "quantization": quant,
    }


# ---------------------------------------------------------------- inputs and outputs


def generate_inputs(details: list[dict[str, Any]], seed: int) -> list[Any]:
    """Deterministic inputs already in each input's dtype: full-range integers for int8/uint8, [-1, 1] for floats."""
    import numpy as np

    rng = np.random.default_rng(seed)
    arrays = []
    for detail in details:
        dtype = np.dtype(detail["dtype"])
        shape = tuple(int(d) for d in detail["shape"])
        if dtype.kind == "f":
            arrays.append(rng.uniform(-1.0, 1.0, size=shape).astype(dtype))
        elif dtype.kind in "iu" and dtype.itemsize == 1:
            info = np.iinfo(dtype)
            arrays.append(rng.integers(info.min, int(info.max) + 1, size=shape, dtype=dtype))
        elif dtype.kind in "iu":
            # Wider integers are usually indices or ids: keep them small and non-negative.
            arrays.append(rng.integers(0, 10, size=shape).astype(dtype))
        elif dtype.kind == "b":
            arrays.append(rng.integers(0, 2, size=shape).astype(dtype))
        else:
            raise RunnerError(f"cannot generate inputs of dtype {dtype.name} for '{detail['name']}'; pass --inputs")
    return arrays


def read_inputs(path: Path, details: list[dict[str, Any]]) -> list[Any]:
    """Inputs from .npy (one input) or .npz (by input name, else arr_0.. in order), checked against the model."""
    import numpy as np

    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise RunnerError(f"cannot read inputs {path}: {exc}") from exc
    if isinstance(loaded, np.ndarray):
        if len(details) != 1:
            raise RunnerError(f"model has {len(details)} inputs; pass an .npz with one array per input")
        arrays = [loaded]
    else:
        with loaded:
            keys = list(loaded.keys())
            names = [d["name"] for d in details]
            order = names if all(n in keys for n in names) else [f"arr_{i}" for i in range(len(details))]
            missing = [k for k in order if k not in keys]
            if missing:
                raise RunnerError(f"{path} lacks arrays {missing}; it has {keys}")
            arrays = [loaded[k] for k in order]
    return [_check_input(a, d) for a, d in zip(arrays, details)]  # noqa: B905 (same length; strict= needs 3.10)


def _check_input(array: Any, detail: dict[str, Any]) -> Any:
    import numpy as np

    want_dtype = np.dtype(detail["dtype"])
    want_shape = tuple(int(d) for d in detail["shape"])
    dynamic = detail.get("dynamic") or [False] * len(want_shape)  # ONNX/OpenVINO: any size fits a dynamic dimension
    if len(array.shape) != len(want_shape) or any(
        int(a) != w and not d
        for a, w, d in zip(array.shape, want_shape, dynamic)  # noqa: B905 (same length; strict= needs 3.10)
    ):
        raise RunnerError(f"input '{detail['name']}' has shape {list(array.shape)}; the model wants {list(want_shape)}")
    if array.dtype != want_dtype:
        if array.dtype.kind == "f" and want_dtype.kind == "f":
            array = array.astype(want_dtype)
        else:
            raise RunnerError(
                f"input '{detail['name']}' is {array.dtype.name}; the model wants {want_dtype.name} (quantize first)"
            )
    return np.ascontiguousarray(array)


def save_arrays(path: Path, arrays: list[Any]) -> None:
    """Write .npy (one array) or .npz (several: arr_0..) atomically: a reader never sees half a file."""
    import numpy as np

    path = Path(path)
    if path.suffix not in (".npy", ".npz"):
        raise RunnerError(f"{path}: use a .npy or .npz file name")
    if path.suffix == ".npy" and len(arrays) != 1:
        raise RunnerError(f"{path}: {len(arrays)} tensors need an .npz file")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            if path.suffix == ".npy":
                np.save(f, arrays[0], allow_pickle=False)
            else:
                np.savez(f, *arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def outputs_sha256(arrays: list[Any]) -> str:
    import numpy as np

    h = hashlib.sha256()
    for array in arrays:
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------- measuring


def latency_stats(times_ms: list[float]) -> dict[str, Any]:
    import numpy as np

    a = np.asarray(times_ms, dtype=np.float64)
    return {
        "median": round(float(np.median(a)), 4),
        "p90": round(float(np.percentile(a, 90)), 4),
        "p99": round(float(np.percentile(a, 99)), 4),
        "std": round(float(a.std()), 4),
        "mean": round(float(a.mean()), 4),
        "min": round(float(a.min()), 4),
        "max": round(float(a.max()), 4),
        "n": int(a.size),
    }


def _invoke(interpreter: Any, input_details: list[dict[str, Any]], inputs: list[Any], mark: bool = False) -> float:
    """Set the inputs, invoke once, return the invoke time in ms (only invoke() is timed)."""
    for detail, array in zip(input_details, inputs):  # noqa: B905 (same length; strict= needs 3.10)
        interpreter.set_tensor(detail["index"], array)
    return timed_call(interpreter.invoke, mark)


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


def array_infos(names: list[str], arrays: list[Any]) -> list[dict[str, Any]]:
    """Tensor info from the arrays of the last run: their shapes are concrete even where the graph's are symbolic."""
    return [
        {"name": name, "shape": [int(d) for d in value.shape], "dtype": value.dtype.name, "quantization": None}
        for name, value in zip(names, arrays)  # noqa: B905 (same length; strict= needs 3.10)
    ]


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def host_info() -> dict[str, Any]:
    """What machine this is; on a Raspberry Pi the device-tree model names the board."""
    cpu = None
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
        for key in ("model name", "Model", "Hardware", "CPU part"):
            for line in text.splitlines():
                if line.startswith(key) and ":" in line:
                    cpu = f"{key}: {line.split(':', 1)[1].strip()}" if key == "CPU part" else line.split(":", 1)[1]
                    cpu = cpu.strip()
                    break
            if cpu:
                break
    except OSError:
        pass
    board = None
    try:
        board = Path("/proc/device-tree/model").read_text(errors="replace").strip("\x00\n ") or None
    except OSError:
        pass
    return {
        "hostname": socket.gethostname(),
        "machine": platform.machine(),
        "cpu": cpu or platform.processor() or None,
        "cpu_part": system.cpu_part(),
        "board": board,
        "os": platform.platform(),
    }


def edgetpu_delegate(interpreter_cls: Any) -> Any:
    """The Coral Edge TPU delegate (libedgetpu.so.1) from the runtime's load_delegate, or a clear one-line error."""
    import ctypes

    try:
        ctypes.CDLL(EDGETPU_LIBRARY)  # probe first: load_delegate's own failure prints noise from its __del__
    except OSError as exc:
        raise RunnerError(
            f"Edge TPU delegate {EDGETPU_LIBRARY} not found ({_one_line(exc)}); install the Edge TPU runtime "
            "(Debian package libedgetpu1-std, https://coral.ai/software/#debian-packages)"
        ) from exc
    load_delegate = sys.modules[interpreter_cls.__module__].load_delegate
    try:
        return load_delegate(EDGETPU_LIBRARY)
    except (ValueError, OSError, RuntimeError) as exc:
        raise RunnerError(f"Edge TPU delegate failed to load (is the Coral plugged in?): {_one_line(exc)}") from exc


def prepare_board(args: argparse.Namespace, result: dict[str, Any]) -> system.PowerSampler:
    """Pin CPUs, cool down, sample idle power: all before the model loads. Records what it did in result."""
    try:
        result["cpus"] = system.pin_cpus(system.parse_cpu_list(args.cpus) if args.cpus else None)
    except ValueError as exc:
        raise RunnerError(str(exc)) from exc
    result["runtime"]["cpus"] = result["cpus"]
    result["accelerators"] = system.accelerators()
    result["cooldown"] = None if args.cooldown_c is None else system.cool_down(args.cooldown_c, args.cooldown_max_s)
    power = system.PowerSampler()
    result["_idle_w"] = power.idle_w(args.idle_seconds) if power.method else None
    return power


def peak_memory_bytes() -> int:
    """Peak resident set of this process: VmHWM, which exec() resets. ru_maxrss, the fallback where /proc is
    missing, survives exec on Linux: started from a big parent (a test run holding TensorFlow) it reports the
    parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


# ---------------------------------------------------------------- backends
# A backend loads one model format and runs it: runtime ({name, version}), device, input_details (dicts with name,
# shape, dtype; "dynamic" per dimension where the format has dynamic sizes), load(model, threads), loaded_runtime()
# (runtime keys known only once loaded), describe(detail), infer(inputs, mark) -> ms, outputs(), output_infos() and
# profile_ops(model, inputs, threads). Each lives beside the runtime it needs and is imported only for its format.
BACKENDS = {
    ".tflite": ("runner", "TfliteBackend"),
    ".onnx": ("onnx_backend", "OnnxBackend"),
    ".xml": ("openvino_backend", "OpenVinoBackend"),
}
DEFAULT_SUFFIX = ".tflite"  # any other suffix is read as TFLite: the runner's original and only format until 0.2
RUNTIME_SUFFIX = {"litert": ".tflite", "tflite-runtime": ".tflite", "onnxruntime": ".onnx", "openvino": ".xml"}


def open_backend(model: Path, args: argparse.Namespace) -> Any:
    """The backend for this file: by --runtime when named, else by suffix; its runtime imported, nothing loaded."""
    import importlib

    by_suffix = model.suffix.lower() if model.suffix.lower() in BACKENDS else None
    suffix = RUNTIME_SUFFIX.get(args.runtime) or by_suffix or DEFAULT_SUFFIX
    if by_suffix and by_suffix != suffix:
        raise RunnerUsageError(f"--runtime {args.runtime} does not run {by_suffix} files ({model.name})")
    module_name, class_name = BACKENDS[suffix]
    return getattr(importlib.import_module("." + module_name, __package__), class_name)(args)


class TfliteBackend:
    """LiteRT or tflite-runtime, on the CPU (XNNPACK) or with --delegate edgetpu on a Coral."""

    def __init__(self, args: argparse.Namespace):
        if args.device not in (None, "CPU"):
            raise RunnerUsageError(f"--device {args.device} is for OpenVINO .xml models; a .tflite runs on the CPU "
                                   "or, with --delegate edgetpu, on a Coral")  # fmt: skip
        self.interpreter_cls, self.runtime = load_runtime(args.runtime)
        self.delegates = [edgetpu_delegate(self.interpreter_cls)] if args.delegate == "edgetpu" else []
        self.device = args.delegate or "cpu"

    def load(self, model: Path, threads: int) -> None:
        try:
            extra = {"experimental_delegates": self.delegates} if self.delegates else {}
            self.interpreter = self.interpreter_cls(model_path=str(model), num_threads=threads, **extra)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise RunnerError(f"cannot load {model}: {_one_line(exc)}") from exc
        self.input_details = self.interpreter.get_input_details()
        self.output_details = self.interpreter.get_output_details()

    def loaded_runtime(self) -> dict[str, Any]:
        return {}

    def describe(self, detail: dict[str, Any]) -> dict[str, Any]:
        return tensor_info(detail)

    def infer(self, inputs: list[Any], mark: bool = False) -> float:
        return _invoke(self.interpreter, self.input_details, inputs, mark)

    def outputs(self) -> list[Any]:
        import numpy as np

        return [np.array(self.interpreter.get_tensor(d["index"])) for d in self.output_details]

    def output_infos(self) -> list[dict[str, Any]]:
        return [tensor_info(d) for d in self.output_details]

    def profile_ops(self, model: Path, inputs: list[Any], threads: int) -> list[dict[str, Any]]:
        from .opprofile import profile_ops

        return profile_ops(model, self.interpreter_cls, inputs, threads)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load, feed, warm up, time; return the result object (status ok)."""
    import numpy as np

    model = Path(args.model)
    if not model.is_file():
        raise RunnerError(f"model file not found: {model}")
    for path in (args.save_inputs, args.save_outputs):  # fail before the slow part, not after
        if path and Path(path).suffix not in (".npy", ".npz"):
            raise RunnerError(f"{path}: use a .npy or .npz file name")
    backend = open_backend(model, args)
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "status": "ok",
        "error": None,
        "model": {"path": str(model), "bytes": model.stat().st_size, "sha256": _sha256_file(model)},
        "runtime": {**backend.runtime, "threads": args.threads, "device": backend.device},
        "machine": platform.machine(),
        "host": host_info(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }

    power = prepare_board(args, result)
    result["baseline_memory_bytes"] = peak_memory_bytes()  # python + numpy + runtime, before the model
    start = time.perf_counter()
    backend.load(model, args.threads)
    result["load_ms"] = round((time.perf_counter() - start) * 1000.0, 4)
    result["runtime"].update(backend.loaded_runtime())

    input_details = backend.input_details
    if args.inputs:
        inputs = read_inputs(Path(args.inputs), input_details)
        result["input_source"] = f"file:{args.inputs}"
    else:
        inputs = generate_inputs(input_details, args.seed)
        result["input_source"] = f"seed:{args.seed}"
    # The shapes fed (a dynamic dimension of an ONNX/OpenVINO input is 1 unless --inputs says otherwise).
    result["inputs"] = [{**backend.describe(d), "shape": list(a.shape)} for d, a in zip(input_details, inputs)]  # noqa: B905
    result["input"] = result["inputs"][0] if result["inputs"] else None
    result["inputs_saved"] = None
    if args.save_inputs:
        save_arrays(Path(args.save_inputs), inputs)
        result["inputs_saved"] = str(args.save_inputs)

    try:
        result["first_inference_ms"] = round(backend.infer(inputs), 4)
        for _ in range(args.warmup):
            backend.infer(inputs)
        times: list[float] = []
        if args.mark_invokes:  # an empty START/STOP pair first: the markers' own cost, which the plugin subtracts
            insn_marker(MARK_START)
            insn_marker(MARK_STOP)
        before = system.snapshot(result["cpus"])
        power.start()
        timed_start = time.perf_counter()
        while len(times) < args.runs or time.perf_counter() - timed_start < args.min_seconds:
            times.append(backend.infer(inputs, args.mark_invokes))
        timed_seconds = time.perf_counter() - timed_start
        active_w = power.stop()
    except (ValueError, RuntimeError) as exc:
        raise RunnerError(f"inference failed: {_one_line(exc)}") from exc
    result["timed_seconds"] = round(timed_seconds, 4)
    result["thermal"] = system.thermal_summary(before, system.snapshot(result["cpus"]))
    result["power"] = system.power_block(power.method, result.pop("_idle_w"), active_w, len(times), timed_seconds)
    if args.delegate == "edgetpu":
        result["first_inference_note"] = "the first call includes loading the parameters into the Edge TPU"
    result["warmup"] = args.warmup
    result["latency_ms"] = latency_stats(times)
    # Before --profile-ops, whose one-op interpreters would add their own memory.
    result["peak_memory_bytes"] = peak_memory_bytes()

    outputs = backend.outputs()
    result["outputs"] = backend.output_infos()
    result["output"] = result["outputs"][0] if result["outputs"] else None
    result["output_sha256"] = outputs_sha256(outputs)
    result["outputs_saved"] = None
    if args.save_outputs:
        save_arrays(Path(args.save_outputs), outputs)
        result["outputs_saved"] = str(args.save_outputs)

    result["layers"] = None
    if args.profile_ops:
        try:
            result["layers"] = backend.profile_ops(model, inputs, args.threads)
        except RunnerError as exc:
            result["layers_error"] = str(exc)
    return result


# ---------------------------------------------------------------- command line


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m edgekit.device", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a .tflite, .onnx or OpenVINO .xml model and report latency and outputs")
    p.add_argument("model", help="path to a .tflite, .onnx or OpenVINO .xml (+ .bin) file")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    runtimes = ["auto", *RUNTIME_MODULES, "onnxruntime", "openvino"]
    p.add_argument("--runtime", choices=runtimes, default="auto", help="default: by the file's suffix")
    p.add_argument("--device", type=str.upper, choices=["CPU", "GPU", "NPU"], help="OpenVINO device (default CPU)")
    p.add_argument("--threads", type=_positive_int, default=1)
    p.add_argument("--runs", type=_positive_int, default=50, help="timed runs (at least)")
    p.add_argument("--warmup", type=_non_negative_int, default=5, help="warm-up runs after the first inference")
    p.add_argument("--min-seconds", type=float, default=0.0, help="keep timing until this many seconds passed")
    p.add_argument("--inputs", help=".npy (one input) or .npz with inputs already in the model's dtype")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated inputs (without --inputs)")
    p.add_argument("--save-inputs", help="write the inputs fed to the model (.npy or .npz)")
    p.add_argument("--save-outputs", help="write the outputs of the last run (.npy or .npz)")
    p.add_argument("--profile-ops", action="store_true", help="also time every operator alone (slow)")
    p.add_argument("--cpus", help="pin to these CPUs, taskset-style (e.g. 2-3 or 0,2)")
    p.add_argument("--cooldown-c", type=float, help="first wait until the board is below this temperature (°C)")
    p.add_argument("--cooldown-max-s", type=float, default=300.0, help="longest wait for --cooldown-c (s)")
    p.add_argument("--idle-seconds", type=float, default=1.0, help="idle power sampled before loading (if any)")
    p.add_argument("--delegate", choices=["edgetpu"], help="run on the Coral Edge TPU (libedgetpu.so.1)")
    p.add_argument(
        "--mark-invokes",
        action="store_true",
        help="bracket each timed invoke() with marker syscalls for edgekit's QEMU instruction counter",
    )
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be >= 1")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _print_human(result: dict[str, Any], out) -> None:
    lat = result["latency_ms"]
    out.write(
        f"{result['model']['path']}: {result['runtime']['name']} {result['runtime']['version']} "
        f"threads={result['runtime']['threads']} on {result['machine']}\n"
        f"  load {result['load_ms']:.1f} ms, first inference {result['first_inference_ms']:.2f} ms\n"
        f"  latency median {lat['median']:.3f} ms, p90 {lat['p90']:.3f}, p99 {lat['p99']:.3f} (n={lat['n']})\n"
        f"  peak memory {result['peak_memory_bytes'] / 2**20:.1f} MiB, outputs sha256 {result['output_sha256'][:16]}\n"
    )
    for row in (result.get("layers") or [])[:10]:
        out.write(f"    {row['time_ms']:9.3f} ms {row['percent']:5.1f}%  {row['op']:<24} {row['name']}\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Native libraries may write to fd 1; keep stdout for our one JSON object by pointing fd 1 at stderr meanwhile.
    sys.stdout.flush()
    out_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        result = run(args)
        code = 0
    except (RunnerError, OSError, MemoryError) as exc:
        result = {"schema": SCHEMA, "status": "failed", "error": _one_line(exc), "error_type": type(exc).__name__}
        code = 2 if isinstance(exc, RunnerUsageError) else 1
    except Exception as exc:  # one line, never a traceback: the caller parses our output
        message = f"{type(exc).__name__}: {_one_line(exc)}"
        result = {"schema": SCHEMA, "status": "failed", "error": message, "error_type": type(exc).__name__}
        code = 1
    finally:
        sys.stdout.flush()
        os.dup2(out_fd, 1)
        os.close(out_fd)
    if code:
        sys.stderr.write(f"error: {result['error']}\n")
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    elif code == 0:
        _print_human(result, sys.stdout)
    sys.stdout.flush()
    return code


def __getattr__(name: str) -> Any:
    if name == "profile_ops":  # moved to opprofile.py; kept importable from here (benchmarks use it)
        from .opprofile import profile_ops

        return profile_ops
    raise AttributeError(name)


if __name__ == "__main__":
    sys.exit(main())
