"""`edgekit models` and `edgekit build`: the model zoo and one model as a .keras file."""

from __future__ import annotations

from typing import Annotated

import typer

from edgekit import console
from edgekit.cli.options import AlphaOpt, InputSizeOpt, JsonOpt, NumClassesOpt, OutOpt, SeedOpt, WeightsOpt


def models(
    pattern: Annotated[str | None, typer.Argument(help="Filter by name or family (glob or substring).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List the model zoo: parameters, MACs, default input size and use case (no TensorFlow import)."""
    from edgekit.models.registry import models_matching

    specs = models_matching(pattern)
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
            ", ".join(s.aliases),
            s.use_case,
        )
        for s in specs
    ]
    console.print_table(("model", "family", "year", "params", "MACs", "input", "edge", "aliases", "use case"), rows)


def build(
    model: Annotated[str, typer.Argument(help="A model name (see `edgekit models`).")],
    input_size: InputSizeOpt = None,
    num_classes: NumClassesOpt = 1000,
    alpha: AlphaOpt = None,
    weights: WeightsOpt = "auto",
    softmax: Annotated[bool, typer.Option("--softmax/--logits", help="Output softmax or logits.")] = False,
    out: OutOpt = None,
    seed: SeedOpt = 0,
    json_out: JsonOpt = False,
) -> None:
    """Build a model and write <out>/<model>/keras/MODEL.keras with a manifest.json beside it, atomically."""
    from edgekit import api, console

    record = api.build(
        model,
        input_size=input_size,
        num_classes=num_classes,
        alpha=alpha,
        weights=weights,
        softmax=softmax,
        out=out,
        seed=seed,
    )
    if json_out:
        console.print_json(record)
    else:
        console.info(f"wrote {record['path']} ({record['params']:,} parameters, {record['macs'] / 1e9:.3f} GMACs)")
