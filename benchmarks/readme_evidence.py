"""The generated parts of README.md and docs/*.md, regenerated from the JSON the benchmarks and `edgekit fit` write
under benchmarks/results/, and from the code itself (the command table from the Typer app, the model table from the
registry), so no page can drift from what produced it.

    python benchmarks/readme_evidence.py            # rewrite every generated block of README.md and docs/ in place
    python benchmarks/readme_evidence.py --check    # exit 1 and print the diff when a page and its source disagree
    python benchmarks/readme_evidence.py --only int8-speed   # rewrite just these blocks
    python benchmarks/readme_evidence.py --list     # the registered blocks and their files

A block is the text between `<!-- evidence:NAME -->` and `<!-- /evidence:NAME -->` in a page (README.md,
CONTRIBUTING.md, docs/*.md); NAME is looked up in BLOCKS (name -> results file(s) + render function). Adding a
block: write `@block("name", "file.json")` above a function that takes the parsed JSON and returns the block's
markdown, then put the two markers in a page and run this script. Every evidence block ends with a line naming its
file, command, date, commit, machine and load, so a reader sees what produced the figures. Of edgekit, only the model
registry and (for the command table) the Typer app are imported, no TensorFlow: the check runs in about a second.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgekit.errors import UsageError
from edgekit.models.registry import get_spec

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"


def pages() -> list[Path]:
    """Every page that may hold generated blocks."""
    return [README, REPO / "CONTRIBUTING.md", *sorted(DOCS.glob("*.md"))]


RESULTS_DIR = REPO / "benchmarks" / "results"
ORT_INSTRUCTIONS = "edgekit/costmodel/data/ort-instructions.json"  # package data: edgekit fit reads it
BLOCK_RE = re.compile(r"<!-- evidence:([\w.-]+) -->\n(.*?)<!-- /evidence:\1 -->", re.S)
OPEN_RE = re.compile(r"<!-- evidence:([\w.-]+) -->")


class EvidenceError(Exception):
    """README.md or a results file cannot be rendered (missing file, unknown block, unclosed marker)."""


@dataclass(frozen=True)
class Block:
    name: str
    results: str | tuple[str, ...] | None  # file(s) under benchmarks/results/; None: generated from the code
    render: Callable[[Any], str]


BLOCKS: dict[str, Block] = {}


def block(name: str, results: str | tuple[str, ...] | None) -> Callable[[Callable[[Any], str]], Callable[[Any], str]]:
    """Register a renderer for `<!-- evidence:name -->`, fed benchmarks/results/<results> (parsed; a tuple of files
    gives {file: parsed}; None gives nothing: the block is generated from the code)."""

    def register(fn: Callable[[Any], str]) -> Callable[[Any], str]:
        BLOCKS[name] = Block(name, results, fn)
        return fn

    return register


# --------------------------------------------------------------------------------------------------------- helpers
RUNTIME_NAMES = {"onnxruntime": "ONNX Runtime", "openvino": "OpenVINO", "litert": "LiteRT"}


def model_name(model: str) -> str:
    """The model's display name from its registration; a name the registry does not know is shown as it is."""
    try:
        return get_spec(model).display_name
    except UsageError:
        return model


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def factor(ratio: float) -> float:
    """How far off a predicted/actual ratio is, as a factor >= 1."""
    return max(ratio, 1 / ratio)


def direction(ratio: float) -> str:
    """predicted/actual < 1: the prediction is faster than reality."""
    return "too fast" if ratio < 1 else "too slow"


def start_load(data: dict[str, Any]) -> float | None:
    """The 1-minute load average when the run started: what else shared the cores. The load at the end also counts the
    benchmark's own processes, so it is used only by files that kept nothing else."""
    machine = data.get("machine") if isinstance(data.get("machine"), dict) else {}
    load = data.get("load_before") or data.get("load_at_start") or machine.get("loadavg") or machine.get("loadavg_1min")
    if isinstance(load, list):
        load = load[0] if load else None
    return load


def provenance_line(data: dict[str, Any], results: str) -> str:
    """Where the figures came from: file, command, date, commit, machine, load."""
    machine = data.get("machine")
    if isinstance(machine, dict):
        where = f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores"
    else:
        where = str(machine or "?")
    load = start_load(data)
    commit = (data.get("commit") or data.get("git_commit") or "?")[:10]
    shown = results if "/" in results else f"benchmarks/results/{results}"
    parts = [f"`{shown}`", str(data.get("date", "?")), f"commit {commit}", where]
    if load is not None:
        parts.append(f"load average {load:.1f}")
    command = data.get("command")
    if command:
        parts.append(f"`{command}`")
    return load_note(data) + f"<sub>Generated by `benchmarks/readme_evidence.py` from {'; '.join(parts)}.</sub>\n"


