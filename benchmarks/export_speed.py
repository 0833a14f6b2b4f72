"""How long `edgekit export MODEL --int8` takes end to end, next to a bare TFLite INT8 conversion in the same run.

    python benchmarks/export_speed.py [--model mobilenetv2] [--size 224] [--calib-size 200] [--rounds 1]
                                      [--budget 45] [--profile] [--keep DIR]

What it proves: the issue's requirement that `edgekit export mobilenetv2 --int8` (the three default formats, 200
builtin calibration images, 224 px) finishes within --budget seconds (45) on this 2-core machine. It runs the real
CLI in a subprocess, so Python start-up, imports, model build, calibration, the three conversions, the fidelity
checks and the manifests all count. The per-step split comes from two sources: the time each progress line reached
stderr (building, calibration images, BatchNorm re-estimation, one line per format) and each manifest's
"timings_s" (convert vs total, i.e. convert + load + fidelity + optional layer report).

The baseline, timed in the same run and interleaved with the CLI (ABAB...), is what any tool has to pay at least:
a fresh Python that builds the Keras model, makes the same 200 calibration images and runs one TFLite full-integer
conversion (edgekit.export.tflite.keras2tflite). Timings on this shared machine swing; the ratio CLI / baseline
measured side by side is the stable number. --profile adds one CLI run under cProfile and prints the cumulative time
of the functions that matter (profiling overhead inflates Python-heavy steps such as NNCF).

Exit status 0 (a measurement, not a test); --strict exits 1 when the best CLI run is over the budget.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

BASELINE = r"""
import json, sys, time
t0 = time.perf_counter()
from edgekit.export.quiet import quiet_env, quiet_tf
quiet_env()
from edgekit import data
from edgekit.export.tflite import keras2tflite
from edgekit.models.registry import create_model, get_spec
name, size, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
spec = get_spec(name)
with quiet_tf():
    model = create_model(spec.name, size, 1000, None, "none")
calib = data.builtin(n, size, spec.preprocess, 0)
t1 = time.perf_counter()
blob = keras2tflite(model, "int8", calib, "int8")
t2 = time.perf_counter()
print(json.dumps({"setup_s": t1 - t0, "convert_s": t2 - t1, "bytes": len(blob)}))
"""

# Functions whose cumulative time explains an export (module-qualified name suffix -> label), in pipeline order.
PROFILE_FUNCS = [
    ("edgekit/export/core.py:load_source", "build Keras model (incl. TF import)"),
    ("edgekit/export/core.py:calibration_and_holdout", "calibration + holdout images"),
    ("edgekit/export/core.py:reestimate_batchnorm", "BatchNorm re-estimation"),
    ("edgekit/export/tflite.py:keras2tflite", "TFLite INT8 conversion (trace + calibrate + quantize)"),
    ("edgekit/export/onnx.py:keras2onnx", "Keras -> ONNX (tf2onnx trace)"),
    ("edgekit/export/onnx.py:quantize_onnx", "ONNX Runtime quantize_static"),
    ("edgekit/export/openvino.py:ov_from_keras", "OpenVINO convert_model"),
    ("edgekit/export/openvino.py:nncf_quantize", "NNCF quantize"),
    ("edgekit/verify.py:compare", "fidelity compare"),
    ("edgekit/export/base.py:run", "runner.run on the holdout (fidelity inference)"),
    ("edgekit/export/core.py:layer_report_safe", "TFLite quantization debugger (layer report)"),
    ("edgekit/export/core.py:build_manifest", "manifest (hashes, io details, versions)"),
]


TRACE_FUNCS = (
    "_trace_with_defaults",
    "trace_function",
    "get_concrete_function",
    "_get_concrete_function_garbage_collected",
    "convert",
)


def run_baseline(model: str, size: int, calib_size: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", BASELINE, model, str(size), str(calib_size)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=child_env(),
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"baseline failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["wall_s"] = wall
    return out


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def cli_command(model: str, size: int, calib_size: int, out: Path) -> list[str]:
    return [
        "-m", "edgekit", "export", model, "--int8", "--input-size", str(size),
        "--calib-size", str(calib_size), "--out", str(out),
    ]  # fmt: skip


def run_cli(model: str, size: int, calib_size: int, out: Path, prefix: list[str] | None = None) -> dict[str, Any]:
    """Run the CLI; wall time, the moment each progress line reached stderr, and the manifests' timings."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, *(prefix or []), *cli_command(model, size, calib_size, out)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=REPO,
        env=child_env(),
    )  # fmt: skip
    marks: list[tuple[float, str]] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.strip():
            marks.append((time.perf_counter() - t0, line.rstrip()))
    stdout = proc.stdout.read() if proc.stdout else ""
    rc = proc.wait()
    wall = time.perf_counter() - t0
    manifests = {}
    for path in sorted(out.glob("*/*-int8/manifest.json")):
        meta = json.loads(path.read_text())
        manifests[meta.get("format", path.parent.name)] = meta
    return {"wall_s": wall, "rc": rc, "marks": marks, "manifests": manifests, "stdout": stdout}


