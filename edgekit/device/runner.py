"""The device runner: load a model, feed fixed inputs, time inference, print one JSON object.

Standard library + numpy + one runtime only: this package must run alone on a Raspberry Pi or in an emulated arm64
userland. The backend follows the file's suffix or --runtime through the runtime table (runtimes.py): .tflite runs
with LiteRT/tflite-runtime (litert_backend.py), .onnx with ONNX Runtime (onnx_backend.py), .xml with OpenVINO
(openvino_backend.py); a runtime is imported only for its own format. The JSON contract is documented in
edgekit/device/__init__.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import sys
import time
from pathlib import Path
from typing import Any

from . import runtimes, system
from .base import MARK_START, MARK_STOP, MODES, RunnerError, RunnerUsageError, RunSettings, insn_marker, one_line
from .io import generate_inputs, latency_stats, outputs_sha256, read_input_folder, read_inputs, save_arrays, sha256_file
from .throughput import Bound, summary

SCHEMA = "edgekit.device.run/1"
__all__ = ["RunnerError", "RunnerUsageError", "SCHEMA", "build_parser", "host_info", "main", "open_backend", "run"]


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


def default_cache_dir() -> str:
    """OpenVINO's compile cache: <edgekit's cache>/openvino ($EDGEKIT_CACHE, else ~/.cache/edgekit)."""
    root = os.environ.get("EDGEKIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "edgekit")
    return os.path.join(root, "openvino")


def run_settings(args: argparse.Namespace) -> RunSettings:
    """The runner's options beyond runtime/device/delegate/precision, as the backends take them."""
    xnnpack = "fp16" if args.xnnpack_fp16 else ("off" if args.no_xnnpack else "default")
    cache = None if args.cache_dir in ("", "none") else (args.cache_dir or default_cache_dir())
    return RunSettings(args.mode, args.batch, xnnpack, cache, args.requests, args.threads is not None)


def open_backend(model: Path, args: argparse.Namespace) -> Any:
    """The backend for this file (runtimes.resolve): its runtime imported, nothing loaded."""
    _, backend_cls = runtimes.resolve(model, args.runtime)
    return backend_cls(runtime=args.runtime, device=args.device, delegate=args.delegate, precision=args.precision,
                       settings=run_settings(args))  # fmt: skip


def feeds_of(args: argparse.Namespace, backend: Any, result: dict[str, Any]) -> list:
    """The input sets the timed runs cycle through: --inputs (a .npy/.npz, or a folder of .npy samples) or seeded."""
    details = backend.input_details
    if not args.inputs:
        result["input_source"] = f"seed:{args.seed}"
        return [generate_inputs(details, args.seed)]
    path = Path(args.inputs)
    if path.is_dir():
        feeds = read_input_folder(path, details, args.batch)
        result["input_source"] = f"dir:{args.inputs}"
        result["input_feeds"] = len(feeds)
        return feeds
    result["input_source"] = f"file:{args.inputs}"
    return [read_inputs(path, details)]


def check_args(args: argparse.Namespace) -> None:
    if args.mode == "throughput" and args.mark_invokes:
        raise RunnerUsageError("--mark-invokes counts one inference at a time: use it with --mode latency")
    if args.max_seconds and args.max_seconds < args.min_seconds:
        raise RunnerUsageError(f"--max-seconds {args.max_seconds:g} is below --min-seconds {args.min_seconds:g}")


def timed_loop(args: argparse.Namespace, backend: Any, feeds: list) -> dict[str, Any]:
    """Latency mode: one call at a time (only the runtime's call timed); throughput mode: the backend's parallel
    measurement. Both stop at the bound (--runs and --min-seconds reached, or --max-seconds passed)."""
    bound = Bound(args.runs, args.min_seconds, args.max_seconds or 0.0)
    if args.mode == "throughput":
        return backend.throughput(feeds, bound)
    times: list[float] = []
    if args.mark_invokes:  # an empty START/STOP pair first: the markers' own cost, which the plugin subtracts
        insn_marker(MARK_START)
        insn_marker(MARK_STOP)
    start = time.perf_counter()
    while not bound.done(len(times), time.perf_counter() - start):
        times.append(backend.infer(feeds[len(times) % len(feeds)], args.mark_invokes))
    seconds = time.perf_counter() - start
    method = "one inference at a time (latency mode): frames / wall time of the timed loop"
    return {
        "times": times,
        "calls": len(times),
        "seconds": seconds,
        "stopped_by": bound.stopped_by(len(times), seconds),
        "throughput": summary(len(times), args.batch, seconds, 1, 1, method),
    }