def load_note(data: dict[str, Any]) -> str:
    """A warning when the run shared its cores with more runnable processes than it had cores."""
    machine = data.get("machine") if isinstance(data.get("machine"), dict) else {}
    load, cores = start_load(data), machine.get("cores")
    if load is None or not cores or load <= cores:
        return ""
    return (
        f"Measured at a load average of {load:.0f} on {cores} cores (other jobs on the same "
        "machine): absolute times are inflated and ratios between runs that were not interleaved are unreliable; "
        "rerun on a quiet machine for figures to quote.\n"
    )


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------------------------- renderers
def _fit_stats_row(label: str, s: dict[str, Any]) -> list[str]:
    if not s.get("n"):
        return [label, "0", "-", "-", "-", "-"]
    cover = "-" if "band_coverage" not in s else f"{100 * s['band_coverage']:.0f} %"
    width = "-" if "median_band_width" not in s else f"{s['median_band_width']:.2f}x"
    return [label, str(s["n"]), pct(s["median_abs_error"]), f"{s['worst_factor']:.2f}x", cover, width]


def _bar_line(label: str, s: dict[str, Any], bar: dict[str, Any]) -> str:
    verdict = "met" if bar.get("met") else "not met"
    return (
        f"{label}: median error {pct(s['median_abs_error'])} (bar {pct(bar['median_abs_error'])}), worst "
        f"{s['worst_factor']:.2f}x (bar {bar['worst_factor']:g}x), {100 * s['band_coverage']:.0f} % inside band "
        f"(bar {100 * bar['band_coverage']:.0f} %), median band {s['median_band_width']:.2f}x "
        f"(bar {bar['median_band_width']:g}x): {verdict}.\n"
    )


@block("fit", "fit.json")
def render_fit(d: dict[str, Any]) -> str:
    """`edgekit fit`: leave-one-out and leave-one-model-out errors against the published device latencies."""
    s = d["summary"]
    rows = [_fit_stats_row("all deployed runtimes", s["all_deployed"])]
    rows += [_fit_stats_row(f"runtime {k}", v) for k, v in sorted(s.get("by_runtime", {}).items())]
    rows += [_fit_stats_row(f"target {k}", v) for k, v in sorted(s.get("by_target", {}).items())]
    if s.get("context", {}).get("n"):
        c = s["context"]
        rows.append(["context rows (runtimes edgekit does not deploy; full fit)", str(c["n"]),
                     pct(c["median_abs_error"]), f"{c['worst_factor']:.2f}x", "-", "-"])  # fmt: skip
    out = "Leave-one-out (each row predicted by a fit without it):\n\n"
    out += table(["held-out rows", "n", "median error", "worst", "inside band", "median band"], rows)
    lomo = s.get("leave_one_model_out")
    if lomo:
        lrows = [_fit_stats_row("all deployed runtimes", lomo["all_deployed"])]
        lrows += [_fit_stats_row(f"runtime {k}", v) for k, v in sorted(lomo.get("by_runtime", {}).items())]
        out += "\nLeave-one-model-out (every row of the row's architecture held out together: models never seen):\n\n"
        out += table(["held-out rows", "n", "median error", "worst", "inside band", "median band"], lrows)
    bars = s.get("bars")
    if bars:
        out += "\n" + _bar_line("Unseen models (leave-one-model-out)", lomo["all_deployed"], bars["unseen_models"])
        out += _bar_line("Zoo models (leave-one-out)", s["zoo_models"], bars["zoo_models"])
    held = [r for r in d["rows"] if r.get("held_out")]
    if held:
        w = max(held, key=lambda r: factor(r["ratio"]))
        out += (
            f"\nWorst held-out row: {model_name(w['model'])} {w['precision'].upper()} on {w['target']} "
            f"({w['runtime']}), predicted {w['predicted_ms']:.3g} ms vs {w['published_ms']:.3g} ms published, "
            f"{factor(w['ratio']):.2f}x {direction(w['ratio'])}.\n"
        )
    beyond = (lomo or {}).get("beyond_worst_bar") or []
    if beyond:
        out += "Off by more than the worst-factor bar under leave-one-model-out (and what one thread would read):\n"
        for b in beyond:
            one = f"; at one thread {b['one_thread_ratio']:.2f}" if b.get("one_thread_ratio") else ""
            fitted = "" if b.get("fitted", True) else " (fits nothing: conditions in doubt)"
            out += f"- {b['row']} at {b['threads']} thread(s): {b['ratio']:.2f}{one}{fitted}\n"
    outside = [r for r in held if r.get("inside_band") is False]
    if outside:
        names = ", ".join(f"{model_name(r['model'])} {r['precision'].upper()} on {r['target']}" for r in outside)
        out += f"Published figure outside its predicted band: {names}.\n"
    n_rows = len(d["rows"])
    unconstrained = sum(1 for r in d["rows"] if r.get("deployed_runtime") and not r.get("held_out"))
    doubtful = sum(1 for r in held if r.get("fitted") is False)
    out += (
        f"{n_rows} published rows: {len(held)} predicted by a fit that never saw them ({doubtful} of them fit "
        f"nothing: conditions in doubt), {unconstrained} the only row of their kind (fitted, not held out), "
        f"{n_rows - len(held) - unconstrained} context.\n"
    )
    return out + "\n" + provenance_line(d, "fit.json")


