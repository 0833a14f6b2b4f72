"""Latency from emulated instruction counts: the aarch64 instructions LiteRT really executes for the target's CPU
(counted under QEMU) x fitted cycles per instruction, with the target's thread scaling."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgekit.costmodel.common import amdahl_speedup
from edgekit.costmodel.constants import ORT, ORT_INSTRUCTIONS_JSON
from edgekit.costmodel.reference import reference_tflite
from edgekit.costmodel.rows import PublishedRow, published_rows
from edgekit.emulate import cpu_for_target, emulated_targets, profile_emulated
from edgekit.errors import EdgekitError
from edgekit.hardware.targets import Target, get_target
from edgekit.ioutil import sha256_file, write_json_atomic

__all__ = ["ORT_INSTRUCTIONS_JSON", "evaluate_instruction_rows", "ort_counts", "predict_from_instructions"]


def predict_from_instructions(
    instructions: int,
    precision: str,
    target: Target,
    threads: int | None = None,
    runtime: str | None = None,
    runtime_version: str | None = None,
) -> dict[str, Any]:
    """Latency on a CPU target from the aarch64 instructions one inference executes under emulation (one thread).

    The emulated count follows the kernels the runtime picks for that CPU's features (e.g. dot-product int8 kernels
    on the Cortex-A76, none on the A72), which the graph model cannot see; cycles per instruction are fitted per
    target and precision on LiteRT/XNNPACK rows. `runtime` names another runtime whose instructions were counted
    (ONNX Runtime): its instructions are costed at those cycles per instruction, and the result says so.
    Returns {"source": "predicted", "latency_ms": ..., ...} or one with latency_ms None and the reason.
    """
    threads = threads or target.runtime.default_threads
    kind = "int8" if precision == "int8" else "fp32"  # fp16 weights run in fp32; dynamic-range: see basis
    cpi = getattr(target.cpu_cost, f"{kind}_cycles_per_instruction")
    other = runtime is not None and runtime not in (target.runtime.name, "litert", "tflite-runtime")
    out: dict[str, Any] = {
        "source": "predicted",
        "runtime": {
            "name": runtime if other else target.runtime.name,
            "version": runtime_version if other else target.runtime.version,
            "threads": threads,
            "device": f"{target.cpu.cores}x {target.cpu.model} @ {target.cpu.clock_ghz:g} GHz",
        },
        "threads": threads,
        "instructions": instructions,
        "latency_ms": None,
        "cycles_per_instruction_from": f"{target.runtime.name} rows ({target.id}), "
        + (f"carried over to {runtime}'s instructions" if other else "its own instructions"),
    }
    if cpi is None:
        out["basis"] = f"{target.id} has no fitted {kind} cycles per instruction (no published LiteRT row to fit)"
        return out
    single_ms = instructions * cpi / (target.cpu.clock_ghz * 1e6)
    median = single_ms / amdahl_speedup(threads, target.cpu_cost.parallel_fraction)
    u = target.uncertainty
    out["latency_ms"] = {"median": round(median, 4), "low": round(median / u, 4), "high": round(median * u, 4)}
    out["basis"] = (
        f"{instructions / 1e6:.1f} M emulated aarch64 instructions per inference x {cpi:g} {kind} cycles per "
        f"instruction at {target.cpu.clock_ghz:g} GHz, {threads} thread(s) with parallel fraction "
        f"{target.cpu_cost.parallel_fraction:g} ({out['runtime']['name']}); band /x {u:g}"
        + (f"; cycles per instruction fitted on {target.runtime.name} rows, carried over to {runtime}" if other else "")
        + ("; dynamic-range model costed with the fp32 figure" if precision == "dynamic" else "")
    )
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Fitting cycles per instruction (`edgekit fit --instructions`)

# Rows that fit cycles per instruction (target, model, precision, runtime); the other XNNPACK Pi rows are held out.
INSN_FITTED_ROWS = {
    ("rpi4", "mobilenetv2", "int8", "tflite-xnnpack"),
    ("rpi4", "mobilenetv1", "fp32", "tflite-xnnpack"),
    # The Pi 5 is its own CPU (counted as a Cortex-A76: dot-product int8 kernels): its own rows, ExecuTorch's XNNPACK.
    ("rpi5", "mobilenetv2", "int8", "executorch-xnnpack"),
    ("rpi5", "mobilenetv2", "fp32", "executorch-xnnpack"),
}


def emulated_instructions(row: PublishedRow, cache_dir: Path | None = None) -> int:
    """Instructions one inference of the row's reference graph executes under QEMU as the target's CPU (cached)."""
    path = reference_tflite(row.graph_model, row.graph_precision, row.input, cache_dir)
    cpu = cpu_for_target(row.target)
    cached = path.with_name(f"{path.stem}.{cpu}.insn.json")
    digest = sha256_file(path)
    if cached.is_file():
        data = json.loads(cached.read_text())
        if data.get("sha256") == digest:
            return int(data["guest_instructions"])
    result = profile_emulated(path, row.target, cpu, runs=1, warmup=0)
    if not result.get("guest_instructions"):
        raise EdgekitError(f"{path.name} under {cpu}: {result.get('error') or result.get('guest_instructions_note')}")
    kept = {k: result[k] for k in ("guest_instructions", "runtime")}
    write_json_atomic(cached, {"sha256": digest, "cpu": cpu, **kept})
    return int(result["guest_instructions"])


def ort_counts() -> dict[tuple[str, str, int, str], int]:
    """(board, model, input, precision) -> ONNX Runtime's emulated instructions per inference, from the shipped
    edgekit/costmodel/data/ort-instructions.json (InceptionV3 at 299 px takes minutes under QEMU: never rerun here)."""
    try:
        entries = json.loads(ORT_INSTRUCTIONS_JSON.read_text())["entries"]
    except (OSError, ValueError, KeyError):
        return {}
    return {
        (e["target"], e["model"], e["input"], e["precision"]): e["onnxruntime"]["guest_instructions"] for e in entries
    }


def _cycles_per_instruction(row: PublishedRow, instructions: int, target: Target) -> float:
    single_ms = row.latency_ms * amdahl_speedup(row.threads, target.cpu_cost.parallel_fraction)
    return single_ms * target.cpu.clock_ghz * 1e6 / instructions


def evaluate_instruction_rows(fit: bool = False) -> list[dict[str, Any]]:
    """Published XNNPACK rows of the emulated Pi CPUs predicted from emulated instruction counts.

    fit=True uses cycles per instruction from INSN_FITTED_ROWS (this run) instead of the target files' values.
    """
    emulated = emulated_targets()
    rows = [r for r in published_rows() if r.target in emulated and r.runtime.endswith("xnnpack")]
    counts = {r.key: emulated_instructions(r) for r in rows}
    ort = ort_counts()  # ONNX Runtime rows: counted once by benchmarks/ort_instructions.py, never fitted
    for r in published_rows():
        if r.family == ORT and (r.target, r.model, r.input, r.graph_precision) in ort:
            rows.append(r)
            counts[r.key] = ort[(r.target, r.model, r.input, r.graph_precision)]
    targets = {t: get_target(t) for t in {r.target for r in rows}}
    if fit:
        for r in rows:
            if r.key in INSN_FITTED_ROWS:
                t = targets[r.target]
                cpi = round(_cycles_per_instruction(r, counts[r.key], t), 4)
                field = f"{'int8' if r.precision == 'int8' else 'fp32'}_cycles_per_instruction"
                targets[r.target] = replace(t, cpu_cost=replace(t.cpu_cost, **{field: cpi}))
    out = []
    for r in rows:
        runtime = ORT if r.family == ORT else None
        guess = predict_from_instructions(counts[r.key], r.precision, targets[r.target], r.threads, runtime)
        pred = guess["latency_ms"]["median"] if guess["latency_ms"] else None
        kind = "int8" if r.precision == "int8" else "fp32"
        out.append(
            {
                "target": r.target, "model": r.model, "input": r.input, "precision": r.precision, "runtime": r.runtime,
                "threads": r.threads, "published_ms": r.latency_ms, "instructions": counts[r.key],
                "predicted_ms": pred, "ratio": None if pred is None else round(pred / r.latency_ms, 3),
                "role": "fitted" if r.key in INSN_FITTED_ROWS else "held out",
                "cycles_per_instruction": getattr(targets[r.target].cpu_cost, f"{kind}_cycles_per_instruction"),
                "cycles_per_instruction_from": guess["cycles_per_instruction_from"],
            }
        )  # fmt: skip
    return out
