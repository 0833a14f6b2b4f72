"""Running an artifact in the emulated userland: the guest run, its instruction count, and the check against x86.

`profile_emulated` runs ``python -m edgekit.device run`` (a staged copy of edgekit/device only, proving it runs alone)
under ``qemu-aarch64-static -L PREFIX ROOTFS/usr/bin/python3`` with QEMU_CPU set (PREFIX: the rootfs plus a cpuinfo for
that CPU), and natively with the host python on the same inputs, then compares the outputs. Emulated time says nothing
about a Pi: latency_ms is null. Where Debian's dynamic qemu-aarch64 (qemu-user) and a C compiler exist, a small TCG
plugin (insn_count.c, shipped beside this file) counts the guest instructions per inference instead (deterministic).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from edgekit.emulate.qemu import (
    CPUINFO,
    find_qemu,
    guest_command,
    guest_env,
    guest_prefix,
    last_line,
    qemu_version,
    qemu_version_of,
    staged_device_package,
)
from edgekit.emulate.userland import GUEST_FORMATS, RUNTIME_REQUIREMENTS, SITE_PACKAGES, find_userland, read_stamp
from edgekit.errors import EdgekitError, UsageError, did_you_mean

EMULATED_SUFFIXES = (".tflite", ".onnx")

# ---------------------------------------------------------------- comparing outputs


def load_arrays(path: Path) -> list[Any]:
    """Outputs saved by the device runner: .npy (one) or .npz (arr_0..)."""
    import numpy as np

    loaded = np.load(path, allow_pickle=False)
    if isinstance(loaded, np.ndarray):
        return [loaded]
    with loaded:
        return [loaded[f"arr_{i}"] for i in range(len(loaded.files))]


def compare_outputs(
    reference: list[Any],
    candidate: list[Any],
    rtol: float = 1e-5,
    atol: float = 1e-6,
    max_steps: int = 1,
    steps: list[float | None] | None = None,
) -> dict[str, Any]:
    """Integer outputs: equal or within `max_steps` quantization steps; float: allclose(rtol, atol), or within
    `max_steps` of steps[i] where a float output is a dequantized int8 one (a QDQ .onnx's last DequantizeLinear)."""
    import numpy as np

    result: dict[str, Any] = {"match": True, "max_abs_diff": 0.0, "max_quant_steps": None, "max_rel_diff": None}
    result.update(rtol=rtol, atol=atol, max_steps=max_steps)
    if len(reference) != len(candidate):
        return {**result, "match": False, "reason": f"{len(candidate)} outputs, expected {len(reference)}"}
    for i, (ref, cand) in enumerate(zip(reference, candidate, strict=True)):
        ref, cand = np.asarray(ref), np.asarray(cand)
        step = steps[i] if steps and i < len(steps) else None
        if ref.shape != cand.shape or ref.dtype != cand.dtype:
            reason = f"output {cand.dtype}{list(cand.shape)} differs from reference {ref.dtype}{list(ref.shape)}"
            return {**result, "match": False, "reason": reason}
        if ref.dtype.kind in "iub":
            diff = np.abs(ref.astype(np.int64) - cand.astype(np.int64))
            steps = int(diff.max()) if diff.size else 0
            result["max_quant_steps"] = max(result["max_quant_steps"] or 0, steps)
            result["max_abs_diff"] = max(result["max_abs_diff"], float(steps))
            result["match"] = result["match"] and steps <= max_steps
        else:
            a, b = ref.astype(np.float64), cand.astype(np.float64)
            diff = np.abs(a - b)
            diff = np.where(np.isnan(a) & np.isnan(b), 0.0, diff)
            max_abs = float(np.nanmax(diff)) if diff.size else 0.0
            if np.isnan(diff).any():
                max_abs = float("inf")
            rel = float(np.max(diff / np.maximum(np.abs(a), 1e-30))) if diff.size else 0.0
            result["max_abs_diff"] = max(result["max_abs_diff"], max_abs)
            result["max_rel_diff"] = max(result["max_rel_diff"] or 0.0, rel)
            close = bool(np.allclose(b, a, rtol=rtol, atol=atol, equal_nan=True))
            if step:  # x86 and ARM int8 kernels may round one step apart: judged in steps, like integer outputs
                in_steps = round(max_abs / step, 3)
                result["max_quant_steps"] = max(result["max_quant_steps"] or 0, in_steps)
                close = in_steps <= max_steps
            result["match"] = result["match"] and close
    return result


def summarize(arrays: list[Any]) -> list[dict[str, Any]]:
    """Per output: sha256 of its bytes, shape, dtype, min / max / mean and argmax (what a mismatch is read from)."""
    import hashlib

    import numpy as np

    out = []
    for a in arrays:
        a = np.ascontiguousarray(a)
        f = a.astype(np.float64)
        out.append(
            {
                "sha256": hashlib.sha256(a.tobytes()).hexdigest(),
                "shape": list(a.shape),
                "dtype": str(a.dtype),
                "min": float(f.min()) if f.size else None,
                "max": float(f.max()) if f.size else None,
                "mean": float(f.mean()) if f.size else None,
                "argmax": int(np.argmax(f.reshape(-1))) if f.size else None,
            }
        )
    return out


def worst_difference(reference: list[Any], candidate: list[Any]) -> dict[str, Any]:
    """Where the largest difference is: output number, flat index, and both values."""
    import numpy as np

    best = {"output": 0, "index": None, "diff": -1.0, "reference": None, "candidate": None}
    for i, (r, c) in enumerate(zip(reference, candidate, strict=False)):
        r, c = np.asarray(r, np.float64).reshape(-1), np.asarray(c, np.float64).reshape(-1)
        if r.shape != c.shape or not r.size:
            continue
        j = int(np.argmax(np.abs(r - c)))
        if abs(r[j] - c[j]) > best["diff"]:
            best = {"output": i, "index": j, "diff": float(abs(r[j] - c[j])), "reference": r[j], "candidate": c[j]}
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in best.items()}


