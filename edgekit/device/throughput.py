"""Throughput measured, not derived from latency: parallel instances in threads (LiteRT, ONNX Runtime) or OpenVINO's
asynchronous infer requests (openvino_backend.py), for as long as the timing bound says.

Standard library only at import, like the rest of edgekit/device. frames/second = frames completed / wall time from
the start of the first inference to the end of the last (benchmark_app's definition); each completed call's own time
is kept too (latency under load).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable  # noqa: UP035 (Python 3.7 on Coral)

POLL_S = 0.005  # how often the main thread checks the bound while workers run


@dataclass(frozen=True)
class Bound:
    """When a timed loop stops: at least `runs` calls and `min_seconds`, but never past `max_seconds` (0: none)."""

    runs: int = 50
    min_seconds: float = 0.0
    max_seconds: float = 0.0

    def done(self, calls: int, elapsed: float) -> bool:
        if self.max_seconds and elapsed >= self.max_seconds:
            return True
        return calls >= self.runs and elapsed >= self.min_seconds

    def stopped_by(self, calls: int, elapsed: float) -> str:
        """Why the loop ended: "max_seconds" when the bound cut it short, else "runs" (runs and min_seconds met)."""
        short = calls < self.runs or elapsed < self.min_seconds
        return "max_seconds" if self.max_seconds and short else "runs"


def default_workers(threads: int) -> int:
    """Parallel instances when none are asked for: one per `threads` CPUs this process may use."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, cpus // max(1, threads))


def run_workers(calls: list[Callable[[], float]], bound: Bound) -> dict[str, Any]:
    """Run each call in its own thread until the bound stops them; the runtimes release the GIL while they compute."""
    n = len(calls)
    stop = threading.Event()
    times: list[list[float]] = [[] for _ in range(n)]
    ends = [0.0] * n
    errors: list[BaseException] = []
    ready = threading.Barrier(n + 1)

    def loop(i: int) -> None:
        ready.wait()
        try:
            while not stop.is_set():
                times[i].append(calls[i]())
                ends[i] = time.perf_counter()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            errors.append(exc)
            stop.set()

    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(n)]
    for worker in workers:
        worker.start()
    ready.wait()
    start = time.perf_counter()
    while not stop.is_set() and not bound.done(sum(len(t) for t in times), time.perf_counter() - start):
        time.sleep(POLL_S)
    stop.set()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    flat = [ms for per in times for ms in per]
    elapsed = max(ends) - start if flat else time.perf_counter() - start
    return {"times": flat, "calls": len(flat), "seconds": elapsed, "stopped_by": bound.stopped_by(len(flat), elapsed)}


def summary(calls: int, batch: int, seconds: float, requests: int, streams: Any, method: str) -> dict[str, Any]:
    """The throughput block of the runner's JSON."""
    frames = calls * batch
    return {
        "fps": round(frames / seconds, 3) if seconds > 0 else None,
        "frames": frames,
        "calls": calls,
        "batch": batch,
        "seconds": round(seconds, 6),  # 60 calls of a tiny model take 4 ms: fps must re-derive
        "requests": requests,
        "streams": streams,
        "method": method,
        "source": "measured",
    }


def parallel_instances(backend: Any, feeds: list, bound: Bound) -> dict[str, Any]:
    """LiteRT / ONNX Runtime: N loaded copies of the model, one thread each, every copy fed its own input set."""
    settings = backend.settings
    n = settings.requests or default_workers(backend.threads)
    instances = [backend.instance() for _ in range(n)]
    calls = [_bind(instance, feeds[i % len(feeds)]) for i, instance in enumerate(instances)]
    for call in calls:  # one untimed call each: first-run allocations stay out of the figure
        call()
    run = run_workers(calls, bound)
    method = f"{n} {backend.runtime['name']} instances with {backend.threads} thread(s) each, one Python thread each"
    run["throughput"] = summary(run["calls"], settings.batch, run["seconds"], n, n, method)
    return run


def _bind(infer: Callable[[list], float], inputs: list) -> Callable[[], float]:
    return lambda: infer(inputs)
