"""An emulated Raspberry Pi 4's Python as a command: a wrapper script running the arm64 userland's python3 under QEMU.

Used by the `arm` tests that install edgekit into the userland or use it as an SSH remote's Python. The userland is
built (or reused from the cache) by edgekit.emulate.setup_emulator; everything else here is plain QEMU user mode:
a -L prefix holding the rootfs' entries and a recorded Raspberry Pi 4 /proc/cpuinfo (LiteRT reads it; QEMU's own
would describe the x86 host), QEMU_CPU=cortex-a72.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# /proc/cpuinfo of a Raspberry Pi 4 Model B (BCM2711), one core shown per processor line.
PI4_CPUINFO = "".join(
    f"processor\t: {i}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
    "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n"
    for i in range(4)
)


def tools_missing() -> list[str]:
    return [tool for tool in ("qemu-aarch64-static", "debootstrap") if not shutil.which(tool)]


def site_packages(rootfs: Path) -> Path:
    """Where the userland's numpy + LiteRT were installed (the folder holding ai_edge_litert)."""
    found = sorted(Path(rootfs).glob("opt/*/site-packages/ai_edge_litert"))
    if not found:
        raise RuntimeError(f"no ai_edge_litert under {rootfs}/opt/*/site-packages")
    return found[0].parent


def emulated_python(rootfs: Path, folder: Path, extra_path: list[Path] | None = None) -> Path:
    """Write folder/python3: `python3 ARGS` runs the userland's interpreter as a Cortex-A72 (Pi 4) under QEMU."""
    rootfs = Path(rootfs).resolve()
    prefix = folder / "prefix"
    (prefix / "proc").mkdir(parents=True, exist_ok=True)
    for entry in rootfs.iterdir():
        if entry.name != "proc" and not (prefix / entry.name).exists():
            (prefix / entry.name).symlink_to(os.readlink(entry) if entry.is_symlink() else entry)
    (prefix / "proc" / "cpuinfo").write_text(PI4_CPUINFO)
    paths = ":".join(str(p) for p in [*(extra_path or []), site_packages(rootfs)])
    script = folder / "python3"
    script.write_text(
        "#!/bin/sh\n# The emulated Pi 4's python3 (QEMU user mode, Cortex-A72).\n"
        "unset VIRTUAL_ENV PYTHONHOME\nexport QEMU_CPU=cortex-a72 PYTHONNOUSERSITE=1 PYTHONDONTWRITEBYTECODE=1\n"
        f'export PYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{paths}"\n'
        f'exec {shutil.which("qemu-aarch64-static")} -L {prefix} {rootfs}/usr/bin/python3 "$@"\n'
    )
    script.chmod(0o755)
    return script
