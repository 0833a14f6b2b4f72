"""How long `edgekit export MODEL --int8` takes end to end, next to a bare TFLite INT8 conversion in the same run.

    python benchmarks/export_speed.py [--model mobilenetv2] [--size 224] [--calib-size 200] [--rounds 2]
                                      [--budget 45] [--sequential] [--profile] [--cprofile] [--keep DIR] [--strict]
                                      [--results export-speed]   # -> benchmarks/results/export-speed.json

What it proves: the issue's requirement that `edgekit export mobilenetv2 --int8` (the three default formats, 200
builtin calibration images, 224 px) finishes within --budget seconds (45) on this 2-core machine. It runs the real
CLI in a subprocess, so Python start-up, imports, model build, calibration, the three conversions, the fidelity
checks and the manifests all count. The per-step split comes from two sources: the time each progress line reached
stderr (build, calibration images + BatchNorm re-estimation, float reference, one line per format) and each
manifest's "timings_s" (convert vs total = convert + load + fidelity; the layer report runs after "total" is taken,
so it shows only in the stderr split).

The baseline, timed in the same run and interleaved with the CLI (ABBA...), is what any tool has to pay at least:
a fresh Python that builds the Keras model, makes the same calibration images and runs one TFLite full-integer
conversion (edgekit.exporting.formats.tflite.keras2tflite). Timings on this shared machine swing (2x under other
agents' load);
the ratio CLI / baseline measured side by side is the stable number.

--sequential adds, in every round, a CLI run with EDGEKIT_EXPORT_SEQUENTIAL=1: ONNX and OpenVINO are then exported
in the same process after TFLite instead of in a side process alongside it, so the ratio sequential / parallel is
what the side process gains.

--profile adds one CLI run in a child whose key functions (edgekit's steps and the toolchains' entry points:
TFLite calibration, quantize_static, nncf.quantize, the quantization debugger...) are wrapped with wall-clock timers,
and prints where the time goes. --cprofile adds a cProfile run instead (more detail, inflated Python-heavy steps).

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

from _results import load_now, write_result

REPO = Path(__file__).resolve().parents[1]

BASELINE = r"""
import json, sys, time
t0 = time.perf_counter()
from edgekit.quiet import quiet_env, quiet_tf
quiet_env()
from edgekit.data import calibration as data
from edgekit.exporting.formats.tflite import keras2tflite
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

# --profile: the CLI in a child whose key functions are wrapped with wall-clock timers (no profiler overhead).
# (module, attribute, label) in pipeline order; "Class.method" patches a method. Third-party entry points are
# patched on their module before edgekit imports them (edgekit imports lazily, inside functions).
TIMED = [
    ("edgekit.exporting.pipeline", "load_source", "build the Keras model"),
    ("edgekit.exporting.pipeline", "calibration_and_holdout", "calibration + holdout images"),
    ("edgekit.exporting.pipeline", "reestimate_batchnorm", "BatchNorm re-estimation (Keras, training mode)"),
    ("edgekit.exporting.formats.tflite", "keras2tflite", "TFLite: INT8 conversion, total"),
    ("tensorflow.lite.python.lite", "TFLiteConverterBase._quantize", "  of which calibration + quantization"),
    ("edgekit.exporting.formats.onnx", "keras2onnx", "ONNX: Keras -> ONNX (TF trace + tf2onnx)"),
    ("edgekit.exporting.formats.onnx", "quantize_onnx", "ONNX: INT8, total"),
    ("onnxruntime.quantization.shape_inference", "quant_pre_process", "  of which quant_pre_process"),
    ("onnxruntime.quantization", "quantize_static", "  of which quantize_static (calibration)"),
    ("edgekit.exporting.formats.openvino", "ov_from_keras", "OpenVINO: convert_model (from the ONNX file)"),
    ("edgekit.exporting.formats.openvino", "nncf_quantize", "OpenVINO: NNCF quantize"),
    ("openvino", "save_model", "OpenVINO: save_model"),
    ("edgekit.exporting.base", "LoadedArtifact.run", "fidelity: holdout inference (all formats)"),
    ("edgekit.exporting.pipeline", "build_manifest", "manifests (hashes, I/O details, versions)"),
    ("edgekit.exporting.pipeline", "layer_report_safe", "TFLite quantization debugger (layer report)"),
]

WRAPPED_CLI = r"""
import atexit, functools, importlib, json, sys, time
t_start = time.perf_counter()
out_path, timed = sys.argv[1], json.loads(sys.argv[2])
sys.argv = ["edgekit", *sys.argv[3:]]
totals = {}

def patch(modname, attr):
    obj = importlib.import_module(modname)
    owner, name = obj, attr
    if "." in attr:
        cls, name = attr.split(".")
        owner = getattr(obj, cls)
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def timed_fn(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            row = totals.setdefault(f"{modname}:{attr}", [0, 0.0])
            row[0] += 1
            row[1] += time.perf_counter() - t0

    setattr(owner, name, timed_fn)

for modname, attr, _label in timed:
    patch(modname, attr)
t_patched = time.perf_counter()

@atexit.register
def dump():
    json.dump({"imports_s": t_patched - t_start, "total_s": time.perf_counter() - t_start, "functions": totals},
              open(out_path, "w"))

from edgekit.cli.app import main
main()
"""


