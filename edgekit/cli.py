"""The edgekit command line: thin commands (parse -> call the API -> render). Heavy libraries load inside commands."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from edgekit import __version__
from edgekit.errors import EXIT_FAILURE, EdgekitError, UsageError

app = typer.Typer(
    name="edgekit",
    help="Build, quantize, export, verify, profile and predict image classifiers on edge devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
emulate_app = typer.Typer(help="Emulated ARM (aarch64) userland under QEMU, to run artifacts as a Raspberry Pi would.")
app.add_typer(emulate_app, name="emulate")

# Shared option aliases.
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
InputSizeOpt = Annotated[
    int | None, typer.Option("--input-size", min=8, help="Square input size (default: the model's).")
]
NumClassesOpt = Annotated[int, typer.Option("--num-classes", min=1, help="Number of output classes.")]
AlphaOpt = Annotated[float | None, typer.Option("--alpha", min=0.1, max=4.0, help="Width multiplier (MobileNet).")]
WeightsOpt = Annotated[
    str, typer.Option("--weights", help="auto (ImageNet if available, else random + warning) | imagenet | none | PATH.")
]
Int8Opt = Annotated[bool, typer.Option("--int8", help="Full-integer INT8 (post-training, calibrated).")]
Fp16Opt = Annotated[bool, typer.Option("--fp16", help="FP16 weights.")]
Fp32Opt = Annotated[bool, typer.Option("--fp32", help="FP32 (the default).")]
DynOpt = Annotated[bool, typer.Option("--dynamic", help="TFLite dynamic-range INT8 weights, float activations.")]
CalibOpt = Annotated[str, typer.Option("--calib", help="Image folder, 'builtin' or 'synthetic'.")]
CalibSizeOpt = Annotated[int, typer.Option("--calib-size", min=1, help="Calibration images.")]
IoOpt = Annotated[str, typer.Option("--io", help="TFLite int8 input/output type: int8 or float.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed for calibration sampling.")]
# One meaning of --out in build, export and profile: the export root, holding <model>/<format>-<precision>/ folders.
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Export root (default ./edgekit-out) holding <model>/<format>-<precision>/ folders."),
]
# Profile results live in ./profiles/ of the current folder (the project folder, beside ./edgekit-out/) unless given.
ProfilesOpt = Annotated[
    Path,
    typer.Option("--profiles", "--profiles-dir", help="Results folder: <dir>/<target>/*.json (default ./profiles)."),
]
GuestRuntimeOpt = Annotated[
    str, typer.Option("--guest-runtime", help="Runtime inside the emulated ARM guest: litert | tflite-runtime.")
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """edgekit: one tool that builds, quantizes, exports, verifies, profiles and predicts."""


def precision_of(int8: bool, fp16: bool, fp32: bool, dynamic: bool = False, default: str | None = "fp32") -> str | None:
    chosen = [name for name, on in (("int8", int8), ("fp16", fp16), ("fp32", fp32), ("dynamic", dynamic)) if on]
    if len(chosen) > 1:
        raise UsageError(f"choose one precision, not {' and '.join('--' + c for c in chosen)}")
    return chosen[0] if chosen else default


def split_list(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = tuple(v.strip().lower() for v in value.split(",") if v.strip())
    if not items:
        raise UsageError("--format needs at least one format")
    return items


# --- models / build ----------------------------------------------------------------------------------------------
@app.command()
def models(
    pattern: Annotated[str | None, typer.Argument(help="Filter by name or family (glob or substring).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List the model zoo: parameters, MACs, default input size and use case (no TensorFlow import)."""
    from edgekit import console
    from edgekit.models.registry import list_models

    specs = list_models(pattern)
    if json_out:
        console.print_json([s.summary() for s in specs])
        return
    rows = [
        (
            s.name,
            s.family,
            s.year,
            f"{s.params / 1e6:.2f} M",
            f"{s.macs / 1e9:.2f} G",
            s.default_input_size,
            "yes" if s.edge else "",
            s.use_case,
        )
        for s in specs
    ]
    console.print_table(("model", "family", "year", "params", "MACs", "input", "edge", "use case"), rows)


