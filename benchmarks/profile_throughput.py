"""`edgekit profile --mode throughput --device CPU` beside OpenVINO's `benchmark_app -hint throughput` on one IR.

    python benchmarks/profile_throughput.py [--ir MODEL.xml] [--seconds 15] [--rounds 1] [--batch N]
                                            [--results profile-throughput]  # -> benchmarks/results/<name>.json

Without --ir, exports MobileNetV2 INT8 as OpenVINO IR (`edgekit export mobilenetv2 --int8 --format openvino`) into
--out (reused when it is there). Then, per round (ABBA order over rounds, so slow drift of a shared machine hits both),
runs the real command line `edgekit profile XML --mode throughput --device CPU --min-seconds S --no-save --json` and
`benchmark_app -m XML -d CPU -hint throughput -t S`, each in its own process, and prints both frames/s and the
ratio. Issue 27's bar: within 10 % (exit 0), else exit 1. Not a unit test: a side-by-side measurement.
--batch N (N > 1) exports with --dynamic-batch and runs `edgekit profile --batch N` beside `benchmark_app -shape
[N,H,W,C]` (the IR reshaped to that batch, as edgekit does); results go to <name>-b<N>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from _results import REPO, load_now, write_result

_FPS = re.compile(r"Throughput:\s+([0-9.]+)\s*FPS")
_STREAMS = re.compile(r"NUM_STREAMS:\s*(\d+)")
_REQUESTS = re.compile(r"(\d+) inference requests")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}


def export_ir(out: Path, batch: int = 1) -> Path:
    """MobileNetV2 INT8 IR through edgekit's own export (cached by its options under out); any batch for batch > 1."""
    xml = out / "mobilenetv2" / ("openvino-int8-anybatch" if batch > 1 else "openvino-int8") / "model.xml"
    if xml.is_file():
        return xml
    cmd = [sys.executable, "-m", "edgekit", "export", "mobilenetv2", "--int8", "--format", "openvino"]
    cmd += ["--out", str(out)] + (["--dynamic-batch"] if batch > 1 else [])
    subprocess.run(cmd, check=True, env=_env())
    return xml


def edgekit_fps(xml: Path, seconds: float, batch: int = 1) -> tuple[float, dict]:
    """frames/s measured by `edgekit profile --mode throughput --device CPU`, and its result."""
    cmd = [sys.executable, "-m", "edgekit", "profile", str(xml), "--mode", "throughput", "--device", "CPU"]
    cmd += ["--runs", "1", "--min-seconds", str(seconds), "--warmup", "5", "--batch", str(batch), "--no-save", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env())
    if proc.returncode != 0:
        raise SystemExit(f"edgekit profile failed (exit {proc.returncode}): {proc.stderr.strip()[-400:]}")
    (result,) = json.loads(proc.stdout)
    return float(result["throughput_fps"]), result


def benchmark_app_fps(xml: Path, seconds: float, batch: int = 1) -> tuple[float, dict]:
    """frames/s as benchmark_app prints it (frames, batch included), with the streams and requests it used."""
    exe = shutil.which("benchmark_app") or str(Path(sys.executable).with_name("benchmark_app"))
    cmd = [exe, "-m", str(xml), "-d", "CPU", "-hint", "throughput", "-t", str(int(seconds))]
    if batch > 1:
        cmd += ["-shape", str([batch, *input_dims(xml)[1:]]).replace(" ", "")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    fps = _FPS.search(proc.stdout)
    if proc.returncode != 0 or not fps:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-5:]
        raise SystemExit(f"benchmark_app failed (exit {proc.returncode}): {' | '.join(tail)}")
    streams, requests = _STREAMS.search(proc.stdout), _REQUESTS.search(proc.stdout)
    return float(fps.group(1)), {
        "streams": int(streams.group(1)) if streams else None,
        "requests": int(requests.group(1)) if requests else None,
    }


