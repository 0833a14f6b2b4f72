"""`edgekit export`: quantize and export, then render the artifacts and exit 1 (failed) or 3 (below threshold)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from edgekit import console
from edgekit.cli.cluster import (
    AllOpt,
    JobsOpt,
    ModelsArg,
    RayCpusOpt,
    RayOpt,
    RayPipOpt,
    RaySharedOpt,
    SizesOpt,
    export_many,
    where,
)
from edgekit.cli.options import (
    AlphaOpt,
    CalibOpt,
    CalibSizeOpt,
    DynOpt,
    Fp16Opt,
    Fp32Opt,
    Int8Opt,
    IoOpt,
    JsonOpt,
    NumClassesOpt,
    OutOpt,
    SeedOpt,
    WeightsOpt,
    precision_of,
    split_list,
)
from edgekit.errors import EXIT_FAILURE, EXIT_FIDELITY, UsageError


def export(
    models: ModelsArg = None,
    all_models: AllOpt = False,
    int8: Int8Opt = False,
    fp16: Fp16Opt = False,
    fp32: Fp32Opt = False,
    dynamic: DynOpt = False,
    format: Annotated[str | None, typer.Option("--format", help="Names from `edgekit formats`, or all.")] = None,
    calib: CalibOpt = "builtin",
    calib_size: CalibSizeOpt = 200,
    holdout: Annotated[int, typer.Option("--holdout", min=1, help="Held-out images for the fidelity check.")] = 32,
    io: IoOpt = "int8",
    input_size: SizesOpt = None,
    alpha: AlphaOpt = None,
    num_classes: NumClassesOpt = 1000,
    weights: WeightsOpt = "auto",
    out: OutOpt = None,
    min_cosine: Annotated[float | None, typer.Option("--min-cosine", help="Fail (exit 3) below this cosine.")] = None,
    max_accuracy_drop: Annotated[
        float | None,
        typer.Option(
            "--max-accuracy-drop",
            help="Fail (exit 3) if labelled top-1 accuracy drops by more than this many percentage points "
            "(1.0 = one point; needs labelled images: --calib DIR with a folder per class).",
        ),
    ] = None,
    layer_report: Annotated[
        bool | None, typer.Option("--layer-report/--no-layer-report", help="Per-layer INT8 error (TFLite).")
    ] = None,
    seed: SeedOpt = 0,
    preprocess: Annotated[
        str | None,
        typer.Option("--preprocess", help="raw | tf | torch | caffe | mean=R,G,B:std=R,G,B (default: the model's)."),
    ] = None,
    keep_float: Annotated[
        str | None,
        typer.Option("--keep-float", help="Keras layers (comma separated) that stay float in an --int8 export."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="Target ids (comma separated) the artifacts are for; default: this host."),
    ] = None,
    dynamic_batch: Annotated[
        bool, typer.Option("--dynamic-batch", help="ONNX and OpenVINO IR take any batch (symbolic first dimension).")
    ] = False,
    jobs: JobsOpt = 1,
    ray: RayOpt = None,
    ray_cpus: RayCpusOpt = 1,
    ray_shared: RaySharedOpt = None,
    ray_pip: RayPipOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Quantize and export to TFLite, ONNX and OpenVINO IR (and Edge TPU), then check fidelity against Keras.
    Several models (or --all) and input sizes run as jobs: in turn, in --jobs processes or on a --ray cluster."""
    from edgekit import api, console
    from edgekit.cluster.jobs import model_names, parse_sizes

    if io not in ("int8", "float"):  # first, before the precision flags, as the command always has
        raise UsageError("--io must be int8 or float")
    names, sizes = model_names(models, all_models), parse_sizes(input_size)
    at = where(jobs, ray, ray_cpus, ray_shared, ray_pip)
    options = dict(
        precision=precision_of(int8, fp16, fp32, dynamic) or "fp32",
        formats=split_list(format, allow_all=True),
        calib=calib,
        calib_size=calib_size,
        holdout=holdout,
        io=io,
        alpha=alpha,
        num_classes=num_classes,
        weights=weights,
        min_cosine=min_cosine,
        max_accuracy_drop=max_accuracy_drop,
        layer_report=layer_report,
        seed=seed,
        preprocess=preprocess,
        keep_float=keep_float,
        targets=target,
        dynamic_batch=dynamic_batch,
    )
    failed = False
    if len(names) == 1 and len(sizes) == 1 and at == where(1, None, 1, None, False):  # one export, as it always ran
        records = api.export(names[0], input_size=sizes[0], out=out, **options)
    else:
        records, failed = export_many(names, sizes, options, out, at)
    if json_out:
        console.print_json(records)
    else:
        render_export([r for r in records if "path" in r])
    if failed:
        raise typer.Exit(EXIT_FAILURE)
    exit_for_export(records)


