"""The device runner on this machine, driven like a remote one: `edgekit profile ART --cpus 2-3 --cooldown-c 55`
on a board itself (a Pi measuring its own artifacts), with the same pinning, thermal, throttling and power records.

LocalShell has Ssh's run() contract, so remote.py's probe, cache and result code serve both.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from edgekit.errors import UsageError
from edgekit.measure.ssh import Host, RemoteTimeout, kill_group

LOCAL = Host(name="local", address="localhost", python=sys.executable)


class LocalShell:
    """Runs argv here (no shell), with extra environment variables; a timeout kills the whole process group."""

    def __init__(self, host: Host = LOCAL):
        self.host = host

    def run(
        self, argv: list[str], timeout: float, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise RemoteTimeout(f"local: the device runner did not finish in {timeout:g} s") from None
        except BaseException:
            kill_group(proc)
            raise
        return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def local_target(host: Host, probe: dict[str, Any], detected: list[str]) -> str:
    """This machine's target: the one asked for if this machine is it (else exit 2), else the board, else host."""
    from edgekit.hardware.targets import get_target

    if host.target is None:
        return detected[0] if detected else "host"
    if host.target != "host" and not get_target(host.target).is_this_machine():
        raise UsageError(
            f"--target {host.target}: this machine is not one ({probe.get('board') or probe.get('cpu')}); "
            "--cpus, --cooldown-c and --power-cmd measure here (use --host for a board)"
        )
    return host.target
