"""Atomic writes: a crash, Ctrl-C or SIGKILL never leaves a partial file nor damages an earlier one.

Files and folders are built under a hidden temporary name beside their final place (`.NAME.tmp-PID-XXXX`) and renamed
in one step. Folders replace an earlier version with an atomic exchange (Linux renameat2 RENAME_EXCHANGE), so the final
name always holds one complete version, also while two processes write the same folder. Leftovers of a killed writer
stay hidden (readers skip dot-names) and are removed by the next writer of the same name. A full disk or a file size
limit is an EdgekitError naming the path, never a traceback, and the earlier version stays.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError

_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(final: Path) -> None:
    """Remove hidden leftovers (.NAME.tmp-PID-*, .NAME.old-PID-*) of writers of final that are no longer running."""
    for leftover in final.parent.glob(f".{glob.escape(final.name)}.*"):
        parts = leftover.name[len(final.name) + 2 :].split("-")
        if len(parts) < 2 or parts[0] not in ("tmp", "old") or not parts[1].isdigit() or _pid_alive(int(parts[1])):
            continue
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


_FULL = {errno.ENOSPC: "the disk is full", errno.EFBIG: "the file size limit was reached", errno.EDQUOT: "over quota"}


def _write_error(path: Path, exc: OSError) -> EdgekitError:
    reason = _FULL.get(exc.errno or 0) or exc.strerror or str(exc)
    return EdgekitError(f"cannot write {path}: {reason}; nothing was replaced")


@contextlib.contextmanager
def atomic_path(final: Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in final's folder; rename it onto final only if the block succeeds."""
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(final)
        prefix = f".{final.name}.tmp-{os.getpid()}-"
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix or final.suffix, dir=final.parent)
        os.close(fd)
    except OSError as exc:
        raise _write_error(final, exc) from exc
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
        except OSError as exc:
            if exc.errno in _FULL:
                raise _write_error(final, exc) from exc
            raise
        try:
            os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
            os.replace(tmp_path, final)
        except OSError as exc:
            raise _write_error(final, exc) from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the rename must not reach the disk before the data (power loss)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode())


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (both must exist); False where the kernel or libc cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_in_dir(tmp: Path, final: Path) -> None:
    """Put the complete folder tmp at final; an earlier final is replaced in one step and removed afterwards."""
    for _ in range(10):  # another writer may create or replace final between our checks: try again
        try:
            os.rename(tmp, final)  # no earlier version (a folder only renames onto an absent or empty one)
            return
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        try:
            if _exchange(tmp, final):
                shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the earlier version
                return
        except FileNotFoundError:
            continue  # final vanished meanwhile: rename again
        # No renameat2: move the old one aside first (a short window without final; the old one stays hidden).
        old = final.with_name(f".{final.name}.old-{os.getpid()}-{os.urandom(3).hex()}")
        try:
            os.rename(final, old)
        except FileNotFoundError:
            continue
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        return
    raise OSError(errno.EBUSY, "other writers keep replacing it", str(final))


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Build a folder next to final; swap it in only when complete (the old one is kept until then)."""
    final = Path(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(final)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-{os.getpid()}-", dir=final.parent))
    except OSError as exc:
        raise _write_error(final, exc) from exc
    try:
        try:
            yield tmp
        except OSError as exc:
            if exc.errno in _FULL:  # other OSErrors belong to whatever filled the folder: keep them as they are
                raise _write_error(final, exc) from exc
            raise
        try:
            os.chmod(tmp, 0o777 & ~_umask())
            swap_in_dir(tmp, final)
        except OSError as exc:
            raise _write_error(final, exc) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
