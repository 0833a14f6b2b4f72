"""--power-cmd CMD: an external meter, sampled on the workstation while the remote runs.

CMD is run repeatedly (argument list, no shell); the last number it prints is taken as watts (a USB power meter's
CLI, a smart plug's, a lab supply's). What it covers is what the meter covers: results say "scope" accordingly.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from edgekit.errors import UsageError

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def parse_watts(text: str) -> float | None:
    """The last number in a meter's output ("4.20 W", "power=4200mW" is read as 4200: print watts)."""
    numbers = _NUMBER.findall(text or "")
    return float(numbers[-1]) if numbers else None


class PowerCommand:
    def __init__(self, command: str, interval_s: float = 0.25, timeout_s: float = 5.0):
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:
            raise UsageError(f"--power-cmd {command!r}: {exc}") from None
        if not self.argv:
            raise UsageError("--power-cmd needs a command")
        self.command = command
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.samples: list[tuple[float, float]] = []  # (workstation time, watts)
        self.failures: list[str] = []

    def read(self) -> float | None:
        try:
            proc = subprocess.run(self.argv, capture_output=True, text=True, timeout=self.timeout_s)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self.failures.append(str(exc))
            return None
        watts = parse_watts(proc.stdout) if proc.returncode == 0 else None
        if watts is None:
            self.failures.append(f"exit {proc.returncode}: {(proc.stdout + proc.stderr).strip()[:100]}")
        return watts

    def idle_w(self, seconds: float = 1.0) -> float | None:
        values = []
        end = time.monotonic() + seconds
        while time.monotonic() < end or not values and len(self.failures) < 3:
            watts = self.read()
            if watts is not None:
                values.append(watts)
            time.sleep(self.interval_s)
        return round(sum(values) / len(values), 4) if values else None

    @contextmanager
    def sampling(self) -> Iterator[None]:
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                watts = self.read()
                if watts is not None:
                    self.samples.append((time.time(), watts))
                stop.wait(self.interval_s)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def summary(self, idle_w: float | None, finished: float, timed_seconds: float, runs: int) -> dict[str, Any]:
        """Active watts from the samples of the timed window (the last timed_seconds before the remote run ended,
        on the workstation's clock), and millijoules per inference."""
        window = [w for t, w in self.samples if finished - timed_seconds - self.interval_s <= t <= finished]
        note = "samples taken during the timed runs (workstation clock)"
        if not window and self.samples:
            window = [self.samples[-1][1]]
            note = "the timed runs were shorter than one sample: the last sample of the run"
        active = round(sum(window) / len(window), 4) if window else None
        energy = active * timed_seconds / runs * 1000.0 if active is not None and runs else None
        return {
            "status": "ok" if active is not None else "failed",
            "source": "measured",
            "method": "power-cmd",
            "command": self.command,
            "scope": "whatever the external meter measures (e.g. the board at its power input)",
            "idle_w": idle_w,
            "active_w": active,
            "energy_mj_per_inference": None if energy is None else float(f"{energy:.4g}"),  # as device.system does
            "samples": len(window),
            "note": note,
            "errors": self.failures[-3:] or None,
        }
