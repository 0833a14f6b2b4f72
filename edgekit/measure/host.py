"""Measure an artifact on this host, each in a fresh subprocess, and return a profile result dict.

Every format runs in edgekit's device runner (`python -m edgekit.device run FILE --json`), the same program that
measures on boards; its JSON (contract in edgekit/device/__init__.py) is mapped onto a profile result here. A runtime
that crashes or hangs kills only the subprocess: the caller gets an EdgekitError naming the file and the signal or
the timeout.

Formats and file names come from the formats table (edgekit.exporting.formats), the runtime of a file from the device's
runtime table (edgekit.device.runtimes), both imported inside the functions that need them: importing edgekit.measure
stays free of numpy and the runtimes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from edgekit._version import __version__
from edgekit.errors import EdgekitError, UsageError
from edgekit.exporting.artifacts import artifact_names, find_model_file, model_files
from edgekit.ioutil import sha256_file
from edgekit.measure.options import TimingOptions
from edgekit.measure.ssh import kill_group
from edgekit.results.record import base_result

RUNNER = "device runner"  # settings.runner of every host result
_IDLE_SECONDS = "0.2"  # the runner's idle-power sample before loading: the host result does not use it, keep it short
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the edgekit package


class MeasureError(EdgekitError):
    """A measurement that failed; .result is the failed profile result (status "failed"), ready to save."""

    def __init__(self, message: str, result: dict[str, Any]):
        super().__init__(message)
        self.result = result


def tflite_precision(file: Path) -> str | None:
    """fp32 / fp16 / dynamic / int8 from the flatbuffer (edgekit's one TFLite reader; None for a corrupt file)."""
    from edgekit.analyze.readers.tflite import tflite_precision as read_precision

    return read_precision(file)


def detected_precision(file: Path, fmt: str) -> str | None:
    """The precision read from the file without a runtime, for formats whose row can (the device runner does not
    report one)."""
    from edgekit.exporting.formats import formats

    row = formats().get(fmt)
    return row.precision_of(file) if row and row.precision_of else None


# ------------------------------------------------------------------------------------------------------- subprocess
def host_runtime(file: Path) -> str:
    """The runtime that times this file here: its format's (the row's `timing`, one of the device table's runtimes),
    else its suffix's row of the device's runtime table."""
    from edgekit.device import runtimes
    from edgekit.exporting.formats import format_of_suffix, formats

    fmt = format_of_suffix(file)
    if fmt is not None:
        return formats()[fmt].timing
    row = runtimes.for_suffix(file)
    if row is None:
        raise UsageError(f"{file}: no runtime runs {file.suffix or 'this'} files")
    return row.name


def runner_command(
    file: Path,
    threads: int | None,
    runs: int,
    warmup: int,
    min_seconds: float,
    layers: bool,
    precision: str | None,
    extra: list[str] | None = None,
) -> list[str]:
    """The device runner's command measuring one file (its runtime named: a subprocess sees no patched table).
    threads None: the runner's default (throughput mode: the runtime's choice); extra: TimingOptions.runner_args."""
    cmd = [sys.executable, "-m", "edgekit.device", "run", str(file), "--json", "--runtime", host_runtime(file)]
    cmd += ["--threads", str(threads)] if threads is not None else []
    cmd += ["--runs", str(runs), "--warmup", str(warmup), *(extra or [])]
    cmd += ["--min-seconds", repr(float(min_seconds)), "--idle-seconds", _IDLE_SECONDS]
    if layers:
        cmd.append("--profile-ops")
    from edgekit.exporting.base import PRECISIONS

    if precision in PRECISIONS:  # declared by the manifest or folder: an FP32 OpenVINO IR keeps f32 inference
        cmd += ["--precision", str(precision)]
    return cmd


def parse_json_output(stdout: str) -> dict[str, Any] | None:
    """The last JSON object printed on stdout (tolerates log lines before it)."""
    text = stdout.strip()
    if not text:
        return None
    starts = [0] + [m.start() + 1 for m in re.finditer(r"\n\{", text)]
    decoder = json.JSONDecoder()
    for start in reversed(starts):
        try:
            obj, end = decoder.raw_decode(text[start:])
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict) and not text[start + end :].strip():
            return obj
    return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


