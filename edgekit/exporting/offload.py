"""The side process of `export`: ONNX Runtime and OpenVINO/NNCF work in a process of their own.

This module is the parent's side; the process itself is `python -m edgekit.exporting.offload_main SPEC.pkl` (SPEC is
written by the parent into its private temporary folder, never taken from users). It imports no TensorFlow.

Why a process: TensorFlow's converter holds the GIL, so only a process can quantize beside it; and a process can be
killed by the kernel's out-of-memory killer without taking the export with it. The parent then names the format,
the stage it was in (the side writes it to a small file as it goes) and the side's own peak memory (its VmHWM,
watched while it runs: PeakWatcher), keeps the formats that finished and removes what the killed one left.
Overlapping the two is only done when the memory both need is there (plan_side). In between, the side may run
beside TensorFlow's conversion and LiteRT's calibration but not its quantization: TensorFlow's peak comes there, after
the calibrator's last image, so the calibrator's last step waits for the side to finish (CalibrationSet.on_end).
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit import console
from edgekit.exporting import stagelog
from edgekit.exporting.options import artifact_dir
from edgekit.exporting.stagelog import STAGE_ENV, STAGE_LOG_ENV, stage  # noqa: F401 (the side's stage API)
from edgekit.ioutil import remove_stale
from edgekit.procfs import meminfo_bytes, status_bytes

GB = 1e9
# Peak resident memory of each side of a default int8 export, as base + factor x float32 weight bytes: rough
# estimates from single measurements (ResNet50: TFLite INT8 conversion 2.4 GB; ONNX Runtime calibration 1.1 GB), not
# a fit; benchmarks/export_memory.py records the real peaks per model.
TF_BASE, TF_PER_WEIGHT_BYTE = 2.0 * GB, 9.0
# until quantization: VGG19 (575 MB of weights) peaked at 5.7 GB converting, held 4.2 GB for 112 s calibrating,
# then reached 8.2 GB quantizing
TF_UNTIL_QUANTIZE_PER_WEIGHT_BYTE = 6.5
SIDE_BASE, SIDE_PER_WEIGHT_BYTE = 1.0 * GB, 6.0
OVERLAP_SHARE = 0.5  # overlap only when both fit in half the memory available now (others may need the rest)


def peak_rss_self() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def available_bytes() -> int | None:
    """MemAvailable (Linux); None elsewhere."""
    return meminfo_bytes("MemAvailable")


FIRST, ALONGSIDE, UNTIL_QUANTIZE = "first", "alongside", "until-quantization"


def plan_side(
    side: list[str], n_formats: int, weight_bytes: int, parallel: bool, calibrates: bool = False
) -> tuple[list[str], str]:
    """Which of the side formats (ONNX, OpenVINO) go to the side process, and when it runs (FIRST, ALONGSIDE,
    UNTIL_QUANTIZE).

    All of them go (a kill is then one clean error). Running beside TensorFlow needs two cores, work on both sides
    and room for both peaks in the memory available now: for TensorFlow's whole conversion (ALONGSIDE) or, when
    the parent converts a TFLite INT8 model, for all of it but the quantization, which then waits for the side
    (UNTIL_QUANTIZE). Otherwise the side runs first and the parent waits for it.
    """
    if not parallel or not side:
        return [], FIRST
    if len(side) == n_formats or (os.cpu_count() or 1) < 2:
        return side, FIRST
    avail = available_bytes()

    def fits(tf_per_weight_byte: float) -> bool:
        need = TF_BASE + SIDE_BASE + (tf_per_weight_byte + SIDE_PER_WEIGHT_BYTE) * weight_bytes
        return avail is None or need <= OVERLAP_SHARE * avail

    if fits(TF_PER_WEIGHT_BYTE):
        return side, ALONGSIDE
    return side, UNTIL_QUANTIZE if calibrates and fits(TF_UNTIL_QUANTIZE_PER_WEIGHT_BYTE) else FIRST


def release_memory() -> None:
    """Hand freed heap back to the kernel: glibc keeps it otherwise, and a side process started now needs it."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@dataclass
class SideExport:
    formats: list[str]
    proc: Any  # subprocess.Popen
    result_path: Path
    stage_path: Path
    stderr_path: Path
    mode: str  # FIRST, ALONGSIDE or UNTIL_QUANTIZE
    peak: PeakWatcher | None = field(default=None)


class PeakWatcher(threading.Thread):
    """The side process's own peak resident memory, read from /proc/PID/status (VmHWM) while it runs.

    wait4's ru_maxrss cannot tell it: Linux folds the memory of the process that forked (here the TensorFlow parent,
    several GB) into the child's ru_maxrss at exec, so an out-of-memory message would blame the side for the
    parent's memory. VmHWM belongs to the exec'd program's own address space.
    """

    def __init__(self, pid: int, interval_s: float = 0.1):
        super().__init__(daemon=True)
        self.pid, self.interval_s, self.bytes = pid, interval_s, 0
        self.done = threading.Event()

    def read(self) -> None:
        self.bytes = max(self.bytes, status_bytes("VmHWM", self.pid) or 0)  # None: exited, or no /proc

    def run(self) -> None:
        while not self.done.wait(self.interval_s):
            self.read()


