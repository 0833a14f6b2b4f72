"""Measure an OpenVINO model on the Intel NPU: only on the device named "NPU", never through AUTO, never a fallback.

OpenVINO lists "NPU" in Core().available_devices only when the NPU driver is present; "AUTO" would silently run on the
CPU (OpenVINO docs, "Automatic Device Selection"). So: compile for "NPU" exactly, then check the compiled model's
EXECUTION_DEVICES; anything but ["NPU"] is refused. Runs in a subprocess (`python -m edgekit.profile.npu MODEL.xml`):
a foreign model or a driver that crashes takes only that process down.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError

NPU = "NPU"
DRIVER_HINT = "install the Intel NPU driver (github.com/intel/linux-npu-driver) and check /dev/accel/accel0"


class NpuUnavailable(EdgekitError):
    """No NPU listed by OpenVINO, or the model did not execute on it."""


def choose_device(available: list[str]) -> str:
    """ "NPU" when OpenVINO lists it (also as NPU.0 etc.), else a one-line error naming what is there."""
    listed = [d for d in available if d == NPU or d.startswith(NPU + ".")]
    if not listed:
        raise NpuUnavailable(f"OpenVINO lists no NPU here (available: {', '.join(available) or 'none'}); {DRIVER_HINT}")
    return listed[0]


def check_execution(devices: list[str]) -> None:
    """Refuse a compiled model that runs anywhere but the NPU (a CPU fallback is not an NPU number)."""
    if not devices or any(not (d == NPU or d.startswith(NPU + ".")) for d in devices):
        raise NpuUnavailable(f"the model executes on {devices or 'nothing'}, not only the NPU; refusing to report it")


def _run(path: Path, runs: int, warmup: int, min_seconds: float) -> dict[str, Any]:
    import numpy as np
    import openvino as ov

    core = ov.Core()
    device = choose_device(list(core.available_devices))
    start = time.perf_counter()
    compiled = core.compile_model(core.read_model(str(path)), device)
    load_ms = (time.perf_counter() - start) * 1000.0
    check_execution(list(compiled.get_property("EXECUTION_DEVICES")))
    request = compiled.create_infer_request()
    rng = np.random.default_rng(0)
    for index, port in enumerate(compiled.inputs):
        shape, dtype = list(port.get_shape()), port.get_element_type().to_dtype()
        request.set_input_tensor(index, ov.Tensor(rng.uniform(-1, 1, shape).astype(dtype)))
    start = time.perf_counter()
    request.infer()
    first_ms = (time.perf_counter() - start) * 1000.0
    for _ in range(warmup):
        request.infer()
    times: list[float] = []
    began = time.perf_counter()
    while len(times) < runs or time.perf_counter() - began < min_seconds:
        start = time.perf_counter()
        request.infer()
        times.append((time.perf_counter() - start) * 1000.0)
    a = np.asarray(times)
    latency = {k: round(float(f(a)), 4) for k, f in (("median", np.median), ("mean", np.mean), ("std", np.std))}
    latency.update(p90=round(float(np.percentile(a, 90)), 4), p99=round(float(np.percentile(a, 99)), 4), n=len(times))
    runtime = {"name": "openvino", "version": ov.get_version(), "threads": None, "device": device}
    return {"status": "ok", "latency_ms": latency, "load_ms": round(load_ms, 4), "first_inference_ms": first_ms,
            "runtime": {**runtime, "execution_devices": list(compiled.get_property("EXECUTION_DEVICES"))}}  # fmt: skip


def measure_npu(path: Path, runs: int = 50, warmup: int = 5, min_seconds: float = 1.0, timeout: float = 600) -> dict:
    """A profile result (source measured, runtime.device "NPU") or NpuUnavailable / EdgekitError with one line."""
    from edgekit.results import base_result

    cmd = [sys.executable, "-m", "edgekit.profile.npu", str(path), "--runs", str(runs), "--warmup", str(warmup)]
    cmd += ["--min-seconds", repr(float(min_seconds))]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EdgekitError(f"{path}: the NPU run did not finish in {timeout:g} s") from None
    try:
        data = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        tail = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise EdgekitError(f"{path}: the NPU run crashed: {tail[:200]}") from None
    if data.get("status") != "ok":
        raise NpuUnavailable(data.get("error") or "the NPU run failed")
    result = base_result("intel-npu", Path(path).stem, "openvino", "unknown", "measured")
    result.update({k: data[k] for k in ("latency_ms", "load_ms", "first_inference_ms", "runtime")})
    result["size_bytes"] = Path(path).stat().st_size
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgekit.profile.npu")
    parser.add_argument("model")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    try:
        out = _run(Path(args.model), args.runs, args.warmup, args.min_seconds)
    except Exception as exc:  # one line for the parent, never a traceback
        out = {"status": "failed", "error": " ".join(str(exc).split()) or type(exc).__name__}
    print(json.dumps(out))
    return 0 if out["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
