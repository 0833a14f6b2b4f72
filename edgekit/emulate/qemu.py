"""Starting the guest python under QEMU user mode: which CPU, which /proc/cpuinfo, which environment, which command.

Shared by the userland's smoke test and the artifact runs. Nothing here changes what the userland contains, so
editing it does not invalidate a cached userland (that is keyed on userland.py alone).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from edgekit.errors import EdgekitError, UsageError
from edgekit.hardware.targets import get_target, load_targets

INSTALL_LINE = "apt-get install qemu-user-static debootstrap"

# The static QEMU binary per emulated architecture (runs without a loader; cannot load plugins).
QEMU_BINARIES = {"aarch64": "qemu-aarch64-static"}

# (Features, variant, part, revision) of the ARM /proc/cpuinfo served to the guest (QEMU -L serves PREFIX/proc/cpuinfo):
# LiteRT >= 2.2 segfaults on x86's, and XNNPACK picks kernels from the Features line (see guest_prefix).
CPUINFO = {
    "cortex-a53": ("fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid", "0x0", "0xd03", "4"),
    "cortex-a72": ("fp asimd evtstrm crc32 cpuid", "0x0", "0xd08", "3"),
    "cortex-a76": (
        "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp",
        "0x4",
        "0xd0b",
        "1",
    ),
}


def emulated_targets() -> dict[str, str]:
    """Target id -> the QEMU CPU its file names ([emulate] qemu_cpu), for every target that can be emulated.

    An explicit CPU, never QEMU's default `max`: that gives wrong int8 results (SVE/SME emulation).
    """
    return {t.id: t.emulate.qemu_cpu for t in load_targets().values() if t.emulate is not None}


def cpu_for_target(target_id: str) -> str:
    """The QEMU CPU model of a target id, from its target file ('rpi4' -> 'cortex-a72')."""
    target = get_target(target_id)
    if target.emulate is None:
        raise UsageError(f"--emulate runs the ARM CPUs of {', '.join(emulated_targets())}, not {target_id}")
    cpu = target.emulate.qemu_cpu
    if cpu not in CPUINFO:
        raise UsageError(f"{target.file}: emulate.qemu_cpu {cpu!r} has no /proc/cpuinfo here ({', '.join(CPUINFO)})")
    return cpu


def missing_tools_error(missing: list[str]) -> EdgekitError:
    return EdgekitError(
        f"emulation needs {', '.join(missing)} (not found on PATH); install them with: sudo {INSTALL_LINE}"
    )


def find_qemu(arch: str = "aarch64") -> str:
    qemu = shutil.which(QEMU_BINARIES[arch])
    if not qemu:
        raise missing_tools_error([QEMU_BINARIES[arch]])
    return qemu


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def cpuinfo_text(cpu: str, cores: int = 4) -> str:
    """An ARM /proc/cpuinfo for `cores` cores of model `cpu`."""
    features, variant, part, revision = CPUINFO[cpu]
    blocks = [
        f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: {features}\nCPU implementer\t: 0x41\n"
        f"CPU architecture: 8\nCPU variant\t: {variant}\nCPU part\t: {part}\nCPU revision\t: {revision}\n"
        for i in range(cores)
    ]
    return "\n".join(blocks) + "\n"


def write_cpuinfo(root: Path, cpu: str) -> None:
    """ROOT/proc/cpuinfo for `cpu` (QEMU -L serves it to the guest as /proc/cpuinfo)."""
    proc = root / "proc"
    if proc.is_symlink() or (proc.exists() and not proc.is_dir()):
        proc.unlink()  # debootstrap links proc -> /proc in containers: the guest would read the host's cpuinfo
    proc.mkdir(exist_ok=True)
    (proc / "cpuinfo").write_text(cpuinfo_text(cpu))


@contextlib.contextmanager
def guest_prefix(rootfs: Path, cpu: str) -> Iterator[Path]:
    """A throwaway QEMU -L prefix: the rootfs' top-level entries symlinked, and a /proc/cpuinfo for `cpu`.

    The cpuinfo must describe the emulated CPU: XNNPACK trusts its Features line, so a cortex-a76 cpuinfo under
    QEMU_CPU=cortex-a72 makes int8 kernels use SDOT and die with SIGILL. One prefix per run keeps the cached
    rootfs read-only and lets runs for different CPUs share it at the same time.
    """
    rootfs = Path(rootfs).resolve()
    with tempfile.TemporaryDirectory(prefix="edgekit-qemu-") as tmp:
        prefix = Path(tmp)
        for entry in rootfs.iterdir():
            if entry.name == "proc":
                continue
            # Keep relative links relative (bin -> usr/bin resolves inside the prefix).
            (prefix / entry.name).symlink_to(os.readlink(entry) if entry.is_symlink() else entry)
        write_cpuinfo(prefix, cpu)
        yield prefix


def guest_env(cpu: str, pythonpath: list[Path]) -> dict[str, str]:
    """Environment for the guest python: QEMU_CPU set, host Python and loader variables removed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LD_", "QEMU_")) and k != "VIRTUAL_ENV"}
    env.update(
        QEMU_CPU=cpu,
        PYTHONPATH=os.pathsep.join(str(p) for p in pythonpath),
        PYTHONNOUSERSITE="1",  # ~/.local holds x86 packages
        PYTHONDONTWRITEBYTECODE="1",  # the cache may be read-only (built by root) and shared
        PYTHONHASHSEED="0",  # deterministic guest instruction counts
        PYTHONUNBUFFERED="1",
    )
    return env


def guest_command(rootfs: Path, prefix: Path, qemu: str | None = None, plugin: list[str] | None = None) -> list[str]:
    """The command prefix running the guest python (a venv's python would resolve to the host's)."""
    cmd = [qemu or find_qemu("aarch64")]
    if plugin:
        cmd += ["-plugin", ",".join(plugin)]
    return [*cmd, "-L", str(prefix), str(Path(rootfs).resolve() / "usr" / "bin" / "python3")]


def qemu_version(arch: str) -> str | None:
    try:
        return qemu_version_of(find_qemu(arch))
    except EdgekitError:
        return None


def qemu_version_of(qemu: str) -> str | None:
    try:
        out = subprocess.run([qemu, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    name = Path(qemu).name
    return f"{name} " + out.splitlines()[0].split("version", 1)[-1].strip() if out else None


@contextlib.contextmanager
def staged_device_package() -> Iterator[Path]:
    """A temporary PYTHONPATH root holding only edgekit/__init__.py (empty) and edgekit/device/*.py."""
    source = Path(__file__).resolve().parent.parent / "device"
    with tempfile.TemporaryDirectory(prefix="edgekit-device-") as tmp:
        package = Path(tmp) / "edgekit"
        (package / "device").mkdir(parents=True)
        (package / "__init__.py").write_text('"""edgekit device runner (staged copy)."""\n')
        for path in source.glob("*.py"):
            shutil.copy2(path, package / "device" / path.name)
        yield Path(tmp)