@block("fit-instructions", "fit-instructions.json")
def render_fit_instructions(d: dict[str, Any]) -> str:
    """`edgekit fit --instructions`: Pi rows predicted from emulated instruction counts."""
    rows = []
    for r in d["rows"]:
        pred = "-" if r.get("predicted_ms") is None else f"{r['predicted_ms']:.1f}"
        ratio = "-" if r.get("ratio") is None else f"{r['ratio']:.2f}"
        rows.append([r["target"], model_name(r["model"]), r["precision"].upper(), r["runtime"],
                     f"{r['published_ms']:.3g}", pred, ratio, r["role"]])  # fmt: skip
    out = table(["target", "model", "precision", "runtime", "published ms", "predicted ms", "ratio", "role"], rows)
    s = d["summary"]
    if s.get("held_out"):
        out += (
            f"\nHeld out: {s['held_out']} rows, median error {pct(s['median_abs_error'])}, "
            f"worst {s['worst_factor']:.2f}x.\n"
        )
    return out + "\n" + provenance_line(d, "fit-instructions.json")


@block("ort-instructions", ORT_INSTRUCTIONS)
def render_ort_instructions(d: dict[str, Any]) -> str:
    """benchmarks/ort_instructions.py: ONNX Runtime's and LiteRT's emulated instructions per inference, same model."""
    rows = [
        [e["target"], e["onnxruntime"]["emulation"]["cpu"], model_name(e["model"]), str(e["input"]),
         e["precision"].upper(), f"{e['onnxruntime']['guest_instructions'] / 1e6:.1f}",
         f"{e['litert']['guest_instructions'] / 1e6:.1f}", f"{e['ratio']:.2f}"]
        for e in d["entries"]
    ]  # fmt: skip
    head = ["target", "emulated CPU", "model", "input", "precision", "ONNX Runtime instructions (M)",
            "LiteRT instructions (M)", "ratio"]  # fmt: skip
    # Counts, not timings: the machine's load does not change them (no load warning).
    machine = {k: v for k, v in (d.get("machine") or {}).items() if k != "loadavg"}
    quiet = {**d, "machine": machine, "load_before": None}
    note = "\nInstruction counts of one inference at one thread: the host's load does not change them.\n"
    return table(head, rows) + note + provenance_line(quiet, ORT_INSTRUCTIONS)


@block("predict-vs-measure", "predict-vs-measure.json")
def render_predict_vs_measure(d: dict[str, Any]) -> str:
    """benchmarks/predict_vs_measure.py: the host's prediction against LiteRT measured here (median and minimum)."""
    rows = [
        [model_name(r["model"]), r["precision"].upper(), f"{r['measured_ms']:.2f}", f"{r['measured_min_ms']:.2f}",
         f"{r['predicted_ms']:.2f}", f"{r['ratio']:.2f}", f"{r['ratio_vs_min']:.2f}", r["role"]]
        for r in d["rows"]
    ]  # fmt: skip
    first = d["rows"][0]
    out = (
        f'LiteRT at {first["input"]} px, {first["threads"]} thread, measured here (`"source": "measured"`, '
        f'{d["runs"]}+ runs) next to `--target host` (`"source": "predicted"`):\n\n'
    )
    head = ["model", "precision", "measured median ms", "measured min ms", "predicted ms", "pred / median",
            "pred / min", "role"]  # fmt: skip
    out += table(head, rows)
    s = d["summary"]
    w = s["worst_row"]
    held = [r for r in d["rows"] if r["role"] == "held-out"]
    vs_min = statistics.median(abs(r["ratio_vs_min"] - 1) for r in held) if held else None
    out += (
        f"\nHeld out: median error {pct(s['median_abs_error_held_out'])} against the measured median "
        f"({pct(vs_min)} against the minimum), worst {s['worst_factor']:.2f}x "
        f"({model_name(w['model'])} {w['precision'].upper()}, predicted {direction(w['ratio'])}).\n"
    )
    fitted = s.get("fitted")
    if fitted:
        out += (
            f"`--fit` on this run's MobileNetV2 medians: FP32 scale {fitted['fp32_scale']}, "
            f"INT8 scale {fitted['int8_scale']}, clock_scale {fitted['clock_scale']} "
            "(`targets/host.toml` keeps its own until it is refitted on a quiet machine).\n"
        )
    return out + "\n" + provenance_line(d, "predict-vs-measure.json")


