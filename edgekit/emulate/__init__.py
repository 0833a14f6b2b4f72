"""Emulated Raspberry Pi: a Debian arm64 userland run with QEMU user mode, checked against the same artifact on x86.

- userland.py: the recipe that builds (or reuses) the arm64 rootfs; its digest is the userland's cache key.
- qemu.py: how the guest python starts (QEMU binary, the emulated CPU its target file names and its /proc/cpuinfo,
  environment).
- guest.py: running an artifact in the guest and natively, comparing the outputs, counting guest instructions.
- insn_count.c: the QEMU TCG plugin that counts them (package data, compiled on first use).
"""

from __future__ import annotations

from edgekit.emulate.guest import (
    INSN_NOTE,
    build_insn_plugin,
    compare_outputs,
    load_arrays,
    onnx_output_steps,
    profile_emulated,
    resolve_artifact,
    resolve_tflite,
)
from edgekit.emulate.qemu import (
    CPUINFO,
    INSTALL_LINE,
    cpu_for_target,
    cpuinfo_text,
    emulated_targets,
    find_qemu,
    guest_command,
    guest_env,
    guest_prefix,
    staged_device_package,
    write_cpuinfo,
)
from edgekit.emulate.userland import (
    GUEST_FORMATS,
    RUNTIME_MODULES,
    RUNTIME_REQUIREMENTS,
    SITE_PACKAGES,
    STAMP,
    default_emulator_dir,
    find_userland,
    is_current,
    read_stamp,
    recipe_digest,
    setup_emulator,
)

__all__ = [
    "CPUINFO",
    "GUEST_FORMATS",
    "INSN_NOTE",
    "INSTALL_LINE",
    "RUNTIME_MODULES",
    "RUNTIME_REQUIREMENTS",
    "SITE_PACKAGES",
    "STAMP",
    "build_insn_plugin",
    "compare_outputs",
    "cpu_for_target",
    "cpuinfo_text",
    "default_emulator_dir",
    "emulated_targets",
    "find_qemu",
    "find_userland",
    "guest_command",
    "guest_env",
    "guest_prefix",
    "is_current",
    "load_arrays",
    "onnx_output_steps",
    "profile_emulated",
    "read_stamp",
    "recipe_digest",
    "resolve_artifact",
    "resolve_tflite",
    "setup_emulator",
    "staged_device_package",
    "write_cpuinfo",
]
