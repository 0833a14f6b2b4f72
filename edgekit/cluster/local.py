"""Many jobs on this machine: one after another in this process, or up to N processes at once, each started only
when the memory it needs (edgekit.cluster.memory) is free now (/proc/meminfo's MemAvailable, less what the running
jobs have yet to take). A process the kernel kills (out of memory) is tried once more, alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edgekit.cluster.jobs import Job, Outcome
from edgekit.cluster.summary import Board
from edgekit.cluster.worker import RESULT_MARK, run_job
from edgekit.procfs import meminfo_bytes, status_bytes

POLL_S = 0.5
MAX_ATTEMPTS = 2  # a killed job runs once more, alone


def run_sequential(jobs: list[Job], out: Path | None, board: Board) -> list[Outcome]:
    """In this process, as the single-model command runs (its step lines show)."""
    outcomes = []
    for job in jobs:
        board.running(job.kind, 1)
        result = run_job(job, out)
        outcome = Outcome(job, result.get("records", []), result.get("error"), result.get("exit_code", 0))
        board.running(job.kind, 0)
        board.finished(outcome)
        outcomes.append(outcome)
    return outcomes


@dataclass
class Running:
    job: Job
    proc: subprocess.Popen
    log: Path
    attempt: int


def free_for_next(running: list[Running]) -> int:
    """MemAvailable less what running jobs may still take (their reservation minus what they hold now)."""
    available = meminfo_bytes("MemAvailable") or 0
    pending = sum(max(r.job.memory_bytes - (status_bytes("VmRSS", r.proc.pid) or 0), 0) for r in running)
    return available - pending


def start(job: Job, out: Path | None, logs: Path, attempt: int, threads: int) -> Running:
    log = logs / f"{len(list(logs.iterdir()))}.log"
    spec = {"job": job.to_dict(), "out": str(out) if out else None, "threads": threads}
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "edgekit.cluster.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,  # ^C reaches the driver, which stops the jobs itself
        )
    proc.stdin.write(json.dumps(spec))
    proc.stdin.close()
    return Running(job, proc, log, attempt)


def collect(r: Running) -> Outcome | None:
    """The finished job's outcome; None where the kernel killed it (to be tried again)."""
    stdout = r.proc.stdout.read()
    r.proc.wait()
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            res = json.loads(line[len(RESULT_MARK) :])
            return Outcome(r.job, res.get("records", []), res.get("error"), res.get("exit_code", 0), r.attempt)
    if r.proc.returncode < 0:
        return None
    last = (r.log.read_text(errors="replace").strip().splitlines() or [f"exit code {r.proc.returncode}"])[-1]
    return Outcome(r.job, [], f"the job's process ended: {last[:300]}", 1, r.attempt)


def killed_cause(r: Running) -> str:
    sig = -r.proc.returncode
    name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
    return f"killed by {name}" + (" (out of memory?)" if sig == signal.SIGKILL else "")


def run_parallel(jobs: list[Job], out: Path | None, board: Board, n: int) -> list[Outcome]:
    """Up to n worker processes; each job starts only where its memory is free now (else it waits for others).
    A job that does not fit even with nothing else running fails with the figures instead of being started."""
    queue = [(job, 1) for job in jobs]
    running: list[Running] = []
    done: dict[int, Outcome] = {}
    order = {id(job): i for i, job in enumerate(jobs)}
    threads = max((os.cpu_count() or 1) // n, 1)
    with tempfile.TemporaryDirectory(prefix="edgekit-jobs-") as logs_dir:
        logs = Path(logs_dir)
        try:
            while queue or running:
                while queue and len(running) < n:
                    job, attempt = queue[0]
                    alone = attempt > 1  # a retry after a kill runs with nothing beside it
                    if (alone and running) or job.memory_bytes > free_for_next(running):
                        if not running:
                            free = free_for_next(running)
                            queue.pop(0)
                            done[order[id(job)]] = Outcome(
                                job, [], f"needs ~{job.memory_bytes / 1e9:.1f} GB, {free / 1e9:.1f} GB free", 1
                            )
                            board.finished(done[order[id(job)]])
                            continue
                        break
                    queue.pop(0)
                    running.append(start(job, out, logs, attempt, threads))
                board.running(jobs[0].kind, len(running))
                time.sleep(POLL_S)
                for r in [r for r in running if r.proc.poll() is not None]:
                    running.remove(r)
                    outcome = collect(r)
                    if outcome is None and r.attempt < MAX_ATTEMPTS:
                        board.retried(r.job.kind, r.job.name, killed_cause(r))
                        queue.insert(0, (r.job, r.attempt + 1))
                        continue
                    if outcome is None:
                        outcome = Outcome(r.job, [], killed_cause(r), 1, r.attempt)
                    done[order[id(r.job)]] = outcome
                    board.finished(outcome)
        except BaseException:  # ^C or an error here: the jobs stop with the command (their writes are atomic)
            for r in running:
                os.killpg(r.proc.pid, signal.SIGTERM)
            for r in running:
                r.proc.wait()
            raise
    board.running(jobs[0].kind, 0)
    return [done[i] for i in sorted(done)]
