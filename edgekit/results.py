"""Profile results: one flat JSON file per configuration under profiles/, and report tables.

A configuration is everything that changes the number (CONFIG_KEYS: target, model, format, precision, source, input
size, width, threads, runtime and its version, host, link), so a 160 px run never replaces the 224 px one, nor a
predicted result the measured one: profiles/<target>/<model>__<format>-<precision>__<config id>.json, the
configuration inside. Re-running the same configuration replaces its file (git history is the history).
Files named the old way (<model>__<format>-<precision>.json) are still read.

The JSON keys are a user contract (see REQUIRED_KEYS); extra keys are allowed and kept.
"""

from __future__ import annotations

import csv
import hashlib
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
# What makes two results different measurements (the file name's config id is a hash of these values).
CONFIG_KEYS = (
    "target",
    "model",
    "format",
    "precision",
    "source",
    "input_size",
    "alpha",
    "threads",
    "runtime",
    "runtime_version",
    "host",
    "link",
)
MAX_NAME = 80  # file name parts are cut here: a hostile 10 kB model name must not make an unwritable path
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
    """File-name-safe version of a model/target name (no separators, no leading dots or dashes, bounded length)."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", str(text)).lstrip(".-")[:MAX_NAME] or "unnamed"


def _input_size(result: dict[str, Any]) -> int | None:
    """The square input size a result ran at: recorded by profile, else read from an NHWC input shape."""
    if isinstance(result.get("input_size"), int):
        return result["input_size"]
    first = result.get("input") or (result.get("inputs") or [None])[0]  # emulated: "input"; measured: "inputs"
    shape = first.get("shape") if isinstance(first, dict) else None
    if isinstance(shape, list) and len(shape) == 4 and isinstance(shape[1], int):
        return shape[1]
    return None


def result_config(result: dict[str, Any]) -> dict[str, Any]:
    """The configuration a result belongs to (CONFIG_KEYS; unknowns None), derived from its contents."""
    runtime = result.get("runtime") if isinstance(result.get("runtime"), dict) else {}
    host = result.get("host")
    split = result.get("split") if isinstance(result.get("split"), dict) else {}
    config = {key: result.get(key) for key in ("target", "model", "format", "precision", "source")}
    config.update(
        input_size=_input_size(result),
        alpha=result.get("alpha"),
        threads=runtime.get("threads"),
        runtime=runtime.get("name"),
        runtime_version=runtime.get("version"),
        # A fleet member is its --hosts name: boards often share a hostname ("raspberrypi").
        host=(host.get("ssh") or host.get("hostname")) if isinstance(host, dict) else host,
        link=result.get("link") or split.get("link"),
    )
    return config


def config_id(config: dict[str, Any]) -> str:
    """A short stable hash of a configuration (the file name's last part)."""
    text = json.dumps({k: config.get(k) for k in CONFIG_KEYS}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def result_path(result: dict[str, Any], root: Path = Path("profiles")) -> Path:
    """profiles/<target>/<model>__<format>-<precision>__<config id>.json"""
    model, fmt, precision = (_safe_name(result[k]) for k in ("model", "format", "precision"))
    name = f"{model}__{fmt}-{precision}__{config_id(result_config(result))}.json"
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
    result["config"] = result_config(result)
    result["config_id"] = config_id(result["config"])
    path = result_path(result, root)
    write_json_atomic(path, result)
    return path


_NEW_NAME = re.compile(r"__[0-9a-f]{10}\.json$")


def migrate_results(root: Path = Path("profiles")) -> list[tuple[Path, Path]]:
    """Rename old-style files (<model>__<format>-<precision>.json) to their configuration's name; (old, new) pairs.

    The old file goes only once the new one is written; where the new name already holds a newer result of the same
    configuration, that one is kept.
    """
    moved = []
    for folder in sorted(p for p in Path(root).glob("*") if p.is_dir()):
        for old in sorted(folder.glob("*.json")):
            if old.name.startswith(".") or _NEW_NAME.search(old.name):
                continue
            try:
                result = json.loads(old.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue  # load_results reports it; migration never deletes what it cannot read
            if validate_result(result):
                continue
            new = result_path(result, root)
            try:
                newer = json.loads(new.read_text()).get("date", "") >= str(result.get("date") or "")
            except (OSError, ValueError, AttributeError):
                newer = False
            if not newer:
                new = save_result(result, root)
            old.unlink()
            moved.append((old, new))
    return moved


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
            if path.name.startswith("."):
                continue  # a write in progress (ioutil's temp files), or one killed before its rename
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


def latest_per_config(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The newest result of each configuration (old-style files and new ones of the same configuration merge)."""
    latest: dict[str, dict[str, Any]] = {}
    for result in results:
        key = config_id(result_config(result))
        if key not in latest or str(result.get("date") or "") >= str(latest[key].get("date") or ""):
            latest[key] = result
    return list(latest.values())


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
        "input": _input_size(result),
        "config": config_id(result_config(result)),
        # Measured over SSH: which board (fleets side by side), measured/predicted ratio, throttled during the run.
        "board": (result.get("host") or {}).get("ssh") if isinstance(result.get("host"), dict) else None,
        "vs predicted": _round(result.get("measured_over_predicted"), 3),
        "throttled": {True: "yes", False: "no"}.get(result.get("throttled")),
    }


def _sort_key(result: dict[str, Any]) -> tuple:
    names = tuple(str(result.get(k, "")) for k in ("target", "model", "format", "precision", "source"))
    board = (result.get("host") or {}).get("ssh") if isinstance(result.get("host"), dict) else None
    return (*names, _input_size(result) or 0, str(board or ""), str(result.get("date") or ""))


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


if __name__ == "__main__":  # python -m edgekit.results migrate [ROOT]
    import sys

    if sys.argv[1:2] != ["migrate"]:
        sys.exit("usage: python -m edgekit.results migrate [ROOT]")
    for before, after in migrate_results(Path(sys.argv[2]) if len(sys.argv) > 2 else Path("profiles")):
        print(f"{before} -> {after}")
