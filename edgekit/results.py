"""Profile results: one flat JSON file per (target, model, format, precision) under profiles/, and report tables.

The JSON keys are a user contract (see REQUIRED_KEYS); extra keys are allowed and kept.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import re
import socket
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError
from edgekit.ioutil import write_bytes_atomic, write_json_atomic

SOURCES = ("measured", "predicted", "emulated")
STATUSES = ("ok", "failed")
REQUIRED_KEYS = (
    "target",
    "model",
    "format",
    "precision",
    "source",
    "status",
    "error",
    "latency_ms",
    "size_bytes",
    "peak_memory_bytes",
    "runtime",
    "layers",
    "artifact",
    "host",
    "date",
    "edgekit_version",
    "load_ms",
    "first_inference_ms",
    "throughput_ips",
    "power_w",
    "energy_mj",
)
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
)


def utc_now_iso() -> str:
    """ISO 8601 UTC to the second, e.g. 2026-01-31T12:00:00Z."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def host_info() -> dict[str, Any]:
    """The machine a result was produced on (for measured results: the machine that ran the model)."""
    return {
        "hostname": socket.gethostname(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
        "cores": os.cpu_count(),
    }


def base_result(target: str, model: str, format: str, precision: str, source: str) -> dict[str, Any]:
    """A result dict with every contract key present (unknowns are None, never invented)."""
    from edgekit import __version__

    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, not {source!r}")
    return {
        "target": target,
        "model": model,
        "format": format,
        "precision": precision,
        "source": source,
        "status": "ok",
        "error": None,
        "latency_ms": None,
        "size_bytes": None,
        "peak_memory_bytes": None,
        "runtime": None,
        "layers": [],
        "artifact": None,
        "host": host_info(),
        "date": utc_now_iso(),
        "edgekit_version": __version__,
        "load_ms": None,
        "first_inference_ms": None,
        "throughput_ips": None,
        "power_w": None,
        "energy_mj": None,
    }


def validate_result(result: Any) -> list[str]:
    """Problems with a result dict (empty list when it follows the contract)."""
    if not isinstance(result, dict):
        return ["not a JSON object"]
    problems = [f"missing key '{k}'" for k in REQUIRED_KEYS if k not in result]
    for key in ("target", "model", "format", "precision"):
        if key in result and not (isinstance(result[key], str) and result[key]):
            problems.append(f"'{key}' must be a non-empty string")
    if "source" in result and result["source"] not in SOURCES:
        problems.append(f"'source' must be one of {', '.join(SOURCES)}")
    if "status" in result and result["status"] not in STATUSES:
        problems.append(f"'status' must be one of {', '.join(STATUSES)}")
    if result.get("status") == "failed" and not result.get("error"):
        problems.append("a failed result needs an 'error'")
    for key in ("latency_ms", "runtime", "artifact", "host"):
        if key in result and result[key] is not None and not isinstance(result[key], dict):
            problems.append(f"'{key}' must be an object or null")
    if "layers" in result and not isinstance(result["layers"], list):
        problems.append("'layers' must be a list")
    return problems


def _safe_name(text: str) -> str:
    """File-name-safe version of a model/target name (no separators, no leading dots)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", str(text)).lstrip(".") or "unnamed"


def result_path(result: dict[str, Any], root: Path = Path("profiles")) -> Path:
    """profiles/<target>/<model>__<format>-<precision>.json"""
    name = f"{_safe_name(result['model'])}__{_safe_name(result['format'])}-{_safe_name(result['precision'])}.json"
    return Path(root) / _safe_name(result["target"]) / name


def save_result(result: dict[str, Any], root: Path = Path("profiles")) -> Path:
    """Write one result atomically (failed runs too, with their status and error); return its path."""
    result = dict(result)
    result.setdefault("date", utc_now_iso())
    result.setdefault("host", host_info())
    if "edgekit_version" not in result:
        from edgekit import __version__

        result["edgekit_version"] = __version__
    problems = validate_result(result)
    if problems:
        raise EdgekitError(f"refusing to save an invalid profile result: {'; '.join(problems)}")
    path = result_path(result, root)
    write_json_atomic(path, result)
    return path


def load_results_with_problems(
    root: Path = Path("profiles"), target: str | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """All valid results under root (optionally one target), plus one line per unreadable or invalid file."""
    root = Path(root)
    folders = [root / _safe_name(target)] if target else sorted(p for p in root.glob("*") if p.is_dir())
    results: list[dict[str, Any]] = []
    problems: list[str] = []
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            try:
                data = json.loads(path.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                problems.append(f"{path}: not readable JSON ({exc})")
                continue
            bad = validate_result(data)
            if bad:
                problems.append(f"{path}: {'; '.join(bad)}")
                continue
            results.append(data)
    return results, problems


def load_results(root: Path = Path("profiles"), target: str | None = None) -> list[dict[str, Any]]:
    """All valid results; bad files are reported as warnings on stderr and skipped, never fatal."""
    results, problems = load_results_with_problems(root, target)
    if problems:
        from edgekit.console import warn

        for line in problems:
            warn(f"skipping {line}")
    return results


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
    }


def _sort_key(result: dict[str, Any]) -> tuple:
    return tuple(str(result.get(k, "")) for k in ("target", "model", "format", "precision", "source"))


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
    results = sorted(load_results(root, target), key=_sort_key)
    rows = [report_row(r) for r in results]
    if csv_path is not None:
        write_bytes_atomic(Path(csv_path), _csv(rows).encode())
    if markdown_path is not None:
        columns, table_rows = result_rows_for_table(results)
        write_bytes_atomic(Path(markdown_path), _markdown(columns, table_rows).encode())
    return rows