@block("int8-speed", "int8-speed.json")
def render_int8_speed(d: dict[str, Any]) -> str:
    """benchmarks/int8_speed.py: INT8 over FP32 per runtime, and edgekit's settings against the alternatives."""
    rows = d["rows"]
    runtimes = [rt for rt in RUNTIME_NAMES if any(r["runtime"] == rt for r in rows)]
    models = list(dict.fromkeys(r["model"] for r in rows))
    by = {(r["model"], r["runtime"]): r for r in rows}
    out = (
        f"INT8 vs FP32, {d['threads']} thread, {d['input']} px, best of {d['rounds']} interleaved rounds "
        f"(in brackets: the median of the per-round ratios):\n\n"
    )
    body = [
        [model_name(m)] + [f"{by[m, rt]['speedup']:.2f}x ({by[m, rt]['speedup_paired']:.2f}x)" for rt in runtimes]
        for m in models
    ]
    out += table(["model"] + [RUNTIME_NAMES[rt] for rt in runtimes], body)
    target = d["target_speedup"]
    misses = [r for r in rows if r["speedup"] < target]
    if misses:
        out += f"\nBelow {target:g}x: " + ", ".join(
            f"{model_name(r['model'])} on {RUNTIME_NAMES[r['runtime']]}" for r in misses
        ) + ".\n"  # fmt: skip
    out += (
        "\nedgekit's INT8 settings against the fastest alternative of the same runtime (slower: best-of-rounds ratio, "
        f"then the median of per-round ratios; tolerance {100 * d['tolerance']:.0f} %):\n\n"
    )
    choice = [
        [model_name(r["model"]), RUNTIME_NAMES[r["runtime"]], _label(r["chosen"]), _fastest(r),
         f"{100 * r['chosen_slower']:+.1f} % / {100 * r['chosen_slower_paired']:+.1f} %", r["verdict"]]
        for r in rows
    ]  # fmt: skip
    out += table(["model", "runtime", "edgekit's choice", "fastest alternative", "slower", "verdict"], choice)
    s8 = _s8s8_vs_u8s8(d.get("variants", []))
    if s8:
        span = f"{min(s8):.2f}x" if len(s8) == 1 else f"{min(s8):.2f}-{max(s8):.2f}x"
        out += f"\nONNX Runtime S8S8 per-channel takes {span} the time of U8S8 per-channel on this CPU.\n"
    return out + "\n" + provenance_line(d, "int8-speed.json")


def _label(label: str) -> str:
    """A variant's label without the benchmark's markers ('edgekit: ', '(m)')."""
    return label.removeprefix("edgekit: ").replace(" (m)", "")


def _fastest(row: dict[str, Any]) -> str:
    if row["fastest"] == row["chosen"]:
        return "edgekit's choice itself"
    if _label(row["fastest"]) == _label(row["chosen"]):
        return "the same settings, quantized again (noise floor)"
    return _label(row["fastest"])


def _s8s8_vs_u8s8(variants: list[dict[str, Any]]) -> list[float]:
    best = {(v["model"], v["label"]): v["best_ms"] for v in variants if v["runtime"] == "onnxruntime"}
    models = {m for m, _ in best}
    return [
        best[m, "S8S8 per-channel"] / best[m, "U8S8 per-channel"]
        for m in sorted(models)
        if (m, "S8S8 per-channel") in best and (m, "U8S8 per-channel") in best
    ]


@block("export-speed", "export-speed.json")
def render_export_speed(d: dict[str, Any]) -> str:
    """benchmarks/export_speed.py: the CLI end to end, a bare conversion and the sequential mode side by side."""
    ratio = statistics.median(d["ratio_cli_vs_baseline"])
    verdict = "within" if d["within_budget"] else "over"
    fmts = ", ".join(d["formats"])
    out = (
        f"`edgekit export {d['model']} --int8` ({fmts}; {d['calib_size']} calibration images, {d['input']} px, "
        f"fidelity included): {d['best_cli_s']:.1f} s (best of {d['rounds']}; budget {d['budget_s']:g} s: {verdict}), "
        f"{ratio:.2f}x a bare build + one TFLite INT8 conversion ({d['best_baseline_s']:.1f} s) run beside it"
    )
    modes = sorted(set(d.get("side_process", ["not recorded by this run"])))
    out += f" (side process: {', '.join(modes)})"
    if "best_sequential_s" in d:
        seq = statistics.median(d["ratio_sequential_vs_parallel"])
        out += (
            f"; sequentially (`EDGEKIT_EXPORT_SEQUENTIAL=1`: ONNX and OpenVINO after TFLite, no side process) "
            f"{d['best_sequential_s']:.1f} s, {seq:.2f}x the parallel run"
        )
    return out + ".\n\n" + provenance_line(d, "export-speed.json")


