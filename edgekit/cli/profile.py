"""`edgekit profile` (measure, emulate or predict artifacts) and `edgekit report` (roll up the saved results)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgekit import console
from edgekit.cli.options import (
    AlphaOpt,
    CalibOpt,
    CalibSizeOpt,
    DynOpt,
    Fp16Opt,
    Fp32Opt,
    GuestRuntimeOpt,
    HtmlOpt,
    InputSizeOpt,
    Int8Opt,
    IoOpt,
    JsonOpt,
    NumClassesOpt,
    OutOpt,
    PlotsOpt,
    ProfilesOpt,
    SeedOpt,
    WeightsOpt,
    precision_of,
    split_list,
)
from edgekit.errors import EXIT_FAILURE, EXIT_FIDELITY


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
    device: Annotated[
        str | None, typer.Option("--device", help="OpenVINO device: CPU | GPU | NPU (by name, never AUTO).")
    ] = None,
    delegate: Annotated[
        str | None, typer.Option("--delegate", help="LiteRT delegate: edgetpu (needs libedgetpu and a Coral).")
    ] = None,
    mode: Annotated[
        str,
        typer.Option("--mode", help="latency | throughput (measured frames/s: async requests, parallel interpreters)."),
    ] = "latency",
    batch: Annotated[int, typer.Option("--batch", help="Batch size, where the model allows reshaping it.")] = 1,
    xnnpack_fp16: Annotated[
        bool,
        typer.Option("--xnnpack-fp16", help="LiteRT: force XNNPACK to FP16 (float ops; via CompiledModel)."),
    ] = False,
    no_xnnpack: Annotated[bool, typer.Option("--no-xnnpack", help="LiteRT: run without XNNPACK.")] = False,
    max_seconds: Annotated[
        float | None, typer.Option("--max-seconds", help="Stop the timed loop after this many seconds.")
    ] = None,
    inputs: Annotated[
        Path | None, typer.Option("--inputs", help="Folder of images fed to the timed runs (manifest preprocessing).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Measure artifacts on this machine or on boards over SSH, or predict them (every number says which)."""
    from edgekit import api, console
    from edgekit.stages.profile import render_results

    errors: list[str] = []
    results = api.profile(
        items or [],
        target=target,
        threads=threads,
        runs=runs,
        min_seconds=min_seconds,
        warmup=warmup,
        precision=precision_of(int8, fp16, fp32, dynamic, default=None),
        formats=split_list(format),
        input_size=input_size,
        alpha=alpha,
        num_classes=num_classes,
        weights=weights,
        calib=calib,
        calib_size=calib_size,
        io=io,
        seed=seed,
        predict=predict,
        emulate=emulate,
        guest_runtime=guest_runtime,
        timeout=timeout,
        save=save,
        profiles_dir=profiles_dir,
        out=out,
        link=link,
        host=host,
        hosts=hosts,
        identity=identity,
        remote_python=remote_python,
        ssh_config=ssh_config,
        cpus=cpus,
        cooldown_c=cooldown_c,
        power_cmd=power_cmd,
        device=device,
        delegate=delegate,
        mode=mode,
        batch=batch,
        xnnpack_fp16=xnnpack_fp16,
        no_xnnpack=no_xnnpack,
        max_seconds=max_seconds,
        inputs=inputs,
        progress=None if json_out else console.info,
        on_error=errors.append,  # printed after the results, then exit 1
    )
    if json_out:
        console.print_json(results)
    else:
        render_results(results)
    for line in errors:
        typer.echo(f"error: {line}", err=True)
    if errors:
        raise typer.Exit(EXIT_FAILURE)
    mismatches = [r for r in results if r.get("source") == "emulated" and r.get("match") is False]
    if mismatches:  # an emulated board that computes other outputs is a fidelity failure, never a silent pass
        typer.echo(f"error: {mismatches[0].get('mismatch') or 'emulated outputs differ from this host'}", err=True)
        raise typer.Exit(EXIT_FIDELITY)


def report(
    target: Annotated[str | None, typer.Option("--target", help="Only this target.")] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="Also write a CSV file.")] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Also write a Markdown table.")] = None,
    html: HtmlOpt = None,
    plots: PlotsOpt = None,
    layers: Annotated[str | None, typer.Option("--layers", help="Model whose per-layer time is plotted.")] = None,
    profiles_dir: ProfilesOpt = Path("profiles"),
    failed: Annotated[
        bool, typer.Option("--failed", help="List the failed runs (kept apart, in <profiles>/<target>/failed/).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Roll up the saved profile results: the newest per configuration, with the prediction band and the
    measured/predicted ratio where both exist."""
    from edgekit.results.table import report as make_report
    from edgekit.results.table import report_table

    if html is not None or plots is not None:  # checked (and refused) before anything else is written
        from edgekit.choose.report import report_profiles_html

        report_profiles_html(profiles_dir, target, html, plots, layers)
    rows = make_report(profiles_dir, target=target, csv_path=csv, markdown_path=markdown, failed=failed)
    if json_out:
        console.print_json(rows)
        return
    columns, table = report_table(rows, failed)
    console.print_table(columns, table)