class _Failure(Exception):
    """A one-line reason why the measuring subprocess gave no result."""


# Linux keeps a process's ru_maxrss across fork+exec, so a child forked from a big parent (e.g. one that imported
# TensorFlow) would report the parent's peak as its own. A shell that forks the measuring process gives it a fresh,
# small starting point; "$@" keeps the arguments intact. The shell exits with 128+N when its child dies of signal N.
_FRESH_RUSAGE = ["/bin/sh", "-c", '"$@"; exit $?', "edgekit-measure"]


def _crash_signal(returncode: int) -> int | None:
    if returncode < 0:
        return -returncode
    if returncode > 128 and returncode - 128 in {s.value for s in signal.Signals}:
        return returncode - 128
    return None


def _run(cmd: list[str], file: Path, timeout: float) -> dict[str, Any]:
    """Run the measuring subprocess; its JSON on success, else raise _Failure with a one-line message."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
    wrapped = _FRESH_RUSAGE + cmd if Path(_FRESH_RUSAGE[0]).exists() else cmd
    proc = subprocess.Popen(
        wrapped, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env,
        start_new_session=True,  # its own process group: a timeout or Ctrl-C kills the shell and the runtime
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        message = f"{file}: timed out after {timeout:g} s (the runtime hung or is too slow; raise the timeout)"
        raise _Failure(message) from None
    except BaseException:
        kill_group(proc)
        raise
    data = parse_json_output(stdout)
    sig = _crash_signal(proc.returncode)
    if sig is not None and data is not None and data.get("status") == "ok":
        # Died during teardown, after printing a complete result: keep the result, say what happened.
        data["exit_note"] = f"the measuring process died with {_signal_name(-sig)} after printing its result"
        return data
    if sig is not None:
        name = _signal_name(-sig)
        raise _Failure(f"{file}: the runtime crashed with {name} (signal {sig}) while loading or running it")
    if data is None:
        detail = _last_line(stderr) or "no output"
        raise _Failure(f"{file}: measurement exited with code {proc.returncode} and no result: {detail}")
    if data.get("error_type") == "RunnerUsageError":  # an option this model cannot take (--batch 4): exit 2
        raise UsageError(f"{file}: {' '.join(str(data.get('error')).split())}")
    if data.get("status", "ok") != "ok" or proc.returncode != 0:
        detail = data.get("error") or _last_line(stderr) or f"exit code {proc.returncode}"
        raise _Failure(f"{file}: {' '.join(str(detail).split())}")
    return data


# ---------------------------------------------------------------------------------------------------------- results
def _runtime(data: dict[str, Any], threads: int) -> dict[str, Any]:
    """The runtime block, whether the runner printed a dict or only a name."""
    runtime = data.get("runtime")
    if isinstance(runtime, str):
        runtime = {"name": runtime, "version": data.get("runtime_version") or data.get("version")}
    runtime = dict(runtime or {})
    runtime.setdefault("threads", threads)
    runtime.setdefault("device", "CPU")
    return runtime


def _runner_layers(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Top-10 layers from whatever per-op list the runner printed (layers or ops)."""
    raw = data.get("layers") or data.get("ops") or []
    rows = []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        ms = item.get("time_ms", item.get("avg_ms", item.get("ms")))
        if not isinstance(ms, (int, float)):
            continue
        name = str(item.get("name", item.get("node", "")))
        extra = {k: v for k, v in item.items() if k not in ("index", "name", "op", "time_ms", "percent")}
        rows.append({"name": name, "op": str(item.get("op", item.get("type", ""))), "time_ms": float(ms), **extra})
    total = sum(r["time_ms"] for r in rows)
    for row in rows:
        row["percent"] = round(100 * row["time_ms"] / total, 3) if total else 0.0
    return sorted(rows, key=lambda r: r["time_ms"], reverse=True)[:10]