@block("benchmark-app", "benchmark-app.json")
def render_benchmark_app(d: dict[str, Any]) -> str:
    """benchmarks/benchmark_app_crosscheck.py: edgekit's median against OpenVINO's benchmark_app."""
    pairs = d["pair_ratios"]
    bar = "within" if d["agree"] else "outside"
    return (
        f"edgekit's median / `benchmark_app`'s median on the same {d['precision'].upper()} IR ({d['model']}, "
        f"{d['input']} px, {d['threads']} thread): {d['ratio_paired_median']:.2f}, the median of {len(pairs)} "
        f"back-to-back pairs ({min(pairs):.2f}-{max(pairs):.2f}; {bar} the {100 * d['tolerance']:.0f} % bar).\n\n"
        + provenance_line(d, "benchmark-app.json")
    )


@block("compare-speed", "compare_speed.json")
def render_compare_speed(d: dict[str, Any]) -> str:
    """benchmarks/compare_speed.py (issue 14): `edgekit compare` first vs cached call, derived vs real INT8 graphs."""
    out = ""
    if "first_s" in d:
        out += (
            f"`edgekit compare --target {d['target']}` over {len(d['models'])} models: "
            f"first call {d['first_s']:.1f} s, repeated {d['repeated_s']:.2f} s ({d['first_over_repeated']:.1f}x)"
        )
        if "first_cpu_s" in d:  # CPU seconds: what the calls cost whatever the machine's load
            out += f"; CPU time {d['first_cpu_s']:.0f} s first, {d['repeated_cpu_s']:.2f} s repeated"
        out += ".\n\n"
    checks = d.get("derived_vs_real_int8", [])
    if checks:
        targets = [k for k, v in checks[0].items() if isinstance(v, dict) and "ratio" in v]
        rows = [[model_name(c["model"])] + [f"{c[t]['ratio']:.3f}" for t in targets] for c in checks]
        out += "INT8 prediction from the derived graph / from a calibrated INT8 conversion:\n\n"
        out += table(["model"] + targets, rows)
    return out + "\n" + provenance_line(d, "compare_speed.json")


@block("accuracy", "accuracy.json")
def render_accuracy(d: dict[str, Any]) -> str:
    """benchmarks/accuracy.py (issue 13): its own markdown_table, so the table has one definition."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from accuracy import markdown_table  # light: accuracy.py imports edgekit only inside its functions

    return markdown_table(d) + "\n"


@block("export-memory", "export_memory.json")
def render_export_memory(d: dict[str, Any]) -> str:
    """benchmarks/export_memory.py (issue 16): its own readme_table."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from export_memory import readme_table  # light: edgekit is imported only inside its functions

    return readme_table(d).rstrip("\n") + "\n"


@block("profile-throughput", "profile-throughput.json")
def render_profile_throughput(d: dict[str, Any]) -> str:
    """benchmarks/profile_throughput.py: `profile --mode throughput --device CPU` against `benchmark_app -hint
    throughput` on the same IR, alternating in one run."""
    bar = "within" if d["agree"] else "outside"
    e, b = d["edgekit_fps"], d["benchmark_app_fps"]
    return (
        f"`edgekit profile --mode throughput --device {d['device']}` / `benchmark_app -hint throughput` on the same "
        f"{d['precision'].upper()} IR ({d['model']}, {d['seconds_per_tool']:g} s each, {d['rounds']} round(s)): "
        f"{d['ratio_paired_median']:.2f} ({bar} the {100 * d['tolerance']:.0f} % bar); edgekit "
        f"{statistics.median(e):.0f} frames/s, benchmark_app {statistics.median(b):.0f} frames/s "
        f"({d['edgekit'].get('requests')} requests, {d['edgekit'].get('streams')} streams).\n\n"
        + provenance_line(d, "profile-throughput.json")
    )


def _as_dict(value: Any) -> dict[str, Any]:
    """A run record (older files kept it as a Python repr string)."""
    if isinstance(value, dict):
        return value
    import ast

    return ast.literal_eval(value)


