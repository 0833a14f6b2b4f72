"""What `edgekit export MODEL --int8` costs for every model of the zoo: wall time and peak memory, per format.

    python benchmarks/export_memory.py [--models vgg19,resnet50,...] [--no-bare] [--kill-above 16]
                                       [--out benchmarks/results/export_memory.json]
    python benchmarks/export_memory.py --readme   # print the README table from the JSON (no measuring)
    python benchmarks/export_memory.py --update-readme   # and write it into docs/evidence.md's export-memory block
    python benchmarks/export_memory.py --merge OTHER.json   # add another run's models (each keeps its provenance)

For each model (default input size, default options: the three default formats, 200 builtin calibration images,
32 held out) it runs the real CLI in a subprocess and samples the resident memory (RSS) of the whole process tree
(the CLI and its ONNX/OpenVINO side process) every 0.2 s. Each sample is filed under what each process was doing
then: the CLI's progress lines (stderr) and the side process's stage file (EDGEKIT_STAGE_FILE, read from its
environment), so the JSON gives per format the peak of the whole tree while that format was being converted, next
to its convert/total seconds from the manifests.

The comparison ("bare") is what the converters need on their own: for each format a fresh Python that builds the
model, makes the same calibration images and runs only that converter (TFLite: TFLiteConverter INT8; ONNX: tf2onnx +
quantize_static; OpenVINO: convert_model(Keras) + nncf.quantize), with its time and peak RSS. Memory and time of the
full export should stay within a small factor of the largest bare conversion.

Results go to the JSON after every model (a long run that is cut short keeps what it measured), with tool versions,
git commit, machine, load average and date. --kill-above stops a run whose tree exceeds that many GB (the machine
is shared); --min-free waits (up to 10 min) for that much available memory before a model with > 50M parameters.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the shared writer beside this script
import _results  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results" / "export_memory.json"
FORMATS = ("tflite", "onnx", "openvino")
BUDGETS = {"vgg19": (10.0, 300.0), "resnet50": (5.0, 300.0)}  # issue 16: GB peak, seconds
GB = 1e9

BARE = r"""
import json, resource, sys, time
from edgekit.quiet import quiet_env, quiet_tf
quiet_env()
from pathlib import Path
from edgekit.data import calibration as data
from edgekit.models.registry import create_model, get_spec
name, fmt, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
spec = get_spec(name)
size = spec.default_input_size
with quiet_tf():
    model = create_model(spec.name, size, 1000, None, "none")
calib = data.builtin(200, size, spec.preprocess, 0)
setup_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
t0 = time.perf_counter()
with quiet_tf():
    if fmt == "tflite":
        from edgekit.exporting.formats.tflite import keras2tflite
        keras2tflite(model, "int8", calib, "int8")
    elif fmt == "onnx":
        from edgekit.exporting.formats.onnx import int8_settings, keras2onnx, quantize_onnx
        keras2onnx(model, work / "m.onnx")
        quantize_onnx(work / "m.onnx", work / "q.onnx", calib, work, int8_settings())
    else:
        import openvino as ov
        from edgekit.exporting.formats.openvino import nncf_quantize
        ov_model = ov.convert_model(model, input=[[1, size, size, 3]])
        nncf_quantize(ov_model, calib, spec.name)
