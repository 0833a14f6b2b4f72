"""Host probing: what this machine is, read from /proc/cpuinfo, sysfs, the device tree, USB ids and OpenVINO.

edgekit.hardware.targets uses it to fill "auto" values (host.toml) and to tell whether this machine is a target; result
headers use it to name the machine. Nothing here imports a heavy library unless an NPU driver node exists.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

from edgekit.procfs import cpuinfo, cpuinfo_field

# The CPU feature vocabulary of target files (CpuSpec.features).
FEATURES = ("neon", "dotprod", "i8mm", "fp16", "bf16", "sve", "avx2", "avx512", "vnni", "amx")


def cpu_features(text: str | None = None) -> list[str]:
    """Our feature vocabulary from /proc/cpuinfo flags (x86) or Features (Arm)."""
    text = cpuinfo() if text is None else text
    flags = set((cpuinfo_field(text, "flags", "Features") or "").split())
    found = {
        "neon": "asimd" in flags or "neon" in flags,
        "dotprod": "asimddp" in flags,
        "i8mm": "i8mm" in flags,
        "fp16": "asimdhp" in flags or "avx512_fp16" in flags,
        "bf16": "bf16" in flags or "avx512_bf16" in flags,
        "sve": "sve" in flags,
        "avx2": "avx2" in flags,
        "avx512": "avx512f" in flags,
        "vnni": "avx512_vnni" in flags or "avx_vnni" in flags,
        "amx": "amx_int8" in flags,
    }
    return [f for f in FEATURES if found[f]]


def cache_kib(level: int, kind: str = "Data") -> int:
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for index in sorted(base.glob("index*")):
        try:
            if int((index / "level").read_text()) == level and (index / "type").read_text().strip() in (
                kind,
                "Unified",
            ):
                size = (index / "size").read_text().strip()
                return int(size[:-1]) * (1024 if size.endswith("M") else 1) if size[-1] in "KM" else int(size) // 1024
        except (OSError, ValueError):
            continue
    return 0


def clock_ghz(text: str) -> float:
    try:
        return int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text()) / 1e6
    except (OSError, ValueError):
        mhz = cpuinfo_field(text, "cpu MHz")
        return round(float(mhz) / 1000, 2) if mhz else 2.0


def peak_macs(features: list[str]) -> tuple[int, int]:
    """Per-core SIMD MACs/cycle from the ISA (two FMA pipes assumed; the fitted efficiencies absorb the rest)."""
    if "avx512" in features or "avx2" in features:
        fp32 = 16  # 2 x 256-bit FMA (AVX-512 cores without a second 512-bit port land here too)
        return fp32, fp32 * (4 if "vnni" in features else 2)
    if "neon" in features:
        return 8, 32 if "dotprod" in features else 16
    return 2, 2


def detect_cpu() -> dict[str, tuple[Any, str]]:
    """This machine's CPU facts in CpuSpec's field names: {field: (value, where it was read)}."""
    text = cpuinfo()
    feats = cpu_features(text)
    fp32, int8 = peak_macs(feats)
    return {
        "model": (
            cpuinfo_field(text, "model name", "Model", "Processor") or platform.processor() or "unknown",
            "/proc/cpuinfo model name",
        ),
        "cores": (os.cpu_count() or 1, "os.cpu_count()"),
        "clock_ghz": (clock_ghz(text), "sysfs cpuinfo_max_freq or /proc/cpuinfo cpu MHz"),
        "isa": (platform.machine() or "unknown", "platform.machine()"),
        "features": (feats, "/proc/cpuinfo flags"),
        "l1d_kib": (cache_kib(1), "sysfs cpu0 cache"),
        "l2_kib": (cache_kib(2), "sysfs cpu0 cache"),
        "l3_kib": (cache_kib(3), "sysfs cpu0 cache"),
        "fp32_macs_per_cycle": (fp32, "derived from the ISA flags (2 FMA pipes assumed)"),
        "int8_macs_per_cycle": (int8, "derived from the ISA flags (VNNI: 4 int8 MACs per fp32 lane)"),
    }


def device_tree_model() -> str:
    try:
        return Path("/proc/device-tree/model").read_bytes().rstrip(b"\x00").decode(errors="replace")
    except OSError:
        return ""


def usb_ids() -> set[str]:
    ids = set()
    for dev in Path("/sys/bus/usb/devices").glob("*"):
        try:
            ids.add(f"{(dev / 'idVendor').read_text().strip()}:{(dev / 'idProduct').read_text().strip()}")
        except OSError:
            continue
    return ids


# Coral USB Accelerator: 1a6e:089a before its firmware is loaded, 18d1:9302 after.
EDGETPU_USB_IDS = {"1a6e:089a", "18d1:9302"}


def openvino_npu(match: str | None) -> bool:
    if not any(Path("/dev/accel").glob("accel*")):  # no NPU driver node: skip importing OpenVINO
        return False
    try:
        from edgekit.device import openvino_device_description, openvino_devices

        if "NPU" not in openvino_devices():
            return False
        return match is None or match in openvino_device_description("NPU")
    except Exception:  # no OpenVINO, or the plugin cannot load: not this machine
        return False


def detect(rule: str) -> bool:
    """Whether one detect rule of a target file (always, device-tree:..., edgetpu-usb, ...) holds here."""
    if rule == "always":
        return True
    if rule.startswith("device-tree:"):
        return device_tree_model().startswith(rule.split(":", 1)[1])
    if rule == "edgetpu-usb":
        return bool(usb_ids() & EDGETPU_USB_IDS)
    if rule == "edgetpu-pcie":
        return any(Path("/dev").glob("apex_*"))
    if rule.startswith("openvino:NPU"):
        parts = rule.split(":", 2)
        return openvino_npu(parts[2] if len(parts) > 2 else None)
    return False
