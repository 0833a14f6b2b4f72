"""Fidelity as the board computes it: export's held-out images run through an artifact in the emulated userland as
the target's CPU (QEMU_CPU from its [emulate] table), beside the same artifact on this host.

Only where the userland exists and is current (export never builds it: `edgekit emulate setup` does) and the target
has [emulate]; a few images only (each is a full inference under TCG). The board's outputs give cosine, top-1
agreement and labelled accuracy against the float model, and a difference from this host's of more than one
quantization step (the output's scale; a small tolerance for float outputs) is the export's failure with its cause.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from edgekit.emulate.guest import compare_outputs, onnx_output_steps
from edgekit.emulate.qemu import find_qemu, guest_command, guest_env, guest_prefix, last_line, staged_device_package
from edgekit.emulate.userland import GUEST_FORMATS, SITE_PACKAGES, find_userland
from edgekit.errors import EdgekitError

BOARD_IMAGES = 8  # held-out images run under QEMU per target (bounded: seconds each for a small model)
GUEST_RUNTIME = "litert"  # the userland that runs both .tflite (LiteRT) and .onnx (ONNX Runtime)
FLOAT_RTOL, FLOAT_ATOL = 1e-4, 1e-4  # float outputs: the kernels of two CPUs may sum in another order

# Runs in the guest with only the staged edgekit/device on its path: the device runner's own backends.
GUEST_SCRIPT = """
import sys
import numpy as np
from edgekit.device import open_model
path, runtime, src, dst = sys.argv[1:5]
model = open_model(path, runtime=runtime, threads=1)
x = np.load(src)
np.save(dst, np.concatenate([np.asarray(model.run([x[i : i + 1]])[0]) for i in range(len(x))]))
"""


def unavailable(target) -> str | None:
    """Why the board's fidelity cannot be measured here (None: it can)."""
    if target.emulate is None:
        return f"{target.id} has no [emulate] CPU in its target file"
    try:
        find_userland(None, GUEST_RUNTIME)
        find_qemu("aarch64")
    except EdgekitError as exc:
        return exc.message
    return None


def _to_model_dtype(images, spec: dict[str, Any]):
    """Float images as the model takes them (int8 / uint8 inputs quantized with the input's scale and zero point)."""
    import numpy as np

    dtype = np.dtype(spec["dtype"])
    if dtype.kind in "iu":
        q = spec.get("quantization") or {}
        info = np.iinfo(dtype)
        images = np.clip(np.round(images / q["scale"] + q["zero_point"]), info.min, info.max)
    return np.ascontiguousarray(images.astype(dtype))


def _to_float(outputs, spec: dict[str, Any]):
    import numpy as np

    if np.dtype(spec["dtype"]).kind in "iu":
        q = spec.get("quantization") or {}
        return (outputs.astype(np.float32) - q["zero_point"]) * q["scale"]
    return outputs.astype(np.float32)


def run_in_guest(model: Path, runtime: str, inputs, cpu: str, timeout: float = 600):
    """The model's raw outputs for each input, computed in the emulated userland as `cpu`."""
    import numpy as np

    rootfs = find_userland(None, GUEST_RUNTIME)
    with (
        staged_device_package() as staged,
        guest_prefix(rootfs, cpu) as prefix,
        tempfile.TemporaryDirectory(prefix="edgekit-board-") as tmp,
    ):
        src, dst = Path(tmp) / "inputs.npy", Path(tmp) / "outputs.npy"
        np.save(src, inputs)
        cmd = [*guest_command(rootfs, prefix), "-c", GUEST_SCRIPT, str(model.resolve()), runtime, str(src), str(dst)]
        env = guest_env(cpu, [staged, rootfs / SITE_PACKAGES])
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=staged, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise EdgekitError(f"the emulated {cpu} run timed out after {timeout:.0f} s") from exc
        if proc.returncode != 0 or not dst.is_file():
            raise EdgekitError(f"the emulated {cpu} run failed: {last_line(proc.stderr) or proc.returncode}")
        return np.load(dst)


