"""Emulated Raspberry Pi: a Debian arm64 userland run with QEMU user mode, checked against the same artifact on x86.

`setup_emulator` builds (or reuses) ``<cache>/emulate/<arch>-<runtime>/``: ``rootfs/`` (debootstrap --foreign of
Debian bookworm arm64 minbase + python3, the second-stage packages unpacked with dpkg-deb, an ARM /proc/cpuinfo) with
the runtime wheels in ``rootfs/opt/edgekit/site-packages``, and ``edgekit-emulate.json`` written last (the stamp: a
folder without it is never reused). Nothing is installed on the host: missing tools are a one-line error.

`profile_emulated` runs ``python -m edgekit.device run`` (a staged copy of edgekit/device only, proving it runs alone)
under ``qemu-aarch64-static -L PREFIX ROOTFS/usr/bin/python3`` with QEMU_CPU set (PREFIX: the rootfs plus a cpuinfo for
that CPU), and natively with the host python on the same inputs, then compares the outputs. Emulated time says nothing
about a Pi: latency_ms is null. Where Debian's dynamic qemu-aarch64 (qemu-user) and a C compiler exist, a small TCG
plugin counts the guest instructions per inference instead (deterministic).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError, UsageError, did_you_mean

INSTALL_LINE = "apt-get install qemu-user-static debootstrap"
STAMP = "edgekit-emulate.json"
STAMP_FORMAT = 1
SUITE = "bookworm"
GUEST_PYTHON = "3.11"  # bookworm's python3
SITE_PACKAGES = "opt/edgekit/site-packages"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

# Debian arch name and QEMU binary per emulated architecture.
ARCHES = {"aarch64": {"debian": "arm64", "qemu": "qemu-aarch64-static"}}

# The wheels each runtime needs in the guest; tflite-runtime 2.14 (the last release) fails with numpy 2.
RUNTIME_REQUIREMENTS = {
    "litert": ["ai-edge-litert==2.3.0", "numpy<2.5"],
    "tflite-runtime": ["tflite-runtime==2.14.0", "numpy<2"],
}
RUNTIME_MODULES = {"litert": "ai_edge_litert", "tflite-runtime": "tflite_runtime"}

# The CPU QEMU emulates for each target (QEMU's default `max` gives wrong int8 results: SVE/SME emulation).
TARGET_CPUS = {"rpi4": "cortex-a72", "rpi5": "cortex-a76", "coral-devboard": "cortex-a53"}

# (Features, variant, part, revision) of the ARM /proc/cpuinfo served to the guest (QEMU -L serves PREFIX/proc/cpuinfo):
# LiteRT >= 2.2 segfaults on x86's, and XNNPACK picks kernels from the Features line (see guest_prefix).
_CPUINFO = {
    "cortex-a53": ("fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid", "0x0", "0xd03", "4"),
    "cortex-a72": ("fp asimd evtstrm crc32 cpuid", "0x0", "0xd08", "3"),
    "cortex-a76": (
        "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp",
        "0x4",
        "0xd0b",
        "1",
    ),
}

Progress = Callable[[str], None]


# ---------------------------------------------------------------- small helpers


def cpu_for_target(target_id: str) -> str:
    """The QEMU CPU model of a target id ('rpi4' -> 'cortex-a72')."""
    try:
        return TARGET_CPUS[target_id]
    except KeyError:
        raise did_you_mean("emulated target", target_id, TARGET_CPUS) from None


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


def _check_choices(arch: str, runtime: str) -> None:
    if arch not in ARCHES:
        raise did_you_mean("emulated architecture", arch, ARCHES)
    if runtime not in RUNTIME_REQUIREMENTS:
        raise did_you_mean("runtime", runtime, RUNTIME_REQUIREMENTS)


def _missing_tools_error(missing: list[str]) -> EdgekitError:
    return EdgekitError(
        f"emulation needs {', '.join(missing)} (not found on PATH); install them with: sudo {INSTALL_LINE}"
    )


def find_qemu(arch: str = "aarch64") -> str:
    qemu = shutil.which(ARCHES[arch]["qemu"])
    if not qemu:
        raise _missing_tools_error([ARCHES[arch]["qemu"]])
    return qemu


def _which(tool: str) -> str | None:
    """shutil.which, also looking in /usr/sbin and /sbin (debootstrap is there; users' PATH often lacks them)."""
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")


def _check_build_tools(arch: str) -> list[str]:
    """The command running debootstrap: [debootstrap] as root, [fakeroot, debootstrap] otherwise (when installed)."""
    needed = [ARCHES[arch]["qemu"], "debootstrap", "dpkg-deb", "tar"]
    found = {tool: _which(tool) for tool in needed}
    missing = [tool for tool, path in found.items() if not path]
    if missing:
        raise _missing_tools_error(missing)
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
        last = _last_line(log.read_text(errors="replace"))
        raise EdgekitError(f"{what} failed (exit {proc.returncode}): {last} (log: {log})")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


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


def cpuinfo_text(cpu: str, cores: int = 4) -> str:
    """An ARM /proc/cpuinfo for `cores` cores of model `cpu`."""
    features, variant, part, revision = _CPUINFO[cpu]
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


# ---------------------------------------------------------------- setup


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
    _check_choices(arch, runtime)
    directory = Path(directory).expanduser() if directory else default_emulator_dir(arch, runtime)
    say = progress or (lambda _message: None)
    if not force and read_stamp(directory):
        say(f"reusing {directory}")
        return directory / "rootfs"
    debootstrap = _check_build_tools(arch)
    with _locked(directory):
        if not force and read_stamp(directory):  # built by another process while we waited
            return directory / "rootfs"
        _remove_stale_builds(directory)
        _build(directory, arch, runtime, debootstrap, say)
    return directory / "rootfs"


def _build(directory: Path, arch: str, runtime: str, debootstrap: list[str], say: Progress) -> None:
    from edgekit.ioutil import atomic_dir, write_json_atomic

    started = time.perf_counter()
    with atomic_dir(directory) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes it 0700: let other users run a root-built emulator
        rootfs = tmp / "rootfs"
        log = tmp / "setup.log"
        debian_arch = ARCHES[arch]["debian"]
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
import edgekit.device.runner  # compile and cache what every run imports
print(json.dumps({{'machine': platform.machine(), 'python': platform.python_version(), 'numpy': numpy.__version__,
                  'runtime_version': getattr(module, '__version__', None)}}))
"""


def _smoke_test(rootfs: Path, site: Path, arch: str, runtime: str, log: Path) -> dict[str, Any]:
    """Import numpy and the runtime in the guest; caches their .pyc (Debian compiles them at install, we never did)."""
    with staged_device_package() as staged, guest_prefix(rootfs, "cortex-a72") as prefix:
        env = guest_env("cortex-a72", [staged, site])
        env.pop("PYTHONDONTWRITEBYTECODE")
        code = _SMOKE.format(module=RUNTIME_MODULES[runtime])
        cmd = [*guest_command(rootfs, prefix, find_qemu(arch)), "-c", code]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=staged, timeout=900)
    with open(log, "a") as f:
        f.write(f"$ guest python smoke test\n{proc.stdout}{proc.stderr}")
    if proc.returncode != 0:
        raise EdgekitError(f"the guest python cannot import {RUNTIME_MODULES[runtime]}: {_last_line(proc.stderr)}")
    versions = json.loads(proc.stdout.strip().splitlines()[-1])
    versions["qemu"] = _qemu_version(arch)
    return versions


def _qemu_version(arch: str) -> str | None:
    try:
        return _qemu_version_of(find_qemu(arch))
    except EdgekitError:
        return None


def _qemu_version_of(qemu: str) -> str | None:
    try:
        out = subprocess.run([qemu, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    name = Path(qemu).name
    return f"{name} " + out.splitlines()[0].split("version", 1)[-1].strip() if out else None


@contextlib.contextmanager
def staged_device_package() -> Iterator[Path]:
    """A temporary PYTHONPATH root holding only edgekit/__init__.py (empty) and edgekit/device/*.py."""
    source = Path(__file__).resolve().parent / "device"
    with tempfile.TemporaryDirectory(prefix="edgekit-device-") as tmp:
        package = Path(tmp) / "edgekit"
        (package / "device").mkdir(parents=True)
        (package / "__init__.py").write_text('"""edgekit device runner (staged copy)."""\n')
        for path in source.glob("*.py"):
            shutil.copy2(path, package / "device" / path.name)
        yield Path(tmp)


# ---------------------------------------------------------------- comparing outputs


def load_arrays(path: Path) -> list[Any]:
    """Outputs saved by the device runner: .npy (one) or .npz (arr_0..)."""
    import numpy as np

    loaded = np.load(path, allow_pickle=False)
    if isinstance(loaded, np.ndarray):
        return [loaded]
    with loaded:
        return [loaded[f"arr_{i}"] for i in range(len(loaded.files))]


def compare_outputs(
    reference: list[Any], candidate: list[Any], rtol: float = 1e-5, atol: float = 1e-6, max_steps: int = 1
) -> dict[str, Any]:
    """Integer outputs: equal or within `max_steps` quantization steps; float: allclose(rtol, atol)."""
    import numpy as np

    result: dict[str, Any] = {"match": True, "max_abs_diff": 0.0, "max_quant_steps": None, "max_rel_diff": None}
    result.update(rtol=rtol, atol=atol, max_steps=max_steps)
    if len(reference) != len(candidate):
        return {**result, "match": False, "reason": f"{len(candidate)} outputs, expected {len(reference)}"}
    for ref, cand in zip(reference, candidate, strict=True):
        ref, cand = np.asarray(ref), np.asarray(cand)
        if ref.shape != cand.shape or ref.dtype != cand.dtype:
            reason = f"output {cand.dtype}{list(cand.shape)} differs from reference {ref.dtype}{list(ref.shape)}"
            return {**result, "match": False, "reason": reason}
        if ref.dtype.kind in "iub":
            diff = np.abs(ref.astype(np.int64) - cand.astype(np.int64))
            steps = int(diff.max()) if diff.size else 0
            result["max_quant_steps"] = max(result["max_quant_steps"] or 0, steps)
            result["max_abs_diff"] = max(result["max_abs_diff"], float(steps))
            result["match"] = result["match"] and steps <= max_steps
        else:
            a, b = ref.astype(np.float64), cand.astype(np.float64)
            diff = np.abs(a - b)
            diff = np.where(np.isnan(a) & np.isnan(b), 0.0, diff)
            max_abs = float(np.nanmax(diff)) if diff.size else 0.0
            if np.isnan(diff).any():
                max_abs = float("inf")
            rel = float(np.max(diff / np.maximum(np.abs(a), 1e-30))) if diff.size else 0.0
            result["max_abs_diff"] = max(result["max_abs_diff"], max_abs)
            result["max_rel_diff"] = max(result["max_rel_diff"] or 0.0, rel)
            close = bool(np.allclose(b, a, rtol=rtol, atol=atol, equal_nan=True))
            result["match"] = result["match"] and close
    return result


# ---------------------------------------------------------------- profiling


def _run_device_runner(
    cmd: list[str], env: dict[str, str], cwd: Path, timeout: float
) -> tuple[dict | None, str, float]:
    """Run the device runner; return (its JSON object or None, one-line error or '', wall ms)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout, start_new_session=True
        )
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s", (time.perf_counter() - start) * 1000.0
    wall_ms = (time.perf_counter() - start) * 1000.0
    data = None
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if lines:
        with contextlib.suppress(ValueError):
            data = json.loads(lines[-1])
    if proc.returncode == 0 and isinstance(data, dict) and data.get("status") == "ok":
        return data, "", wall_ms
    if isinstance(data, dict) and data.get("error"):
        return data, str(data["error"]), wall_ms
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        return None, f"killed by {name} ({_last_line(proc.stderr) or 'no message'})", wall_ms
    return None, f"exit {proc.returncode}: {_last_line(proc.stderr) or 'no output'}", wall_ms


def resolve_tflite(artifact: Path) -> tuple[Path, dict[str, Any] | None]:
    """(model.tflite path, manifest or None) from a .tflite file or an artifact folder."""
    artifact = Path(artifact)
    model = artifact / "model.tflite" if artifact.is_dir() else artifact
    if not model.is_file():
        raise UsageError(f"no TFLite model at {artifact}")
    if model.suffix != ".tflite":
        raise UsageError(f"emulation runs .tflite artifacts only, not {model.name}")
    if model.name.endswith("_edgetpu.tflite") or model.name.endswith(".edgetpu.tflite"):
        raise UsageError(f"{model.name} needs an Edge TPU; emulate the CPU .tflite instead")
    manifest = None
    with contextlib.suppress(OSError, ValueError):
        manifest = json.loads((model.parent / "manifest.json").read_text())
    return model, manifest if isinstance(manifest, dict) else None


def _describe(model: Path, manifest: dict[str, Any] | None) -> dict[str, Any]:
    """model / format / precision from the manifest, else the edgekit-out/<model>/<format>-<precision> layout."""
    if manifest:
        return {k: manifest.get(k) for k in ("model", "format", "precision")}
    fmt, _, precision = model.parent.name.partition("-")
    if fmt == "tflite" and precision:
        return {"model": model.parent.parent.name, "format": "tflite", "precision": precision}
    from edgekit.profile.measure import tflite_precision  # reads the flatbuffer: fp32 / fp16 / dynamic / int8

    return {"model": model.stem, "format": "tflite", "precision": tflite_precision(model) or "unknown"}


def _resolve_rootfs(rootfs: Path | None, runtime: str) -> Path:
    if rootfs is None:
        directory = default_emulator_dir("aarch64", runtime)
        if not read_stamp(directory):
            raise EdgekitError(
                f"no emulated aarch64 userland for {runtime} in {directory}; "
                f"build it with: edgekit emulate setup --runtime {runtime}"
            )
        return directory / "rootfs"
    rootfs = Path(rootfs).expanduser()
    if (rootfs / "rootfs").is_dir():
        rootfs = rootfs / "rootfs"
    if not (rootfs / "usr" / "bin" / "python3").exists():
        raise UsageError(f"{rootfs} is not an emulated userland (no usr/bin/python3); run: edgekit emulate setup")
    return rootfs


def profile_emulated(
    artifact: Path,
    target_id: str,
    cpu: str,
    runtime: str = "litert",
    rootfs: Path | None = None,
    timeout: float = 900,
    *,
    threads: int = 1,
    runs: int = 3,
    warmup: int = 1,
    seed: int = 0,
    count_instructions: bool = True,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Run a .tflite artifact under QEMU (QEMU_CPU=cpu) and natively on the same inputs; compare the outputs.

    Returns a profile result dict: source "emulated", latency_ms null, match / max_abs_diff / max_quant_steps /
    max_rel_diff, emulated_wall_ms (the guest process' wall time: says nothing about the device) and, where the
    dynamic qemu-aarch64 and a C compiler exist, guest_instructions (executed aarch64 instructions per inference).
    status "failed" when a run fails; a mismatch is status "ok" with match false.
    work_dir keeps inputs.npy, native.npy and emulated.npy.
    """
    if runtime not in RUNTIME_REQUIREMENTS:
        raise did_you_mean("runtime", runtime, RUNTIME_REQUIREMENTS)
    if cpu not in _CPUINFO:
        raise did_you_mean("emulated CPU", cpu, _CPUINFO)
    model, manifest = resolve_tflite(artifact)
    rootfs = _resolve_rootfs(rootfs, runtime)
    qemu = find_qemu("aarch64")
    deadline = time.monotonic() + timeout
    result = _empty_result(target_id, cpu, runtime, threads, model, rootfs, _describe(model, manifest))

    with contextlib.ExitStack() as stack:
        staged = stack.enter_context(staged_device_package())
        work = Path(work_dir) if work_dir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="emu-")))
        work.mkdir(parents=True, exist_ok=True)
        common = ["run", str(model.resolve()), "--json", "--threads", str(threads)]

        # The native run makes the inputs (seeded) and the reference outputs.
        native_cmd = [sys.executable, "-m", "edgekit.device", *common, "--runs", "1", "--warmup", "0"]
        native_cmd += ["--seed", str(seed), "--save-inputs", str(work / "inputs.npy")]
        native_cmd += ["--save-outputs", str(work / "native.npy")]
        native_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        native_env["PYTHONPATH"] = str(staged)
        native, error, _ = _run_device_runner(native_cmd, native_env, staged, max(1.0, deadline - time.monotonic()))
        if error:
            return {**result, "status": "failed", "error": f"native reference run failed: {error}"}
        result["artifact"]["sha256"] = native["model"]["sha256"]

        counter, why_not = _insn_counter(work) if count_instructions else (None, "not requested")
        prefix = stack.enter_context(guest_prefix(rootfs, cpu))
        env = guest_env(cpu, [staged, rootfs / SITE_PACKAGES])
        args = ["-m", "edgekit.device", *common, "--runtime", runtime, "--runs", str(runs), "--warmup", str(warmup)]
        args += ["--inputs", str(work / "inputs.npy"), "--save-outputs", str(work / "emulated.npy")]

        def run_guest(count: bool) -> tuple[dict | None, str, float, list[str]]:
            # Plugins need the dynamic qemu-aarch64 (the static build cannot load them).
            plugin = [str(counter), f"outfile={work / 'insn.txt'}"] if count else None
            cmd = guest_command(rootfs, prefix, shutil.which("qemu-aarch64") if count else qemu, plugin)
            cmd += [*args, "--mark-invokes"] if count else args
            return (*_run_device_runner(cmd, env, staged, max(1.0, deadline - time.monotonic())), cmd)

        emulated, error, wall_ms, cmd = run_guest(counter is not None)
        if error and counter is not None:  # e.g. a QEMU that refuses the plugin: still check the outputs
            why_not = f"the counting run failed ({error})"
            counter = None
            emulated, error, wall_ms, cmd = run_guest(False)
        result["emulated_wall_ms"] = round(wall_ms, 1)
        if error:
            return {**result, "status": "failed", "error": f"emulated run failed: {error}"}
        comparison = compare_outputs(load_arrays(work / "native.npy"), load_arrays(work / "emulated.npy"))
        if counter:
            counts = _read_counts(work / "insn.txt", runs)
            if counts:
                result.update(counts)
                result["emulation"]["qemu"] = _qemu_version_of(cmd[0])
            else:
                why_not = "the plugin wrote no marker counts"
        result["guest_instructions_note"] = (
            INSN_NOTE if result.get("guest_instructions") is not None else f"not counted: {why_not}"
        )

    result["runtime"]["version"] = emulated["runtime"]["version"]
    result.update({k: comparison[k] for k in ("match", "max_abs_diff", "max_quant_steps", "max_rel_diff")})
    result["comparison"] = {
        **{k: comparison[k] for k in ("rtol", "atol", "max_steps")},
        "reason": comparison.get("reason"),
        "reference": {
            "runtime": native["runtime"],
            "machine": native["machine"],
            "output_sha256": native["output_sha256"],
        },
        "input": emulated["input"],
        "output": emulated["output"],
        "seed": seed,
    }
    result["output_sha256"] = emulated["output_sha256"]
    result["emulated_load_ms"] = emulated["load_ms"]
    result["emulated_inference_ms"] = emulated["latency_ms"]["median"]
    result["emulated_peak_memory_bytes"] = emulated["peak_memory_bytes"]  # QEMU's RSS: guest memory plus the emulator's
    result["guest"] = {"machine": emulated["machine"], "python": emulated["python"], "numpy": emulated["numpy"]}
    return result


def _empty_result(
    target_id: str, cpu: str, runtime: str, threads: int, model: Path, rootfs: Path, desc: dict[str, Any]
) -> dict[str, Any]:
    """The profile result keys (results.base_result), unknowns null (never invented), plus the emulation's own."""
    from edgekit.results import base_result

    result = base_result(target_id, desc["model"], desc["format"], desc["precision"], "emulated")
    result.update(
        {
            "size_bytes": model.stat().st_size,
            "runtime": {"name": runtime, "version": None, "threads": threads, "device": f"qemu-aarch64 {cpu}"},
            "layers_note": "not profiled under emulation: emulated time says nothing about the device",
            "artifact": {"path": str(model), "sha256": None},
            "host": _host(),
            "match": None,
            "max_abs_diff": None,
            "max_quant_steps": None,
            "max_rel_diff": None,
            "emulated_wall_ms": None,
            "guest_instructions": None,
            "guest_instructions_note": None,
            "emulation": {
                "qemu": _qemu_version("aarch64"),
                "cpu": cpu,
                "rootfs": str(rootfs),
                "stamp": read_stamp(rootfs.parent),
            },
        }
    )
    return result


# ---------------------------------------------------------------- guest instruction counts

INSN_NOTE = (
    "executed aarch64 instructions per invoke() (median of the timed runs, counted by a QEMU TCG plugin between "
    "marker syscalls, the markers' own cost subtracted); deterministic for one thread, unlike emulated time"
)

# A minimal QEMU TCG plugin (plugin API version 1, QEMU 7.x): counts executed guest instructions inline, and records
# the count between the device runner's marker syscalls (lseek(-1, MAGIC, 0), see edgekit/device/runner.py).
# Debian ships no qemu-plugin.h, so the few declarations it needs are written out here.
INSN_PLUGIN_C = r"""
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*syscall_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num, uint64_t a1, uint64_t a2,
                             uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8);
extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb_t cb);
extern void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                                     uint64_t imm);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
extern void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t id, syscall_cb_t cb);
extern void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, udata_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

#define SYS_LSEEK_AARCH64 62
#define MARK_START 0x6564676B69740001ULL
#define MARK_STOP 0x6564676B69740002ULL
#define MAX_INTERVALS 65536

static uint64_t insns, started;
static int open_interval;
static uint64_t intervals[MAX_INTERVALS];
static size_t n_intervals;
static char outfile[4096];

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &insns, qemu_plugin_tb_n_insns(tb));
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
    if (num != SYS_LSEEK_AARCH64 || (int32_t)a1 != -1) return;
    if (a2 == MARK_START) {
        started = insns;
        open_interval = 1;
    } else if (a2 == MARK_STOP && open_interval) {
        if (n_intervals < MAX_INTERVALS) intervals[n_intervals++] = insns - started;
        open_interval = 0;
    }
}

static void at_exit(qemu_plugin_id_t id, void *userdata) {
    FILE *f = outfile[0] ? fopen(outfile, "w") : stderr;
    if (!f) return;
    fprintf(f, "%llu\n", (unsigned long long)insns);
    for (size_t i = 0; i < n_intervals; i++) fprintf(f, "%llu\n", (unsigned long long)intervals[i]);
    if (f != stderr) fclose(f);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                                int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "outfile=", 8) == 0) strncpy(outfile, argv[i] + 8, sizeof(outfile) - 1);
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
"""


def build_insn_plugin(directory: Path) -> Path:
    """Compile the instruction-counting plugin into directory (~0.2 s); EdgekitError when it cannot."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if not shutil.which("qemu-aarch64"):
        raise EdgekitError("counting guest instructions needs the dynamic qemu-aarch64: apt-get install qemu-user")
    if not compiler:
        raise EdgekitError("counting guest instructions needs a C compiler: apt-get install gcc")
    source = Path(directory) / "edgekit_insn.c"
    library = Path(directory) / "libedgekit_insn.so"
    source.write_text(INSN_PLUGIN_C)
    cmd = [compiler, "-shared", "-fPIC", "-O2", "-o", str(library), str(source)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if "error" in line] or [_last_line(proc.stderr)]
        raise EdgekitError(f"compiling the instruction-counting plugin failed: {errors[0].strip()[:300]}")
    return library


def _insn_counter(directory: Path) -> tuple[Path | None, str]:
    try:
        return build_insn_plugin(directory), ""
    except (EdgekitError, OSError, subprocess.SubprocessError) as exc:
        return None, str(getattr(exc, "message", exc))


def _read_counts(path: Path, runs: int) -> dict[str, Any] | None:
    """guest_instructions (median per invoke, minus the empty marker pair) and the spread, from the plugin's file."""
    try:
        values = [int(line) for line in path.read_text().split()]
    except (OSError, ValueError):
        return None
    total, empty, per_invoke = values[0] if values else None, values[1:2], values[2:]
    if not empty or len(per_invoke) < runs:
        return None
    net = sorted(max(0, v - empty[0]) for v in per_invoke)
    return {
        "guest_instructions": net[len(net) // 2],
        "guest_instructions_spread": {"min": net[0], "max": net[-1], "n": len(net)},
        "guest_instructions_process": total,
    }


def _host() -> dict[str, Any]:
    from edgekit.device.runner import host_info

    info = host_info()
    return {k: info[k] for k in ("hostname", "machine", "cpu", "os")}
