"""What the board was doing while the device runner measured: CPU placement, clocks, temperature, throttling, power.

Standard library only (it is shipped with runner.py onto the device). Every reader returns None, or a dict saying
"absent" and why, when its source does not exist on this machine: a desktop has no vcgencmd, a VM no cpufreq.

Sources (Raspberry Pi documentation, computers/os.adoc "vcgencmd"; Linux cpufreq and powercap sysfs ABI):
- ``vcgencmd measure_temp`` -> ``temp=48.3'C``; ``vcgencmd get_throttled`` -> ``throttled=0x50005``, bits 0-3 now
  (under-voltage, ARM frequency capped, throttled, soft temperature limit), bits 16-19 the same since boot;
- ``vcgencmd pmic_read_adc`` (Pi 5 only): one line per rail, ``NAME_A current(N)=0.8351A``, ``NAME_V volt(N)=0.87V``;
- /sys/devices/system/cpu/cpuN/cpufreq/{scaling_governor,scaling_cur_freq}; /sys/class/thermal/thermal_zone0/temp;
- /sys/class/powercap/intel-rapl:0/energy_uj, wrapping at max_energy_range_uj.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

SYS_CPU = Path("/sys/devices/system/cpu")
THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")
RAPL_ZONE = Path("/sys/class/powercap/intel-rapl:0")
PMIC_SCOPE = "Raspberry Pi 5 PMIC rails (SoC and board supplies; excludes USB ports and the 5 V input's losses)"
THROTTLE_BITS = {
    0: "under-voltage",
    1: "arm frequency capped",
    2: "throttled",
    3: "soft temperature limit",
    16: "under-voltage occurred",
    17: "arm frequency capping occurred",
    18: "throttling occurred",
    19: "soft temperature limit occurred",
}


# ---------------------------------------------------------------- CPU placement and clocks


def parse_cpu_list(text: str) -> list[int]:
    """taskset-style list "0-2,4" -> [0, 1, 2, 4]; ValueError on anything else."""
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not match:
            raise ValueError(f"bad CPU list {text!r}: use numbers and ranges like 0-2,4")
        low, high = int(match.group(1)), int(match.group(2) or match.group(1))
        if high < low:
            raise ValueError(f"bad CPU range {part!r} in {text!r}")
        cpus.update(range(low, high + 1))
    return sorted(cpus)


def pin_cpus(cpus: list[int] | None) -> list[int] | None:
    """Pin this process (and the threads the runtime starts later) to cpus; return the CPUs it may run on."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    if cpus:
        allowed = sorted(os.sched_getaffinity(0))
        missing = [c for c in cpus if c not in allowed]
        if missing:
            raise ValueError(f"CPUs {missing} are not available here (this process may use {allowed})")
        os.sched_setaffinity(0, cpus)
    return sorted(os.sched_getaffinity(0))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_clocks(cpus: list[int] | None, root: Path = SYS_CPU) -> dict[str, Any]:
    """Governor and current clock (MHz) of each CPU we run on, from cpufreq sysfs; "absent" without cpufreq."""
    cpus = cpus if cpus is not None else sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    governors, clocks = {}, {}
    for cpu in cpus:
        base = root / f"cpu{cpu}" / "cpufreq"
        governor, khz = _read(base / "scaling_governor"), _read(base / "scaling_cur_freq")
        if governor is not None:
            governors[str(cpu)] = governor
        if khz is not None and khz.isdigit():
            clocks[str(cpu)] = round(int(khz) / 1000.0, 1)
    if not governors and not clocks:
        return {"status": "absent", "reason": f"no cpufreq in {root} (a VM or a kernel without cpufreq)"}
    return {"status": "ok", "governor": governors, "clock_mhz": clocks}


def cpu_part() -> str | None:
    """The ARM "CPU part" of /proc/cpuinfo (0xd08 Cortex-A72, 0xd0b Cortex-A76, 0xd03 Cortex-A53), else None."""
    for line in (_read(Path("/proc/cpuinfo")) or "").splitlines():
        if line.startswith("CPU part") and ":" in line:
            return line.split(":", 1)[1].strip()
    return None


# Coral USB Accelerator: 1a6e:089a before its firmware loads, 18d1:9302 after (coral.ai get-started, lsusb output).
CORAL_USB_IDS = {("1a6e", "089a"), ("18d1", "9302")}