def board_fidelity(model: Path, target, images, reference, labels) -> dict[str, Any]:
    """The board's fidelity of one artifact: its outputs under QEMU as the target's CPU against the float model's,
    and against this host's outputs of the same artifact (match within one quantization step)."""
    import numpy as np

    from edgekit.device import open_model
    from edgekit.exporting.fidelity import fidelity_metrics

    runtime = GUEST_FORMATS[GUEST_RUNTIME][model.suffix]
    native = open_model(model, runtime=runtime, threads=1)
    in_spec, out_spec = native.input_specs()[0], native.output_specs()[0]
    raw = _to_model_dtype(images, in_spec)
    host = np.concatenate([np.asarray(native.run([raw[i : i + 1]])[0]) for i in range(len(raw))])
    board = run_in_guest(model, runtime, raw, target.emulate.qemu_cpu)
    steps = onnx_output_steps(model) if model.suffix == ".onnx" else None
    if steps is None and np.dtype(out_spec["dtype"]).kind == "f" and (out_spec.get("quantization") or {}).get("scale"):
        steps = [float(out_spec["quantization"]["scale"])]
    same = compare_outputs([host], [board], rtol=FLOAT_RTOL, atol=FLOAT_ATOL, steps=steps)
    metrics = fidelity_metrics(reference, _to_float(board, out_spec), labels)
    host_metrics = fidelity_metrics(reference, _to_float(host, out_spec), labels)
    result = {
        "target": target.id,
        "cpu": target.emulate.qemu_cpu,
        "source": "emulated",
        "images": len(raw),
        "cosine": metrics["cosine"],
        "top1_agreement": metrics["top1_agreement"],
        "accuracy": metrics.get("accuracy"),
        "reference_accuracy": metrics.get("reference_accuracy"),
        "host": {k: host_metrics.get(k) for k in ("cosine", "top1_agreement", "accuracy")},
        "max_abs_diff_vs_host": same["max_abs_diff"],
        "max_quant_steps_vs_host": same["max_quant_steps"],
        "match": bool(same["match"]),
    }
    if not same["match"]:
        diff = np.abs(host.astype(np.float64) - board.astype(np.float64))
        result["worst"] = {"image": int(np.argmax(diff.max(axis=tuple(range(1, diff.ndim))))), "index": int(
            np.unravel_index(int(np.argmax(diff)), diff.shape)[-1]
        )}  # fmt: skip
    return result


def fidelity_on_targets(model: Path, fmt: str, target_ids, shared) -> tuple[dict[str, Any], str | None]:
    """({target id: board fidelity or why it was not measured}, the one-line cause of a mismatch or None) for the
    emulatable targets an artifact serves."""
    from edgekit.hardware.targets import get_target

    if model.suffix not in GUEST_FORMATS[GUEST_RUNTIME] or model.name.endswith("_edgetpu.tflite"):
        return {}, None
    n = min(BOARD_IMAGES, len(shared.holdout.images))
    images, reference = shared.holdout.images[:n], shared.reference[:n]
    labels = shared.holdout.labels[:n] if shared.holdout.labels is not None else None
    out: dict[str, Any] = {}
    cause = None
    for tid in target_ids:
        target = get_target(tid)
        if target.emulate is None:
            continue  # the host, an accelerator: nothing to emulate
        why_not = unavailable(target)
        if why_not:
            out[tid] = {"target": tid, "measured": False, "why": why_not}
            continue
        try:
            out[tid] = board_fidelity(Path(model), target, images, reference, labels)
        except EdgekitError as exc:
            out[tid] = {"target": tid, "measured": False, "why": exc.message}
            cause = cause or f"the emulated {tid} could not run the {fmt} artifact: {exc.message}"
            continue
        got = out[tid]
        cause = cause or board_cause(got, fmt, tid, target, shared.opts)
    return out, cause


def board_cause(got: dict[str, Any], fmt: str, tid: str, target, opts) -> str | None:
    """Why an artifact fails on the board, or None. Its fidelity against the float model there must pass the bar
    the host's passes; outputs that differ from this host's fail only under a runtime that computes the same file
    alike on every CPU (LiteRT): elsewhere the difference is recorded with its cause, and the board's own fidelity
    is what tells whether the artifact is fit for it."""
    from edgekit.device.runtimes import isa_note
    from edgekit.exporting.fidelity import gate
    from edgekit.exporting.formats import get_format

    measured = {k: got.get(k) for k in ("cosine", "accuracy", "reference_accuracy") if got.get(k) is not None}
    below = gate(measured, opts.min_cosine, opts.max_accuracy_drop)
    if below:
        return f"on the emulated {tid} ({got['cpu']}) the {fmt} artifact's {below}"
    if got["match"]:
        return None
    note = isa_note(get_format(fmt).timing)
    steps = got["max_quant_steps_vs_host"]
    size = f"{steps} quantization steps" if steps is not None else f"{got['max_abs_diff_vs_host']:.3g}"
    where = f"image {got['worst']['image']}, output index {got['worst']['index']}"
    if note:
        got["differs_because"] = note
        return None
    return (
        f"on the emulated {tid} ({got['cpu']}) the {fmt} outputs differ from this host's by {size} ({where}), more "
        f"than one step: this runtime computes this model differently on {target.cpu.model}"
    )
