"""Measure an OpenVINO model on the Intel NPU: only on the device named "NPU", never through AUTO, never a fallback.

OpenVINO lists "NPU" in its available devices only when the NPU driver is present; "AUTO" would silently run on the
CPU (OpenVINO docs, "Automatic Device Selection"). The device runner (`python -m edgekit.device run MODEL.xml --device
NPU`, edgekit/device/openvino_backend.py) compiles for "NPU" exactly and refuses a compiled model whose
EXECUTION_DEVICES are anything but the NPU. It runs in a subprocess: a foreign model or a driver that crashes takes
only that process down.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError, UsageError

NPU = "NPU"


class NpuUnavailable(EdgekitError):
    """No NPU listed by OpenVINO, or the model did not execute on it."""


def choose_device(available: list[str]) -> str:
    """ "NPU" when OpenVINO lists it (also as NPU.0 etc.), else a one-line error naming what is there."""
    from edgekit.device import RunnerError
    from edgekit.device.openvino_backend import choose_device as choose

    try:
        return choose(available, NPU)
    except RunnerError as exc:
        raise NpuUnavailable(str(exc)) from None


def check_execution(devices: list[str]) -> None:
    """Refuse a compiled model that runs anywhere but the NPU (a CPU fallback is not an NPU number)."""
    from edgekit.device import RunnerError
    from edgekit.device.openvino_backend import check_execution as check

    try:
        check(NPU, devices)
    except RunnerError as exc:
        raise NpuUnavailable(str(exc)) from None


def npu_command(path: Path, runs: int, warmup: int, min_seconds: float, timing: Any = None) -> list[str]:
    """The runner on the NPU; timing: the TimingOptions of edgekit profile (--mode, --batch, --max-seconds...)."""
    cmd = [sys.executable, "-m", "edgekit.device", "run", str(path), "--json", "--runtime", "openvino"]
    cmd += ["--device", NPU, "--runs", str(runs), "--warmup", str(warmup), "--min-seconds", repr(min_seconds)]
    if timing is not None:
        if timing.device not in (None, NPU):
            raise UsageError(f"--device {timing.device}: the intel-npu target measures the NPU")
        cmd += replace(timing, device=None).runner_args()
    return cmd


def measure_npu(
    path: Path, runs: int = 50, warmup: int = 5, min_seconds: float = 1.0, timeout: float = 600, timing: Any = None
) -> dict:
    """A profile result (source measured, runtime.device "NPU") or NpuUnavailable / EdgekitError with one line."""
    from edgekit.measure.host import parse_json_output, timing_fields
    from edgekit.results.record import base_result

    cmd = npu_command(Path(path), runs, warmup, float(min_seconds), timing)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise EdgekitError(f"{path}: the NPU run did not finish in {timeout:g} s") from None
    data = parse_json_output(proc.stdout)
    if data is None:
        tail = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        raise EdgekitError(f"{path}: the NPU run crashed: {tail[:200]}")
    if data.get("status") != "ok":
        raise NpuUnavailable(data.get("error") or "the NPU run failed")
    result = base_result("intel-npu", Path(path).stem, "openvino", "unknown", "measured")
    result.update({k: data[k] for k in ("latency_ms", "load_ms", "first_inference_ms", "runtime")})
    result["precision_detected"] = data.get("precision_detected")
    result["size_bytes"] = Path(path).stat().st_size
    result.update(timing_fields(data))
    return result
