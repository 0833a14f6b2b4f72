"""Cross-check edgekit's host latency against OpenVINO's own benchmark_app on the same FP32 IR and thread count.

    python benchmarks/benchmark_app_crosscheck.py [--size 224] [--threads 1] [--rounds 6] [--runs 100]
                                                  [--results benchmark-app]  # -> benchmarks/results/benchmark-app.json

Builds MobileNetV2 (random weights) as an FP32 OpenVINO IR (static batch 1, weights kept in f32), then alternates
edgekit's measure_artifact and `benchmark_app -d CPU -hint none -nthreads T -nstreams 1 -infer_precision f32 -api sync`
(ABBA order, so slow drift of this shared machine hits both) and prints every median. The verdict uses the median of
the per-round ratios (each pair runs back to back under the same load): exit 0 when within --tolerance (10 %), else 1.
Not a unit test: a side-by-side measurement.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from _results import load_now, write_result

_MEDIAN = re.compile(r"Median:\s+([0-9.]+)\s*ms")
_MIN = re.compile(r"Min:\s+([0-9.]+)\s*ms")


def build_ir(out_dir: Path, size: int) -> Path:
    """MobileNetV2 at size x size (weights=None) -> FP32 IR; built in a child process so TF stays out of this one."""
    xml = out_dir / f"mobilenetv2_{size}_fp32.xml"
    if xml.is_file() and xml.with_suffix(".bin").is_file():
        return xml
    out_dir.mkdir(parents=True, exist_ok=True)
    code = f"""
import keras, openvino as ov
model = keras.applications.MobileNetV2(input_shape=({size}, {size}, 3), weights=None)
ir = ov.convert_model(model)
ir.reshape([1, {size}, {size}, 3])  # static batch 1: what both tools measure
ov.save_model(ir, {str(xml)!r}, compress_to_fp16=False)  # keep FP32 weights
"""
    subprocess.run([sys.executable, "-c", code], check=True)
    return xml


def edgekit_latency(xml: Path, threads: int, runs: int) -> tuple[float, float, dict]:
    """(median, min) in ms, and the whole result."""
    from edgekit.measure.host import measure_artifact

    result = measure_artifact(xml, threads=threads, runs=runs, min_seconds=1.0, warmup=5, profile_layers=False)
    return result["latency_ms"]["median"], result["latency_ms"]["min"], result


def benchmark_app_latency(xml: Path, threads: int, runs: int) -> tuple[float, float]:
    """(median, min) in ms as benchmark_app prints them."""
    exe = shutil.which("benchmark_app") or str(Path(sys.executable).with_name("benchmark_app"))
    cmd = [exe, "-m", str(xml), "-d", "CPU", "-hint", "none", "-nthreads", str(threads), "-nstreams", "1"]
    cmd += ["-niter", str(runs), "-infer_precision", "f32", "-api", "sync"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    median, minimum = _MEDIAN.search(proc.stdout), _MIN.search(proc.stdout)
    if proc.returncode != 0 or not median or not minimum:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise SystemExit(f"benchmark_app failed (exit {proc.returncode}): {' | '.join(tail)}")
    return float(median.group(1)), float(minimum.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=6, help="alternations (each runs both tools once)")
    parser.add_argument("--runs", type=int, default=100, help="timed inferences per tool per round")
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--out", type=Path, default=Path("/tmp/edgekit-bench"))
    parser.add_argument("--results", default="benchmark-app", help="benchmarks/results/<name>.json ('' = none)")
    args = parser.parse_args()
    load_before = load_now()

    xml = build_ir(args.out, args.size)
    print(f"IR: {xml}  threads={args.threads}  runs/round={args.runs}  rounds={args.rounds}", flush=True)
    ours: list[float] = []
    theirs: list[float] = []
    mins = {"edgekit": [], "benchmark_app": []}
    last: dict = {}
    for round_index in range(args.rounds):
        order = ("edgekit", "benchmark_app") if round_index % 2 == 0 else ("benchmark_app", "edgekit")
        for tool in order:
            if tool == "edgekit":
                median, minimum, last = edgekit_latency(xml, args.threads, args.runs)
                ours.append(median)
            else:
                median, minimum = benchmark_app_latency(xml, args.threads, args.runs)
                theirs.append(median)
            mins[tool].append(minimum)
            print(f"round {round_index + 1}: {tool:<13} median {median:8.3f} ms  min {minimum:8.3f} ms", flush=True)

    runtime = last.get("runtime", {})
    print(
        f"edgekit runtime: openvino {runtime.get('version')}, execution_devices={runtime.get('execution_devices')}, "
        f"inference_precision={runtime.get('inference_precision')}, threads={runtime.get('inference_num_threads')}"
    )
    # Back-to-back pairs see the same machine load; the median of their ratios is the most noise-robust figure.
    paired = statistics.median(a / b for a, b in zip(ours, theirs, strict=True))
    print(f"edgekit       medians: {', '.join(f'{m:.3f}' for m in ours)} ms")
    print(f"benchmark_app medians: {', '.join(f'{m:.3f}' for m in theirs)} ms")
    print(
        f"median of medians: edgekit {statistics.median(ours):.3f} ms, benchmark_app {statistics.median(theirs):.3f} ms"
    )
    print(f"best-of-{args.rounds} medians: edgekit {min(ours):.3f} ms, benchmark_app {min(theirs):.3f} ms")
    print(f"min latency: edgekit {min(mins['edgekit']):.3f} ms, benchmark_app {min(mins['benchmark_app']):.3f} ms")
    ok = abs(paired - 1) <= args.tolerance
    verdict = "AGREE" if ok else "DISAGREE"
    print(f"ratio edgekit / benchmark_app (median of {args.rounds} back-to-back pairs): {paired:.3f} -> {verdict}")
    if args.results:
        pairs = [round(a / b, 4) for a, b in zip(ours, theirs, strict=True)]
        write_result(
            args.results,
            {
                "source": "measured", "device": "CPU", "model": "mobilenetv2", "input": args.size,
                "precision": "fp32", "threads": args.threads, "runs_per_round": args.runs, "rounds": args.rounds,
                "runtime": {k: runtime.get(k) for k in ("version", "execution_devices", "inference_precision")},
                "load_before": load_before, "edgekit_medians_ms": [round(m, 4) for m in ours],
                "benchmark_app_medians_ms": [round(m, 4) for m in theirs], "pair_ratios": pairs,
                "ratio_paired_median": round(paired, 4), "tolerance": args.tolerance, "agree": ok,
            },
        )  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
