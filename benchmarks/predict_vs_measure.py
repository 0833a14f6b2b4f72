"""The cost model applied to this machine (`--target host --predict`) against real measurements on it.

For each model (224 px, random weights, cached under /tmp/edgekit-calib/) and precision (FP32, INT8 .tflite) at one
thread: measured median latency (edgekit.profile.measure.measure_artifact, or ai_edge_litert directly if that is
missing) next to the host target's prediction, and the median error. --fit prints the host's fp32/int8 efficiency
scales that make the fitted model (mobilenetv2) match; the other models are held out.

    python benchmarks/predict_vs_measure.py [--models mobilenetv2,squeezenet,...] [--runs 30] [--fit] [--json]

Timings on a shared 2-core machine swing: run it on a quiet machine, and compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

MODELS = ("mobilenetv2", "squeezenet", "efficientnetb0", "resnet50")
PRECISIONS = ("fp32", "int8")
FIT_MODEL = "mobilenetv2"


def measure_ms(path: Path, runs: int) -> float:
    try:
        from edgekit.profile.measure import measure_artifact
    except ImportError:
        return _measure_direct(path, runs)
    result = measure_artifact(path, threads=1, runs=runs, min_seconds=1.0, warmup=5, profile_layers=False)
    return float(result["latency_ms"]["median"])


def _measure_direct(path: Path, runs: int) -> float:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    it.set_tensor(inp["index"], np.zeros(inp["shape"], dtype=inp["dtype"]))
    for _ in range(5):
        it.invoke()
    times = []
    start = time.perf_counter()
    while len(times) < runs or time.perf_counter() - start < 1.0:
        t0 = time.perf_counter()
        it.invoke()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def predict_ms(path: Path, target) -> float:
    from edgekit.analyze.graph import load_graph, static_graph
    from edgekit.costmodel.predict import predict_graph

    return predict_graph(static_graph(load_graph(path)), target, threads=1)["latency_ms"]["median"]


def fit_host(measured: dict[tuple[str, str], float]) -> dict[str, Any]:
    """Efficiency scales (times the shared CPU_REL table) that make the host predict FIT_MODEL as measured.

    A VM without cpufreq reports its base clock; when even 100% efficiency at that clock is too slow for the FP32
    measurement, the smallest clock_scale that reaches it is fitted instead (efficiencies left at the ceiling).
    """
    from dataclasses import replace

    from edgekit.costmodel.fit import _bisect, calib_tflite, fit_cpu_efficiency
    from edgekit.targets import get_target

    host = get_target("host")
    host = replace(host, cpu_cost=replace(host.cpu_cost, clock_scale=1.0))
    for precision in PRECISIONS:
        path = calib_tflite(FIT_MODEL, precision)
        target_ms = measured[(FIT_MODEL, precision)]
        host = fit_cpu_efficiency(host, precision, partial(predict_ms, path), target_ms)
        if precision == "fp32" and predict_ms(path, host) > target_ms * 1.005:

            def with_clock(scale: float, base=host):
                return replace(base, cpu_cost=replace(base.cpu_cost, clock_scale=scale))

            scale = _bisect(lambda c, p=path: predict_ms(p, with_clock(c)), 1.0, 4.0, target_ms, False)
            host = with_clock(round(scale, 3))
    out = {f"{p}_efficiency": getattr(host.cpu_cost, f"{p}_efficiency") for p in PRECISIONS}
    return {**out, "clock_scale": host.cpu_cost.clock_scale}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--fit", action="store_true", help="print the host efficiencies fitted on mobilenetv2")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from edgekit.costmodel.fit import calib_tflite
    from edgekit.targets import get_target

    host = get_target("host")
    rows = []
    measured: dict[tuple[str, str], float] = {}
    for model in args.models.split(","):
        for precision in PRECISIONS:
            path = calib_tflite(model, precision)
            meas = measure_ms(path, args.runs)
            pred = predict_ms(path, host)
            measured[(model, precision)] = meas
            rows.append({"model": model, "precision": precision, "measured_ms": round(meas, 3),
                         "predicted_ms": round(pred, 3), "ratio": round(pred / meas, 3),
                         "role": "fitted" if model == FIT_MODEL else "held-out"})  # fmt: skip
            print(f"{model:15} {precision:5} measured {meas:9.2f} ms  predicted {pred:9.2f} ms  "
                  f"ratio {pred / meas:5.2f}  {rows[-1]['role']}", file=sys.stderr, flush=True)  # fmt: skip
    held = [abs(r["ratio"] - 1) for r in rows if r["role"] == "held-out"]
    summary = {
        "host_cpu": f"{host.cpu.cores}x {host.cpu.model} @ {host.cpu.clock_ghz} GHz {host.cpu.features}",
        "median_abs_error_all": statistics.median(abs(r["ratio"] - 1) for r in rows),
        "median_abs_error_held_out": statistics.median(held) if held else None,
        "worst_factor": max(max(r["ratio"], 1 / r["ratio"]) for r in rows),
    }
    if args.fit:
        summary["fitted"] = {k: str(v) for k, v in fit_host(measured).items()}
    if args.json:
        print(json.dumps({"rows": rows, "summary": summary}, indent=2))
    else:
        print(f"{'model':15} {'prec':5} {'measured':>10} {'predicted':>10} {'ratio':>6}  role")
        for r in rows:
            print(f"{r['model']:15} {r['precision']:5} {r['measured_ms']:>10.2f} {r['predicted_ms']:>10.2f} "
                  f"{r['ratio']:>6.2f}  {r['role']}")  # fmt: skip
        for k, v in summary.items():
            print(f"{k}: {v:.1%}" if isinstance(v, float) and k.startswith("median") else f"{k}: {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
