"""The profile result record: one dict per measured, emulated or predicted configuration, and its required keys.

The JSON keys are a user contract (see REQUIRED_KEYS); extra keys are allowed and kept.
"""

from __future__ import annotations

import os
import platform
import socket
from datetime import datetime, timezone
from typing import Any

from edgekit._version import __version__
from edgekit.procfs import cpuinfo, cpuinfo_field

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


def utc_now_iso() -> str:
    """ISO 8601 UTC to the second, e.g. 2026-01-31T12:00:00Z."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _cpu_model() -> str:
    return cpuinfo_field(cpuinfo(), "model name", "Hardware", "cpu model") or platform.processor() or "unknown"


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


def input_size_of(result: dict[str, Any]) -> int | None:
    """The square input size a result ran at: recorded by profile, else read from an NHWC input shape."""
    if isinstance(result.get("input_size"), int):
        return result["input_size"]
    first = result.get("input") or (result.get("inputs") or [None])[0]  # emulated: "input"; measured: "inputs"
    shape = first.get("shape") if isinstance(first, dict) else None
    if isinstance(shape, list) and len(shape) == 4 and isinstance(shape[1], int):
        return shape[1]
    return None