# ---------------------------------------------------------------- profiling


def _run_device_runner(
    cmd: list[str], env: dict[str, str], cwd: Path, timeout: float
) -> tuple[dict | None, str, float]:
    """Run the device runner; return (its JSON object or None, one-line error or '', wall ms)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, start_new_session=True
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s", (time.perf_counter() - start) * 1000.0
    wall_ms = (time.perf_counter() - start) * 1000.0
    data = None
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if lines:
        with contextlib.suppress(ValueError):
            data = json.loads(lines[-1])
    if proc.returncode == 0 and isinstance(data, dict) and data.get("status") == "ok":
        return data, "", wall_ms
    if isinstance(data, dict) and data.get("error"):
        return data, str(data["error"]), wall_ms
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        return None, f"killed by {name} ({last_line(proc.stderr) or 'no message'})", wall_ms
    return None, f"exit {proc.returncode}: {last_line(proc.stderr) or 'no output'}", wall_ms


def resolve_artifact(artifact: Path) -> tuple[Path, dict[str, Any] | None]:
    """(model path, manifest or None) from a .tflite or .onnx file, or an artifact folder holding one."""
    artifact = Path(artifact)
    model = artifact
    if artifact.is_dir():
        found = [artifact / name for name in ("model.tflite", "model.onnx") if (artifact / name).is_file()]
        model = found[0] if found else artifact / "model.tflite"
    if not model.is_file():
        raise UsageError(f"no TFLite or ONNX model at {artifact}")
    if model.suffix not in EMULATED_SUFFIXES:
        raise UsageError(f"emulation runs .tflite and .onnx artifacts only, not {model.name}")
    if model.name.endswith("_edgetpu.tflite") or model.name.endswith(".edgetpu.tflite"):
        raise UsageError(f"{model.name} needs an Edge TPU; emulate the CPU .tflite instead")
    manifest = None
    with contextlib.suppress(OSError, ValueError):
        manifest = json.loads((model.parent / "manifest.json").read_text())
    return model, manifest if isinstance(manifest, dict) else None


resolve_tflite = resolve_artifact  # the name before .onnx ran too


def guest_runner_runtime(model: Path, userland: str) -> str:
    """The device runner's --runtime for this file in this userland; UsageError when the userland lacks it."""
    runs = GUEST_FORMATS[userland]
    if model.suffix not in runs:
        others = [name for name, formats in GUEST_FORMATS.items() if model.suffix in formats]
        raise UsageError(
            f"the {userland} guest userland runs {'/'.join(runs)} files, not {model.name}: "
            f"use --guest-runtime {others[0]}"
        )
    return runs[model.suffix]


