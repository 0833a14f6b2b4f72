"""`edgekit report`: saved results as rows, a console table, markdown and CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from edgekit.ioutil import write_bytes_atomic
from edgekit.results.record import input_size_of
from edgekit.results.store import config_id, latest_per_config, load_results, result_config

REPORT_COLUMNS = (
    "target",
    "model",
    "format",
    "precision",
    "source",
    "median ms",
    "p90",
    "size MB",
    "peak MB",
    "runtime",
    "threads",
    "date",
    "status",
    "input",
    "config",
    "board",
    "vs predicted",
    "throttled",
)


def _round(value: Any, digits: int) -> float | None:
    return round(float(value), digits) if isinstance(value, (int, float)) else None


def _mb(value: Any) -> float | None:
    return round(value / 1e6, 2) if isinstance(value, (int, float)) else None


def report_row(result: dict[str, Any]) -> dict[str, Any]:
    """One report row (keys are REPORT_COLUMNS); unknown numbers are None."""
    latency = result.get("latency_ms") or {}
    runtime = result.get("runtime") or {}
    status = result.get("status", "ok")
    if status == "failed":
        status = f"failed: {result.get('error') or ''}".strip()
    runtime_text = " ".join(str(runtime[k]) for k in ("name", "version") if runtime.get(k)) or None
    return {
        "target": result.get("target"),
        "model": result.get("model"),
        "format": result.get("format"),
        "precision": result.get("precision"),
        "source": result.get("source"),
        "median ms": _round(latency.get("median"), 3),
        "p90": _round(latency.get("p90"), 3),
        "size MB": _mb(result.get("size_bytes")),
        "peak MB": _mb(result.get("peak_memory_bytes")),
        "runtime": runtime_text,
        "threads": runtime.get("threads"),
        "date": result.get("date"),
        "status": status,
        "input": input_size_of(result),
        "config": config_id(result_config(result)),
        # Measured over SSH: which board (fleets side by side), measured/predicted ratio, throttled during the run.
        "board": (result.get("host") or {}).get("ssh") if isinstance(result.get("host"), dict) else None,
        "vs predicted": _round(result.get("measured_over_predicted"), 3),
        "throttled": {True: "yes", False: "no"}.get(result.get("throttled")),
    }


def _sort_key(result: dict[str, Any]) -> tuple:
    names = tuple(str(result.get(k, "")) for k in ("target", "model", "format", "precision", "source"))
    board = (result.get("host") or {}).get("ssh") if isinstance(result.get("host"), dict) else None
    return (*names, input_size_of(result) or 0, str(board or ""), str(result.get("date") or ""))


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column == "date":
        return str(value)[:10]  # the day is enough in a table; the files keep the full timestamp
    return str(value)


def result_rows_for_table(results: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """(columns, rows of strings) for console.print_table, sorted by target, model, format, precision."""
    return report_table([report_row(r) for r in sorted(results, key=_sort_key)])


def report_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """report() rows -> (columns, rows of strings) for console.print_table."""
    return list(REPORT_COLUMNS), [[_cell(c, row[c]) for c in REPORT_COLUMNS] for row in rows]


def _markdown(columns: list[str], rows: list[list[str]]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(REPORT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return buffer.getvalue()


def report(
    root: Path = Path("profiles"),
    target: str | None = None,
    csv_path: Path | None = None,
    markdown_path: Path | None = None,
) -> list[dict[str, Any]]:
    """Rows for `edgekit report`; optionally also written (atomically) as CSV and/or a Markdown table."""
    results = sorted(latest_per_config(load_results(root, target)), key=_sort_key)
    rows = [report_row(r) for r in results]
    if csv_path is not None:
        write_bytes_atomic(Path(csv_path), _csv(rows).encode())
    if markdown_path is not None:
        columns, table_rows = result_rows_for_table(results)
        write_bytes_atomic(Path(markdown_path), _markdown(columns, table_rows).encode())
    return rows
