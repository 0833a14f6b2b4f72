"""The same exports run one after another on this machine and as Ray tasks on a two-node Ray cluster started here
(a head and a second raylet, one CPU each: the machine's two cores), side by side in one run; the artifacts of the
two are compared byte for byte.

    python benchmarks/cluster_speedup.py [--models mobilenetv2,squeezenet11,efficientnetlite0] [--input-size N]

Each model is exported with the command's defaults (--int8, the default formats: TFLite, ONNX, OpenVINO) from
random weights (--weights none: no download; the conversions cost the same) without the per-layer report. On the
cluster each model x format is one task, so every format builds its model and calibration set again: that extra
work is part of the figure. Writes benchmarks/results/cluster_speedup.json (benchmarks/_results.py's provenance)
with both wall times and the load average before and after each run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _raycluster import Cluster  # noqa: E402
from _results import REPO, load_now, write_result  # noqa: E402

OPTIONS = ["--int8", "--weights", "none", "--no-layer-report"]


def timed_export(models: list[str], out: Path, extra: list[str]) -> dict[str, Any]:
    """Wall and CPU seconds of one `edgekit export ... --json` in a fresh interpreter, with the load around it."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "RAY_USAGE_STATS_ENABLED": "0"}
    cmd = [sys.executable, "-m", "edgekit", "export", *models, *OPTIONS, "--out", str(out), "--json", *extra]
    before, load_before = resource.getrusage(resource.RUSAGE_CHILDREN), load_now()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"edgekit export failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    records = json.loads(proc.stdout)
    return {
        "command": "edgekit export " + " ".join([*models, *OPTIONS, *extra]),
        "wall_s": round(wall, 1),
        "driver_cpu_s": round((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 1),
        "load_before": load_before,
        "load_after": load_now(),
        "artifacts": len(records),
        "nodes": sorted({r["made_on"]["ray_node_id"][:12] for r in records if r.get("made_on")}),
        "summary": proc.stderr.strip().splitlines()[-1],
    }


def same_artifacts(a: Path, b: Path) -> dict[str, Any]:
    """Every file byte-identical, manifests equal but for the keys that name the node or the time."""
    files = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    other = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    differ = []
    for name in files:
        if name.endswith("manifest.json"):
            x, y = (json.loads((root / name).read_text()) for root in (a, b))
            for key in ("created", "timings_s", "made_on"):
                x.pop(key, None), y.pop(key, None)
            if x != y:
                differ.append(name)
        elif (a / name).read_bytes() != (b / name).read_bytes():
            differ.append(name)
    return {"files": len(files), "same_file_list": files == other, "differ": differ}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenetv2,squeezenet11,efficientnetlite0")
    ap.add_argument("--input-size", type=int, default=None, help="default: each model's own")
    args = ap.parse_args()
    models = args.models.split(",")
    size = ["--input-size", str(args.input_size)] if args.input_size else []
    with tempfile.TemporaryDirectory(prefix="edgekit-cluster-bench-") as tmp:
        root = Path(tmp)
        sequential = timed_export(models, root / "sequential", size)
        print(f"sequential: {sequential['wall_s']} s", file=sys.stderr)
        cluster = Cluster()
        t0 = time.perf_counter()
        cluster.start()
        start_s = round(time.perf_counter() - t0, 1)
        try:
            on_ray = timed_export(models, root / "ray", [*size, "--ray", cluster.address])
        finally:
            cluster.stop()
        print(f"two-node cluster: {on_ray['wall_s']} s (cluster start {start_s} s)", file=sys.stderr)
        identical = same_artifacts(root / "sequential", root / "ray")
    write_result(
        "cluster_speedup",
        {
            "models": models,
            "input_size": args.input_size,
            "cluster": "2 Ray nodes on this machine (ray start, --num-cpus 1 each), 1 CPU per task",
            "sequential": sequential,
            "ray_two_nodes": {**on_ray, "cluster_start_s": start_s},
            "speedup": round(sequential["wall_s"] / on_ray["wall_s"], 2),
            "artifacts_identical": identical,
        },
    )


if __name__ == "__main__":
    main()