def profile_wall(model: str, size: int, calib_size: int, work: Path) -> dict[str, Any]:
    """One CLI run with wall-clock timers around the functions in TIMED; prints where the time goes."""
    dump = work / "timers.json"
    out = work / "out-timers"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-c", WRAPPED_CLI, str(dump), json.dumps(TIMED)]
    cmd += cli_command(model, size, calib_size, out)[2:]  # drop "-m edgekit"
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=child_env())
    wall = time.perf_counter() - t0
    print(f"\n== where the time goes: one CLI run with timers around key functions, wall {wall:.1f} s, "
          f"rc {proc.returncode}")  # fmt: skip
    if not dump.exists():
        print(f"no timings written: {proc.stderr.strip()[-500:]}")
        return {}
    data = json.loads(dump.read_text())
    print(f"  {'step':<52} {'function':<32} {'calls':>5} {'s':>7} {'% wall':>7}")
    print(f"  {'imports: TF, ONNX Runtime, OpenVINO, NNCF (preloaded)':<52} {'':<32} {'':>5} "
          f"{data['imports_s']:>7.1f} {100 * data['imports_s'] / wall:>6.1f}%")  # fmt: skip
    accounted = data["imports_s"]
    for modname, attr, label in TIMED:
        calls, secs = data["functions"].get(f"{modname}:{attr}", [0, 0.0])
        if not label.startswith("  "):
            accounted += secs
        print(f"  {label:<52} {attr[-32:]:<32} {calls:>5} {secs:>7.1f} {100 * secs / wall:>6.1f}%")
    print(f"  {'other (reference, I/O details, hashing, start-up...)':<52} {'':<32} {'':>5} "
          f"{wall - accounted:>7.1f} {100 * (wall - accounted) / wall:>6.1f}%")  # fmt: skip
    return data


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


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, **(extra or {})}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return env


def cli_command(model: str, size: int, calib_size: int, out: Path) -> list[str]:
    return [
        "-m", "edgekit", "export", model, "--int8", "--input-size", str(size),
        "--calib-size", str(calib_size), "--out", str(out),
    ]  # fmt: skip