def onnx_output_steps(model: Path) -> list[float | None]:
    """Per graph output of an .onnx: the scale of the DequantizeLinear that produces it (its quantization step, the
    largest for per-axis scales), or None for a float output."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model), load_external_data=False).graph
    producer = {name: node for node in graph.node for name in node.output}
    consts = {t.name: t for t in graph.initializer}
    steps: list[float | None] = []
    for out in graph.output:
        node = producer.get(out.name)
        scale = consts.get(node.input[1]) if node is not None and node.op_type == "DequantizeLinear" else None
        steps.append(float(np.max(numpy_helper.to_array(scale))) if scale is not None else None)
    return steps


def _describe(model: Path, manifest: dict[str, Any] | None) -> dict[str, Any]:
    """model / format / precision from the manifest, else the edgekit-out/<model>/<format>-<precision> layout."""
    if manifest:
        return {k: manifest.get(k) for k in ("model", "format", "precision")}
    fmt, _, precision = model.parent.name.partition("@")[0].partition("-")
    wanted = model.suffix.lstrip(".")
    if fmt == wanted and precision:
        return {"model": model.parent.parent.name, "format": wanted, "precision": precision}
    if wanted == "onnx":
        from edgekit.analyze import load_graph  # QDQ nodes: int8

        return {"model": model.stem, "format": "onnx", "precision": load_graph(model).precision}
    from edgekit.measure.host import tflite_precision  # reads the flatbuffer: fp32 / fp16 / dynamic / int8

    return {"model": model.stem, "format": "tflite", "precision": tflite_precision(model) or "unknown"}


def profile_emulated(
    artifact: Path,
    target_id: str,
    cpu: str,
    runtime: str = "litert",
    rootfs: Path | None = None,
    timeout: float = 900,
    *,
    threads: int = 1,
    runs: int = 3,
    warmup: int = 1,
    seed: int = 0,
    count_instructions: bool = True,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Run a .tflite (LiteRT) or .onnx (ONNX Runtime) artifact under QEMU (QEMU_CPU=cpu) and natively on the same
    inputs; compare the outputs.

    Returns a profile result dict: source "emulated", latency_ms null, match / max_abs_diff / max_quant_steps /
    max_rel_diff, emulated_wall_ms (the guest process' wall time: says nothing about the device) and, where the
    dynamic qemu-aarch64 and a C compiler exist, guest_instructions (executed aarch64 instructions per inference).
    status "failed" when a run fails; a mismatch is status "ok" with match false.
    work_dir keeps inputs.npy, native.npy and emulated.npy.
    """
    if runtime not in RUNTIME_REQUIREMENTS:
        raise did_you_mean("guest runtime", runtime, RUNTIME_REQUIREMENTS)
    if cpu not in CPUINFO:
        raise did_you_mean("emulated CPU", cpu, CPUINFO)
    model, manifest = resolve_artifact(artifact)
    runner_runtime = guest_runner_runtime(model, runtime)
    rootfs = find_userland(rootfs, runtime)
    qemu = find_qemu("aarch64")
    deadline = time.monotonic() + timeout
    result = _empty_result(target_id, cpu, runner_runtime, threads, model, rootfs, _describe(model, manifest))

    with contextlib.ExitStack() as stack:
        staged = stack.enter_context(staged_device_package())
        work = Path(work_dir) if work_dir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="emu-")))
        work.mkdir(parents=True, exist_ok=True)
        common = ["run", str(model.resolve()), "--json", "--threads", str(threads)]

        # The native run makes the inputs (seeded) and the reference outputs.
        native_cmd = [sys.executable, "-m", "edgekit.device", *common, "--runs", "1", "--warmup", "0"]
        native_cmd += ["--seed", str(seed), "--save-inputs", str(work / "inputs.npy")]
        native_cmd += ["--save-outputs", str(work / "native.npy")]
        native_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        native_env["PYTHONPATH"] = str(staged)
        native, error, _ = _run_device_runner(native_cmd, native_env, staged, max(1.0, deadline - time.monotonic()))
        if error:
            return {**result, "status": "failed", "error": f"native reference run failed: {error}"}
        result["artifact"]["sha256"] = native["model"]["sha256"]

        counter, why_not = _insn_counter(work) if count_instructions else (None, "not requested")
        prefix = stack.enter_context(guest_prefix(rootfs, cpu))
        env = guest_env(cpu, [staged, rootfs / SITE_PACKAGES])
        args = ["-m", "edgekit.device", *common, "--runtime", runner_runtime, "--runs", str(runs)]
        args += ["--warmup", str(warmup)]
        args += ["--inputs", str(work / "inputs.npy"), "--save-outputs", str(work / "emulated.npy")]

        def run_guest(count: bool) -> tuple[dict | None, str, float, list[str]]:
            # Plugins need the dynamic qemu-aarch64 (the static build cannot load them).
            plugin = [str(counter), f"outfile={work / 'insn.txt'}"] if count else None
            cmd = guest_command(rootfs, prefix, shutil.which("qemu-aarch64") if count else qemu, plugin)
            cmd += [*args, "--mark-invokes"] if count else args
            return (*_run_device_runner(cmd, env, staged, max(1.0, deadline - time.monotonic())), cmd)

        emulated, error, wall_ms, cmd = run_guest(counter is not None)
        if error and counter is not None:  # e.g. a QEMU that refuses the plugin: still check the outputs
            why_not = f"the counting run failed ({error})"
            counter = None
            emulated, error, wall_ms, cmd = run_guest(False)
        result["emulated_wall_ms"] = round(wall_ms, 1)
        if error:
            return {**result, "status": "failed", "error": f"emulated run failed: {error}"}
        steps = onnx_output_steps(model) if model.suffix == ".onnx" else None
        native_out, emulated_out = load_arrays(work / "native.npy"), load_arrays(work / "emulated.npy")
        comparison = compare_outputs(native_out, emulated_out, steps=steps)
        if counter:
            counts = _read_counts(work / "insn.txt", runs)
            if counts:
                result.update(counts)
                result["emulation"]["qemu"] = qemu_version_of(cmd[0])
            else:
                why_not = "the plugin wrote no marker counts"
        result["guest_instructions_note"] = (
            INSN_NOTE if result.get("guest_instructions") is not None else f"not counted: {why_not}"
        )

    result["runtime"]["version"] = emulated["runtime"]["version"]
    result.update({k: comparison[k] for k in ("match", "max_abs_diff", "max_quant_steps", "max_rel_diff")})
    result["comparison"] = {
        **{k: comparison[k] for k in ("rtol", "atol", "max_steps")},
        "reason": comparison.get("reason"),
        "reference": {
            "runtime": native["runtime"],
            "machine": native["machine"],
            "output_sha256": native["output_sha256"],
        },
        "input": emulated["input"],
        "output": emulated["output"],
        "seed": seed,
    }
    result["output_sha256"] = emulated["output_sha256"]
    result["outputs"] = {"host": summarize(native_out), "emulated": summarize(emulated_out)}
    if not comparison["match"]:
        result["worst"] = worst_difference(native_out, emulated_out)
    result["emulated_load_ms"] = emulated["load_ms"]
    result["emulated_inference_ms"] = emulated["latency_ms"]["median"]
    result["emulated_peak_memory_bytes"] = emulated["peak_memory_bytes"]  # QEMU's RSS: guest memory plus the emulator's
    result["guest"] = {"machine": emulated["machine"], "python": emulated["python"], "numpy": emulated["numpy"]}
    return result


