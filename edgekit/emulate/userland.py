"""The recipe for the emulated Raspberry Pi userland: a Debian arm64 rootfs with python3, numpy and the runtime.

`setup_emulator` builds (or reuses) ``<cache>/emulate/<arch>-<runtime>/``: ``rootfs/`` (debootstrap --foreign of
Debian bookworm arm64 minbase + python3, the second-stage packages unpacked with dpkg-deb, an ARM /proc/cpuinfo) with
the runtime wheels in ``rootfs/opt/edgekit/site-packages``, and ``edgekit-emulate.json`` written last (the stamp: a
folder without it is never reused). Nothing is installed on the host: missing tools are a one-line error.

This file is the recipe and its cache key: the stamp records a digest of this file (`recipe_digest`), a userland
built from another recipe is rebuilt, and CI keys its userland cache on this file alone (.github/workflows/ci.yml).
Keep everything that changes what the rootfs contains here, and nothing else (guest runs live in guest.py).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from edgekit.emulate.qemu import (
    INSTALL_LINE,
    QEMU_BINARIES,
    find_qemu,
    guest_command,
    guest_env,
    guest_prefix,
    last_line,
    missing_tools_error,
    qemu_version,
    staged_device_package,
    write_cpuinfo,
)
from edgekit.errors import EdgekitError, UsageError, did_you_mean
from edgekit.ioutil import atomic_dir, write_json_atomic

STAMP = "edgekit-emulate.json"
STAMP_FORMAT = 1
SUITE = "bookworm"
GUEST_PYTHON = "3.11"  # bookworm's python3
SITE_PACKAGES = "opt/edgekit/site-packages"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

# Debian's name for each emulated architecture.
DEBIAN_ARCHES = {"aarch64": "arm64"}

# The wheels each runtime needs in the guest; tflite-runtime 2.14 (the last release) fails with numpy 2. The litert
# userland also holds ONNX Runtime (the device-onnx extra's pin), so .onnx artifacts run in the default guest.
RUNTIME_REQUIREMENTS = {
    "litert": ["ai-edge-litert==2.3.0", "onnxruntime==1.32.0", "numpy<2.5"],
    "tflite-runtime": ["tflite-runtime==2.14.0", "numpy<2"],
}
RUNTIME_MODULES = {"litert": "ai_edge_litert", "tflite-runtime": "tflite_runtime"}
# The artifact formats each userland runs, and the device runner's --runtime for each.
GUEST_FORMATS = {
    "litert": {".tflite": "litert", ".onnx": "onnxruntime"},
    "tflite-runtime": {".tflite": "tflite-runtime"},
}

Progress = Callable[[str], None]


@cache
def recipe_digest() -> str:
    """sha256 (16 hex digits) of this file: the userland's cache key, on disk and in CI."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def default_emulator_dir(arch: str = "aarch64", runtime: str = "litert") -> Path:
    """$EDGEKIT_CACHE/emulate/<arch>-<runtime>, else $XDG_CACHE_HOME/edgekit/..., else ~/.cache/edgekit/..."""
    if os.environ.get("EDGEKIT_CACHE"):
        base = Path(os.environ["EDGEKIT_CACHE"])
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgekit"
    return base.expanduser() / "emulate" / f"{arch}-{runtime}"


def read_stamp(directory: Path) -> dict[str, Any] | None:
    """The stamp of a complete emulator folder, or None (missing, unreadable, other format, rootfs gone)."""
    try:
        stamp = json.loads((Path(directory) / STAMP).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stamp, dict) or stamp.get("format") != STAMP_FORMAT:
        return None
    if not (Path(directory) / "rootfs" / "usr" / "bin" / "python3").exists():
        return None
    return stamp


def is_current(stamp: dict[str, Any] | None) -> bool:
    """A complete userland built by this recipe (reused as is; any other is rebuilt)."""
    return stamp is not None and stamp.get("recipe") == recipe_digest()


def check_choices(arch: str, runtime: str) -> None:
    if arch not in DEBIAN_ARCHES:
        raise did_you_mean("emulated architecture", arch, DEBIAN_ARCHES)
    if runtime not in RUNTIME_REQUIREMENTS:
        raise did_you_mean("guest runtime", runtime, RUNTIME_REQUIREMENTS)


