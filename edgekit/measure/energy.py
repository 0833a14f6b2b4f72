"""Host energy from Intel RAPL (powercap sysfs; AMD Zen exposes the same files since Linux 5.11).

Only package-level zones (intel-rapl:N, not their sub-zones) are summed so that nothing is counted twice. The
counter covers the whole package, i.e. every process on it, not just the model: callers say so in their results.
Nothing is ever estimated: when the counters cannot be read, the caller gets None and a one-line reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

POWERCAP_ROOT = Path("/sys/class/powercap")
_PACKAGE_ZONE = re.compile(r"^intel-rapl:\d+$")


@dataclass(frozen=True)
class RaplZone:
    path: Path
    name: str
    max_energy_range_uj: int

    def read_uj(self) -> int:
        return int((self.path / "energy_uj").read_text().strip())


def find_zones(root: Path = POWERCAP_ROOT) -> tuple[list[RaplZone], str | None]:
    """Readable package zones, or ([], "RAPL not readable: <why>")."""
    if not root.is_dir():
        return [], f"RAPL not readable: {root} does not exist (no powercap driver, or masked in this container)"
    candidates = sorted(p for p in root.iterdir() if _PACKAGE_ZONE.match(p.name))
    if not candidates:
        return [], f"RAPL not readable: no intel-rapl package zone under {root}"
    zones: list[RaplZone] = []
    for path in candidates:
        try:
            name = (path / "name").read_text().strip() if (path / "name").exists() else path.name
            max_range = int((path / "max_energy_range_uj").read_text().strip())
            zone = RaplZone(path, name, max_range)
            zone.read_uj()
        except PermissionError:
            return [], f"RAPL not readable: permission denied on {path}/energy_uj (root-only since Linux 5.10)"
        except (OSError, ValueError) as exc:
            return [], f"RAPL not readable: {path}: {exc}"
        zones.append(zone)
    return zones, None


class RaplMeter:
    """Energy over an interval: start(), then stop() -> joules (None when unreadable, with .note saying why)."""

    def __init__(self, root: Path = POWERCAP_ROOT):
        self.zones, self.note = find_zones(root)
        self._start: list[int] | None = None

    @property
    def available(self) -> bool:
        return bool(self.zones)

    @property
    def zone_names(self) -> list[str]:
        return [z.name for z in self.zones]

    def start(self) -> None:
        self._start = self._read() if self.zones else None

    def stop(self) -> float | None:
        """Joules since start(); one counter wrap per zone is undone with max_energy_range_uj."""
        if self._start is None:
            return None
        end = self._read()
        if end is None:
            return None
        total_uj = 0
        for zone, before, after in zip(self.zones, self._start, end, strict=True):
            delta = after - before
            if delta < 0:  # the counter wrapped around once during the interval
                delta += zone.max_energy_range_uj
            total_uj += delta
        return total_uj / 1e6

    def _read(self) -> list[int] | None:
        try:
            return [z.read_uj() for z in self.zones]
        except (OSError, ValueError) as exc:
            self.note = f"RAPL not readable: {exc}"
            return None


def energy_fields(joules: float | None, seconds: float, inferences: int, meter: RaplMeter) -> dict:
    """Result keys power_w, energy_mj (per inference) and a note; null with the reason when unknown."""
    if joules is None or seconds <= 0 or inferences <= 0:
        return {"power_w": None, "energy_mj": None, "energy_note": meter.note or "RAPL not readable: no reading"}
    return {
        "power_w": joules / seconds,
        "energy_mj": joules * 1e3 / inferences,
        "energy_note": (
            f"RAPL {'+'.join(meter.zone_names)}: whole-package energy over the timed loop (includes every process "
            "on the package); energy_mj is per inference"
        ),
    }
