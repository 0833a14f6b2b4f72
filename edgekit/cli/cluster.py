"""Many models in one command (export, train): the options that say where the jobs run, and the commands' many-job
paths. Imports typer and the standard library only; edgekit.cluster loads inside the functions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgekit.errors import EXIT_FAILURE

ModelsArg = Annotated[list[str] | None, typer.Argument(help="Model names or .keras files (several run as jobs).")]
AllOpt = Annotated[bool, typer.Option("--all", help="Every zoo model (see `edgekit models`).")]
SizesOpt = Annotated[
    str | None, typer.Option("--input-size", help="Square input size(s), comma separated (default: the model's).")
]
JobsOpt = Annotated[
    int, typer.Option("--jobs", min=1, help="Local processes at once (each started when its memory is free).")
]
RayOpt = Annotated[
    str | None, typer.Option("--ray", help="Run the jobs on a Ray cluster: HOST:PORT, ray://HOST:PORT or auto.")
]
RayCpusOpt = Annotated[int, typer.Option("--ray-cpus", min=1, help="CPUs per Ray task (TensorFlow's threads).")]
RaySharedOpt = Annotated[
    Path | None, typer.Option("--ray-shared", help="A folder mounted on every node: artifacts come back through it.")
]
RayPipOpt = Annotated[
    bool, typer.Option("--ray-pip", help="Have Ray install this host's converter versions on the workers.")
]


def where(jobs: int, ray: str | None, ray_cpus: int, ray_shared: Path | None, ray_pip: bool):
    from edgekit.cluster.run import Where

    return Where(jobs, ray, ray_cpus, ray_shared, ray_pip)


def export_many(
    models: list[str], sizes: list[int | None], options: dict[str, Any], out: Path | None, at
) -> tuple[list[dict[str, Any]], bool]:
    """Every model x size (x format on a cluster or in --jobs processes) as a job: (every record, any job failed)."""
    from edgekit.cluster.jobs import export_jobs, separable_formats
    from edgekit.cluster.run import run_jobs
    from edgekit.cluster.summary import all_records

    at.check()
    formats = options.pop("formats")
    split = (at.ray is not None or at.jobs > 1) and not options.get("targets")
    if split:
        formats = separable_formats(formats, options["precision"])
    outcomes = run_jobs(export_jobs(models, sizes, formats, options, split), out or Path("edgekit-out"), at)
    return all_records(outcomes), any(o.state == "failed" for o in outcomes)


def train_many(models: list[str], input_size: int | None, options: dict[str, Any], out: Path | None, at, json_out):
    """One training trial per model, side by side: the notes' strategy for each, validation accuracy, the best."""
    from edgekit import console
    from edgekit.cluster.jobs import train_jobs
    from edgekit.cluster.run import run_jobs

    at.check()
    outcomes = run_jobs(train_jobs(models, input_size, options), out or Path("edgekit-out"), at)
    trials = [
        {"model": o.job.model, "status": o.state, **(o.records[0] if o.records else {"error": o.error})}
        | ({"made_on": o.made_on} if o.made_on else {})
        for o in outcomes
    ]
    ok = [t for t in trials if t.get("val_accuracy") is not None]
    best = max(ok, key=lambda t: t["val_accuracy"]) if ok else None
    if json_out:
        console.print_json({"trials": trials, "best": best["model"] if best else None})
    else:
        rows = [
            (
                t["model"],
                t.get("strategy", ""),
                f"{t['val_accuracy']:.3f}" if t.get("val_accuracy") is not None else "",
                str(t.get("epochs_run", "")),
                t.get("model_path") or t.get("error", ""),
                t.get("strategy_reason", ""),
            )
            for t in trials
        ]
        console.print_table(("model", "strategy", "val accuracy", "epochs", "model / cause", "why this strategy"), rows)
        if best:
            export = f"edgekit export {best['model_path']} --int8"
            console.info(f"best: {best['model']} ({best['val_accuracy']:.3f}): {export}")
    if any(o.state == "failed" for o in outcomes):
        raise typer.Exit(EXIT_FAILURE)


def warm_graphs(models: list[str], input_size: int | None, num_classes: int, at) -> None:
    """compare --ray: the FP32 graphs not cached here yet are built as Ray tasks and written to this host's cache;
    compare then runs here as always (a job that failed leaves its graph to be built here)."""
    from edgekit.choose.graphs import cache_root
    from edgekit.cluster.jobs import graph_jobs
    from edgekit.cluster.run import run_jobs

    at.check()
    jobs = graph_jobs(models, input_size, num_classes)
    if jobs:
        run_jobs(jobs, cache_root(), at)
