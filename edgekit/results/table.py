"""`edgekit report`: saved results as rows, a console table, markdown and CSV.

A row holds the result's numbers (median, the prediction band low-high, p90, measured/predicted), its configuration
(every key of the result's configuration, store.CONFIG_KEYS: the values that tell two results apart) and where it came
from. The console table shows the configuration columns whose values differ between rows; --json, --csv and
--markdown keep every column. Failed runs (kept apart, under <target>/failed/) are rows only with failed=True.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from edgekit.errors import UsageError
from edgekit.ioutil import write_bytes_atomic
from edgekit.results.record import input_size_of
from edgekit.results.store import (
    CONFIG_KEYS,
    TIMING_DEFAULTS,
    config_id,
    latest_per_config,
    load_results,
    result_config,
)

# Configuration keys with a column of their own name below; any other configuration key (a new one) becomes a column
# named after it, so that the report keeps telling results apart when the configuration grows.
_CONFIG_COLUMN = {"input_size": "input", "alpha": "width", "threads": "threads", "link": "link", "host": "host"}
_NAMED = ("target", "model", "format", "precision", "source", "runtime", "runtime_version", *_CONFIG_COLUMN)
EXTRA_CONFIG_KEYS = tuple(k for k in (*CONFIG_KEYS, *TIMING_DEFAULTS) if k not in _NAMED)  # mode, batch, device...

REPORT_COLUMNS = (
    "target",
    "model",
    "format",
    "precision",
    "source",
    "median ms",
    "low ms",  # the prediction band (predicted rows; measured rows have none)
    "high ms",
    "p90",
    "vs predicted",  # measured median / predicted median, same artifact, target and configuration
    "size MB",
    "peak MB",
    "runtime",
    "threads",
    "date",
    "status",
    "input",
    "width",
    "link",
    "host",
    *EXTRA_CONFIG_KEYS,
    "config",
    "board",
    "throttled",
)
# The console table: these always; the configuration columns (VARYING) where rows differ in them.
TABLE_ALWAYS = ("target", "model", "format", "precision", "input", "source", "runtime", "threads")
TABLE_NUMBERS = ("median ms", "band ms", "p90", "vs predicted", "size MB", "peak MB", "date")
VARYING = ("width", "link", "host", *EXTRA_CONFIG_KEYS, "throttled")


def _round(value: Any, digits: int) -> float | None:
    return round(float(value), digits) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _mb(value: Any) -> float | None:
    return round(value / 1e6, 2) if isinstance(value, (int, float)) else None


def report_row(result: dict[str, Any], ratio: float | None = None) -> dict[str, Any]:
    """One report row (keys are REPORT_COLUMNS); unknown numbers are None. ratio: measured/predicted found by
    report() for a measured result that carries none of its own."""
    latency = result.get("latency_ms") if isinstance(result.get("latency_ms"), dict) else {}
    runtime = result.get("runtime") if isinstance(result.get("runtime"), dict) else {}
    config = result_config(result)
    status = result.get("status", "ok")
    if status == "failed":
        status = f"failed: {result.get('error') or ''}".strip()
    runtime_text = " ".join(str(runtime[k]) for k in ("name", "version") if runtime.get(k)) or None
    own_ratio = _round(result.get("measured_over_predicted"), 3)
    return {
        "target": result.get("target"),
        "model": result.get("model"),
        "format": result.get("format"),
        "precision": result.get("precision"),
        "source": result.get("source"),
        "median ms": _round(latency.get("median"), 3),
        "low ms": _round(latency.get("low"), 3),
        "high ms": _round(latency.get("high"), 3),
        "p90": _round(latency.get("p90"), 3),
        "vs predicted": own_ratio if own_ratio is not None else _round(ratio, 3),
        "size MB": _mb(result.get("size_bytes")),
        "peak MB": _mb(result.get("peak_memory_bytes")),
        "runtime": runtime_text,
        "threads": runtime.get("threads"),
        "date": result.get("date"),
        "status": status,
        "input": input_size_of(result),
        "width": config.get("alpha"),
        "link": config.get("link"),
        "host": config.get("host"),
        **{key: config.get(key) for key in EXTRA_CONFIG_KEYS},
        "config": config_id(config),
        # Measured over SSH: which board (fleets side by side); throttled during the run.
        "board": (result.get("host") or {}).get("ssh") if isinstance(result.get("host"), dict) else None,
        "throttled": {True: "yes", False: "no"}.get(result.get("throttled")),
    }


def _sort_key(result: dict[str, Any]) -> tuple:
    names = tuple(str(result.get(k, "")) for k in ("target", "model", "format", "precision", "source"))
    board = (result.get("host") or {}).get("ssh") if isinstance(result.get("host"), dict) else None
    return (*names, input_size_of(result) or 0, str(board or ""), str(result.get("date") or ""))


def _pairing_key(result: dict[str, Any]) -> tuple:
    """What a measurement and a prediction share when they are of one artifact on one target in one configuration:
    the artifact's hash (it fixes model, format, precision, input size and width) or, without one, those names; and
    threads, link and how it was timed (mode, batch, device). Runtime names differ by design (a prediction names the
    kernels it models)."""
    config = result_config(result)
    artifact = result.get("artifact") if isinstance(result.get("artifact"), dict) else {}
    what = (
        (artifact.get("sha256"),)
        if artifact.get("sha256")
        else tuple(config.get(k) for k in ("model", "format", "precision", "input_size", "alpha"))
    )
    timing = tuple(config.get(k) for k in ("mode", "batch", "device"))
    return (config.get("target"), *what, config.get("threads"), config.get("link"), *timing)


def predicted_ratios(results: list[dict[str, Any]]) -> dict[int, float]:
    """id(measured result) -> its median over the newest matching prediction's median (see _pairing_key)."""
    predicted: dict[tuple, dict[str, Any]] = {}
    for result in sorted(results, key=lambda r: str(r.get("date") or "")):
        if result.get("source") == "predicted" and result.get("status", "ok") == "ok":
            predicted[_pairing_key(result)] = result
    ratios = {}
    for result in results:
        if result.get("source") != "measured" or result.get("status", "ok") != "ok":
            continue
        match = predicted.get(_pairing_key(result))
        measured = (result.get("latency_ms") or {}).get("median")
        guess = ((match or {}).get("latency_ms") or {}).get("median")
        if isinstance(measured, (int, float)) and isinstance(guess, (int, float)) and guess > 0:
            ratios[id(result)] = measured / guess
    return ratios