def input_dims(xml: Path) -> list[int]:
    """The first Parameter's dims as the IR file writes them (-1: dynamic); read as XML, no runtime created here."""
    import xml.etree.ElementTree as ET

    layer = next(ly for ly in ET.parse(xml).getroot().iter("layer") if ly.get("type") == "Parameter")
    return [int(d.text) for d in layer.find("output/port").findall("dim")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ir", type=Path, help="an OpenVINO IR .xml (default: export MobileNetV2 INT8)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/edgekit-bench-throughput"), help="export root")
    parser.add_argument("--seconds", type=float, default=15.0, help="timed seconds per tool (benchmark_app -t)")
    parser.add_argument("--rounds", type=int, default=1, help="alternations (each runs both tools once)")
    parser.add_argument("--tolerance", type=float, default=0.10)
    parser.add_argument("--results", default="profile-throughput", help="benchmarks/results/<name>.json ('' = none)")
    parser.add_argument("--batch", type=int, default=1, help="frames per call (> 1: a --dynamic-batch export)")
    args = parser.parse_args()
    if args.batch > 1 and args.results:
        args.results = f"{args.results}-b{args.batch}"  # never over the batch-1 result
    load_before = load_now()

    xml = args.ir or export_ir(args.out, args.batch)
    print(f"IR: {xml}  seconds/tool={args.seconds:g}  rounds={args.rounds}  load before {load_before}", flush=True)
    ours: list[float] = []
    theirs: list[float] = []
    last: dict = {}
    app: dict = {}
    for index in range(args.rounds):
        order = ("edgekit", "benchmark_app") if index % 2 == 0 else ("benchmark_app", "edgekit")
        for tool in order:
            if tool == "edgekit":
                fps, last = edgekit_fps(xml, args.seconds, args.batch)
                ours.append(fps)
                put = last.get("throughput") or {}
                detail = f"{put.get('requests')} requests, {put.get('streams')} streams"
            else:
                fps, app = benchmark_app_fps(xml, args.seconds, args.batch)
                theirs.append(fps)
                detail = f"{app['requests']} requests, {app['streams']} streams"
            print(f"round {index + 1}: {tool:<13} {fps:9.1f} frames/s  ({detail})", flush=True)

    ratio = statistics.median(a / b for a, b in zip(ours, theirs, strict=True))
    ok = abs(ratio - 1) <= args.tolerance
    load_after = load_now()
    print(f"edgekit profile --mode throughput: {statistics.median(ours):.1f} frames/s (median of {len(ours)})")
    print(f"benchmark_app -hint throughput:    {statistics.median(theirs):.1f} frames/s (median of {len(theirs)})")
    print(f"ratio edgekit / benchmark_app: {ratio:.3f} -> {'AGREE' if ok else 'DISAGREE'} (bar: within 10 %)")
    print(f"load average before {load_before}, after {load_after}")
    if args.results:
        runtime = last.get("runtime") or {}
        put = last.get("throughput") or {}
        write_result(
            args.results,
            {
                "source": "measured", "device": "CPU", "model": "mobilenetv2", "precision": "int8", "batch": args.batch,
                "ir": str(xml), "seconds_per_tool": args.seconds, "rounds": args.rounds,
                "edgekit_fps": [round(f, 2) for f in ours], "benchmark_app_fps": [round(f, 2) for f in theirs],
                "ratio_paired_median": round(ratio, 4), "tolerance": args.tolerance, "agree": ok,
                "edgekit": {"requests": put.get("requests"), "streams": put.get("streams"),
                            "threads": runtime.get("threads"), "hint": runtime.get("performance_hint"),
                            "inference_precision": runtime.get("inference_precision"),
                            "compile_ms": last.get("compile_ms"), "compile_cache": last.get("compile_cache")},
                "benchmark_app": app, "load_before": load_before, "load_after": load_after,
            },
        )  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