def find_userland(rootfs: Path | None, runtime: str) -> Path:
    """The rootfs to run in: the given folder (a rootfs or the emulator folder above it), else the cached one."""
    if rootfs is None:
        directory = default_emulator_dir("aarch64", runtime)
        stamp = read_stamp(directory)
        if not is_current(stamp):
            state = "is from another recipe" if stamp else "is missing"
            raise EdgekitError(
                f"the emulated aarch64 userland for {runtime} in {directory} {state}; "
                f"build it with: edgekit emulate setup --guest-runtime {runtime}"
            )
        return directory / "rootfs"
    rootfs = Path(rootfs).expanduser()
    if (rootfs / "rootfs").is_dir():
        rootfs = rootfs / "rootfs"
    if not (rootfs / "usr" / "bin" / "python3").exists():
        raise UsageError(f"{rootfs} is not an emulated userland (no usr/bin/python3); run: edgekit emulate setup")
    return rootfs


def _which(tool: str) -> str | None:
    """shutil.which, also looking in /usr/sbin and /sbin (debootstrap is there; users' PATH often lacks them)."""
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")


def _check_build_tools(arch: str) -> list[str]:
    """The command running debootstrap: [debootstrap] as root, [fakeroot, debootstrap] otherwise (when installed)."""
    needed = [QEMU_BINARIES[arch], "debootstrap", "dpkg-deb", "tar"]
    found = {tool: _which(tool) for tool in needed}
    missing = [tool for tool, path in found.items() if not path]
    if missing:
        raise missing_tools_error(missing)
    if os.geteuid() == 0:
        return [found["debootstrap"]]
    if shutil.which("fakeroot"):
        return ["fakeroot", found["debootstrap"]]
    raise EdgekitError(
        f"building the arm64 userland runs debootstrap, which needs root or fakeroot: run it as root "
        f"(sudo -E edgekit emulate setup) or install fakeroot; the tools: sudo {INSTALL_LINE}"
    )


