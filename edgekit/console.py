"""One output object: human output (tables, progress) on stderr; --json prints exactly one JSON document on stdout."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

_err_console = None
_err_stream = None
_err_source = None


def err_stream():
    """A private duplicate of stderr: converters silence fd 2 (C++ logs) but progress and messages still show."""
    global _err_stream, _err_source, _err_console
    if _err_stream is None or _err_source is not sys.stderr:  # rebuilt if someone swapped sys.stderr (tests)
        import os

        try:
            fd = sys.stderr.fileno()
        except (OSError, ValueError, AttributeError):  # no real fd (a test runner's capture): use it, don't cache
            return sys.stderr
        _err_stream, _err_source, _err_console = open(os.dup(fd), "w", buffering=1, closefd=True), sys.stderr, None  # noqa: SIM115
    return _err_stream


def err_console():
    global _err_console
    from rich.console import Console

    stream = err_stream()
    if stream is not _err_stream:
        return Console(file=stream, highlight=False)
    if _err_console is None:
        _err_console = Console(file=stream, highlight=False)
    return _err_console


def info(message: str) -> None:
    err_console().print(message, markup=False)


def warn(message: str) -> None:
    # One line whatever the width: the terminal may fold it, rich does not cut it into several.
    err_console().print(f"warning: {message}", style="yellow", markup=False, soft_wrap=True)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")
    sys.stdout.flush()


def print_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> None:
    """A table on stdout (it is the command's result when --json is off)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    # Piped or captured output gets the whole table, not cells cut to an 80-column guess.
    width = None if sys.stdout.isatty() else 240
    Console(highlight=False, width=width, file=sys.stdout).print(table)


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Any]:
    """A progress bar on stderr; yields a callable advance(n=1). Silent when stderr is not a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console(),
        transient=True,
        disable=not err_stream().isatty(),
    )
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