def _empty_result(
    target_id: str, cpu: str, runtime: str, threads: int, model: Path, rootfs: Path, desc: dict[str, Any]
) -> dict[str, Any]:
    """The profile result keys (results.base_result), unknowns null (never invented), plus the emulation's own."""
    from edgekit.results.record import base_result

    result = base_result(target_id, desc["model"], desc["format"], desc["precision"], "emulated")
    result.update(
        {
            "size_bytes": model.stat().st_size,
            "runtime": {"name": runtime, "version": None, "threads": threads, "device": f"qemu-aarch64 {cpu}"},
            "layers_note": "not profiled under emulation: emulated time says nothing about the device",
            "artifact": {"path": str(model), "sha256": None},
            "host": _host(),
            "match": None,
            "max_abs_diff": None,
            "max_quant_steps": None,
            "max_rel_diff": None,
            "emulated_wall_ms": None,
            "guest_instructions": None,
            "guest_instructions_note": None,
            "emulation": {
                "qemu": qemu_version("aarch64"),
                "cpu": cpu,
                "rootfs": str(rootfs),
                "stamp": read_stamp(rootfs.parent),
            },
        }
    )
    return result


# ---------------------------------------------------------------- guest instruction counts

INSN_NOTE = (
    "executed aarch64 instructions per invoke() (median of the timed runs, counted by a QEMU TCG plugin between "
    "marker syscalls, the markers' own cost subtracted); deterministic for one thread, unlike emulated time"
)

