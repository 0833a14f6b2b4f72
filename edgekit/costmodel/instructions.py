"""Latency from emulated instruction counts: the aarch64 instructions LiteRT really executes for the target's CPU
(counted under QEMU) x fitted cycles per instruction, with the target's thread scaling."""

from __future__ import annotations

from typing import Any

from edgekit.costmodel.cpu import amdahl_speedup
from edgekit.targets import Target


def predict_from_instructions(
    instructions: int, precision: str, target: Target, threads: int | None = None
) -> dict[str, Any]:
    """Latency on a CPU target from the aarch64 instructions one inference executes under emulation (one thread).

    The emulated count follows the kernels LiteRT picks for that CPU's features (e.g. dot-product int8 kernels on
    the Cortex-A76, none on the A72), which the graph model cannot see; cycles per instruction are fitted per
    target and precision. Returns {"source": "predicted", "latency_ms": ..., ...} or one with latency_ms None and
    the reason.
    """
    threads = threads or target.runtime.default_threads
    kind = "int8" if precision == "int8" else "fp32"  # fp16 weights run in fp32; dynamic-range: see basis
    cpi = getattr(target.cpu_cost, f"{kind}_cycles_per_instruction")
    out: dict[str, Any] = {
        "source": "predicted",
        "runtime": {
            "name": target.runtime.name,
            "version": target.runtime.version,
            "threads": threads,
            "device": f"{target.cpu.cores}x {target.cpu.model} @ {target.cpu.clock_ghz:g} GHz",
        },
        "threads": threads,
        "instructions": instructions,
        "latency_ms": None,
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
        f"{target.cpu_cost.parallel_fraction:g} ({target.runtime.name}); band /x {u:g}"
        + ("; dynamic-range model costed with the fp32 figure" if precision == "dynamic" else "")
    )
    return out
