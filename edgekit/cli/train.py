"""`edgekit train`: a zoo model trained on an image folder into a .keras model that export takes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgekit.cli.cluster import JobsOpt, RayCpusOpt, RayOpt, RayPipOpt, RaySharedOpt, train_many, where
from edgekit.cli.options import AlphaOpt, InputSizeOpt, JsonOpt


def train(
    models: Annotated[list[str], typer.Argument(help="Model names (see `edgekit models`); several: one trial each.")],
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
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of everything random here: validation split, weights, shuffling.")
    ] = 0,
    jobs: JobsOpt = 1,
    ray: RayOpt = None,
    ray_cpus: RayCpusOpt = 1,
    ray_shared: RaySharedOpt = None,
    ray_pip: RayPipOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Train on an image folder (transfer learning, fine-tuning or from scratch) into a .keras model export takes.
    Several models: one trial each (in turn, in --jobs processes or on a --ray cluster), side by side."""
    from edgekit import api, console

    at = where(jobs, ray, ray_cpus, ray_shared, ray_pip)
    options = dict(
        data=data,
        strategy=strategy,
        epochs=epochs,
        batch_size=batch_size,
        val_split=val_split,
        weights=weights,
        alpha=alpha,
        resume=resume,
        seed=seed,
    )
    names = list(dict.fromkeys(models))
    if len(names) > 1 or at != where(1, None, 1, None, False):
        train_many(names, input_size, options, out, at, json_out)
        return
    record = api.train(names[0], input_size=input_size, out=out, **options)
    if json_out:  # the progress lines on stderr are the human output
        console.print_json(record)