def steps_from_marks(marks: list[tuple[float, str]], wall: float) -> list[tuple[str, float]]:
    """Durations between progress lines; the first interval is interpreter start + imports + argument parsing."""
    steps: list[tuple[str, float]] = []
    starts = [(t, text) for t, text in marks if not text.startswith(" ") and not text.startswith("warning")]
    keep = [(t, text) for t, text in starts if text.split()[0] in ("building", "loading", "untrained", "exporting")]
    if not keep:
        return [("whole command", wall)]
    steps.append(("python start + imports + CLI parsing", keep[0][0]))
    for (t, text), nxt in zip(keep, [*keep[1:], (None, None)], strict=True):
        end = nxt[0] if nxt[0] is not None else None
        done = next((tm for tm, tx in marks if tx.startswith("done in")), None)
        end = end if end is not None else (done if done is not None else wall)
        label = text if len(text) <= 60 else text[:57] + "..."
        steps.append((label, end - t))
    done = next((tm for tm, tx in marks if tx.startswith("done in")), None)
    if done is not None:
        steps.append(("results table + interpreter exit", wall - done))
    return steps


def profile_cli(model: str, size: int, calib_size: int, work: Path, top: int) -> None:
    prof = work / "export.prof"
    res = run_cli(model, size, calib_size, work / "out-profile", ["-m", "cProfile", "-o", str(prof)])
    print(f"\n== cProfile of one CLI run: wall {res['wall_s']:.1f} s (profiling overhead included), rc {res['rc']}")
    if not prof.exists():
        print("no profile written")
        return
    stats = pstats.Stats(str(prof))
    table = stats.stats  # type: ignore[attr-defined]
    rows = []
    for suffix, label in PROFILE_FUNCS:
        file_part, func = suffix.split(":")
        total = 0.0
        calls = 0
        for (filename, _line, name), (_cc, nc, _tt, ct, _callers) in table.items():
            if name == func and filename.endswith(file_part):
                total += ct
                calls += nc
        rows.append((label, func, calls, total))
    print(f"{'step':<56} {'function':<24} {'calls':>5} {'cum s':>7}")
    for label, func, calls, total in rows:
        print(f"{label:<56} {func:<24} {calls:>5} {total:>7.1f}")
    # TensorFlow tracing is the usual suspect: count how often Keras models get traced into graphs.
    traced = [
        (name, filename, nc, ct)
        for (filename, _line, name), (_cc, nc, _tt, ct, _callers) in table.items()
        if name in TRACE_FUNCS and any(k in filename for k in ("tensorflow", "tf2onnx", "keras"))
    ]
    if traced:
        print("\nTensorFlow tracing / conversion entry points (calls, cumulative s):")
        for name, filename, nc, ct in sorted(traced, key=lambda r: -r[3])[:8]:
            short = filename.split("site-packages/")[-1]
            print(f"  {name:<44} {nc:>4} {ct:>7.1f}  {short}")
    print(f"\ntop {top} functions by cumulative time:")
    stats.sort_stats("cumulative").print_stats(top)