@block("cluster-speedup", "cluster_speedup.json")
def render_cluster_speedup(d: dict[str, Any]) -> str:
    """benchmarks/cluster_speedup.py: the same exports sequentially and on a local two-node Ray cluster."""
    seq, ray_ = _as_dict(d["sequential"]), _as_dict(d["ray_two_nodes"])
    same = _as_dict(d["artifacts_identical"]) if d.get("artifacts_identical") else {}
    out = table(
        ["run", "command", "wall s", "load before -> after"],
        [
            ["sequential", f"`{seq['command']}`", f"{seq['wall_s']:.1f}",
             f"{seq['load_before'][0]:.1f} -> {seq['load_after'][0]:.1f}"],
            [d.get("cluster", "Ray"), f"`{ray_['command']}`", f"{ray_['wall_s']:.1f}",
             f"{ray_['load_before'][0]:.1f} -> {ray_['load_after'][0]:.1f}"],
        ],
    )  # fmt: skip
    out += f"\nSpeed-up {d['speedup']:.2f}x."
    if same:
        differ = same.get("differ") or []
        out += (
            f" Files byte-identical to the sequential run's: {same.get('files', 0) - len(differ)} of "
            f"{same.get('files', '?')}."
        )
    return out + "\n\n" + provenance_line(d, "cluster_speedup.json")


# ------------------------------------------------------------------------------------------- blocks from the code
def cli_commands() -> list[tuple[str, Any]]:
    """(`edgekit CMD [SUB]`, click command) for every command of the Typer app, in `--help` order."""
    import typer.main

    from edgekit.cli.app import app

    found: list[tuple[str, Any]] = []

    def walk(prefix: str, group: Any) -> None:
        for name, cmd in group.commands.items():
            if hasattr(cmd, "commands"):
                walk(f"{prefix} {name}", cmd)
            else:
                found.append((f"{prefix} {name}", cmd))

    walk("edgekit", typer.main.get_command(app))
    return found


def _option_cell(param: Any) -> str:
    """`--opt` or `--opt/--no-opt`, with its default when it has one worth stating."""
    names = "/".join([*param.opts, *param.secondary_opts])
    default = param.default
    if param.is_flag or default is None or default == () or default is False:
        return f"`{names}`"
    return f"`{names}` ({default})"


def _argument_cell(param: Any) -> str:
    """MODEL, MODELS... or [PATTERN] (optional)."""
    text = param.name.upper() + ("..." if param.nargs == -1 else "")
    return text if param.required else f"[{text}]"


@block("commands", None)
def render_commands() -> str:
    """Every command with its arguments, first help sentence and options, read from the Typer app."""
    rows = []
    for name, cmd in cli_commands():
        args = " ".join(_argument_cell(p) for p in cmd.params if p.param_type_name == "argument")
        opts = ", ".join(_option_cell(p) for p in cmd.params if p.param_type_name == "option")
        what = (cmd.help or "").strip().split("\n\n")[0].replace("\n", " ").replace("|", "\\|").replace("<", "&lt;")
        rows.append([f"`{name}{' ' + args if args else ''}`", what, opts.replace("|", "\\|")])
    return table(["command", "what it does", "options (default)"], rows) + (
        "\n<sub>Generated by `benchmarks/readme_evidence.py` from the Typer app "
        "(`edgekit CMD --help` says more).</sub>\n"
    )


def weights_origin(spec: Any) -> str:
    """Where `--weights imagenet` takes this model's weights from: a publisher's checkpoint edgekit ports, or Keras."""
    from edgekit.models.ported import port_for

    port = port_for(spec.name)
    if port is not None:
        return f"{port.publisher} `{port.architecture}` (ported)"
    return "Keras (`keras.applications`)" if spec.imagenet_weights else "none published"


@block("models", None)
def render_models() -> str:
    """The zoo from the registry: size, cost, where its pretrained weights come from and their published top-1."""
    from edgekit.models.registry import list_models

    rows = []
    for spec in list_models():
        top1 = spec.published_top1
        top1_text = "-" if top1 is None else f"{100 * top1.value:.1f} %"
        rows.append([f"`{spec.name}`", spec.display_name, f"{spec.params / 1e6:.1f} M", f"{spec.macs / 1e9:.2f} G",
                     str(spec.default_input_size), weights_origin(spec), top1_text, spec.use_case])  # fmt: skip
    head = ["name", "model", "parameters", "MACs", "input", "pretrained weights", "ImageNet top-1", "use case"]
    return table(head, rows) + "\n<sub>Generated by `benchmarks/readme_evidence.py` from the model registry.</sub>\n"


