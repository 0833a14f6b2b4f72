"""The one reader of Linux's /proc outside edgekit.device (which must stay standalone): CPU info, memory, a process's
peak memory. Every reader returns an empty value off Linux instead of raising.
"""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def cpuinfo() -> str:
    """/proc/cpuinfo's text ("" where there is none)."""
    try:
        return (PROC / "cpuinfo").read_text(errors="replace")
    except OSError:
        return ""


def cpuinfo_field(text: str, *names: str) -> str | None:
    """The first non-empty value of any of `names` ("model name", "flags", "Features", ...) in cpuinfo text."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in names and value.strip():
            return value.strip()
    return None


def _kib_field(path: Path, field: str) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def meminfo_bytes(field: str = "MemAvailable") -> int | None:
    """A /proc/meminfo field in bytes (MemAvailable: what can be allocated now without swapping)."""
    return _kib_field(PROC / "meminfo", field)


def status_bytes(field: str, pid: int | str = "self") -> int | None:
    """A memory field of /proc/PID/status in bytes (VmHWM: the process's own peak resident memory; VmRSS: now)."""
    return _kib_field(PROC / str(pid) / "status", field)
