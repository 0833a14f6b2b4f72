"""The commands that help choose a model (the notes' comparison table and rules of thumb, backed by numbers):
compare, recommend, ensemble. Registered on the app by edgekit.cli.app; heavy libraries load inside the commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgekit import console
from edgekit.cli.cluster import RayCpusOpt, RayOpt, RayPipOpt, warm_graphs, where
from edgekit.cli.options import (
    Fp32Opt,
    HtmlOpt,
    InputSizeOpt,
    Int8Opt,
    JsonOpt,
    NumClassesOpt,
    OutOpt,
    PlotsOpt,
    ProfilesOpt,
    precision_of,
)
from edgekit.errors import UsageError

LayersOpt = Annotated[str | None, typer.Option("--layers", help="Model whose per-layer time breakdown is plotted.")]


RuntimeOpt = Annotated[
    str | None,
    typer.Option("--runtime", help="Runtime to compare on (default: the target's), or 'all' for one table each."),
]
FormatOpt = Annotated[str | None, typer.Option("--format", help="Compare on the runtime that runs this format.")]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", min=1, help="CPU threads (default: the target's).")]


def compare(
    models: Annotated[
        list[str] | None,
        typer.Argument(
            help="Model names, .keras/.tflite/.onnx/.xml files or export folders (default: the notes' architectures)."
        ),
    ] = None,
    target: Annotated[
        str, typer.Option("--target", help="Target id, or several: rpi4,rpi5 (see `edgekit targets`).")
    ] = ...,
    int8: Int8Opt = False,
    fp32: Fp32Opt = False,
    runtime: RuntimeOpt = None,
    fmt: FormatOpt = None,
    threads: ThreadsOpt = None,
    input_size: InputSizeOpt = None,
    num_classes: NumClassesOpt = 1000,
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write the rows as CSV.")] = None,
    html: HtmlOpt = None,
    plots: PlotsOpt = None,
    layers: LayersOpt = None,
    saved_only: Annotated[bool, typer.Option("--saved-only", help="Only saved profiles; predict nothing.")] = False,
    profiles_dir: ProfilesOpt = Path("profiles"),
    ray: RayOpt = None,
    ray_cpus: RayCpusOpt = 1,
    ray_pip: RayPipOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """One table per target and runtime, one row per model: size, MACs, latency, energy, memory, accuracy; each
    figure with its source. With --ray, the zoo models' graphs not cached yet are built on the cluster first."""
    from edgekit import console
    from edgekit.choose.compare import CompareRequest, run_compare, tables_of

    if (ray or ray_cpus != 1 or ray_pip) and not saved_only:
        warm_graphs(models or [], input_size, num_classes, where(1, ray, ray_cpus, None, ray_pip))
    req = CompareRequest(
        models=tuple(models or ()),
        target=target,
        precision=precision_of(int8, False, fp32, default=None),
        input_size=input_size,
        num_classes=num_classes,
        profiles_dir=profiles_dir,
        saved_only=saved_only,
        progress=console.info,
        runtime=runtime,
        format=fmt,
        threads=threads,
        bar=not json_out,
    )
    result = run_compare(req, csv, html, plots, layers)
    if json_out:
        console.print_json(result)
        return
    from edgekit.choose.compare_report import TABLE_COLUMNS, layer_rows, table_rows, table_title

    for table in tables_of(result):
        console.print_table(TABLE_COLUMNS, table_rows(table["rows"]), title=table_title(table))
        if layers is not None:
            title, columns, rows = layer_rows(table, layers)
            console.print_table(columns, rows, title=title)


def recommend(
    target: Annotated[str, typer.Option("--target", help="Target id (see `edgekit targets`).")] = ...,
    images_per_class: Annotated[int, typer.Option("--images-per-class", min=1, help="Images per class.")] = ...,
    max_latency: Annotated[float | None, typer.Option("--max-latency", min=0.0, help="Median latency, ms.")] = None,
    max_size: Annotated[float | None, typer.Option("--max-size", min=0.0, help="Model file size limit, MB.")] = None,
    max_energy: Annotated[float | None, typer.Option("--max-energy", min=0.0, help="Energy per inference, mJ.")] = None,
    min_accuracy: Annotated[float | None, typer.Option("--min-accuracy", min=0.0, max=1.0, help="Top-1, 0-1.")] = None,
    int8: Int8Opt = False,
    fp32: Fp32Opt = False,
    input_size: InputSizeOpt = None,
    profiles_dir: ProfilesOpt = Path("profiles"),
    json_out: JsonOpt = False,
) -> None:
    """The notes' training strategy and model rules, filtered and ranked by your constraints on a target."""
    from edgekit import api, console
    from edgekit.choose.recommend import impossible_line

    out = api.recommend(
        target=target,
        images_per_class=images_per_class,
        max_latency=max_latency,
        max_size=max_size,
        max_energy=max_energy,
        min_accuracy=min_accuracy,
        precision=precision_of(int8, False, fp32, default=None),
        input_size=input_size,
        profiles_dir=profiles_dir,
        progress=console.info,
    )
    if json_out:
        console.print_json(out)
    else:
        console.info(f"strategy: {out['strategy']} ({out['reason']})")
        for i, c in enumerate(out["candidates"], 1):
            console.info(f"{i}. {c['model']}: {c['reason']}")
        for c in out["excluded"]:
            console.info(f"   excluded {c['model']}: {', '.join(c['excluded_by'])}")
    if "impossible" in out:  # printed in full above; exit 2 with one line naming the culprit
        raise UsageError(impossible_line(out))


def ensemble(
    members: Annotated[list[str], typer.Argument(help="Two or more .keras files or model names.")],
    input_size: InputSizeOpt = None,
    weights: Annotated[
        str,
        typer.Option("--weights", help="For members given by name: none (random) | auto | imagenet | PATH."),
    ] = "none",
    num_classes: NumClassesOpt = 1000,
    out: OutOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One model averaging its members' logits, then softmax; checked against the members' float average."""
    from edgekit.choose.ensemble import EnsembleOptions, build_ensemble, render_ensemble

    record = build_ensemble(EnsembleOptions(tuple(members), input_size, weights, num_classes, out), console.info)
    if json_out:
        console.print_json(record)
    else:
        render_ensemble(record)