def _load_of(d: dict[str, Any]) -> str:
    load = start_load(d)
    return "-" if load is None else f"{load:.1f}"


SUMMARY_FILES = (
    "fit.json",
    "predict-vs-measure.json",
    "export-speed.json",
    "compare_speed.json",
    "benchmark-app.json",
    "profile-throughput.json",
)


@block("summary", SUMMARY_FILES)
def render_summary(d: dict[str, dict[str, Any]]) -> str:
    """README's short table: the figure a newcomer needs from each evidence file, with its load and a link."""
    fit_summary = d["fit.json"]["summary"]
    fit = (fit_summary.get("leave_one_model_out") or fit_summary)["all_deployed"]
    pvm = d["predict-vs-measure.json"]["summary"]
    exp, cmp_, app = d["export-speed.json"], d["compare_speed.json"], d["benchmark-app.json"]
    rows = [
        ["prediction for a board: published rows of models the fit never saw (leave-one-model-out)",
         f"median error {pct(fit['median_abs_error'])}, worst {fit['worst_factor']:.2f}x, "
         f"{100 * fit.get('band_coverage', 0):.0f} % inside the band (n = {fit['n']})", "-",
         "[fit](docs/evidence.md#prediction-on-published-rows-leave-one-out)"],
        ["`--target host` prediction vs measured here",
         f"median error {pct(pvm['median_abs_error_held_out'])}, worst {pvm['worst_factor']:.2f}x",
         _load_of(d["predict-vs-measure.json"]),
         "[host](docs/evidence.md#prediction-against-measurement-on-this-machine)"],
        [f"`edgekit export {exp['model']} --int8` (3 formats, fidelity included)", f"{exp['best_cli_s']:.0f} s",
         _load_of(exp), "[speed](docs/evidence.md#speed)"],
        [f"`edgekit compare --target {cmp_.get('target', '?')}` over {len(cmp_.get('models', []))} models",
         f"first call {cmp_.get('first_s', float('nan')):.0f} s, then {cmp_.get('repeated_s', float('nan')):.1f} s "
         "(cached)", _load_of(cmp_), "[compare](docs/evidence.md#compares-speed)"],
        ["edgekit's latency / OpenVINO `benchmark_app`'s", f"{app['ratio_paired_median']:.2f}", _load_of(app),
         "[benchmark_app](docs/evidence.md#speed)"],
        ["edgekit's throughput / `benchmark_app -hint throughput`'s",
         f"{d['profile-throughput.json']['ratio_paired_median']:.2f}", _load_of(d["profile-throughput.json"]),
         "[throughput](docs/evidence.md#speed)"],
    ]  # fmt: skip
    return table(["what", "figure", "load at start", "details"], rows) + (
        "\n<sub>Generated by `benchmarks/readme_evidence.py` from `benchmarks/results/` "
        f"({', '.join(SUMMARY_FILES)}); this machine has 2 cores, so a load above 2 inflates the times.</sub>\n"
    )


@block("install-size", "install-size.json")
def render_install_size(d: dict[str, Any]) -> str:
    """benchmarks/install_size.py: what each extra pulls onto disk."""
    what = {"cli": "the `edgekit` command line alone (typer, rich, pillow)", "device": "a board's runner: LiteRT",
            "tf": "TensorFlow, Keras, tf2onnx, LiteRT (build, train, TFLite export)",
            "onnx": "ONNX + ONNX Runtime", "openvino": "OpenVINO + NNCF", "report": "matplotlib (HTML report, plots)",
            "ray": "Ray, for --ray (a cluster)",
            "all": "everything a workstation needs",
            "test": "all + pytest, ruff and the test-time reference tools"}  # fmt: skip
    rows = [
        [f"`edgekit[{r['extra']}]`", what.get(r["extra"], ""), f"{r['mb']:,} MB",
         ", ".join(f"{x['package']} {x['mb']:,} MB" for x in r["largest"][:3])]
        for r in d["rows"]
    ]  # fmt: skip
    return table(["extra", "for", "installed size", "largest packages"], rows) + (
        f"\n<sub>Generated by `benchmarks/readme_evidence.py` from `benchmarks/results/install-size.json` "
        f"(`python benchmarks/install_size.py`, {d.get('date', '?')}, commit {(d.get('commit') or '?')[:10]}).</sub>\n"
    )


@block("quickstart", "quickstart.json")
def render_quickstart(d: dict[str, Any]) -> str:
    """benchmarks/quickstart.py: the quick start's commands, their real output and how long each took."""
    out = ""
    for step in d["steps"]:
        out += f"```console\n$ {step['command']}\n" + "\n".join(step["output"]) + "\n```\n"
        out += f"({step['wall_s']:.0f} s, exit {step['exit_code']})\n\n"
    return out + provenance_line(d, "quickstart.json")