def _cell(column: str, row: dict[str, Any]) -> str:
    if column == "band ms":
        low, high = row.get("low ms"), row.get("high ms")
        return f"{low:.2f}-{high:.2f}" if low is not None and high is not None else ""
    value = row.get(column)
    if value is None:
        return ""
    if column == "date":
        return str(value)[:10]  # the day is enough in a table; the files keep the full timestamp
    if column == "vs predicted":
        return f"{value:.2f}x"
    return str(value)


def table_columns(rows: list[dict[str, Any]], failed: bool = False) -> list[str]:
    """The console table's columns: the fixed ones, the configuration columns in which rows differ, and the status
    (with its error) for failed runs."""
    varying = [c for c in VARYING if len({str(row.get(c)) for row in rows}) > 1]
    return [*TABLE_ALWAYS, *varying, *TABLE_NUMBERS, *(["status"] if failed else [])]


def report_table(rows: list[dict[str, Any]], failed: bool = False) -> tuple[list[str], list[list[str]]]:
    """report() rows -> (columns, rows of strings) for console.print_table."""
    columns = table_columns(rows, failed)
    return columns, [[_cell(c, row) for c in columns] for row in rows]


def result_rows_for_table(results: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """(columns, rows of strings) for console.print_table, sorted by target, model, format, precision."""
    ordered = sorted(results, key=_sort_key)
    ratios = predicted_ratios(ordered)
    return report_table([report_row(r, ratios.get(id(r))) for r in ordered])


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


def report_results(root: Path, target: str | None = None, failed: bool = False) -> list[dict[str, Any]]:
    """The newest result per configuration (failed=True: the failed runs instead, newest per configuration)."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"no profiles folder {root} (profile something first, or name the folder with --profiles)")
    if failed:  # kept apart (<target>/failed/), plus failed results saved beside the good ones by older versions
        chosen = load_results(root, target, failed=True) + [
            r for r in load_results(root, target) if r.get("status") == "failed"
        ]
    else:
        chosen = [r for r in load_results(root, target) if r.get("status", "ok") != "failed"]
    return sorted(latest_per_config(chosen), key=_sort_key)


def report(
    root: Path = Path("profiles"),
    target: str | None = None,
    csv_path: Path | None = None,
    markdown_path: Path | None = None,
    failed: bool = False,
) -> list[dict[str, Any]]:
    """Rows for `edgekit report`; optionally also written (atomically) as CSV (every column) and/or a Markdown table
    (the console's columns). A missing root is a usage error."""
    results = report_results(root, target, failed)
    ratios = predicted_ratios(results)
    rows = [report_row(r, ratios.get(id(r))) for r in results]
    if csv_path is not None:
        write_bytes_atomic(Path(csv_path), _csv(rows).encode())
    if markdown_path is not None:
        columns, table_rows = report_table(rows, failed)
        write_bytes_atomic(Path(markdown_path), _markdown(columns, table_rows).encode())
    return rows