PLUGIN_SOURCE = "insn_count.c"  # package data: the QEMU TCG plugin counting guest instructions


def build_insn_plugin(directory: Path) -> Path:
    """Compile the instruction-counting plugin into directory (~0.2 s); EdgekitError when it cannot."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if not shutil.which("qemu-aarch64"):
        raise EdgekitError("counting guest instructions needs the dynamic qemu-aarch64: apt-get install qemu-user")
    if not compiler:
        raise EdgekitError("counting guest instructions needs a C compiler: apt-get install gcc")
    source = Path(directory) / PLUGIN_SOURCE
    library = Path(directory) / "libedgekit_insn.so"
    source.write_text(resources.files("edgekit.emulate").joinpath(PLUGIN_SOURCE).read_text())
    cmd = [compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if "error" in line] or [last_line(proc.stderr)]
        raise EdgekitError(f"compiling the instruction-counting plugin failed: {errors[0].strip()[:300]}")
    return library


def _insn_counter(directory: Path) -> tuple[Path | None, str]:
    try:
        return build_insn_plugin(directory), ""
    except (EdgekitError, OSError, subprocess.SubprocessError) as exc:
        return None, str(getattr(exc, "message", exc))


def _read_counts(path: Path, runs: int) -> dict[str, Any] | None:
    """guest_instructions (median per invoke, minus the empty marker pair) and the spread, from the plugin's file."""
    try:
        values = [int(line) for line in path.read_text().split()]
    except (OSError, ValueError):
        return None
    total, empty, per_invoke = values[0] if values else None, values[1:2], values[2:]
    if not empty or len(per_invoke) < runs:
        return None
    net = sorted(max(0, v - empty[0]) for v in per_invoke)
    return {
        "guest_instructions": net[len(net) // 2],
        "guest_instructions_spread": {"min": net[0], "max": net[-1], "n": len(net)},
        "guest_instructions_process": total,
    }


def _host() -> dict[str, Any]:
    from edgekit.device.runner import host_info

    info = host_info()
    return {k: info[k] for k in ("hostname", "machine", "cpu", "os")}
