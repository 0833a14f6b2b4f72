"""How long `edgekit compare` takes for every default model on one target: the first call (graphs built and cached)
against a repeated call (answered from the cache), side by side in one run; and how close the INT8 prediction made
from the derived graph (the FP32 conversion with 8-bit tensors) is to one made from a real calibrated INT8 conversion.

    python benchmarks/compare_speed.py [--target rpi4] [--check-models mobilenetv2,squeezenet] [--skip-first]

Writes benchmarks/results/compare_speed.json with the provenance of benchmarks/_results.py (date, commit, CPU, load).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import REPO as ROOT  # noqa: E402
from _results import load_now, write_result  # noqa: E402


def run_compare(target: str, cache: Path, profiles: Path) -> tuple[float, float, dict[str, Any]]:
    """Wall and CPU seconds (user + system) of one `edgekit compare --json` in a fresh interpreter, and its output.

    On a shared machine the wall time follows the load; the CPU time is what the call costs."""
    import resource

    env = {**os.environ, "EDGEKIT_CACHE": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "edgekit", "compare", "--target", target, "--profiles-dir", str(profiles), "--json"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"edgekit compare failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return wall, cpu, json.loads(proc.stdout)


def derived_vs_real(model: str, targets: list[str]) -> dict[str, Any]:
    """Predicted INT8 median from the derived graph vs from a real INT8 conversion (200-image builtin calibration is
    not needed for the graph's shape: 16 images), and what each conversion cost."""
    from edgekit.analyze.graph import load_graph
    from edgekit.choose.compare import derive_int8
    from edgekit.costmodel.predict import predict_graph
    from edgekit.data import calibration as data
    from edgekit.exporting.formats.tflite import keras2tflite
    from edgekit.hardware.targets import get_target
    from edgekit.models.registry import create_model, get_spec

    spec = get_spec(model)
    size = spec.default_input_size
    keras_model = create_model(model, size, 1000, None, "none")
    calib = data.builtin(16, size, spec.preprocess)
    out: dict[str, Any] = {"model": model, "input_size": size}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        fp32 = Path(tmp) / "fp32.tflite"
        fp32.write_bytes(keras2tflite(keras_model, "fp32"))
        out["fp32_convert_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        int8 = Path(tmp) / "int8.tflite"
        int8.write_bytes(keras2tflite(keras_model, "int8", calib))
        out["int8_convert_s"] = round(time.perf_counter() - t0, 2)
        derived, real = derive_int8(load_graph(fp32)), load_graph(int8)
        out["weight_bytes"] = {"derived": derived.weight_bytes, "real": real.weight_bytes}
        for target_id in targets:
            target = get_target(target_id)
            d = predict_graph(derived, target, allow_any_format=True)["latency_ms"]["median"]
            r = predict_graph(real, target, allow_any_format=True)["latency_ms"]["median"]
            out[target_id] = {"derived_ms": d, "real_ms": r, "ratio": round(d / r, 3)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="rpi4")
    ap.add_argument("--check-models", default="mobilenetv2,squeezenet,resnet50")
    ap.add_argument("--check-targets", default="rpi4,coral-usb")
    ap.add_argument("--skip-first", action="store_true", help="Only the derived-vs-real check.")
    args = ap.parse_args(argv)
    report: dict[str, Any] = {"target": args.target, "load_before": load_now()}
    if not args.skip_first:
        with tempfile.TemporaryDirectory(prefix="edgekit-bench-cache-") as cache, tempfile.TemporaryDirectory() as prof:
            first, first_cpu, out = run_compare(args.target, Path(cache), Path(prof))
            repeated, repeated_cpu, _ = run_compare(args.target, Path(cache), Path(prof))
        models = [r["model"] for r in out["rows"]]
        report.update(
            models=models,
            first_s=round(first, 1),
            repeated_s=round(repeated, 2),
            first_over_repeated=round(first / repeated, 1),
            first_cpu_s=round(first_cpu, 1),
            repeated_cpu_s=round(repeated_cpu, 2),
            graph_build_seconds={r["model"]: r.get("graph_build_seconds") for r in out["rows"]},
            rows=[{k: r[k] for k in ("model", "input_size", "macs", "latency_ms")} for r in out["rows"]],
        )
        print(f"compare --target {args.target}, {len(models)} default models ({', '.join(models)})")
        print(f"  first call (build + one fp32 conversion each): {first:8.1f} s wall, {first_cpu:7.1f} s CPU")
        print(f"  repeated call (from the cache):                {repeated:8.2f} s wall, {repeated_cpu:7.2f} s CPU")
        print(f"  first / repeated: {first / repeated:.1f}x")
    checks = [derived_vs_real(m, args.check_targets.split(",")) for m in args.check_models.split(",") if m]
    report["derived_vs_real_int8"] = checks
    for c in checks:
        ratios = ", ".join(f"{t} {c[t]['ratio']:.3f}" for t in args.check_targets.split(","))
        print(
            f"  {c['model']}: derived/real INT8 prediction {ratios}; conversion fp32 {c['fp32_convert_s']} s, "
            f"int8 {c['int8_convert_s']} s (the int8 one is what compare skips)"
        )
    write_result("compare_speed", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
