"""SSH transport for remote profiling: the system OpenSSH client (`ssh`) run as a subprocess with argument lists.

Why the system client and not a Python SSH library: it reads the user's ~/.ssh/config (aliases, ProxyJump, agents,
certificates, known_hosts and its StrictHostKeyChecking policy) exactly as the user's own `ssh` does, so host keys
are verified the way the user configured them, with nothing to reimplement. edgekit adds only BatchMode=yes (never
prompt), ConnectTimeout and keep-alives. Every remote command is one string built with shlex.quote, so no argument
is ever re-split or expanded by the remote shell.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError, UsageError

# USER@ADDR[:PORT], ADDR a host name, an IPv4 address or [an IPv6 address]; nothing that ssh could read as an option.
_HOST_RE = re.compile(
    r"^(?:(?P<user>[A-Za-z0-9_][A-Za-z0-9._-]*)@)?"
    r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_][A-Za-z0-9_.-]*))"
    r"(?::(?P<port>\d{1,5}))?$"
)
HOSTS_KEYS = {"name", "address", "identity", "target", "python"}


@dataclass(frozen=True)
class Host:
    """One board reachable over SSH."""

    name: str  # how results and tables call it (the --hosts name, else the address as given)
    address: str
    user: str | None = None
    port: int | None = None
    identity: Path | None = None
    target: str | None = None  # what the user says it is (checked against what the remote reports)
    python: str | None = None  # the remote interpreter (default python3)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.address}" if self.user else self.address


def parse_host(spec: str, name: str | None = None) -> Host:
    """USER@ADDR[:PORT] -> Host; a UsageError for anything else."""
    match = _HOST_RE.match(spec.strip())
    if not match:
        raise UsageError(f"bad --host {spec!r}: use USER@ADDR[:PORT] (IPv6 as USER@[ADDR]:PORT)")
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"bad port in --host {spec!r}")
    return Host(name=name or spec.strip(), address=match["v6"] or match["host"], user=match["user"], port=port)


def load_hosts(path: Path) -> list[Host]:
    """A fleet file (TOML): [[host]] tables with name, address (USER@ADDR[:PORT]), and optional identity, target,
    python. Unknown keys and duplicate names are errors."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read --hosts file {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from None
    extra = set(data) - {"host"}
    if extra or not isinstance(data.get("host"), list) or not data["host"]:
        raise UsageError(f"{path}: expected [[host]] tables (name, address, identity, target), got {sorted(data)}")
    hosts: list[Host] = []
    for i, entry in enumerate(data["host"]):
        where = f"{path}: host {i + 1}"
        if not isinstance(entry, dict) or "address" not in entry or "name" not in entry:
            raise UsageError(f"{where}: needs name and address")
        unknown = set(entry) - HOSTS_KEYS
        if unknown:
            raise UsageError(f"{where}: unknown key(s) {sorted(unknown)} (known: {', '.join(sorted(HOSTS_KEYS))})")
        if not all(isinstance(v, str) and v for v in entry.values()):
            raise UsageError(f"{where}: every value must be a non-empty string")
        identity = Path(entry["identity"]).expanduser() if "identity" in entry else None
        if identity is not None and not identity.is_absolute():
            identity = path.parent / identity  # relative to the fleet file, not to where edgekit runs
        host = parse_host(entry["address"], name=entry["name"])
        hosts.append(replace(host, identity=identity, target=entry.get("target"), python=entry.get("python")))
    names = [h.name for h in hosts]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise UsageError(f"{path}: duplicate host name(s) {', '.join(duplicates)}")
    return hosts


class SshError(EdgekitError):
    """The link failed (could not connect, authenticate, or the connection dropped): exit code 1."""


class RemoteTimeout(EdgekitError):
    """The remote command did not finish in time (it was killed)."""


# What ssh prints (OpenSSH 9.x) -> what to tell the user.
_SSH_FAILURES = (
    ("REMOTE HOST IDENTIFICATION HAS CHANGED", "the host key changed (not the one in known_hosts): refused"),
    ("Host key verification failed", "host key not verified (unknown or changed host key; add it to known_hosts, "
     "e.g. by connecting once with ssh)"),
    ("No ED25519 host key is known", "unknown host key"),
    ("Permission denied", "authentication failed (key not accepted: check --identity and authorized_keys)"),
    ("Connection refused", "connection refused (no SSH server on that port?)"),
    ("Connection timed out", "connection timed out"),
    ("Could not resolve hostname", "unknown host name"),
    ("No route to host", "no route to host"),
    ("Identity file", "identity file not accessible"),
    ("closed by remote host", "the connection dropped (closed by the remote host)"),
    ("Connection reset", "the connection dropped (reset)"),
    ("Broken pipe", "the connection dropped (broken pipe)"),
    ("Timeout, server", "the connection dropped (no keep-alive answer from the server)"),
    ("Connection closed", "the connection dropped"),
)  # fmt: skip


def explain_ssh_failure(host: Host, stderr: str) -> str:
    """One line: which host, what went wrong, and ssh's own last line (it says what the user would see)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("Warning:")]
    last = lines[-1] if lines else "no message"
    for needle, meaning in _SSH_FAILURES:
        if needle in stderr:
            return f"{host.name}: {meaning} [ssh: {last[:200]}]"
    return f"{host.name}: ssh failed [ssh: {last[:200]}]"


@dataclass
class Ssh:
    """Runs commands on one host with the system ssh client."""

    host: Host
    config: Path | None = None  # an ssh_config file instead of ~/.ssh/config (-F)
    connect_timeout: float = 10.0

    def base_command(self) -> list[str]:
        exe = shutil.which("ssh")
        if exe is None:
            raise EdgekitError("the OpenSSH client is not installed; install it with: apt-get install openssh-client")
        cmd = [exe, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={max(1, int(self.connect_timeout))}"]
        cmd += ["-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3"]
        if self.config is not None:
            cmd += ["-F", str(self.config)]
        if self.host.identity is not None:
            if not Path(self.host.identity).is_file():
                raise UsageError(f"identity file not found: {self.host.identity}")
            cmd += ["-i", str(self.host.identity), "-o", "IdentitiesOnly=yes"]
        if self.host.port is not None:
            cmd += ["-p", str(self.host.port)]
        return [*cmd, "--", self.host.destination]

    def run(
        self, argv: list[str], timeout: float, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """Run argv on the remote (each argument quoted) and return the completed process (bytes).

        ssh's own failures (exit 255) raise SshError with one line; a timeout kills ssh and raises RemoteTimeout.
        env: variables set for the remote command only (env VAR=value ..., quoted like everything else).
        """
        words = (["env", *(f"{k}={v}" for k, v in env.items())] if env else []) + list(argv)
        cmd = [*self.base_command(), shlex.join(words)]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C or timeout kills ssh, not us; closing ssh ends the remote command
        )
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            message = f"{self.host.name}: no answer within {timeout:g} s (the remote hung or is too slow)"
            raise RemoteTimeout(message) from None
        except BaseException:
            kill_group(proc)
            raise
        if proc.returncode == 255:
            raise SshError(explain_ssh_failure(self.host, err.decode(errors="replace")))
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the process group the runner started (ssh or the local runner and its children), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()