def profile_runs(runs: int, median_ms: float) -> int:
    """Runs of a per-layer profiler: enough to average out noise, about 3 s at most for a big model."""
    return max(3, min(50, max(runs, 10), int(3000 / max(median_ms, 1e-3)) + 1))


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Load, feed, warm up, time; return the result object (status ok)."""
    import numpy as np

    model = Path(args.model)
    if not model.is_file():
        raise RunnerError(f"model file not found: {model}")
    for path in (args.save_inputs, args.save_outputs):  # fail before the slow part, not after
        if path and Path(path).suffix not in (".npy", ".npz"):
            raise RunnerError(f"{path}: use a .npy or .npz file name")
    check_args(args)
    threads = args.threads or 1
    backend = open_backend(model, args)
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "status": "ok",
        "error": None,
        "model": {"path": str(model), "bytes": model.stat().st_size, "sha256": sha256_file(model)},
        "runtime": {**backend.runtime, "threads": threads, "device": backend.device},
        "machine": platform.machine(),
        "host": host_info(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }

    power = prepare_board(args, result)
    result["baseline_memory_bytes"] = peak_memory_bytes()  # python + numpy + runtime, before the model
    start = time.perf_counter()
    backend.load(model, threads)
    result["load_ms"] = round((time.perf_counter() - start) * 1000.0, 4)
    # Apart: reading the file, and compiling it (OpenVINO) / allocating and applying XNNPACK (LiteRT) / the session.
    for key, value in (("read_ms", backend.read_ms), ("compile_ms", backend.compile_ms)):
        result[key] = None if value is None else round(value, 4)
    result["compile_cache"] = backend.cache
    result["runtime"].update(backend.loaded_runtime())
    result["precision_detected"] = backend.precision_detected
    result.update(mode=args.mode, batch=args.batch, max_seconds=args.max_seconds)

    input_details = backend.input_details
    feeds = feeds_of(args, backend, result)
    inputs = feeds[0]
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
        before = system.snapshot(result["cpus"])
        power.start()
        timed = timed_loop(args, backend, feeds)
        times, timed_seconds = timed["times"], timed["seconds"]
        active_w = power.stop()
    except (ValueError, RuntimeError) as exc:
        raise RunnerError(f"inference failed: {one_line(exc)}") from exc
    if not times:
        raise RunnerError(f"no inference finished within --max-seconds {args.max_seconds:g}")
    result["timed_seconds"] = round(timed_seconds, 6)  # energy per inference is re-derived from it on the host
    result["stopped_by"] = timed["stopped_by"]
    result["throughput"] = timed["throughput"]
    result["throughput_fps"] = timed["throughput"]["fps"]
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
            runs = profile_runs(args.runs, result["latency_ms"]["median"])
            result["layers"] = backend.profile_ops(model, inputs, threads, runs)
            result["layers_note"] = backend.profile_note
        except RunnerError as exc:
            result["layers_error"] = str(exc)
        except (ValueError, RuntimeError) as exc:  # the runtime refused a one-op model: the latency still stands
            result["layers_error"] = f"per-op profiling failed: {one_line(exc)}"
    return result


# ---------------------------------------------------------------- command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m edgekit.device", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a .tflite, .onnx or OpenVINO .xml model and report latency and outputs")
    p.add_argument("model", help="path to a .tflite, .onnx or OpenVINO .xml (+ .bin) file")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--runtime", choices=["auto", *runtimes.names()], default="auto", help="default: by the suffix")
    p.add_argument("--device", type=str.upper, choices=["CPU", "GPU", "NPU"], help="OpenVINO device (default CPU)")
    p.add_argument("--threads", type=_positive_int, help="inference threads (default 1; throughput mode with "
                   "OpenVINO: the plugin's choice, every core)")  # fmt: skip
    p.add_argument("--mode", choices=MODES, default="latency", help="latency: one inference at a time; "
                   "throughput: OpenVINO async requests (THROUGHPUT hint), or parallel interpreters")  # fmt: skip
    p.add_argument("--batch", type=_positive_int, default=1, help="batch size: the first input dimension")
    p.add_argument("--requests", type=_positive_int, help="throughput mode: parallel requests/instances "
                   "(default: OpenVINO's optimum; one per --threads CPUs for LiteRT/ONNX Runtime)")  # fmt: skip
    xnn = p.add_mutually_exclusive_group()
    xnn.add_argument("--xnnpack-fp16", action="store_true", help="LiteRT: force XNNPACK to FP16 "
                     "(through LiteRT's CompiledModel: its Interpreter takes no XNNPACK flags)")  # fmt: skip
    xnn.add_argument("--no-xnnpack", action="store_true", help="LiteRT: run without the XNNPACK delegate")
    p.add_argument("--max-seconds", type=_positive_float, help="stop the timed loop after this many seconds")
    p.add_argument("--cache-dir", help="OpenVINO compile cache (default $EDGEKIT_CACHE/openvino or "
                   "~/.cache/edgekit/openvino; 'none': no cache)")  # fmt: skip
    p.add_argument("--precision", choices=["fp32", "fp16", "dynamic", "int8"], help="declared (else read from the IR): "
                   "an FP32 OpenVINO IR runs with f32 inference precision on the CPU")  # fmt: skip
    p.add_argument("--runs", type=_positive_int, default=50, help="timed runs (at least)")
    p.add_argument("--warmup", type=_non_negative_int, default=5, help="warm-up runs after the first inference")
    p.add_argument("--min-seconds", type=float, default=0.0, help="keep timing until this many seconds passed")
    p.add_argument("--inputs", help=".npy (one input) or .npz with inputs already in the model's dtype, or a folder "
                   "of .npy samples (one per file) the timed runs cycle through")  # fmt: skip
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


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be > 0")
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
        f"  {result['mode']} mode, batch {result['batch']}: {result['throughput_fps']} frames/s measured\n"
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
        result = {"schema": SCHEMA, "status": "failed", "error": one_line(exc), "error_type": type(exc).__name__}
        code = 2 if isinstance(exc, RunnerUsageError) else 1
    except Exception as exc:  # one line, never a traceback: the caller parses our output
        message = f"{type(exc).__name__}: {one_line(exc)}"
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


if __name__ == "__main__":
    sys.exit(main())