def accelerators(usb_root: Path = Path("/sys/bus/usb/devices"), apex: Path = Path("/dev/apex_0")) -> dict[str, bool]:
    """Which Edge TPUs this machine has: a USB Accelerator on the bus, a PCIe/M.2 one (the apex driver's node)."""
    usb = False
    for device in usb_root.glob("*") if usb_root.is_dir() else []:
        ids = (_read(device / "idVendor"), _read(device / "idProduct"))
        usb = usb or ids in CORAL_USB_IDS
    return {"edgetpu_usb": usb, "edgetpu_pcie": apex.exists()}


# ---------------------------------------------------------------- Raspberry Pi firmware (vcgencmd)


def vcgencmd(*args: str, timeout: float = 5.0) -> str | None:
    """Output of `vcgencmd ARGS`, or None where there is no vcgencmd (or it fails)."""
    exe = shutil.which("vcgencmd")
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def parse_temp(text: str) -> float | None:
    """`temp=48.3'C` -> 48.3"""
    match = re.search(r"temp=([-\d.]+)", text or "")
    return float(match.group(1)) if match else None


def parse_throttled(text: str) -> int | None:
    """`throttled=0x50005` -> 0x50005"""
    match = re.search(r"throttled=(0x[0-9a-fA-F]+|\d+)", text or "")
    return int(match.group(1), 0) if match else None


def throttle_flags(value: int) -> list[str]:
    return [name for bit, name in THROTTLE_BITS.items() if value & (1 << bit)]


def was_throttled(before: int | None, after: int | None) -> bool | None:
    """Throttled during the run: bit 2 (throttled now) set at either end, or bit 18 (since boot) newly set."""
    if before is None or after is None:
        return None
    now = bool((before | after) & (1 << 2))
    newly = bool(after & (1 << 18)) and not before & (1 << 18)
    return now or newly


def parse_pmic(text: str) -> dict[str, Any] | None:
    """`vcgencmd pmic_read_adc` -> {"rails": {NAME: watts}, "total_w"}: NAME_A current x NAME_V voltage per rail."""
    amps, volts = {}, {}
    for name, kind, value in re.findall(r"(\S+)_([AV])\s+(?:current|volt)\(\d+\)=([-\d.]+)[AV]", text or ""):
        (amps if kind == "A" else volts)[name] = float(value)
    rails = {name: round(amps[name] * volts[name], 6) for name in sorted(amps) if name in volts}
    if not rails:
        return None
    return {"rails": rails, "total_w": round(sum(rails.values()), 6)}


def temperature_c() -> tuple[float | None, str | None]:
    """(°C, where it came from): vcgencmd on a Pi, else the first thermal zone, else (None, None)."""
    value = parse_temp(vcgencmd("measure_temp") or "")
    if value is not None:
        return value, "vcgencmd measure_temp"
    raw = _read(THERMAL_ZONE)
    if raw is not None and raw.lstrip("-").isdigit():
        return int(raw) / 1000.0, str(THERMAL_ZONE)
    return None, None


def snapshot(cpus: list[int] | None) -> dict[str, Any]:
    """Temperature, throttling state and clocks at one moment (before or after the timed runs)."""
    temp, temp_source = temperature_c()
    throttled = parse_throttled(vcgencmd("get_throttled") or "")
    arm_hz = re.search(r"=(\d+)", vcgencmd("measure_clock", "arm") or "")
    return {
        "temp_c": temp,
        "temp_source": temp_source,
        "throttled": None if throttled is None else hex(throttled),
        "throttled_flags": None if throttled is None else throttle_flags(throttled),
        "arm_clock_mhz": round(int(arm_hz.group(1)) / 1e6, 1) if arm_hz else None,
        "cpufreq": cpu_clocks(cpus),
    }