print(json.dumps({"convert_s": time.perf_counter() - t0, "setup_peak_bytes": setup_peak,
                  "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


# --- process-tree sampling --------------------------------------------------------------------------------------
def tree(pid: int) -> list[int]:
    """pid and all its descendants, from /proc (no psutil needed)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def stage_file(pid: int) -> Path | None:
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in env:
        if item.startswith(b"EDGEKIT_STAGE_FILE="):
            return Path(item.split(b"=", 1)[1].decode())
    return None


def format_of(text: str) -> str | None:
    m = re.search(r"(?:-> |^)(tflite|onnx|openvino)\b", text)
    return m.group(1) if m else None


class Sampler:
    """Peak RSS of a process tree, overall and per format being converted (by the CLI or its side process)."""

    def __init__(self, pid: int, kill_above: float):
        self.pid, self.kill_above = pid, kill_above
        self.peak, self.by_format, self.cli_step, self.killed = 0, {}, "", False
        self.timeline: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = tree(self.pid)
            total = sum(rss_bytes(p) for p in pids)
            active = {format_of(self.cli_step)}
            for p in pids[1:]:
                f = stage_file(p)
                if f is not None and f.exists():
                    active.add(format_of(f.read_text()))
            self.peak = max(self.peak, total)
            for fmt in active - {None}:
                self.by_format[fmt] = max(self.by_format.get(fmt, 0), total)
            if not self.timeline or time.perf_counter() - self._t0 - self.timeline[-1][0] >= 2:
                self.timeline.append((round(time.perf_counter() - self._t0, 1), round(total / GB, 2)))
            if total > self.kill_above * GB and not self.killed:
                self.killed = True
                for p in reversed(pids):
                    try:
                        os.kill(p, 9)
                    except ProcessLookupError:
                        pass
            self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


# --- runs -------------------------------------------------------------------------------------------------------
CODE = REPO  # --code: a `git archive` copy of a commit, so that edits to the checkout during a long run do not leak in


def child_env() -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONUNBUFFERED="1", COLUMNS="200")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CODE), env.get("PYTHONPATH")]))
    return env


def run_export(model: str, out: Path, kill_above: float) -> dict[str, Any]:
    cli = "import sys; from edgekit.cli.app import main; main(sys.argv[1:])"
    cmd = [sys.executable, "-c", cli, "export", model, "--int8", "--out", str(out), "--json"]
    stage_log = out / "stages.tsv"  # out is the run's own temporary folder
    env = dict(child_env(), EDGEKIT_STAGE_LOG=str(stage_log))
    speed = cpu_speed_gflops()
    t0, wall0, cpu0 = time.perf_counter(), time.time(), children_cpu_s()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    sampler = Sampler(proc.pid, kill_above)
    err_lines = []
    assert proc.stderr is not None
    for line in proc.stderr:
        err_lines.append(line.rstrip())
        if "exporting" in line or "waiting for" in line or "done in" in line:
            sampler.cli_step = line.strip()
    stdout = proc.stdout.read() if proc.stdout else ""
    proc.wait()
    wall, cpu = time.perf_counter() - t0, children_cpu_s() - cpu0
    sampler.stop()
    try:
        records = json.loads(stdout)
    except ValueError:
        records = []
    formats = {}
    for r in records:
        manifest = {}
        if r.get("manifest") and Path(r["manifest"]).exists():
            manifest = json.loads(Path(r["manifest"]).read_text())
        formats[r["format"]] = {
            "status": r["status"],
            "error": r.get("error"),
            "convert_s": manifest.get("timings_s", {}).get("convert"),
            "total_s": manifest.get("timings_s", {}).get("total"),
            "peak_tree_gb": round(sampler.by_format.get(r["format"], 0) / GB, 2),
            "cosine": (r.get("fidelity") or {}).get("cosine"),
        }
    return {
        "command": " ".join(["edgekit", *cmd[3:]]),
        "exit_code": proc.returncode,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),  # user + system of the whole tree: less moved by other jobs than wall time
        "cpu_speed_gflops": speed,  # one core, float32 matmul, measured just before the run
        "peak_tree_gb": round(sampler.peak / GB, 2),
        "stopped_above_gb": kill_above if sampler.killed else None,
        "formats": formats,
        "rss_timeline_gb": sampler.timeline,
        "stages": read_stages(stage_log, wall0, proc.pid),
        "stderr_tail": [ln for ln in err_lines if ln.strip()][-4:] if proc.returncode else [],
    }


SPEED_PROBE = r"""
import time, numpy as np
a = np.random.default_rng(0).random((512, 512), dtype=np.float32)
best = 0.0
for _ in range(5):
    t, n = time.perf_counter(), 0
    while time.perf_counter() - t < 0.3:
        a @ a
        n += 1
    best = max(best, n * 2 * 512**3 / (time.perf_counter() - t))
print(best / 1e9)
"""


def cpu_speed_gflops() -> float | None:
    """One core's float32 matmul speed just before a run: on a shared VM an export's CPU seconds move with it
    (VGG19's took 17 % more CPU-s in one hour than in another, for nearly the same code), so each run says how fast
    the CPU was."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    res = subprocess.run([sys.executable, "-c", SPEED_PROBE], capture_output=True, text=True, env=env)
    try:
        return round(float(res.stdout.strip()), 1)
    except ValueError:
        return None


def read_stages(path: Path, wall0: float, cli_pid: int) -> list[list[Any]]:
    """[seconds since start, "cli" or "side", that process's CPU seconds so far, stage] at every stage change
    (edgekit.exporting.stagelog.stage writes them when EDGEKIT_STAGE_LOG is set): where the wall time went."""
    rows = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return rows
    for line in lines:
        parts = line.split("\t", 3)
        if len(parts) == 4:
            when, pid, cpu, text = parts
            rows.append([round(float(when) - wall0, 1), "cli" if int(pid) == cli_pid else "side", float(cpu), text])
    return rows


REPEAT_KEYS = ("exit_code", "wall_s", "cpu_s", "peak_tree_gb", "cpu_speed_gflops")


def repeated_export(name: str, kill_above: float, n: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Export n times back to back: (the run of median wall time, in full; every run's totals when n > 1)."""
    runs = []
    for i in range(n):
        if n > 1:
            print(f"{name}: run {i + 1} of {n}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix="edgekit-bench-") as out:
            runs.append(run_export(name, Path(out), kill_above))
    median = sorted(runs, key=lambda r: r["wall_s"])[(n - 1) // 2]
    return median, [{k: r.get(k) for k in REPEAT_KEYS} for r in runs] if n > 1 else []


def children_cpu_s() -> float:
    """User + system seconds of the waited-for children (and theirs, the side process included)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_bare(model: str, fmt: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="edgekit-bare-") as work:
        t0, cpu0 = time.perf_counter(), children_cpu_s()
        res = subprocess.run(
            [sys.executable, "-c", BARE, model, fmt, work], capture_output=True, text=True, env=child_env()
        )
        wall, cpu = time.perf_counter() - t0, children_cpu_s() - cpu0
    if res.returncode != 0:
        return {"error": (res.stderr.strip().splitlines() or ["?"])[-1][:300], "exit_code": res.returncode}
    out = json.loads(res.stdout.strip().splitlines()[-1])
    return {
        "convert_s": round(out["convert_s"], 1),
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "peak_gb": round(out["peak_bytes"] / GB, 2),
        "setup_peak_gb": round(out["setup_peak_bytes"] / GB, 2),
    }


# --- provenance and results ---------------------------------------------------------------------------------------
# Converters and runtimes whose versions an export's memory depends on.
TOOLS = ("edgekit", "tensorflow-cpu", "keras", "tf2onnx", "onnx", "onnxruntime", "openvino", "nncf", "numpy")


def provenance() -> dict[str, Any]:
    """The shared provenance (benchmarks/_results.py) in this file's layout: the commit of the code run (--code's
    copy when given), whether edgekit's tree differs from it, versions and the machine."""
    commit, dirty = _results.git_commit(CODE)
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "git_commit": commit,
        "edgekit_tree_dirty": dirty,
        "versions": _results.versions(TOOLS),
        "machine": {
            "cpu": _results.cpu_model(),
            "cores": _results.cores(),
            "memory_gb": _results.memory_gb(),
            "os": f"{platform.system()} {platform.release()}",
        },
    }


def available_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024 / GB
    return 0.0


def wait_for_memory(need_gb: float, limit_s: float = 600) -> float:
    t0 = time.time()
    while available_gb() < need_gb and time.time() - t0 < limit_s:
        time.sleep(15)
    return available_gb()


def zoo() -> list[tuple[str, int, int]]:
    from edgekit.models.registry import list_models

    return [(s.name, s.default_input_size, s.params or 0) for s in list_models()]


# --- README table -------------------------------------------------------------------------------------------------
def _cell(seconds: float | None, gb: float | None, status: str | None = None) -> str:
    if seconds is None:
        return status or "-"
    return f"{seconds:.0f} s, {gb:.1f} GB" if gb else f"{seconds:.0f} s"


def readme_table(doc: dict[str, Any]) -> str:
    """The README's table, generated from the JSON (never typed by hand)."""
    m = doc["machine"]
    runs = doc.get("runs") or [doc]
    loads = [x for r in runs for x in (r.get("load_before") or [])[:1] + (r.get("load_after") or [])[:1]]
    commits = ", ".join(dict.fromkeys(r["git_commit"][:8] for r in runs))
    lines = [
        f"`python benchmarks/export_memory.py` ({doc['date'][:10]}, {m['cores']} cores, {m['memory_gb']:.0f} GB, "
        f"commit {commits}): `edgekit export MODEL --int8`, default size and options. Peak = resident memory of the "
        "whole process tree (CLI + side process), overall and while each format converted; s = that format's "
        "conversion; bare = the converter alone in a fresh process (build + calibration images not counted in s)."
        + (
            f" 1-minute load average {min(loads):.0f}-{max(loads):.0f} on 2 cores during the runs (other jobs):"
            " seconds are inflated by it, memory is not."
            if loads
            else ""
        ),
        "",
        "| model | params | wall | peak | TFLite | ONNX | OpenVINO | bare TFLite | bare ONNX | bare OpenVINO |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in doc["models"].items():
        run, bare = r["export"], r.get("bare", {})
        cells = []
        for fmt in FORMATS:
            f = run["formats"].get(fmt, {})
            cells.append(_cell(f.get("convert_s"), f.get("peak_tree_gb"), f.get("status")))
        for fmt in FORMATS:
            b = bare.get(fmt, {})
            status = "not run" if "bare" not in r else ("stopped" if b.get("error") else None)
            cells.append(_cell(b.get("convert_s"), b.get("peak_gb"), status))
        stopped = " (stopped)" if run.get("stopped_above_gb") else ""
        if not stopped and run.get("exit_code"):
            stopped = f" (exit {run['exit_code']})"
        cpu = f", {run['cpu_s']:.0f} CPU-s" if run.get("cpu_s") is not None else ""
        lines.append(
            f"| {name} | {r['params'] / 1e6:.1f} M | {run['wall_s']:.0f} s{cpu}{stopped} | "
            f"{run['peak_tree_gb']:.1f} GB | " + " | ".join(cells) + " |"
        )
    lines += growth_lines(doc)
    lines += budget_lines(doc)
    missing = doc.get("not_measured") or []
    if missing:
        lines += ["", f"Not measured (the run was cut short): {', '.join(missing)}."]
    return "\n".join(lines)


def growth_lines(doc: dict[str, Any]) -> list[str]:
    """How peak memory grows with the model, the export's against its largest bare converter's (a least-squares line
    in the float32 weight bytes), and the export's CPU seconds against the three bare converters' together."""
    import numpy as np

    rows = [
        (r["params"] * 4 / GB, r["export"], [b for b in r["bare"].values() if not b.get("error")])
        for r in doc["models"].values()
        if r.get("bare") and r["export"].get("exit_code") == 0
    ]
    rows = [(w, e, b) for w, e, b in rows if len(b) == len(FORMATS)]
    if len(rows) < 3:
        return []
    weights = np.array([w for w, _, _ in rows])
    design = np.vstack([np.ones_like(weights), weights]).T

    def fit(peaks: list[float]) -> tuple[float, float]:
        base, slope = np.linalg.lstsq(design, np.array(peaks), rcond=None)[0]
        return float(base), float(slope)

    export = fit([e["peak_tree_gb"] for _, e, _ in rows])
    bare = fit([max(x["peak_gb"] for x in b) for _, _, b in rows])
    ratios = [e["cpu_s"] / sum(x["cpu_s"] for x in b) for _, e, b in rows if e.get("cpu_s")]
    verdict = "no faster than" if export[1] <= bare[1] else "FASTER than"
    out = [
        "",
        f"Growth over the {len(rows)} models with both: peak memory of the export = {export[0]:.1f} GB + "
        f"{export[1]:.1f} x the float32 weights; of the largest bare converter = {bare[0]:.1f} GB + {bare[1]:.1f} x "
        f"(least squares). Per weight byte the export grows {verdict} a converter alone; its base is "
        f"{export[0] - bare[0]:+.1f} GB (two processes, each with its runtimes loaded).",
    ]
    if ratios:
        out[-1] += (
            f" CPU seconds of the export / of the three bare converters together: median {np.median(ratios):.2f}, "
            f"{min(ratios):.2f}-{max(ratios):.2f} over {len(ratios)} models (the export also builds the float "
            "reference, checks fidelity in each runtime and, for a damaged INT8 model, runs the layer report)."
        )
    return out


def budget_lines(doc: dict[str, Any]) -> list[str]:
    """Issue 16's budgets, each judged on its own: memory does not depend on the load, wall time does."""
    out = []
    for name, r in doc["models"].items():
        b, run = r.get("budget"), r["export"]
        if not b:
            continue
        runs = r.get("repeats") or [run]  # every run is judged; the table shows the median one
        mem_ok = all(x["exit_code"] == 0 and x["peak_tree_gb"] <= b["peak_gb"] for x in runs)
        time_ok = all(x["exit_code"] == 0 and x["wall_s"] <= b["wall_s"] for x in runs)
        bare_cpu = sum(x.get("cpu_s") or 0 for x in (r.get("bare") or {}).values())
        load = (r.get("load_after") or [None])[0]
        walls, peaks = [x["wall_s"] for x in runs], [x["peak_tree_gb"] for x in runs]
        speeds = [x["cpu_speed_gflops"] for x in runs if x.get("cpu_speed_gflops")]
        spread = (
            f" ({len(runs)} runs: {min(walls):.0f}-{max(walls):.0f} s, {min(peaks):.1f}-{max(peaks):.1f} GB)"
            if len(runs) > 1
            else ""
        )
        speed = (
            f"; one core did {min(speeds):.0f}-{max(speeds):.0f} GFLOP/s (float32 matmul) before each run"
            if speeds
            else ""
        )
        out.append(
            f"- {name}: peak {run['peak_tree_gb']:.1f} GB against {b['peak_gb']:.0f} GB: "
            f"{'met' if mem_ok else 'not met'}; wall {run['wall_s']:.0f} s against {b['wall_s']:.0f} s: "
            f"{'met' if time_ok else 'not met'}{spread}"
            + (f" (1-minute load {load:.1f} after the run)" if load is not None else "")
            + speed
            + (
                f"; the three bare converters alone took {bare_cpu:.0f} CPU-s, the export {run['cpu_s']:.0f}"
                if bare_cpu and run.get("cpu_s")
                else ""
            )
            + "."
        )
    stages = [
        f"- {name}: {stage_line(r['export']['stages'])}"
        for name, r in doc["models"].items()
        if r.get("budget") and r["export"].get("stages")
    ]
    if stages:
        out += [
            "",
            "Where the wall time went (seconds per stage, the run above; the side process runs beside the "
            "CLI from its first stage):",
            *stages,
        ]
    return ["", "Budgets (the wall time and peak memory a large model's export must stay within):", *out] if out else []


def stage_line(stages: list[list[Any]]) -> str:
    """'CLI: stage s, ...; side process: stage s, ...' from the stage log (stages under half a second left out)."""
    parts = []
    for who, label in (("cli", "CLI"), ("side", "side process")):
        rows = [s for s in stages if s[1] == who]
        spans = [
            f"{text.split(' (')[0]} {nxt[0] - t:.0f}"
            for (t, _, _, text), nxt in zip(rows, rows[1:], strict=False)
            if nxt[0] - t >= 0.5
        ]
        if spans:
            parts.append(f"{label}: " + ", ".join(spans))
    return "; ".join(parts)


RUN_KEYS = ("date", "git_commit", "edgekit_tree_dirty", "versions", "machine", "command", "load_before", "load_after")


def run_list(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """doc's "runs" (provenance per run; each model's "run" indexes it), made from its top-level keys if a single
    run wrote it."""
    runs = doc.setdefault("runs", [{k: doc.get(k) for k in RUN_KEYS}])
    for entry in doc["models"].values():
        entry.setdefault("run", 0)
    return runs


def merge(doc: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Add the models of another run (e.g. two runs side by side on a busy machine); each model keeps its run's
    provenance under "runs" (an index into it)."""
    runs = run_list(doc)
    runs.append({k: other.get(k) for k in RUN_KEYS})
    for name, entry in other["models"].items():
        old = doc["models"].get(name, {})
        doc["models"][name] = {**entry, "run": len(runs) - 1}
        if "bare" not in entry and "bare" in old:  # a rerun of the export alone keeps the earlier bare figures
            doc["models"][name].update(bare=old["bare"], bare_run=old.get("bare_run", old["run"]))
    doc["not_measured"] = [
        m for m in other.get("not_measured", []) + doc.get("not_measured", []) if m not in doc["models"]
    ]
    doc["not_measured"] = list(dict.fromkeys(doc["not_measured"]))
    return doc


def add_bare(path: Path, names: list[str] | None, stop_after_min: float | None) -> int:
    """Bare conversions for models already exported (smallest first), filed with this run's own provenance."""
    doc = json.loads(path.read_text())
    runs = run_list(doc)
    run = {**provenance(), "command": " ".join(["python", *sys.argv]), "load_before": list(os.getloadavg())}
    runs.append({k: run.get(k) for k in RUN_KEYS})
    todo = names or sorted(
        (m for m in doc["models"] if "bare" not in doc["models"][m]), key=lambda m: doc["models"][m]["params"]
    )
    t0 = time.time()
    for name in todo:
        if stop_after_min is not None and time.time() - t0 > stop_after_min * 60:
            print(f"stopping: {stop_after_min} min passed; not run: {name} and after", file=sys.stderr)
            break
        print(f"{name}: bare conversions", file=sys.stderr, flush=True)
        doc["models"][name].update(bare={fmt: run_bare(name, fmt) for fmt in FORMATS}, bare_run=len(runs) - 1)
        runs[-1]["load_after"] = [round(x, 2) for x in os.getloadavg()]
        _results.write_json(path, doc, indent=1)
    return 0


README_START, README_END = "<!-- evidence:export-memory -->", "<!-- /evidence:export-memory -->"  # readme_evidence.py


def update_readme(doc: dict[str, Any], readme: Path) -> bool:
    """Replace the block between the markers in README.md with the table; False when the markers are absent."""
    return _results.replace_readme_block(readme, README_START, README_END, readme_table(doc))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", help="comma-separated (default: the whole registry, VGG19 and ResNet50 first)")
    ap.add_argument("--no-bare", action="store_true", help="skip the bare conversions")
    ap.add_argument("--repeat", type=int, default=1, help="export the budget models (VGG19, ResNet50) this often")
    ap.add_argument("--kill-above", type=float, default=16.0, help="stop a run whose tree exceeds this many GB")
    ap.add_argument("--min-free", type=float, default=14.0, help="GB available before a model over 50M parameters")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--readme", action="store_true", help="print the README table from --out and exit")
    ap.add_argument("--update-readme", action="store_true", help="write that table into README.md and exit")
    ap.add_argument("--merge", type=Path, help="add the models of this other results file to --out and exit")
    ap.add_argument(
        "--resume", action="store_true", help="keep the models already in --out, measure the others (and --models)"
    )
    ap.add_argument("--code", type=Path, help="run the edgekit of this `git archive` copy (with a .commit file)")
    ap.add_argument(
        "--bare-only", action="store_true", help="add the bare conversions to the models of --out that lack them"
    )
    ap.add_argument(
        "--stop-after", type=float, help="start no new model after this many minutes (exports or --bare-only)"
    )
    args = ap.parse_args(argv)
    global CODE
    CODE = (args.code or REPO).resolve()
    if args.bare_only:
        sys.path.insert(0, str(CODE))
        return add_bare(args.out, args.models.split(",") if args.models else None, args.stop_after)
    if args.merge:
        doc = merge(json.loads(args.out.read_text()), json.loads(args.merge.read_text()))
        _results.write_json(args.out, doc, indent=1)
        print(readme_table(doc))
        return 0
    if args.readme or args.update_readme:
        doc = json.loads(args.out.read_text())
        if args.update_readme and not update_readme(doc, REPO / "docs" / "evidence.md"):
            print(f"README.md has no {README_START} ... {README_END} block", file=sys.stderr)
            return 1
        print(readme_table(doc))
        return 0
    sys.path.insert(0, str(CODE))
    models = zoo()
    if args.models:
        wanted = args.models.split(",")
        models = [m for name in wanted for m in models if m[0] == name]
    else:  # the two budgets first, then smallest first: a run cut short still covers most of the zoo
        models.sort(key=lambda m: (m[0] not in BUDGETS, m[0] != "vgg19", m[2]))
    doc = {
        **provenance(),
        "command": " ".join(["python", *sys.argv]),
        "load_before": list(os.getloadavg()),
        "models": {},
    }
    earlier = json.loads(args.out.read_text()) if args.resume and args.out.exists() else None
    if earlier:  # keep what earlier runs measured (each model keeps its run's provenance); measure the rest
        redo = set(args.models.split(",")) if args.models else set()
        models = [m for m in models if m[0] not in earlier["models"] or m[0] in redo]
    doc["not_measured"] = [m[0] for m in models]
    queue, deferred, t0 = list(models), set(), time.time()
    while queue:
        if args.stop_after is not None and time.time() - t0 > args.stop_after * 60:
            print(f"stopping: {args.stop_after} min passed; not run: {', '.join(q[0] for q in queue)}", file=sys.stderr)
            break
        name, size, params = queue.pop(0)
        if params > 50e6 and available_gb() < args.min_free:
            print(f"{name}: waiting for {args.min_free} GB available ({available_gb():.1f} now)", file=sys.stderr)
            if wait_for_memory(args.min_free, 60 if name not in deferred else 600) < args.min_free:
                if name not in deferred and queue:  # the machine is shared: try the others first
                    deferred.add(name)
                    queue.append((name, size, params))
                    continue
        print(f"{name}: edgekit export {name} --int8", file=sys.stderr, flush=True)
        entry = {"input_size": size, "params": params, "available_gb_before": round(available_gb(), 1)}
        entry["export"], repeats = repeated_export(name, args.kill_above, args.repeat if name in BUDGETS else 1)
        if len(repeats) > 1:
            entry["repeats"] = repeats
        if not args.no_bare:
            entry["bare"] = {fmt: run_bare(name, fmt) for fmt in FORMATS}
        if name in BUDGETS:
            gb, s = BUDGETS[name]
            runs = repeats or [entry["export"]]  # every run must meet it, not just the median one
            ok = all(r["peak_tree_gb"] <= gb and r["wall_s"] <= s and r["exit_code"] == 0 for r in runs)
            entry["budget"] = {"peak_gb": gb, "wall_s": s, "met": ok}
        entry["load_after"] = [round(x, 2) for x in os.getloadavg()]
        doc["models"][name] = entry
        doc["not_measured"].remove(name)
        doc["load_after"] = entry["load_after"]
        _results.write_json(args.out, merge(copy.deepcopy(earlier), doc) if earlier else doc, indent=1)
        e = entry["export"]
        print(
            f"{name}: exit {e['exit_code']}, {e['wall_s']:.0f} s, peak {e['peak_tree_gb']:.2f} GB "
            f"(bare: {json.dumps(entry.get('bare'))})",
            file=sys.stderr,
            flush=True,
        )
    print(readme_table(merge(copy.deepcopy(earlier), doc) if earlier else doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