def render_export(records: list[dict[str, Any]]) -> None:

    rows = []
    for r in records:
        fid = r.get("fidelity") or {}
        sq = fid.get("sqnr_db")
        rows.append(
            (
                r["format"],
                r["precision"],
                r["status"],
                f"{r['size_bytes'] / 1e6:.2f} MB" if r.get("size_bytes") else "",
                f"{fid['cosine']:.4f}" if fid else "",
                "exact" if fid and sq is None else (f"{sq:.1f}" if fid else ""),
                f"{fid['top1_agreement']:.2f}" if fid else "",
                r.get("path", ""),
            )
        )
    console.print_table(("format", "precision", "status", "size", "cosine", "SQNR dB", "top-1 agree", "path"), rows)
    for r in records:
        if r.get("error"):
            console.info(f"{r['format']}: {r['error']}")
        if r.get("reason"):
            console.info(f"{r['format']}: {r['reason']}")
        if r.get("keep_float_suggestion"):
            console.info(f"{r['format']}: keep float: {r['keep_float_suggestion']['command']}")
        for layer in r.get("worst_layers") or []:
            console.info(
                f"{r['format']}: worst int8 layer {' + '.join(layer.get('keras_layers') or []) or layer['tensor']} "
                f"({layer['op']}): "
                f"RMSE {layer['rmse_in_steps']:.2f} quantization steps"
            )
        for board in (r.get("fidelity_on_target") or {}).values():
            if board.get("measured") is False:
                console.info(f"{r['format']}: fidelity on {board['target']} not measured: {board['why']}")
            else:
                console.info(
                    f"{r['format']}: on the emulated {board['target']} ({board['cpu']}): cosine {board['cosine']:.4f}, "
                    f"top-1 agree {board['top1_agreement']:.2f}, {'matches' if board['match'] else 'DIFFERS FROM'} "
                    f"this host (max abs diff {board['max_abs_diff_vs_host']:.3g})"
                )
        if r.get("compiler") == "absent":
            console.info(
                "edgetpu: edgetpu_compiler not found on PATH; wrote the int8 TFLite it would compile "
                "(see the manifest's 'analysis' for edgekit's own op mapping)"
            )


def exit_for_export(records: list[dict[str, Any]]) -> None:
    """Exit 1 if an artifact failed, 3 (one line, with the keep-float offer) if one is below a fidelity threshold."""
    if any(r["status"] == "failed" for r in records):
        raise typer.Exit(EXIT_FAILURE)
    failing = [r for r in records if r["status"] == "below-threshold"]
    if failing:
        first, offer = failing[0], ""
        offers = [r["keep_float_suggestion"] for r in failing if r.get("keep_float_suggestion")]
        if offers:  # one line: the layers to keep float and the command; NNCF's alternative where OpenVINO failed
            offer = f"; keep the layers with the largest INT8 error float: {offers[0]['command']}"
            alternative = next((o["alternative"] for o in offers if o.get("alternative")), None)
            offer += f"; for OpenVINO, or {alternative}" if alternative else ""
        typer.echo(f"error: {first['format']} {first['precision']}: {first['reason']}{offer}", err=True)
        raise typer.Exit(EXIT_FIDELITY)
