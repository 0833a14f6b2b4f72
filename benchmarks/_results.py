"""One way for every benchmark to file its figures: benchmarks/results/<name>.json, written atomically, with provenance.

Scripts that keep their own JSON layout (accuracy.py, export_memory.py) take its pieces instead: versions,
git_commit, cpu_model, memory_gb, load_now, write_json and replace_readme_block for README.md's block.

The provenance (UTC date, git commit, tool versions) is edgekit's own, the one `edgekit fit` records
(edgekit.costmodel.evidence.provenance); here it gains what a timing needs besides: the CPU model and core count,
the load average while it ran, and the versions of every runtime a benchmark may time.

README.md's and docs/evidence.md's blocks are generated from these files by benchmarks/readme_evidence.py.

A timing taken while other jobs run misleads more than it informs: the load average is read when this module is
imported (at a benchmark's start), and write_result/write_json refuse to write timed figures when it was above
MAX_LOAD (2.0, the cores of the build machine; EDGEKIT_BENCH_MAX_LOAD changes it) unless EDGEKIT_BENCH_ALLOW_LOAD=1
says to write them anyway. Either way the record keeps `load_at_start`, and the generated block shows the load.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "benchmarks" / "results"
DEFAULT_MAX_LOAD = 2.0
LOAD_AT_START = [round(x, 2) for x in os.getloadavg()]  # taken at import: the benchmark's start
TOOLS = ("edgekit", "tensorflow-cpu", "keras", "ai-edge-litert", "onnxruntime", "openvino", "nncf", "numpy")


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def versions(packages: tuple[str, ...] = TOOLS) -> dict[str, str]:
    """Python's version and each installed package's (absent ones are left out)."""
    found = {"python": platform.python_version()}
    found.update({p: v for p in packages if (v := _version(p)) != "absent"})
    return found


def git_commit(code: Path = REPO, paths: tuple[str, ...] = ("edgekit",)) -> tuple[str | None, bool]:
    """(commit, whether `paths` differ from it) of the code measured. `code` may be a `git archive` copy with a
    .commit file (made with: git archive COMMIT | tar -x -C DIR && echo COMMIT > DIR/.commit): never dirty."""
    if (code / ".commit").exists():
        return (code / ".commit").read_text().strip(), False
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=code, capture_output=True, text=True)
    if head.returncode != 0:
        return None, False
    status = subprocess.run(["git", "status", "--porcelain", "--", *paths], cwd=code, capture_output=True, text=True)
    return head.stdout.strip(), bool(status.stdout.strip())


def cpu_model() -> str:
    from edgekit.hardware.host import cpuinfo, cpuinfo_field

    return cpuinfo_field(cpuinfo(), "model name", "Model", "Hardware") or platform.processor() or "unknown"


def memory_gb() -> float | None:
    """Total RAM in GB (10^9 bytes, as the benchmarks count memory), from /proc/meminfo; None where there is none."""
    try:
        line = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
    except (OSError, StopIteration):
        return None
    return round(int(line.split()[1]) * 1024 / 1e9, 1)


def cores() -> int | None:
    return os.cpu_count()


def machine() -> dict[str, Any]:
    """CPU model, cores and the load average now (timings on a shared machine need the last one to be read)."""
    return {
        "cpu": cpu_model(),
        "cores": cores(),
        "arch": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "loadavg": load_now(),
    }


def provenance() -> dict[str, Any]:
    """edgekit's provenance (date, commit, versions) with the machine and every runtime's version."""
    from edgekit.costmodel.evidence import provenance as edgekit_provenance

    out = edgekit_provenance()
    out["versions"] = {
        **out.get("versions", {}),
        **{p: _version(p) for p in TOOLS},
        "python": platform.python_version(),
    }
    out["machine"] = machine()
    return out


class TooBusy(SystemExit):
    """The machine was busy when the benchmark started: its timings are not written (exit 1, one line)."""


def check_quiet(what: str, load: list[float] | None = None) -> None:
    """Refuse to file timings taken on a busy machine, unless EDGEKIT_BENCH_ALLOW_LOAD=1."""
    load = LOAD_AT_START if load is None else load
    limit = float(os.environ.get("EDGEKIT_BENCH_MAX_LOAD", DEFAULT_MAX_LOAD))
    if load[0] <= limit or os.environ.get("EDGEKIT_BENCH_ALLOW_LOAD") == "1":
        return
    print(
        f"error: not writing {what}: the 1-minute load average was {load[0]:.1f} at the start (above {limit:g}: "
        "other jobs share the cores); rerun on a quiet machine, or set EDGEKIT_BENCH_ALLOW_LOAD=1 to write it anyway "
        "(the block then shows the load)",
        file=sys.stderr,
    )
    raise TooBusy(1)


def write_result(name: str, figures: dict[str, Any], results_dir: Path | None = None, timed: bool = True) -> Path:
    """Write benchmarks/results/<name>.json: {provenance..., "benchmark", "command", "load_before", figures...}.

    `figures` should hold "load_before" (the load average when the run started) when the run is long: the
    provenance's own load average is taken at the end.
    """
    from edgekit.ioutil import write_json_atomic

    path = Path(results_dir or RESULTS_DIR) / f"{name}.json"
    if timed:
        check_quiet(str(path))
    record = {
        "benchmark": name,
        **provenance(),
        "command": " ".join(["python", *sys.argv]),
        "load_at_start": LOAD_AT_START,
        **figures,
    }
    write_json_atomic(path, record)
    print(f"results: {path}", file=sys.stderr)
    return path


def load_now() -> list[float]:
    """The 1, 5 and 15 minute load averages now."""
    return [round(x, 2) for x in os.getloadavg()]


def write_json(path: Path, doc: dict[str, Any], indent: int = 2, timed: bool = True) -> None:
    """Write a results file atomically (a reader never sees half a file); values JSON lacks become strings."""
    from edgekit.ioutil import write_bytes_atomic

    if timed:
        check_quiet(str(path))
    write_bytes_atomic(Path(path), (json.dumps(doc, indent=indent, default=str) + "\n").encode())


def replace_readme_block(readme: Path, begin: str, end: str, body: str) -> bool:
    """Put `body` between the `begin` and `end` markers of README.md, atomically; False when a marker is absent."""
    from edgekit.ioutil import write_bytes_atomic

    text = readme.read_text()
    if begin not in text or end not in text:
        return False
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    write_bytes_atomic(readme, f"{head}{begin}\n{body}\n{end}{tail}".encode())
    return True
