"""What edgekit runs on: `edgekit targets`, `edgekit formats` and `edgekit emulate setup` (the QEMU ARM guest)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgekit import console
from edgekit.cli.options import GuestRuntimeOpt, JsonOpt


def targets(json_out: JsonOpt = False) -> None:
    """List the targets described in targets/*.toml."""
    from edgekit.hardware.targets import target_rows

    columns, rows, records = target_rows()
    if json_out:
        console.print_json(records)
    else:
        console.print_table(columns, rows)


def formats(json_out: JsonOpt = False) -> None:
    """List the export formats (the formats table: one module of edgekit/exporting/formats/ each)."""
    from edgekit.exporting.formats import format_rows

    columns, rows, records = format_rows()
    if json_out:
        console.print_json(records)
    else:
        console.print_table(columns, rows)


def emulate_setup(
    arch: Annotated[str, typer.Option("--arch", help="Guest architecture.")] = "aarch64",
    guest_runtime: GuestRuntimeOpt = "litert",
    directory: Annotated[Path | None, typer.Option("--dir", help="Where to build the userland.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if cached.")] = False,
) -> None:
    """Build (or reuse from the cache) a Debian arm64 userland with the device runner's dependencies."""
    from edgekit.emulate import setup_emulator

    rootfs = setup_emulator(arch=arch, runtime=guest_runtime, directory=directory, force=force, progress=console.info)
    typer.echo(str(rootfs))
