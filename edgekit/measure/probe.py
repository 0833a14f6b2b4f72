"""What a remote board has, read over SSH before anything is copied: its Python, runtimes, board and caches; and the
one command that installs what is missing. The target it is follows from edgekit.hardware.boards.
"""

from __future__ import annotations

import json
from typing import Any

from edgekit.device import runtimes
from edgekit.errors import EdgekitError, UsageError
from edgekit.exporting.formats import formats
from edgekit.hardware.boards import describe, detect_targets
from edgekit.measure.ssh import Host, Ssh

# Runs on the remote with any Python >= 3.7: what is there, and which cache entries exist (argv: cache names).
PROBE = r"""
import glob, json, os, platform, shutil, sys
try:
    from importlib.util import find_spec
except ImportError:
    find_spec = None
def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except (OSError, IOError):
        return None
def first(text, key):
    for line in (text or "").splitlines():
        if line.startswith(key) and ":" in line:
            return line.split(":", 1)[1].strip()
    return None
def has(module):
    try:
        return find_spec(module) is not None
    except Exception:
        return False
osr = read("/etc/os-release") or ""
pretty = [l.split("=", 1)[1].strip('"') for l in osr.splitlines() if l.startswith("PRETTY_NAME=")]
usb = set()
for d in glob.glob("/sys/bus/usb/devices/*"):
    usb.add(((read(d + "/idVendor") or "").strip(), (read(d + "/idProduct") or "").strip()))
root = os.path.join(os.path.expanduser("~"), ".cache", "edgekit", "remote")
cpuinfo = read("/proc/cpuinfo")
print(json.dumps({
    "python": platform.python_version(), "executable": sys.executable, "machine": platform.machine(),
    "hostname": platform.node(), "kernel": platform.release(), "os": pretty[0] if pretty else platform.platform(),
    "board": (read("/proc/device-tree/model") or "").strip("\x00\n ") or None,
    "cpu": first(cpuinfo, "model name") or first(cpuinfo, "Hardware"), "cpu_part": first(cpuinfo, "CPU part"),
    "modules": dict((m, has(m)) for m in ("numpy", "ai_edge_litert", "tflite_runtime", "onnxruntime", "openvino")),
    "edgetpu_usb": bool(usb & set([("1a6e", "089a"), ("18d1", "9302")])), "edgetpu_pcie": os.path.exists("/dev/apex_0"),
    "timeout": shutil.which("timeout"), "root": root,
    "have": [n for n in sys.argv[1:] if os.path.exists(os.path.join(root, n))],
}))
"""


# ------------------------------------------------------------------------------------------------- probe & target
def python_of(host: Host) -> str:
    return host.python or "python3"


def probe_host(ssh: Ssh, names: list[str], timeout: float) -> dict[str, Any]:
    python = python_of(ssh.host)
    proc = ssh.run([python, "-c", PROBE, *names], timeout=timeout)
    if proc.returncode == 127:
        raise EdgekitError(
            f"{ssh.host.name}: no {python} there; install Python 3 on it (e.g. sudo apt-get install python3) "
            "or name the interpreter with --remote-python"
        )
    try:
        return json.loads(proc.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        detail = (proc.stderr.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
        raise EdgekitError(f"{ssh.host.name}: {python} did not run edgekit's probe: {detail[:200]}") from None


def remote_formats() -> dict[str, str]:
    """The formats the device runner runs -> their runtime: each format's file suffix in edgekit.device's table."""
    rows = {name: runtimes.for_suffix(fmt.suffix) for name, fmt in formats().items()}
    return {name: row.name for name, row in rows.items() if row is not None}


def install_line(probe: dict[str, Any], formats: tuple[str, ...] | set[str] = ("tflite",)) -> str | None:
    """The exact command to run on the remote when numpy or the runtime of one of these formats is missing (None:
    nothing missing): LiteRT for .tflite, onnxruntime for .onnx, openvino for .xml, at the device extras' pins."""
    get = runtimes.get
    mods = probe.get("modules") or {}
    missing = [] if mods.get("numpy") else ["numpy"]
    wanted = {remote_formats()[f] for f in formats}
    if "litert" in wanted and not (mods.get(get("litert").module) or mods.get(get("tflite-runtime").module)):
        # LiteRT wheels exist for Python >= 3.9; older systems (Coral's Mendel: 3.7) use tflite-runtime.
        major, minor = (int(x) for x in str(probe.get("python", "3.0")).split(".")[:2])
        missing.append(get("litert" if (major, minor) >= (3, 9) else "tflite-runtime").pin)
    for name in sorted(wanted - {"litert"}):
        if not mods.get(get(name).module):
            missing.append(get(name).pin)
    return f"{probe['executable']} -m pip install {' '.join(missing)}" if missing else None


def choose_target(host: Host, probe: dict[str, Any]) -> str:
    """The target to file results under: the asserted one if the remote is it (else exit 2), else the detected."""
    detected = detect_targets(probe)
    if host.target is not None:
        if host.target == "host":
            raise UsageError(f"{host.name}: --target host means this machine; omit --target for a remote")
        if host.target not in detected:
            found = ", ".join(detected) or "no edgekit target"
            raise UsageError(f"{host.name}: --target {host.target} but the remote is {describe(probe)} ({found})")
        return host.target
    return detected[0] if detected else f"ssh-{probe.get('machine') or 'unknown'}"