def run_cli(
    model: str,
    size: int,
    calib_size: int,
    out: Path,
    prefix: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run the CLI; wall time, the moment each progress line reached stderr, and the manifests' timings."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, *(prefix or []), *cli_command(model, size, calib_size, out)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, cwd=REPO,
        env=child_env(env),
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


STEP_LABELS = {
    "building": "build the Keras model (TensorFlow import + create_model)",
    "loading": "calibration + holdout images (+ BatchNorm re-estimation)",
    "untrained": "float reference on the holdout (Keras)",
}


def step_label(line: str) -> str:
    """What runs between this progress line and the next (a line announces the step that follows it)."""
    word = line.split()[0]
    if word == "exporting":
        fmt = line.split("->")[-1].strip()
        return f"{fmt}: convert + verify + manifest (+ layer report)"
    return STEP_LABELS.get(word, line[:60])


def steps_from_marks(marks: list[tuple[float, str]], wall: float) -> list[tuple[str, float]]:
    """Durations between progress lines; the first interval is interpreter start + imports + argument parsing."""
    keep = [(t, x) for t, x in marks if x.split()[0] in ("building", "loading", "untrained", "exporting")]
    if not keep:
        return [("whole command", wall)]
    done = next((t for t, x in marks if x.startswith("done in")), None)
    ends = [t for t, _ in keep[1:]] + [done if done is not None else wall]
    steps = [("python start + CLI imports + argument parsing", keep[0][0])]
    steps += [(step_label(x), end - t) for (t, x), end in zip(keep, ends, strict=True)]
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
    for modname, attr, label in TIMED:
        file_part, func = modname.replace(".", "/"), attr.split(".")[-1]
        total = 0.0
        calls = 0
        for (filename, _line, name), (_cc, nc, _tt, ct, _callers) in table.items():
            if name == func and file_part in filename:
                total += ct
                calls += nc
        rows.append((label, func, calls, total))
    print(f"{'step':<52} {'function':<32} {'calls':>5} {'cum s':>7}")
    for label, func, calls, total in rows:
        print(f"{label:<52} {func[-32:]:<32} {calls:>5} {total:>7.1f}")
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


SEQUENTIAL = "EDGEKIT_EXPORT_SEQUENTIAL"


def walls(runs: list[dict[str, Any]]) -> list[float]:
    return [round(r["wall_s"], 2) for r in runs]


def side_mode(res: dict[str, Any]) -> str:
    """How the run used the side process, from its progress lines: export.core overlaps it with TFLite only when
    two cores and the memory available allow it, else runs it first."""
    lines = [x for _, x in res["marks"]]
    if any("(exported alongside)" in x for x in lines):
        return "overlapped with TFLite"
    if any("(one conversion at a time)" in x for x in lines):
        return "before TFLite (not enough memory to overlap)"
    return "none (in process)"


def fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="mobilenetv2")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--calib-size", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2, help="CLI/baseline pairs, interleaved (ABBA...)")
    ap.add_argument("--budget", type=float, default=45.0, help="seconds the CLI may take (the issue's target)")
    ap.add_argument("--sequential", action="store_true", help="add a CLI run per round without the side process")
    ap.add_argument("--results", default="export-speed", help="benchmarks/results/<name>.json ('' = none)")
    ap.add_argument("--profile", action="store_true", help="add one CLI run with timers around the key functions")
    ap.add_argument("--cprofile", action="store_true", help="add one CLI run under cProfile (slower, more detail)")
    ap.add_argument("--top", type=int, default=25, help="--profile: functions to list")
    ap.add_argument("--keep", type=Path, default=None, help="folder for the artifacts (default: a temp folder)")
    ap.add_argument("--strict", action="store_true", help="exit 1 when the best CLI run is over --budget")
    args = ap.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="edgekit-export-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"edgekit export {args.model} --int8 at {args.size} px, {args.calib_size} calibration images; "
          f"{args.rounds} round(s), {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    load_before = load_now()
    cli_runs, base_runs, seq_runs = [], [], []
    for r in range(args.rounds):
        order = ("cli", "base") if r % 2 == 0 else ("base", "cli")  # ABBA: drift of the shared machine hits both
        if args.sequential:
            order = ("cli", "seq", "base") if r % 2 == 0 else ("base", "seq", "cli")
        for which in order:
            if which == "cli":
                res = run_cli(args.model, args.size, args.calib_size, work / "out")
                cli_runs.append(res)
                print_run(res, args.budget)
            elif which == "seq":
                res = run_cli(args.model, args.size, args.calib_size, work / "out", env={SEQUENTIAL: "1"})
                seq_runs.append(res)
                print(f"\n(sequential: {SEQUENTIAL}=1, no side process)")
                print_run(res, args.budget)
            else:
                b = run_baseline(args.model, args.size, args.calib_size)
                base_runs.append(b)
                print(
                    f"\nbaseline (fresh python, build + {args.calib_size} images + one TFLite INT8 conversion): "
                    f"wall {b['wall_s']:.1f} s = setup {b['setup_s']:.1f} + convert {b['convert_s']:.1f}"
                )
    if args.profile:
        profile_wall(args.model, args.size, args.calib_size, work)
    if args.cprofile:
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
    seq = {}
    if seq_runs:
        best_seq = min(r["wall_s"] for r in seq_runs)
        seq_ratios = [q["wall_s"] / c["wall_s"] for q, c in zip(seq_runs, cli_runs, strict=True)]
        print(f"{'edgekit export, sequential (no side process), wall':<58} {best_seq:>7.1f}")
        print(f"ratio sequential / parallel, per round: {', '.join(f'{x:.2f}' for x in seq_ratios)}")
        seq = {"sequential_wall_s": walls(seq_runs), "best_sequential_s": round(best_seq, 2),
               "sequential_side_process": [side_mode(r) for r in seq_runs],
               "ratio_sequential_vs_parallel": [round(x, 3) for x in seq_ratios]}  # fmt: skip
    verdict = "within" if best_cli <= args.budget else "OVER"
    print(f"budget: {best_cli:.1f} s vs {args.budget:.0f} s -> {verdict} budget ({best_cli / args.budget:.2f}x)")
    if args.results:
        ok = all(r["rc"] == 0 for r in cli_runs + seq_runs)
        write_result(
            args.results,
            {
                "model": args.model, "input": args.size, "calib_size": args.calib_size, "rounds": args.rounds,
                "formats": sorted(cli_runs[-1]["manifests"]), "exit_codes_ok": ok, "load_before": load_before,
                "cli_wall_s": walls(cli_runs), "baseline_wall_s": walls(base_runs),
                "baseline_convert_s": [round(b["convert_s"], 2) for b in base_runs],
                "best_cli_s": round(best_cli, 2), "best_baseline_s": round(best_base, 2),
                "ratio_cli_vs_baseline": [round(x, 3) for x in pair_ratios], "budget_s": args.budget,
                "side_process": [side_mode(r) for r in cli_runs],
                "within_budget": best_cli <= args.budget, **seq,
            },
        )  # fmt: skip
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if args.strict and best_cli > args.budget else 0


if __name__ == "__main__":
    sys.exit(main())