# ------------------------------------------------------------------------------------------------------ the engine
def results_path(name: str, results_dir: Path = RESULTS_DIR) -> Path:
    """A results file: a bare name lives in results_dir; a path with a folder is relative to the repository (data
    that edgekit itself reads at run time ships in the package, e.g. edgekit/costmodel/data/ort-instructions.json)."""
    return REPO / name if "/" in name else results_dir / name


def load_results(name: str | tuple[str, ...] | None, results_dir: Path) -> Any:
    if name is None:
        return None
    if isinstance(name, tuple):
        return {n: load_results(n, results_dir) for n in name}
    path = results_path(name, results_dir)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise EvidenceError(f"{path} is missing: run the benchmark that writes it") from None
    except json.JSONDecodeError as exc:
        raise EvidenceError(f"{path} is not valid JSON: {exc}") from None


def render(text: str, results_dir: Path = RESULTS_DIR, only: set[str] | None = None) -> str:
    """README text with every evidence block (or those named in `only`) regenerated from its JSON."""
    opened = OPEN_RE.findall(text)
    closed = [m.group(1) for m in BLOCK_RE.finditer(text)]
    if sorted(opened) != sorted(closed):
        unclosed = sorted(set(opened) - set(closed)) or opened
        raise EvidenceError(f"evidence block without its <!-- /evidence:NAME --> end marker: {', '.join(unclosed)}")
    unknown = sorted(set(opened) - BLOCKS.keys())
    if unknown:
        raise EvidenceError(f"no renderer registered for block(s): {', '.join(unknown)}")

    def fill(m: re.Match[str]) -> str:
        if only is not None and m.group(1) not in only:
            return m.group(0)
        b = BLOCKS[m.group(1)]
        data = load_results(b.results, results_dir)
        body = (b.render() if data is None else b.render(data)).rstrip("\n") + "\n"
        return f"<!-- evidence:{b.name} -->\n{body}<!-- /evidence:{b.name} -->"

    return BLOCK_RE.sub(fill, text)


def check(readme: Path = README, results_dir: Path = RESULTS_DIR) -> str:
    """The unified diff between README and what the JSON says ('' when they agree)."""
    text = readme.read_text()
    fresh = render(text, results_dir)
    diff = difflib.unified_diff(
        text.splitlines(keepends=True), fresh.splitlines(keepends=True), str(readme), "generated from the JSON"
    )
    return "".join(diff)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 with the diff when README.md disagrees")
    ap.add_argument("--list", action="store_true", help="list the registered blocks")
    ap.add_argument(
        "--readme",
        type=Path,
        action="append",
        help="a page to check or rewrite (repeatable); default: README.md, CONTRIBUTING.md and docs/*.md",
    )
    ap.add_argument("--results", type=Path, default=RESULTS_DIR, help="folder of the results JSON")
    ap.add_argument("--only", default="", help="rewrite only these blocks (comma-separated names)")
    args = ap.parse_args(argv)
    if args.list:
        for b in BLOCKS.values():
            files = () if b.results is None else (b.results,) if isinstance(b.results, str) else b.results
            missing = [f for f in files if not results_path(f, args.results).is_file()]
            print(f"{b.name:20} {', '.join(files) or '(from the code)'}{'  (missing)' if missing else ''}")
        return 0
    try:
        return sum(run_page(page, args) for page in args.readme or pages() if page.is_file()) and 1
    except (EvidenceError, KeyError, OSError) as exc:
        print(f"error: {exc if not isinstance(exc, KeyError) else f'results file lacks the key {exc}'}")
        return 2


def run_page(page: Path, args: argparse.Namespace) -> int:
    """Check or rewrite one page; 1 when --check finds it stale. An error raises (main turns it into exit 2)."""
    if args.check:
        diff = check(page, args.results)
        if diff:
            print(diff, end="")
            print(f"{page}: generated blocks differ from their sources; run python benchmarks/readme_evidence.py")
            return 1
        print(f"{page}: every generated block matches its source")
        return 0
    text = page.read_text()
    only = {x.strip() for x in args.only.split(",") if x.strip()} or None
    if only and only - BLOCKS.keys():
        raise EvidenceError(f"no renderer registered for block(s): {', '.join(sorted(only - BLOCKS.keys()))}")
    fresh = render(text, args.results, only)
    if fresh != text:
        tmp = page.with_name(f".{page.name}.tmp")
        tmp.write_text(fresh)
        tmp.replace(page)  # atomic: a reader never sees half a page
    print(f"{page}: {len(only or BLOCK_RE.findall(fresh))} generated block(s) regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