def start(shared, formats: list[str], mode: str) -> SideExport:
    work = Path(shared.work)
    spec, result = work / "side-export.pkl", work / "side-export-result.pkl"
    stage_path, stderr_path = work / "side-export.stage", work / "side-export.stderr"
    with open(spec, "wb") as f:
        pickle.dump({"shared": shared, "formats": formats, "result": result}, f)
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgekit.exporting.offload_main", str(spec)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
            env={**os.environ, STAGE_ENV: str(stage_path)},
        )
    peak = PeakWatcher(proc.pid)
    peak.start()
    return SideExport(formats, proc, result, stage_path, stderr_path, mode, peak)


def wait_exit(side: SideExport) -> None:
    """Block until the side has exited, without reaping it (wait4 in wait() still reads its status)."""
    stage("waiting for the side process to exit")
    try:
        os.waitid(os.P_PID, side.proc.pid, os.WEXITED | os.WNOWAIT)
    except ChildProcessError:  # reaped already
        pass


def wait(side: SideExport) -> tuple[int, int]:
    """(exit code as Popen gives it, peak resident bytes of the child, as last seen before it ended)."""
    try:
        _, status, usage = os.wait4(side.proc.pid, 0)
    except ChildProcessError:  # already reaped
        status, usage = None, None
    if side.peak is not None:
        side.peak.done.set()
        side.peak.join()
    if status is None:
        return side.proc.wait(), side.peak.bytes if side.peak else 0
    side.proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss (inflated by the parent's memory, see PeakWatcher) only where /proc could not be read
    peak = side.peak.bytes if side.peak is not None and side.peak.bytes else usage.ru_maxrss * 1024
    return side.proc.returncode, peak


def read_records(side: SideExport) -> dict[str, dict[str, Any]]:
    try:
        with open(side.result_path, "rb") as f:
            return pickle.load(f)
    except (OSError, EOFError, pickle.UnpicklingError):
        return {}


def memory_error(
    fmt: str, precision: str, how: str, stage_text: str | None = None, peak_bytes: int | None = None
) -> str:
    """The one line a user sees: format, stage, peak memory and the knobs that help."""
    stage_text = (stage_text if stage_text is not None else stagelog.current()).split(": ", 1)[-1] or "conversion"
    peak = peak_bytes if peak_bytes is not None else peak_rss_self()
    knob = "--calib-size 50 (fewer calibration images), " if precision == "int8" else ""
    return (
        f"out of memory in {stage_text} of the {fmt} {precision} export ({how}, peak {peak / GB:.1f} GB); "
        f"try {knob}a smaller --input-size, or one format at a time (--format {fmt})"
    )


def failed_record(shared, fmt: str, error: str) -> dict[str, Any]:
    opts = shared.opts
    return {
        "model": shared.name,
        "format": fmt.partition("@")[0],
        "precision": opts.precision,
        "path": str(artifact_dir(shared.root, shared.name, fmt, opts.precision, opts.any_batch(fmt))),
        "size_bytes": None,
        "sha256": None,
        "status": "failed",
        "error": error,
        "fidelity": None,
    }


def finish(side: SideExport, shared) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Collect the side's records: (records, formats it never finished for a reason other than memory).

    A kill (the kernel's OOM killer sends SIGKILL) or a MemoryError becomes a failed record naming the format,
    stage, peak memory and what to change; the formats finished before it are kept; the killed writer's temporary
    folder is removed. Any other death leaves its formats to the caller to export in-process.
    """
    code, peak = wait(side)
    records = read_records(side)
    missing = [f for f in side.formats if f not in records]
    for fmt in side.formats:  # a SIGKILL skips atomic_dir's cleanup: its .NAME.tmp-PID-* folder is stale now
        remove_stale(artifact_dir(shared.root, shared.name, fmt, shared.opts.precision, shared.opts.any_batch(fmt)))
    if not missing:
        return records, []
    stage_text = read_stage(side)
    stderr = side.stderr_path.read_text(errors="replace") if side.stderr_path.exists() else ""
    out_of_memory = code == -signal.SIGKILL or (code == -signal.SIGABRT and "bad_alloc" in stderr)
    if not out_of_memory:  # a crash of another kind: the caller exports the missing formats in-process
        if os.environ.get("EDGEKIT_DEBUG"):
            console.warn(f"side export failed ({code}): {stderr[-500:]}")
        return records, missing
    how = f"converter process killed by {signal.Signals(-code).name}"
    for fmt in missing:
        if stage_text.startswith(f"{fmt} "):
            error = memory_error(fmt, shared.opts.precision, how, stage_text, peak)
        else:
            error = f"not exported: the converter process was killed before it ({stage_text or 'at start'})"
        records[fmt] = failed_record(shared, fmt, error)
    return records, []


def abandon(side: SideExport, shared) -> None:
    """Stop a side whose export is given up (an error or ^C in the parent) and remove what it left."""
    side.proc.kill()
    finish(side, shared)


def read_stage(side: SideExport) -> str:
    try:
        return side.stage_path.read_text().strip()
    except OSError:
        return ""


def save_records(records: dict[str, dict[str, Any]], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        pickle.dump(records, f)
    os.replace(tmp, path)
