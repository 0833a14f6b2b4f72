"""One job run in this process: the export or training call the command would make, its failure as one line.

`python -m edgekit.cluster.worker` runs the job given as JSON on stdin (a local --jobs process) and prints its
outcome as the last line of stdout; a Ray task calls run_job directly.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from edgekit.cluster.jobs import EXPORT, GRAPH, Job
from edgekit.errors import EXIT_FAILURE, EdgekitError

RESULT_MARK = "EDGEKIT-JOB-RESULT "


def set_threads(n: int) -> None:
    """TensorFlow, OpenMP and edgekit's fidelity runtimes use n threads (before TensorFlow loads: a fresh process)."""
    n = max(int(n), 1)
    for var in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "EDGEKIT_THREADS"):
        os.environ[var] = str(n)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1" if n < 4 else "2"


def run_job(job: Job, out: Path | None, say=None) -> dict[str, Any]:
    """{"records": [...]} or {"error": one line, "exit_code": n}; never raises for an expected failure."""
    from edgekit import api

    try:
        if job.kind == GRAPH:
            records = [build_graph(job, out)]
        elif job.kind == EXPORT:
            records = api.export(
                job.model, input_size=job.input_size, formats=job.formats, out=out, progress=say, **job.options
            )
        else:
            records = [api.train(job.model, input_size=job.input_size, out=out, progress=say, **job.options)]
        return {"records": records}
    except EdgekitError as exc:
        return {"error": exc.message, "exit_code": exc.exit_code}
    except MemoryError:
        return {"error": "out of memory (MemoryError)", "exit_code": EXIT_FAILURE}
    except Exception as exc:  # a bug or a library's failure: one line, like the command's own
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        return {"error": f"{type(exc).__name__}: {first}", "exit_code": EXIT_FAILURE}


def build_graph(job: Job, cache: Path | None) -> dict[str, Any]:
    """compare's cached FP32 graph of job.model, built into the cache folder `cache`: the file and its bytes."""
    from edgekit.choose.graphs import cache_root, cached_graph
    from edgekit.models.registry import get_spec

    root = cache_root(cache)
    before = set((root / "graphs").glob("*.json"))
    cached_graph(get_spec(job.model), job.input_size, job.options["num_classes"], root)
    made = sorted(set((root / "graphs").glob("*.json")) - before)
    return {"model": job.model, "status": "ok", "graphs": {f"graphs/{p.name}": p.read_bytes() for p in made}}


def main() -> None:
    spec = json.loads(sys.stdin.read())
    if spec.get("threads"):
        set_threads(spec["threads"])
    job = Job.from_dict(spec["job"])
    out = Path(spec["out"]) if spec.get("out") else None
    result = run_job(job, out, say=lambda line: print(line, file=sys.stderr, flush=True))
    sys.stdout.write("\n" + RESULT_MARK + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
