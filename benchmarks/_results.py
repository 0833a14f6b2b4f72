"""One way for every benchmark to file its figures: benchmarks/results/<name>.json, written atomically, with provenance.

The provenance (UTC date, git commit, tool versions) is edgekit's own, the one `edgekit fit` records
(edgekit.costmodel.evidence.provenance); here it gains what a timing needs besides: the CPU model and core count,
the load average while it ran, and the versions of every runtime a benchmark may time.

README.md's evidence blocks are generated from these files by benchmarks/readme_evidence.py.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "benchmarks" / "results"
TOOLS = ("edgekit", "tensorflow-cpu", "keras", "ai-edge-litert", "onnxruntime", "openvino", "nncf", "numpy")


def _version(package: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


def machine() -> dict[str, Any]:
    """CPU model, cores and the load average now (timings on a shared machine need the last one to be read)."""
    from edgekit.hostinfo import cpuinfo, cpuinfo_field

    text = cpuinfo()
    return {
        "cpu": cpuinfo_field(text, "model name", "Model", "Hardware") or platform.processor() or "unknown",
        "cores": os.cpu_count(),
        "arch": platform.machine(),
        "os": f"{platform.system()} {platform.release()}",
        "loadavg": [round(x, 2) for x in os.getloadavg()],
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


def write_result(name: str, figures: dict[str, Any], results_dir: Path | None = None) -> Path:
    """Write benchmarks/results/<name>.json: {provenance..., "benchmark", "command", "load_before", figures...}.

    `figures` should hold "load_before" (the load average when the run started) when the run is long: the
    provenance's own load average is taken at the end.
    """
    from edgekit.ioutil import write_json_atomic

    path = Path(results_dir or RESULTS_DIR) / f"{name}.json"
    record = {"benchmark": name, **provenance(), "command": " ".join(["python", *sys.argv]), **figures}
    write_json_atomic(path, record)
    print(f"results: {path}", file=sys.stderr)
    return path


def load_now() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
