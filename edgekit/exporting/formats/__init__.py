"""The formats table: one row per module (Ultralytics' habit); export, verify, analyze, profile and the target
schema read it through the helpers below, so no other module keeps its own list of format names or suffixes.

Adding a format: a module in this package with a FORMAT row (edgekit.exporting.base.ExportFormat); it is found by
listing the package, so nothing else names it. A plugin outside the package goes in EXTRA_FORMAT_MODULES.
Light to import: the rows are built when first asked for, and their callables import their toolchains lazily.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
import re
from pathlib import Path
from typing import TYPE_CHECKING

from edgekit.errors import did_you_mean

if TYPE_CHECKING:
    from edgekit.exporting.base import ExportFormat

# Dotted names of modules outside this package that hold a FORMAT row (plugins; tests add one this way).
EXTRA_FORMAT_MODULES: tuple[str, ...] = ()


@functools.cache
def package_format_modules() -> tuple[str, ...]:
    """The modules of this package that define a FORMAT row (listed once per process, not named anywhere)."""
    own = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "FORMAT"):
            own.append(module.__name__)
    return tuple(own)


def format_modules() -> tuple[str, ...]:
    """Every module that defines a FORMAT row: this package's, then EXTRA_FORMAT_MODULES."""
    return (*package_format_modules(), *EXTRA_FORMAT_MODULES)


def formats() -> dict[str, ExportFormat]:
    """name -> row, in table order (ExportFormat.order, then name); imports are cached, so this is cheap."""
    rows = sorted((importlib.import_module(m).FORMAT for m in format_modules()), key=lambda r: (r.order, r.name))
    return {row.name: row for row in rows}


def format_names() -> tuple[str, ...]:
    return tuple(formats())


def default_formats() -> tuple[str, ...]:
    return tuple(name for name, row in formats().items() if row.default)


def get_format(name: str) -> ExportFormat:
    """The row of a format name; a UsageError with "did you mean" for an unknown one."""
    rows = formats()
    if name not in rows:
        raise did_you_mean("format", name, rows, listed=True)
    return rows[name]


def format_of_suffix(path: Path | str) -> str | None:
    """The format a file name means by its ending (longest match: model_edgetpu.tflite is edgetpu), or None."""
    name = Path(path).name.lower()
    best: tuple[int, str] | None = None
    for row in formats().values():
        for ending in row.file_endings:
            if name.endswith(ending.lower()) and (best is None or len(ending) > best[0]):
                best = (len(ending), row.name)
    return best[1] if best else None


def model_suffixes() -> tuple[str, ...]:
    """Every file ending of a model file (.tflite, .onnx, .xml, ...), without repeats."""
    return tuple(dict.fromkeys(e for row in formats().values() for e in row.file_endings))


def suffixes_text() -> str:
    """ "a .tflite, .onnx or .xml" for error messages."""
    endings = [e for e in model_suffixes() if e.startswith(".")]
    return ", ".join(endings[:-1]) + f" or {endings[-1]}" if len(endings) > 1 else "".join(endings)


def model_file_names(stem: str = "model") -> tuple[str, ...]:
    """The model file names an export folder can hold (model.tflite, model.onnx, ..., model_edgetpu.tflite)."""
    return tuple(stem + ending for ending in model_suffixes())


def companion_files(path: Path) -> list[Path]:
    """The model file and the files its runtime reads with it (OpenVINO's .bin), those that exist."""
    path = Path(path)
    fmt = format_of_suffix(path)
    endings = formats()[fmt].companions if fmt else ()
    return [path] + [p for p in (path.with_suffix(e) for e in endings) if p.is_file()]


def parse_export_dir(name: str) -> tuple[str, str] | None:
    """(format, precision) of an export folder name such as "onnx-int8" (edgekit-out/<model>/<format>-<precision>)."""
    from edgekit.exporting.base import ANY_BATCH_SUFFIX, PRECISIONS

    names = "|".join(re.escape(n) for n in sorted(formats(), key=len, reverse=True))
    # "-anybatch": --dynamic-batch; "@rpi4+rpi5": an artifact made with those targets' settings (exporting.targeting)
    match = re.fullmatch(rf"({names})-({'|'.join(PRECISIONS)})(?:{ANY_BATCH_SUFFIX})?(?:@[A-Za-z0-9_.+-]+)?", name)
    return (match.group(1), match.group(2)) if match else None


def export_hint(name: str) -> str:
    row = formats().get(name)
    return row.hint if row else "edgekit export MODEL"


FORMAT_COLUMNS = ("format", "files", "precisions", "timed by", "extra", "default")


def format_records() -> list[dict]:
    """One dict per row of the table, for `edgekit formats [--json]` (reads no toolchain)."""
    return [
        {
            "name": row.name,
            "suffixes": list(dict.fromkeys((row.suffix, *row.file_endings))),
            "companions": list(row.companions),
            "precisions": list(row.precisions),
            "timing": row.timing,
            "host": not row.host_note,
            "host_note": row.host_note or None,
            "extra": row.extra,
            "default": row.default,
            "module": row.convert.__module__,
            "export": row.hint,
        }
        for row in formats().values()
    ]


def format_rows() -> tuple[list[str], list[list[str]], list[dict]]:
    """(columns, table rows, JSON records) for `edgekit formats`."""
    records = format_records()
    rows = [
        [r["name"], " ".join(r["suffixes"] + r["companions"]), ",".join(r["precisions"]),
         r["timing"] + ("" if r["host"] else " (on the device)"), r["extra"], "yes" if r["default"] else "no"]
        for r in records
    ]  # fmt: skip
    return list(FORMAT_COLUMNS), rows, records


def __getattr__(name: str) -> tuple[str, ...]:
    # FORMAT_NAMES / DEFAULT_FORMATS / FORMAT_MODULES were constants; computed on access so a new module counts.
    if name == "FORMAT_NAMES":
        return format_names()
    if name == "DEFAULT_FORMATS":
        return default_formats()
    if name == "FORMAT_MODULES":
        return format_modules()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