@app.command()
def build(
    model: Annotated[str, typer.Argument(help="A model name (see `edgekit models`).")],
    input_size: InputSizeOpt = None,
    num_classes: NumClassesOpt = 1000,
    alpha: AlphaOpt = None,
    weights: WeightsOpt = "auto",
    softmax: Annotated[bool, typer.Option("--softmax/--logits", help="Output softmax or logits.")] = False,
    out: OutOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Build a model and write <out>/<model>/keras/MODEL.keras with a manifest.json beside it, atomically."""
    from edgekit import console
    from edgekit.build import build_to_dir
    from edgekit.models.registry import get_spec

    folder = out / get_spec(model).name / "keras" if out else None  # None: the same under ./edgekit-out
    record = build_to_dir(model, input_size, num_classes, alpha, weights, folder, "softmax" if softmax else None)
    if json_out:
        console.print_json(record)
    else:
        console.info(f"wrote {record['path']} ({record['params']:,} parameters, {record['macs'] / 1e9:.3f} GMACs)")


# --- train -------------------------------------------------------------------------------------------------------
@app.command()
def train(
    model: Annotated[str, typer.Argument(help="A model name (see `edgekit models`).")],
    data: Annotated[str, typer.Option("--data", help="Image folder (one subfolder per class) or builtin:digits.")],
    strategy: Annotated[str, typer.Option("--strategy", help="auto | transfer | finetune | scratch.")] = "auto",
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="At most this many epochs (early stopping).")] = 30,
    input_size: InputSizeOpt = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per training step.")] = 32,
    val_split: Annotated[float, typer.Option("--val-split", help="Validation fraction (stratified).")] = 0.2,
    weights: Annotated[str, typer.Option("--weights", help="auto | imagenet | none | PATH (pretrained).")] = "auto",
    alpha: AlphaOpt = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Export root (default ./edgekit-out): writes <model>-<data>/keras/.")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from its checkpoint.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Train on an image folder (transfer learning, fine-tuning or from scratch) into a .keras model export takes."""
    from edgekit import console
    from edgekit.train import TrainOptions, validate
    from edgekit.train import train as run_train

    opts = TrainOptions(model, data, strategy, epochs, input_size, batch_size, val_split, weights, alpha, out, resume)
    validate(opts)  # bad options fail before TensorFlow loads
    record = run_train(opts)
    if json_out:
        console.print_json(record)


# --- export ------------------------------------------------------------------------------------------------------
@app.command()
def export(
    model: Annotated[str, typer.Argument(help="A model name or a .keras file.")],
    int8: Int8Opt = False,
    fp16: Fp16Opt = False,
    fp32: Fp32Opt = False,
    dynamic: DynOpt = False,
    format: Annotated[str | None, typer.Option("--format", help="Names from `edgekit formats`, or all.")] = None,
    calib: CalibOpt = "builtin",
    calib_size: CalibSizeOpt = 200,
    holdout: Annotated[int, typer.Option("--holdout", min=1, help="Held-out images for the fidelity check.")] = 32,
    io: IoOpt = "int8",
    input_size: InputSizeOpt = None,
    alpha: AlphaOpt = None,
    num_classes: NumClassesOpt = 1000,
    weights: WeightsOpt = "auto",
    out: OutOpt = None,
    min_cosine: Annotated[float | None, typer.Option("--min-cosine", help="Fail (exit 3) below this cosine.")] = None,
    max_accuracy_drop: Annotated[
        float | None, typer.Option("--max-accuracy-drop", help="Fail (exit 3) if labelled accuracy drops more.")
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
    json_out: JsonOpt = False,
) -> None:
    """Quantize and export to TFLite, ONNX and OpenVINO IR (and Edge TPU), then check fidelity against Keras."""
    from edgekit import console
    from edgekit.export.core import ExportOptions
    from edgekit.export.core import export as run_export
    from edgekit.export.keepfloat import parse_keep_float

    if io not in ("int8", "float"):
        raise UsageError("--io must be int8 or float")
    opts = ExportOptions(
        model=model,
        precision=precision_of(int8, fp16, fp32, dynamic),
        formats=split_list(format),
        calib=calib,
        calib_size=calib_size,
        holdout=holdout,
        io=io,
        input_size=input_size,
        alpha=alpha,
        num_classes=num_classes,
        weights=weights,
        out=out,
        seed=seed,
        min_cosine=min_cosine,
        max_accuracy_drop=max_accuracy_drop,
        layer_report=layer_report,
        preprocess=preprocess,
        keep_float=parse_keep_float(keep_float),
    )
    if preprocess:
        from edgekit.datasets import parse_preprocess

        parse_preprocess(preprocess)  # a bad spelling fails before TensorFlow loads
    records = run_export(opts)
    if json_out:
        console.print_json(records)
    else:
        render_export(records)
    exit_for_export(records)


def render_export(records: list[dict]) -> None:
    from edgekit import console

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
                f"{r['format']}: worst int8 layer {layer['tensor']} ({layer['op']}): "
                f"RMSE {layer['rmse_in_steps']:.2f} quantization steps"
            )
        if r.get("compiler") == "absent":
            console.info(
                "edgetpu: edgetpu_compiler not found on PATH; wrote the int8 TFLite it would compile "
                "(see the manifest's 'analysis' for edgekit's own op mapping)"
            )


def exit_for_export(records: list[dict]) -> None:
    from edgekit.errors import EXIT_FIDELITY

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


# --- targets -----------------------------------------------------------------------------------------------------
@app.command()
def targets(json_out: JsonOpt = False) -> None:
    """List the targets described in targets/*.toml."""
    from edgekit import console
    from edgekit.targets import target_rows

    columns, rows, records = target_rows()
    if json_out:
        console.print_json(records)
    else:
        console.print_table(columns, rows)


@app.command()
def formats(json_out: JsonOpt = False) -> None:
    """List the export formats (the formats table: one module of edgekit/export/ each)."""
    from edgekit import console
    from edgekit.export import format_rows

    columns, rows, records = format_rows()
    if json_out:
        console.print_json(records)
    else:
        console.print_table(columns, rows)


# --- profile -----------------------------------------------------------------------------------------------------
@app.command()
def profile(
    items: Annotated[list[str] | None, typer.Argument(help="Model names, artifacts or export folders.")] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="Target id (see `edgekit targets`; default host, or the remote's).")
    ] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="Threads (default: 1 on host).")] = None,
    runs: Annotated[int, typer.Option("--runs", min=1, help="At least this many timed runs.")] = 50,
    min_seconds: Annotated[float, typer.Option("--min-seconds", min=0.0, help="And at least this long.")] = 1.0,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Warm-up runs.")] = 5,
    int8: Int8Opt = False,
    fp16: Fp16Opt = False,
    fp32: Fp32Opt = False,
    dynamic: DynOpt = False,
    format: Annotated[str | None, typer.Option("--format", help="Only these formats (comma separated).")] = None,
    input_size: InputSizeOpt = None,
    alpha: AlphaOpt = None,
    num_classes: NumClassesOpt = 1000,
    weights: WeightsOpt = "auto",
    calib: CalibOpt = "builtin",
    calib_size: CalibSizeOpt = 200,
    io: IoOpt = "int8",
    seed: SeedOpt = 0,
    predict: Annotated[bool, typer.Option("--predict", help="Predict even where measuring is possible.")] = False,
    emulate: Annotated[bool, typer.Option("--emulate", help="Run under QEMU as the target's CPU (rpi4/rpi5).")] = False,
    guest_runtime: GuestRuntimeOpt = "litert",
    timeout: Annotated[float, typer.Option("--timeout", min=1.0, help="Seconds per artifact before giving up.")] = 600,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Keep results under --profiles.")] = True,
    profiles_dir: ProfilesOpt = Path("profiles"),
    out: OutOpt = None,
    link: Annotated[
        str | None, typer.Option("--link", help="Edge TPU link to predict for: usb2 | usb3 | pcie (default: target's).")
    ] = None,
    host: Annotated[
        list[str] | None, typer.Option("--host", help="Measure over SSH on USER@ADDR[:PORT] (repeatable: a fleet).")
    ] = None,
    hosts: Annotated[Path | None, typer.Option("--hosts", help="Fleet TOML file (host tables).")] = None,
    identity: Annotated[Path | None, typer.Option("--identity", help="SSH private key for --host.")] = None,
    remote_python: Annotated[str | None, typer.Option("--remote-python", help="Python on the remote.")] = None,
    ssh_config: Annotated[Path | None, typer.Option("--ssh-config", help="ssh_config file (ssh -F).")] = None,
    cpus: Annotated[str | None, typer.Option("--cpus", help="Pin the runner to CPUs, e.g. 2-3 (remote).")] = None,
    cooldown_c: Annotated[
        float | None, typer.Option("--cooldown-c", help="Wait until the board is below this °C (remote).")
    ] = None,
    power_cmd: Annotated[str | None, typer.Option("--power-cmd", help="Meter command printing watts.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Measure artifacts on this machine or on boards over SSH, or predict them (every number says which)."""
    from edgekit import console
    from edgekit.profile.run import ProfileRequest, profile_all, render_results

    req = ProfileRequest(
        items=list(items or []),
        target=target or "host",
        threads=threads,
        runs=runs,
        min_seconds=min_seconds,
        warmup=warmup,
        precision=precision_of(int8, fp16, fp32, dynamic, default=None),
        formats=split_list(format),
        input_size=input_size,
        build={
            "alpha": alpha,
            "num_classes": num_classes,
            "weights": weights,
            "calib": calib,
            "calib_size": calib_size,
            "io": io,
            "seed": seed,
        },  # fmt: skip
        predict=predict,
        emulate=emulate,
        guest_runtime=guest_runtime,
        timeout=timeout,
        save=save,
        profiles_dir=profiles_dir,
        export_root=out,
        link=link,
    )
    remote = dict(identity=identity, python=remote_python, ssh_config=ssh_config, cpus=cpus, power_cmd=power_cmd)
    if host or hosts or any(v is not None for v in (*remote.values(), cooldown_c)):
        # Boards over SSH, or the device runner here with pinning / cool-down / a meter (edgekit.profile.remote).
        from edgekit.profile.remote import options_from_cli, profile_remote

        opts = options_from_cli(host or [], hosts, target, cooldown_c=cooldown_c, **remote)
        results, errors = profile_remote(req, opts, say=None if json_out else console.info)
    else:
        results, errors = profile_all(req)
    if json_out:
        console.print_json(results)
    else:
        render_results(results)
    for line in errors:
        typer.echo(f"error: {line}", err=True)
    if errors:
        raise typer.Exit(EXIT_FAILURE)


HtmlOpt = Annotated[Path | None, typer.Option("--html", help="Write one self-contained HTML report (tables + plots).")]
PlotsOpt = Annotated[Path | None, typer.Option("--plots", help="Also write the plots as PNG files into this folder.")]


@app.command()
def report(
    target: Annotated[str | None, typer.Option("--target", help="Only this target.")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write a CSV file.")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Also write a Markdown table.")] = None,
    html: HtmlOpt = None,
    plots: PlotsOpt = None,
    layers: Annotated[str | None, typer.Option("--layers", help="Model whose per-layer time is plotted.")] = None,
    profiles_dir: ProfilesOpt = Path("profiles"),
    json_out: JsonOpt = False,
) -> None:
    """Roll up the saved profile results."""
    from edgekit import console
    from edgekit.results import report as make_report
    from edgekit.results import report_table

    if html is not None or plots is not None:  # checked (and refused) before anything else is written
        from edgekit.report_html import report_profiles_html

        report_profiles_html(profiles_dir, target, html, plots, layers)
    rows = make_report(profiles_dir, target=target, csv_path=csv, markdown_path=markdown)
    if json_out:
        console.print_json(rows)
        return
    columns, table = report_table(rows)
    console.print_table(columns, table)


# --- fit ---------------------------------------------------------------------------------------------------------
@app.command()
def fit(
    write: Annotated[
        bool, typer.Option("--write", help="Regenerate edgekit/costmodel/fitted.json (the constants predictions use).")
    ] = False,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Convert reference graphs whose model definition changed (slow).")
    ] = False,
    instructions: Annotated[
        bool, typer.Option("--instructions", help="Judge the emulated instruction-count model instead (needs QEMU).")
    ] = False,
    results: Annotated[
        Path | None, typer.Option("--results", help="Where to write the evidence JSON (default benchmarks/results/).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Fit the cost model to published device latencies and report leave-one-out errors per target and runtime."""
    import json

    from edgekit import console

    if instructions:
        from edgekit.costmodel.evidence import instruction_report

        report = instruction_report(fit=write, results=results)
    else:
        from edgekit.costmodel.evidence import RESULTS_JSON, report_lines, run_fit

        report = run_fit(write=write, build=rebuild, results=results or RESULTS_JSON)
        if not json_out:
            for line in report_lines(report):
                typer.echo(line)
    if json_out:
        typer.echo(json.dumps(report, indent=2))
    else:
        console.info(f"evidence written to {report['results_path']}")


# --- emulate -----------------------------------------------------------------------------------------------------
@emulate_app.command("setup")
def emulate_setup(
    arch: Annotated[str, typer.Option("--arch", help="Guest architecture.")] = "aarch64",
    guest_runtime: GuestRuntimeOpt = "litert",
    directory: Annotated[Path | None, typer.Option("--dir", help="Where to build the userland.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if cached.")] = False,
) -> None:
    """Build (or reuse from the cache) a Debian arm64 userland with the device runner's dependencies."""
    from edgekit import console
    from edgekit.emulate import setup_emulator

    rootfs = setup_emulator(arch=arch, runtime=guest_runtime, directory=directory, force=force, progress=console.info)
    typer.echo(str(rootfs))


# compare / recommend / ensemble live in cli_choose.py (registered on import; it needs the options above)
import edgekit.cli_choose  # noqa: E402, F401


# --- entry point -------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """Console script: EdgekitError -> one line and its exit code; EDGEKIT_DEBUG=1 shows tracebacks."""
    try:
        app(args=argv, prog_name="edgekit")
    except EdgekitError as exc:
        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        typer.echo(f"error: {exc.message}", err=True)
        if exc.hint:
            typer.echo(f"hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # an unexpected bug: still one line unless debugging
        if os.environ.get("EDGEKIT_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        typer.echo(f"error: {type(exc).__name__}: {first} (set EDGEKIT_DEBUG=1 for the traceback)", err=True)
        sys.exit(EXIT_FAILURE)
