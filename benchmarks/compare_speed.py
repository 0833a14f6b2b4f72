"""How long `edgekit compare` takes for every default model on one target: the first call (graphs built and cached)
against a repeated call (answered from the cache), side by side in one run; and how close the INT8 prediction made
from the derived graph (the FP32 conversion with 8-bit tensors) is to one made from a real calibrated INT8 conversion.

    python benchmarks/compare_speed.py [--target rpi4] [--check-models mobilenetv2,squeezenet] [--skip-first]

Writes benchmarks/results/compare_speed.json (tool versions, git commit, machine, date).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "compare_speed.json"


def run_compare(target: str, cache: Path, profiles: Path) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one `edgekit compare --json` in a fresh interpreter, and its output."""
    env = {**os.environ, "EDGEKIT_CACHE": str(cache), "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "edgekit", "compare", "--target", target, "--profiles-dir", str(profiles), "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"edgekit compare failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return wall, json.loads(proc.stdout)


def derived_vs_real(model: str, targets: list[str]) -> dict[str, Any]:
    """Predicted INT8 median from the derived graph vs from a real INT8 conversion (200-image builtin calibration is
    not needed for the graph's shape: 16 images), and what each conversion cost."""
    from edgekit import data
    from edgekit.analyze.graph import load_graph
    from edgekit.compare import derive_int8
    from edgekit.costmodel.predict import predict_graph
    from edgekit.export.tflite import keras2tflite
    from edgekit.models.registry import create_model, get_spec
    from edgekit.targets import get_target

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


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for dist in ("edgekit", "tensorflow-cpu", "tensorflow", "matplotlib", "numpy"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


def git_commit() -> str | None:
    proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "edgekit"], cwd=ROOT, capture_output=True, text=True)
    return proc.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if proc.returncode == 0 else None


def machine() -> dict[str, Any]:
    from edgekit.results import host_info

    info = host_info()
    try:
        info["loadavg_1min"] = os.getloadavg()[0]
    except OSError:
        pass
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="rpi4")
    ap.add_argument("--check-models", default="mobilenetv2,squeezenet,resnet50")
    ap.add_argument("--check-targets", default="rpi4,coral-usb")
    ap.add_argument("--skip-first", action="store_true", help="Only the derived-vs-real check.")
    args = ap.parse_args(argv)
    report: dict[str, Any] = {
        "benchmark": "compare_speed",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git_commit": git_commit(),
        "versions": versions(),
        "machine": machine(),
        "target": args.target,
    }
    if not args.skip_first:
        with tempfile.TemporaryDirectory(prefix="edgekit-bench-cache-") as cache, tempfile.TemporaryDirectory() as prof:
            first, out = run_compare(args.target, Path(cache), Path(prof))
            repeated, _ = run_compare(args.target, Path(cache), Path(prof))
        models = [r["model"] for r in out["rows"]]
        report.update(
            models=models,
            first_s=round(first, 1),
            repeated_s=round(repeated, 2),
            first_over_repeated=round(first / repeated, 1),
            rows=[{k: r[k] for k in ("model", "input_size", "macs", "latency_ms")} for r in out["rows"]],
        )
        print(f"compare --target {args.target}, {len(models)} default models ({', '.join(models)})")
        print(f"  first call (build + one fp32 conversion each, cached): {first:8.1f} s")
        print(f"  repeated call (from the cache):                        {repeated:8.2f} s")
        print(f"  first / repeated: {first / repeated:.1f}x")
    checks = [derived_vs_real(m, args.check_targets.split(",")) for m in args.check_models.split(",") if m]
    report["derived_vs_real_int8"] = checks
    for c in checks:
        ratios = ", ".join(f"{t} {c[t]['ratio']:.3f}" for t in args.check_targets.split(","))
        print(
            f"  {c['model']}: derived/real INT8 prediction {ratios}; conversion fp32 {c['fp32_convert_s']} s, "
            f"int8 {c['int8_convert_s']} s (the int8 one is what compare skips)"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(RESULTS)
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
