"""The cost model applied to this machine (`--target host --predict`) against real measurements on it.

For each model (224 px, random weights; edgekit.costmodel.reference.reference_tflite's cached .tflite) and
precision (FP32, INT8 .tflite) at one thread: measured median latency (edgekit.measure.host.measure_artifact, or
ai_edge_litert directly if that is missing) next to the host target's prediction, and the median error. --fit prints
the host's fp32/int8 efficiency scales that make the fitted model (mobilenetv2) match; the other models are held out.
The figures go to benchmarks/results/predict-vs-measure.json (README.md's evidence block is generated from it).

    python benchmarks/predict_vs_measure.py [--models mobilenetv2,squeezenet,...] [--runs 30] [--fit] [--json]
        [--results predict-vs-measure]   # writes benchmarks/results/predict-vs-measure.json

Timings on a shared 2-core machine swing: run it on a quiet machine, and compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _results import load_now, write_result

MODELS = ("mobilenetv2", "squeezenet", "efficientnetb0", "resnet50")
PRECISIONS = ("fp32", "int8")
FIT_MODEL = "mobilenetv2"


def measure_ms(path: Path, runs: int) -> tuple[float, float]:
    """(median, min) in ms; the min is the figure least inflated by other processes on a shared machine."""
    try:
        from edgekit.measure.host import measure_artifact
    except ImportError:
        return _measure_direct(path, runs)
    result = measure_artifact(path, threads=1, runs=runs, min_seconds=1.0, warmup=5, profile_layers=False)
    return float(result["latency_ms"]["median"]), float(result["latency_ms"]["min"])


def _measure_direct(path: Path, runs: int) -> tuple[float, float]:
    import numpy as np

    from edgekit.device import open_model

    model = open_model(path, runtime="litert", threads=1)
    (spec,) = model.input_specs()
    call = model.inference_call([np.zeros(spec["shape"], dtype=spec["dtype"])])
    for _ in range(5):
        call()
    times = []
    start = time.perf_counter()
    while len(times) < runs or time.perf_counter() - start < 1.0:
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), min(times)


def predict_ms(path: Path, target, fitted: bool = True) -> float:
    from edgekit.analyze.graph import load_graph, static_graph
    from edgekit.costmodel.predict import predict_graph

    graph = static_graph(load_graph(path))
    return predict_graph(graph, target, threads=1, fitted=fitted)["latency_ms"]["median"]


def solve(f, lo: float, hi: float, goal: float, iters: int = 40) -> float:
    """x in [lo, hi] with f(x) == goal for a decreasing f (geometric bisection; more efficiency or clock -> faster)."""
    for _ in range(iters):
        mid = (lo * hi) ** 0.5
        lo, hi = (lo, mid) if f(mid) < goal else (mid, hi)
    return (lo * hi) ** 0.5


def fit_host(measured: dict[tuple[str, str], float], size: int) -> dict[str, Any]:
    """Efficiency scales (times the shared CPU_REL table, edgekit.costmodel.cpu.cpu_efficiency) that make the host
    predict FIT_MODEL as measured.

    A VM without cpufreq reports its base clock; when even 100% efficiency at that clock is too slow for the FP32
    measurement, the smallest clock_scale that reaches it is fitted instead (efficiencies left at the ceiling).
    """
    from dataclasses import replace

    from edgekit.costmodel.cpu import CPU_REL, cpu_efficiency
    from edgekit.costmodel.reference import reference_tflite
    from edgekit.hardware.targets import get_target

    host = get_target("host")
    host = replace(host, cpu_cost=replace(host.cpu_cost, clock_scale=1.0))
    ceiling = 1.0 / min(CPU_REL.values())
    scales: dict[str, float] = {}
    for precision in PRECISIONS:
        path = reference_tflite(FIT_MODEL, precision, size)
        goal = measured[(FIT_MODEL, precision)]
        field = f"{precision}_efficiency"

        def with_scale(s: float, base=host, field=field):
            return replace(base, cpu_cost=replace(base.cpu_cost, **{field: cpu_efficiency(s, s)}))

        scales[precision] = round(solve(lambda s, p=path: predict_ms(p, with_scale(s), False), 0.005, ceiling, goal), 4)
        host = with_scale(scales[precision])
        if precision == "fp32" and predict_ms(path, host, False) > goal * 1.005:

            def with_clock(c: float, base=host):
                return replace(base, cpu_cost=replace(base.cpu_cost, clock_scale=c))

            host = with_clock(round(solve(lambda c, p=path: predict_ms(p, with_clock(c), False), 1.0, 4.0, goal), 3))
    out: dict[str, Any] = {f"{p}_scale": scales[p] for p in PRECISIONS}
    out.update({f"{p}_efficiency": vars(getattr(host.cpu_cost, f"{p}_efficiency")) for p in PRECISIONS})
    return {**out, "clock_scale": host.cpu_cost.clock_scale}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--fit", action="store_true", help="print the host efficiencies fitted on mobilenetv2")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--results", default="predict-vs-measure", help="benchmarks/results/<name>.json ('' = none)")
    args = parser.parse_args(argv)

    from edgekit.costmodel.reference import reference_tflite
    from edgekit.hardware.targets import get_target

    load_before = load_now()
    host = get_target("host")
    rows = []
    measured: dict[tuple[str, str], float] = {}
    for model in args.models.split(","):
        for precision in PRECISIONS:
            path = reference_tflite(model, precision, args.size)
            meas, fastest = measure_ms(path, args.runs)
            pred = predict_ms(path, host)
            measured[(model, precision)] = meas
            role = "fitted" if model == FIT_MODEL else "held-out"
            rows.append({"model": model, "input": args.size, "precision": precision, "threads": 1,
                         "runtime": "litert-xnnpack", "measured_ms": round(meas, 3), "predicted_ms": round(pred, 3),
                         "ratio": round(pred / meas, 3), "measured_min_ms": round(fastest, 3),
                         "ratio_vs_min": round(pred / fastest, 3), "role": role})  # fmt: skip
            print(f"{model:15} {precision:5} measured {meas:9.2f} ms  predicted {pred:9.2f} ms  "
                  f"ratio {pred / meas:5.2f}  {rows[-1]['role']}", file=sys.stderr, flush=True)  # fmt: skip
    held = [r for r in rows if r["role"] == "held-out"]
    worst = max(held or rows, key=lambda r: max(r["ratio"], 1 / r["ratio"]))
    summary = {
        "host_cpu": f"{host.cpu.cores}x {host.cpu.model} @ {host.cpu.clock_ghz} GHz {host.cpu.features}",
        "fitted_on": host.cpu_cost.fitted,
        "median_abs_error_all": round(statistics.median(abs(r["ratio"] - 1) for r in rows), 4),
        "median_abs_error_held_out": round(statistics.median(abs(r["ratio"] - 1) for r in held), 4) if held else None,
        "worst_factor": round(max(worst["ratio"], 1 / worst["ratio"]), 3),
        "worst_row": {k: worst[k] for k in ("model", "precision", "ratio")},
    }
    if args.fit:
        summary["fitted"] = fit_host(measured, args.size)
    if args.results:
        figures = {"source": "measured", "predicted_source": "predicted", "target": "host", "runs": args.runs}
        write_result(args.results, {**figures, "load_before": load_before, "summary": summary, "rows": rows})
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