def print_run(res: dict[str, Any], budget: float) -> None:
    print(f"\nCLI run: wall {res['wall_s']:.1f} s, exit code {res['rc']}, budget {budget:.0f} s")
    print(f"  {'step (from progress lines on stderr)':<62} {'s':>7}")
    for label, secs in steps_from_marks(res["marks"], res["wall_s"]):
        print(f"  {label:<62} {secs:>7.1f}")
    if res["manifests"]:
        print(f"  {'manifest timings_s':<20} {'convert':>8} {'total':>8} {'verify+report':>14} {'cosine':>8}")
        for fmt, meta in res["manifests"].items():
            t = meta.get("timings_s", {})
            conv, total = t.get("convert"), t.get("total")
            rest = total - conv if conv is not None and total is not None else None
            cos = (meta.get("fidelity") or {}).get("cosine")
            layer = " (+layer report)" if meta.get("layer_errors") else ""
            print(
                f"  {fmt:<20} {fmt_s(conv):>8} {fmt_s(total):>8} {fmt_s(rest):>14} "
                f"{cos if cos is None else round(cos, 4)!s:>8}{layer}"
            )


def fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="mobilenetv2")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--calib-size", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=1, help="CLI/baseline pairs, interleaved (ABBA...)")
    ap.add_argument("--budget", type=float, default=45.0, help="seconds the CLI may take (the issue's target)")
    ap.add_argument("--profile", action="store_true", help="add one CLI run under cProfile and print where time goes")
    ap.add_argument("--top", type=int, default=25, help="--profile: functions to list")
    ap.add_argument("--keep", type=Path, default=None, help="folder for the artifacts (default: a temp folder)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the best CLI run is over --budget")
    args = ap.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="edgekit-export-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"edgekit export {args.model} --int8 at {args.size} px, {args.calib_size} calibration images; "
          f"{args.rounds} round(s), {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    cli_runs, base_runs = [], []
    for r in range(args.rounds):
        order = ("cli", "base") if r % 2 == 0 else ("base", "cli")  # ABBA: drift of the shared machine hits both
        for which in order:
            if which == "cli":
                res = run_cli(args.model, args.size, args.calib_size, work / "out")
                cli_runs.append(res)
                print_run(res, args.budget)
            else:
                b = run_baseline(args.model, args.size, args.calib_size)
                base_runs.append(b)
                print(
                    f"\nbaseline (fresh python, build + {args.calib_size} images + one TFLite INT8 conversion): "
                    f"wall {b['wall_s']:.1f} s = setup {b['setup_s']:.1f} + convert {b['convert_s']:.1f}"
                )
    if args.profile:
        profile_cli(args.model, args.size, args.calib_size, work, args.top)

    best_cli = min(r["wall_s"] for r in cli_runs)
    best_base = min(b["wall_s"] for b in base_runs)
    best_conv = min(b["convert_s"] for b in base_runs)
    pair_ratios = [c["wall_s"] / b["wall_s"] for c, b in zip(cli_runs, base_runs, strict=True)]
    print("\n== summary (best of rounds)")
    print(f"{'measurement':<58} {'s':>7}")
    print(f"{'edgekit export (CLI, 3 formats + fidelity), wall':<58} {best_cli:>7.1f}")
    print(f"{'baseline: build + calib + one TFLite INT8 conversion, wall':<58} {best_base:>7.1f}")
    print(f"{'baseline: the TFLite INT8 conversion alone':<58} {best_conv:>7.1f}")
    print(f"ratio CLI / baseline wall, per round: {', '.join(f'{x:.2f}' for x in pair_ratios)} "
          f"(median {statistics.median(pair_ratios):.2f})")  # fmt: skip
    print(f"ratio CLI / bare conversion: {best_cli / best_conv:.2f}")
    verdict = "within" if best_cli <= args.budget else "OVER"
    print(f"budget: {best_cli:.1f} s vs {args.budget:.0f} s -> {verdict} budget ({best_cli / args.budget:.2f}x)")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if args.strict and best_cli > args.budget else 0


if __name__ == "__main__":
    sys.exit(main())