def _artifact(file: Path, files: list[Path], manifest: dict[str, Any] | None, source: Path) -> dict[str, Any]:
    entries = [{"path": str(p), "bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in files]
    artifact = {"path": str(file), "sha256": entries[0]["sha256"], "files": entries}
    if manifest is not None:
        artifact["manifest"] = str(file.parent / "manifest.json")
    if source != file:
        artifact["requested"] = str(source)
    return artifact


def _versions(runtime: dict[str, Any]) -> dict[str, Any]:
    import platform

    versions = {"edgekit": __version__, "python": platform.python_version()}
    if runtime.get("name"):
        versions[str(runtime["name"])] = runtime.get("version")
    return versions


def _check_args(threads: int | None, runs: int, min_seconds: float, warmup: int, timeout: float) -> None:
    if threads is not None and threads < 1:
        raise UsageError(f"threads must be at least 1, not {threads}")
    if runs < 1:
        raise UsageError(f"runs must be at least 1, not {runs}")
    if warmup < 0 or min_seconds < 0:
        raise UsageError("warmup and min_seconds cannot be negative")
    if timeout <= 0:
        raise UsageError(f"timeout must be positive, not {timeout}")


def reject_unreadable(file: Path) -> None:
    """Raise the UsageError prediction raises for this file (edgekit's reader of its format rejects it), if any.

    Called once the runtime failed on the file: a file that is not a model of its format is a usage error whether it
    is predicted or measured, while a readable model that the runtime cannot run stays a measurement failure.
    """
    from edgekit.analyze.graph import load_graph

    try:
        load_graph(file)
    except UsageError:
        raise
    except EdgekitError:  # the reader's extra is missing, or it failed otherwise: the runtime's failure stands
        return


def measure_artifact(
    path: Path,
    threads: int | None = 1,
    runs: int = 50,
    min_seconds: float = 1.0,
    warmup: int = 5,
    timeout: float = 600,
    profile_layers: bool = True,
    *,
    raise_errors: bool = True,
    timing: TimingOptions | None = None,
) -> dict[str, Any]:
    """Measure one artifact on this host in a fresh subprocess; a profile result dict (source measured, target host).
    timing: --device, --mode, --batch, ... (edgekit.measure.options); threads None: the runner's default.

    On a crash, hang or runtime error: raises MeasureError (an EdgekitError; .result holds the failed result, to save)
    or, with raise_errors=False, returns that failed result.
    """
    _check_args(threads, runs, min_seconds, warmup, timeout)
    source = Path(path)
    file, fmt, manifest = find_model_file(source)
    timing = timing or TimingOptions()
    _host_format(file, fmt, timing)  # a UsageError for formats that cannot run here
    model, precision = artifact_names(file, fmt, manifest)
    files = model_files(file, fmt)

    settings = {"runs": runs, "min_seconds": min_seconds, "warmup": warmup, "timeout": timeout, "runner": RUNNER}
    settings.update(timing.settings())
    try:
        with tempfile.TemporaryDirectory(prefix="edgekit-inputs-") as samples:
            extra = timing.runner_args(_prepared_inputs(timing, file, manifest, Path(samples)))
            # One run: the runner reads peak memory before its per-layer pass, which loads a second model copy.
            cmd = runner_command(file, threads, runs, warmup, min_seconds, profile_layers, precision, extra)
            data = _run(cmd, file, timeout)
    except _Failure as exc:
        reject_unreadable(file)  # a damaged file is the user's input, as when predicted: exit 2, not a failed run
        detected = detected_precision(file, fmt)
        result = base_result("host", model, fmt, precision or detected or "unknown", "measured")
        result.update(status="failed", error=str(exc), size_bytes=sum(p.stat().st_size for p in files))
        result.update(artifact=_artifact(file, files, manifest, source), settings=settings)
        device = timing.delegate or timing.device or "CPU"
        result["runtime"] = {"name": host_runtime(file), "version": None, "threads": threads, "device": device}
        result.update(mode=timing.mode, batch=timing.batch)  # its configuration, as a success would record it
        if raise_errors:
            raise MeasureError(str(exc), result) from None
        return result

    detected = data.get("precision_detected") or detected_precision(file, fmt)
    result = base_result("host", model, fmt, precision or detected or "unknown", "measured")
    runtime = _runtime(data, threads or 1)
    result.update(
        latency_ms=data.get("latency_ms") or {},
        size_bytes=sum(p.stat().st_size for p in files),
        peak_memory_bytes=data.get("peak_memory_bytes"),
        runtime=runtime,
        artifact=_artifact(file, files, manifest, source),
        load_ms=data.get("load_ms"),
        first_inference_ms=data.get("first_inference_ms"),
        throughput_ips=data.get("throughput_ips"),
        power_w=data.get("power_w"),
        energy_mj=data.get("energy_mj"),
    )
    result.update(_derived_fields(data, profile_layers))
    result.update(timing_fields(data))
    result["precision_detected"] = detected
    result["versions"] = _versions(runtime)
    result["settings"] = settings
    # the runner's own readings too: CPUs it ran on, thermal state before/after, power and its method
    keys = (
        "timed_seconds",
        "baseline_memory_bytes",
        "inputs",
        "warmup",
        "output_sha256",
        "exit_note",
        "cpus",
        "thermal",
        "power",
    )
    for key in keys:
        if key in data:
            result[key] = data[key]
    return result


def _prepared_inputs(timing: TimingOptions, file: Path, manifest: dict[str, Any] | None, dest: Path) -> str | None:
    """--inputs DIR: its images preprocessed into dest (one .npy each) for the runner; None without --inputs."""
    if timing.inputs is None:
        return None
    from edgekit.measure.inputs import prepare_samples

    prepare_samples(timing.inputs, manifest, file, dest)
    return str(dest)


# What the device runner says of its own settings, kept at the top of a result: the mode and batch it ran, read and
# compile time apart, OpenVINO's compile cache, the measured throughput and what stopped the timed loop.
TIMING_KEYS = ("mode", "batch", "read_ms", "compile_ms", "compile_cache", "throughput", "throughput_fps", "stopped_by",
               "input_source", "input_feeds")  # fmt: skip


def timing_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The runner's timing keys for a profile result; throughput mode's measured figure is its throughput_ips too."""
    out = {key: data[key] for key in TIMING_KEYS if key in data}
    if data.get("mode") == "throughput" and data.get("throughput_fps") is not None:
        out["throughput_ips"] = data["throughput_fps"]
        out["throughput_note"] = f"measured: {(data.get('throughput') or {}).get('method')}"
    return out


def _host_format(file: Path, fmt: str, timing: TimingOptions):
    """The formats-table row of a file measured here; a UsageError when its format cannot run on the host (an Edge
    TPU artifact runs here with --delegate edgetpu, where libedgetpu and a Coral are)."""
    from edgekit.exporting.formats import formats

    row = formats().get(fmt)
    if row is None:
        raise UsageError(f"{file}: cannot measure format {fmt!r} on the host")
    if row.host_note and not timing.delegate:
        raise UsageError(f"{file}: {row.host_note}")
    return row


def _derived_fields(data: dict[str, Any], profile_layers: bool) -> dict[str, Any]:
    """Layers, notes, throughput and RAPL energy from the device runner's JSON."""
    from edgekit.measure.energy import find_zones

    out: dict[str, Any] = {"layers": _runner_layers(data)}
    out["layers_note"] = data.get("layers_note") if out["layers"] else None
    out["layers_note"] = out["layers_note"] or data.get("layers_error") or "the runner reported no layer times"
    if not profile_layers:
        out["layers_note"] = "layer profiling not requested"
    latency = data.get("latency_ms") or {}
    if data.get("throughput_ips") is None and isinstance(latency.get("mean"), (int, float)) and latency["mean"] > 0:
        out["throughput_ips"] = 1000.0 / latency["mean"]  # sequential batch-1 loop
        out["throughput_note"] = "1000 / mean latency of the timed runs (the runner reports no throughput)"
    power = data.get("power") or {}
    if power.get("status") == "ok" and power.get("method") == "intel-rapl" and power.get("active_w") is not None:
        out["power_w"] = power["active_w"]
        out["energy_mj"] = power.get("energy_mj_per_inference")
        out["energy_note"] = (
            f"RAPL package energy over the timed loop, read by the device runner ({power.get('scope')}; includes "
            "every process on the package); energy_mj is per inference"
        )
    else:
        zones, why = find_zones()
        out["power_w"] = out["energy_mj"] = None
        reason = power.get("reason") or "failed"
        out["energy_note"] = why or f"RAPL readable, but the {RUNNER} read no energy ({reason})"
    return out
