"""`edgekit fit`: the cost model behind predictions, fitted to published device latencies and judged."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgekit import console
from edgekit.cli.options import JsonOpt


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
    graph: Annotated[
        list[str] | None,
        typer.Option(
            "--graph",
            help="NAME[@PRECISION]=FILE: commit FILE (.onnx, .tflite, OpenVINO .xml, .keras) as the reference graph "
            "of the published rows naming model NAME (models outside the zoo); repeatable.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Fit the cost model to published device latencies and report leave-one-out and leave-one-model-out errors per
    target and runtime."""
    import json

    for value in graph or []:
        from edgekit.costmodel.foreign import parse_graph_option, write_foreign_summary

        name, precision, file = parse_graph_option(value)
        written = write_foreign_summary(name, file, precision, tool="edgekit fit --graph")
        console.info(f"reference graph {name}: {written}")

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
