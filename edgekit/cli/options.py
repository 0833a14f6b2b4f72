"""Option types shared by the commands (Annotated aliases) and the helpers that turn flags into API arguments.

Imports typer and the standard library only: every command module imports this, and `edgekit --help` stays instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgekit.errors import UsageError, did_you_mean

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
InputSizeOpt = Annotated[
    int | None, typer.Option("--input-size", min=8, help="Square input size (default: the model's).")
]
NumClassesOpt = Annotated[int, typer.Option("--num-classes", min=1, help="Number of output classes.")]
AlphaOpt = Annotated[float | None, typer.Option("--alpha", min=0.1, max=4.0, help="Width multiplier (MobileNet).")]
WeightsOpt = Annotated[
    str,
    typer.Option(
        "--weights",
        help="auto (ImageNet if available, else random + warning) | imagenet | none | PATH (.weights.h5, .keras, "
        "or the publisher's .pth/.safetensors).",
    ),
]
Int8Opt = Annotated[bool, typer.Option("--int8", help="Full-integer INT8 (post-training, calibrated).")]
Fp16Opt = Annotated[bool, typer.Option("--fp16", help="FP16 weights.")]
Fp32Opt = Annotated[bool, typer.Option("--fp32", help="FP32 (the default).")]
DynOpt = Annotated[bool, typer.Option("--dynamic", help="TFLite dynamic-range INT8 weights, float activations.")]
CalibOpt = Annotated[str, typer.Option("--calib", help="Image folder, 'builtin' or 'synthetic'.")]
CalibSizeOpt = Annotated[int, typer.Option("--calib-size", min=1, help="Calibration images.")]
IoOpt = Annotated[str, typer.Option("--io", help="TFLite int8 input/output type: int8 or float.")]
# One meaning of --seed in build, export and profile: the seed of everything random the command does.
SeedOpt = Annotated[
    int,
    typer.Option(
        "--seed",
        help="Seed of everything random here: random weights (--weights none, or auto without ImageNet weights) "
        "and the calibration and held-out image samples.",
    ),
]
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
HtmlOpt = Annotated[Path | None, typer.Option("--html", help="Write one self-contained HTML report (tables + plots).")]
PlotsOpt = Annotated[Path | None, typer.Option("--plots", help="Also write the plots as PNG files into this folder.")]


def precision_of(int8: bool, fp16: bool, fp32: bool, dynamic: bool = False, default: str | None = "fp32") -> str | None:
    """The precision flags (--int8 --fp16 --fp32 --dynamic) as the one precision string the API takes."""
    chosen = [name for name, on in (("int8", int8), ("fp16", fp16), ("fp32", fp32), ("dynamic", dynamic)) if on]
    if len(chosen) > 1:
        raise UsageError(f"choose one precision, not {' and '.join('--' + c for c in chosen)}")
    return chosen[0] if chosen else default


def split_list(value: str | None, allow_all: bool = False) -> tuple[str, ...] | None:
    """--format a,b -> ('a', 'b'), each a name of the formats table (or 'all' where allow_all); None stays None (the
    command's default set). An unknown name is a usage error listing the valid ones."""
    if value is None:
        return None
    items = tuple(v.strip().lower() for v in value.split(",") if v.strip())
    if not items:
        raise UsageError("--format needs at least one format")
    from edgekit.exporting.formats import format_names  # the table (numpy only), read when --format is given

    valid = (*format_names(), "all") if allow_all else format_names()
    for item in items:
        if item not in valid:
            raise did_you_mean("format", item, valid, listed=True)
    return items
