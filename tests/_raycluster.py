"""A real two-node Ray cluster on this machine for the cluster tests: a head and a second raylet, each with one CPU
and its own --temp-dir under /tmp. Teardown kills only the processes of these two nodes (their command lines name
the private temp dirs; their workers and agents are their descendants), never another Ray session."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _parents() -> dict[int, int]:
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                found[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    return found


def processes_of(marker: str) -> list[int]:
    """The processes whose command line names marker (a node's temp dir), and all their descendants."""
    parents = _parents()
    mine, pid = set(), os.getpid()  # this process and its ancestors may name the marker too
    while pid > 1 and pid not in mine:
        mine.add(pid)
        pid = parents.get(pid, 1)
    roots = {pid for pid in parents if marker in _cmdline(pid) and pid not in mine}
    found, frontier = set(roots), set(roots)
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier and pid not in found}
        found |= frontier
    return sorted(found)


def kill_marker(marker: str) -> None:
    for pid in processes_of(marker):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class Cluster:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="edgekit-raytest-"))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.head_dir, self.node_dir = self.root / "head", self.root / "node2"

    def _start(self, args: list[str]) -> None:
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        common = ["--num-cpus", "1", "--object-store-memory", "500000000", "--node-ip-address", "127.0.0.1"]
        subprocess.run([RAY, "start", *args, *common], check=True, capture_output=True, env=env, timeout=120)

    def start(self) -> Cluster:
        try:
            self._start(["--head", "--port", str(self.port), "--temp-dir", str(self.head_dir)])
            self._start(["--address", self.address, "--temp-dir", str(self.node_dir)])
            self.wait_nodes(2)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_nodes(self, n: int, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            out = subprocess.run([RAY, "status", "--address", self.address], capture_output=True, text=True).stdout
            if out.count("node_") >= n:
                return
            time.sleep(1)
        raise TimeoutError(f"the Ray cluster at {self.address} did not reach {n} nodes")

    def kill_second_node(self) -> list[int]:
        """SIGKILL the second node's raylet and everything under it (its workers): a machine lost mid-task."""
        pids = processes_of(str(self.node_dir))
        kill_marker(str(self.node_dir))
        return pids

    def running_on_second_node(self) -> bool:
        """An edgekit task (a worker process Ray renamed "ray::edgekit ...") runs under the second node's raylet now."""
        return any(_cmdline(pid).startswith("ray::edgekit ") for pid in processes_of(str(self.node_dir)))

    def tasks_running(self) -> bool:
        """An edgekit task runs on either node now."""
        pids = processes_of(str(self.node_dir)) + processes_of(str(self.head_dir))
        return any(_cmdline(pid).startswith("ray::edgekit ") for pid in pids)

    def stop(self) -> None:
        kill_marker(str(self.node_dir))
        kill_marker(str(self.head_dir))
        for pid in _parents():  # the head's Ray Client server names the head's port, not its temp dir
            line = _cmdline(pid)
            if "ray.util.client.server" in line and f":{self.port} " in line:
                kill_marker(line)
        subprocess.run(["rm", "-rf", str(self.root)], check=False)