def _run_logged(cmd: list[str], log: Path, what: str, env: dict[str, str] | None = None, timeout: float = 1800) -> None:
    """Run a build step with its output appended to log; on failure, one line naming the step and the log."""
    with open(log, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        try:
            proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise EdgekitError(f"{what} timed out after {timeout:.0f} s (log: {log})") from exc
    if proc.returncode != 0:
        last = last_line(log.read_text(errors="replace"))
        raise EdgekitError(f"{what} failed (exit {proc.returncode}): {last} (log: {log})")


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One builder per emulator folder (two `setup` calls, or pytest workers, would otherwise race)."""
    import fcntl

    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.parent / f".{directory.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _remove_stale_builds(directory: Path) -> None:
    """Half-built folders left by a killed build (atomic_dir's temporaries): safe to delete under the lock."""
    for path in directory.parent.glob(f".{directory.name}.*"):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)


def setup_emulator(
    arch: str = "aarch64",
    runtime: str = "litert",
    directory: Path | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Build, or reuse from the cache, an arm64 Debian userland with python3, numpy and the runtime; return its rootfs.

    Needs qemu-user-static, debootstrap and root (or fakeroot) only when it builds; installs nothing on the host.
    """
    check_choices(arch, runtime)
    directory = Path(directory).expanduser() if directory else default_emulator_dir(arch, runtime)
    say = progress or (lambda _message: None)
    if not force and is_current(read_stamp(directory)):
        say(f"reusing {directory}")
        return directory / "rootfs"
    debootstrap = _check_build_tools(arch)
    with _locked(directory):
        if not force and is_current(read_stamp(directory)):  # built by another process while we waited
            return directory / "rootfs"
        _remove_stale_builds(directory)
        _build(directory, arch, runtime, debootstrap, say)
    return directory / "rootfs"


def _build(directory: Path, arch: str, runtime: str, debootstrap: list[str], say: Progress) -> None:

    started = time.perf_counter()
    with atomic_dir(directory) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it 0700: let other users run a root-built emulator
        rootfs = tmp / "rootfs"
        log = tmp / "setup.log"
        debian_arch = DEBIAN_ARCHES[arch]
        mirror = os.environ.get("EDGEKIT_DEBIAN_MIRROR", DEFAULT_MIRROR)
        env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"}

        say(f"debootstrap {SUITE} {debian_arch} (first stage) from {mirror}")
        cmd = [*debootstrap, f"--arch={debian_arch}", "--foreign", "--variant=minbase", "--include=python3"]
        _run_logged([*cmd, SUITE, str(rootfs), mirror], log, "debootstrap", env=env)

        say("unpacking the second-stage packages (python3 and its libraries)")
        _unpack_base_packages(rootfs, log)
        _tidy_rootfs(rootfs)
        write_cpuinfo(rootfs, "cortex-a72")

        say(f"pip: {' '.join(RUNTIME_REQUIREMENTS[runtime])} for {arch} cp{GUEST_PYTHON.replace('.', '')}")
        site = rootfs / SITE_PACKAGES
        _pip_install_target(site, arch, RUNTIME_REQUIREMENTS[runtime], log)

        say("checking the guest python under QEMU")
        versions = _smoke_test(rootfs, site, arch, runtime, log)
        stamp = {
            "format": STAMP_FORMAT,
            "recipe": recipe_digest(),
            "arch": arch,
            "runtime": runtime,
            "suite": SUITE,
            "mirror": mirror,
            "requirements": RUNTIME_REQUIREMENTS[runtime],
            **versions,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "build_seconds": round(time.perf_counter() - started, 1),
        }
        write_json_atomic(tmp / STAMP, stamp)  # last: its presence means complete
    say(f"ready: {directory} ({stamp['build_seconds']:.0f} s)")


def _unpack_base_packages(rootfs: Path, log: Path) -> None:
    """Unpack the packages debootstrap's first stage only downloaded (it extracts just the 'required' set).

    The second stage would run maintainer scripts in a chroot; a python3 that runs only needs the files.
    """
    boot = rootfs / "debootstrap"
    paths = dict(line.split(" ", 1) for line in (boot / "debpaths").read_text().splitlines() if " " in line)
    for package in (boot / "base").read_text().split():
        deb = rootfs / paths[package].lstrip("/")
        # As debootstrap extracts, keeping the merged-/usr directory symlinks (bin -> usr/bin).
        extract = f"tar -C {shlex.quote(str(rootfs))} --keep-directory-symlink -xf -"
        cmd = f"dpkg-deb --fsys-tarfile {shlex.quote(str(deb))} | {extract}"
        _run_logged(["sh", "-ec", cmd], log, f"unpacking {package}")


def _tidy_rootfs(rootfs: Path) -> None:
    """Drop the downloaded .debs and device nodes (the guest falls back to the host's /dev; caches can copy it)."""
    for deb in (rootfs / "var" / "cache" / "apt" / "archives").glob("*.deb"):
        deb.unlink()
    dev = rootfs / "dev"
    if dev.is_dir() and not dev.is_symlink():
        shutil.rmtree(dev)
        dev.mkdir()


def _pip_install_target(site: Path, arch: str, requirements: list[str], log: Path) -> None:
    """Install the guest's wheels from the host's pip: every manylinux tag bookworm's glibc 2.36 accepts.

    ai-edge-litert 2.3.0 is tagged manylinux_2_27; with fewer tags pip silently picks an old release.
    """
    tags = [arg for minor in range(17, 37) for arg in ("--platform", f"manylinux_2_{minor}_{arch}")]
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "--no-warn-script-location"]
    cmd += ["--target", str(site), "--only-binary=:all:", "--python-version", GUEST_PYTHON]
    cmd += ["--implementation", "cp", "--abi", f"cp{GUEST_PYTHON.replace('.', '')}", *tags, *requirements]
    _run_logged(cmd, log, "pip install (guest wheels)")


_SMOKE = """
import json, platform, numpy, importlib, sys
module = importlib.import_module({module!r})
importlib.import_module({module!r} + '.interpreter')
import edgekit.device.runner, edgekit.device.litert_backend  # compile and cache what every run imports
others = {{name: importlib.import_module(name).__version__ for name in {others!r}}}
if others:
    import edgekit.device.onnx_backend
print(json.dumps({{'machine': platform.machine(), 'python': platform.python_version(), 'numpy': numpy.__version__,
                  'runtime_version': getattr(module, '__version__', None),
                  **{{name + '_version': version for name, version in others.items()}}}}))
"""


def _smoke_test(rootfs: Path, site: Path, arch: str, runtime: str, log: Path) -> dict[str, Any]:
    """Import numpy and the runtime in the guest; caches their .pyc (Debian compiles them at install, we never did)."""
    with staged_device_package() as staged, guest_prefix(rootfs, "cortex-a72") as prefix:
        env = guest_env("cortex-a72", [staged, site])
        env.pop("PYTHONDONTWRITEBYTECODE")
        others = sorted(r for suffix, r in GUEST_FORMATS[runtime].items() if suffix != ".tflite")
        code = _SMOKE.format(module=RUNTIME_MODULES[runtime], others=others)
        cmd = [*guest_command(rootfs, prefix, find_qemu(arch)), "-c", code]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=staged, timeout=900)
    with open(log, "a") as f:
        f.write(f"$ guest python smoke test\n{proc.stdout}{proc.stderr}")
    if proc.returncode != 0:
        wanted = ", ".join([RUNTIME_MODULES[runtime], *others])
        raise EdgekitError(f"the guest python cannot import {wanted}: {last_line(proc.stderr)}")
    versions = json.loads(proc.stdout.strip().splitlines()[-1])
    versions["qemu"] = qemu_version(arch)
    return versions