def thermal_summary(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    flag = was_throttled(
        parse_throttled(f"throttled={before['throttled']}") if before["throttled"] else None,
        parse_throttled(f"throttled={after['throttled']}") if after["throttled"] else None,
    )
    note = None if flag is not None else "vcgencmd get_throttled absent: throttling not known (not a Raspberry Pi?)"
    return {"before": before, "after": after, "throttled": flag, "throttled_note": note}


def cool_down(limit_c: float, max_wait_s: float = 300.0, poll_s: float = 2.0) -> dict[str, Any]:
    """Wait (at most max_wait_s) until the board is below limit_c; say how long it took and whether it got there."""
    start = time.monotonic()
    first, source = temperature_c()
    if first is None:
        return {"limit_c": limit_c, "status": "absent", "reason": "no temperature sensor readable", "waited_s": 0.0}
    temp = first
    while temp is not None and temp >= limit_c and time.monotonic() - start < max_wait_s:
        time.sleep(poll_s)
        temp, _ = temperature_c()
    reached = temp is not None and temp < limit_c
    return {
        "limit_c": limit_c,
        "status": "ok" if reached else "timeout",
        "start_c": first,
        "end_c": temp,
        "waited_s": round(time.monotonic() - start, 1),
        "max_wait_s": max_wait_s,
        "source": source,
    }


# ---------------------------------------------------------------- power


class PowerSampler:
    """Samples a power source in a thread while the timed runs go; idle() samples before them.

    Pi 5: `vcgencmd pmic_read_adc` (summed rails). Intel: RAPL package energy (a counter, read at both ends).
    """

    def __init__(self, interval_s: float = 0.2):
        self.interval_s = interval_s
        self.method = None
        if parse_pmic(vcgencmd("pmic_read_adc") or "") is not None:
            self.method = "pi5-pmic"
        elif _read(RAPL_ZONE / "energy_uj") is not None:
            self.method = "intel-rapl"
        self._samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rapl_start: tuple[int, float] | None = None

    def _watts(self) -> float | None:
        reading = parse_pmic(vcgencmd("pmic_read_adc") or "")
        return reading["total_w"] if reading else None

    def idle_w(self, seconds: float = 1.0) -> float | None:
        if self.method == "intel-rapl":
            start = _rapl_uj(), time.monotonic()
            time.sleep(seconds)
            return _rapl_watts(start, (_rapl_uj(), time.monotonic()))
        values = []
        end = time.monotonic() + seconds
        while self.method == "pi5-pmic" and time.monotonic() < end:
            watts = self._watts()
            if watts is not None:
                values.append(watts)
            time.sleep(self.interval_s)
        return round(sum(values) / len(values), 4) if values else None

    def start(self) -> None:
        if self.method == "intel-rapl":
            self._rapl_start = (_rapl_uj(), time.monotonic())
        elif self.method == "pi5-pmic":
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            watts = self._watts()
            if watts is not None:
                self._samples.append(watts)
            self._stop.wait(self.interval_s)

    def stop(self) -> float | None:
        """Mean active watts over the sampled window."""
        if self.method == "intel-rapl" and self._rapl_start:
            return _rapl_watts(self._rapl_start, (_rapl_uj(), time.monotonic()))
        self._stop.set()
        if self._thread:
            self._thread.join()
        return round(sum(self._samples) / len(self._samples), 4) if self._samples else None


def _rapl_uj() -> int | None:
    raw = _read(RAPL_ZONE / "energy_uj")
    return int(raw) if raw and raw.isdigit() else None


def _rapl_watts(start: tuple[int | None, float], end: tuple[int | None, float]) -> float | None:
    if start[0] is None or end[0] is None or end[1] <= start[1]:
        return None
    delta = end[0] - start[0]
    if delta < 0:  # the counter wrapped
        delta += int(_read(RAPL_ZONE / "max_energy_range_uj") or 0)
    return round(delta / 1e6 / (end[1] - start[1]), 4)


def power_block(method: str | None, idle_w: float | None, active_w: float | None, runs: int, seconds: float):
    """The result's "power": method, scope, idle and active watts and millijoules per inference."""
    if method is None:
        return {"status": "absent", "reason": "no Pi 5 PMIC (vcgencmd pmic_read_adc) or readable Intel RAPL here"}
    scope = PMIC_SCOPE if method == "pi5-pmic" else "Intel RAPL package domain (CPU package only)"
    energy = active_w * seconds / runs * 1000.0 if active_w is not None and runs else None
    return {
        "status": "ok" if active_w is not None else "failed",
        "source": "measured",
        "method": method,
        "scope": scope,
        "idle_w": idle_w,
        "active_w": active_w,
        # significant figures, not decimals: a fast model on a low rail is a few hundredths of a millijoule
        "energy_mj_per_inference": None if energy is None else float(f"{energy:.4g}"),
    }
