"""Jobs as Ray tasks on a cluster (`--ray ADDRESS|auto`): one task per job, with a memory request from the measured
peaks and num_cpus that TensorFlow's threads follow; Ray retries a task whose node died or ran out of memory
(max_retries), and exceptions only where the worker's own storage failed. Each finished task's artifact folders
come back as a tar through the object store (or through a shared path) and are swapped into --out in the layout of
a local run, each manifest naming the node that made it ("made_on")."""

from __future__ import annotations

import contextlib
import socket
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import edgekit
from edgekit.cluster.jobs import GRAPH, Job, Outcome
from edgekit.cluster.summary import Board
from edgekit.errors import EXIT_FAILURE, EdgekitError, UsageError
from edgekit.ioutil import write_bytes_atomic

MAX_RETRIES = 3  # node deaths / out-of-memory kills per task
POLL_S = 0.5
PROBE_TIMEOUT_S = 5.0
# The modules an export or training job imports on a worker, and the distribution that provides each.
NEEDED = {
    "tensorflow": "tensorflow-cpu",
    "keras": "keras",
    "tf2onnx": "tf2onnx",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "openvino": "openvino",
    "nncf": "nncf",
    "ai_edge_litert": "ai-edge-litert",
    "numpy": "numpy",
    "PIL": "pillow",
}


class WorkerStorageError(Exception):
    """The worker could not write or pack its scratch folder (full disk, a vanished mount): another node may."""


# --- connecting --------------------------------------------------------------------------------------------------
def resolve_address(address: str) -> str:
    """'auto': RAY_ADDRESS or the cluster started on this machine; a wrong address is one line (UsageError), checked
    with a plain TCP connection first (ray.init itself waits minutes for an address that does not answer)."""
    from ray._private.services import canonicalize_bootstrap_address

    target = address
    if address == "auto":
        try:
            target = canonicalize_bootstrap_address("auto") or ""
        except (ConnectionError, ValueError) as exc:
            raise UsageError(f"--ray auto: no Ray cluster found on this machine ({str(exc).splitlines()[0]})") from exc
    hostport = target.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--ray: '{address}' is not HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise UsageError(f"--ray: no Ray cluster answers at {hostport} ({why})") from exc
    return target


def runtime_env(pip: bool) -> dict[str, Any]:
    """This edgekit's code travels with the tasks (py_modules), so workers run what the driver runs; with pip, also
    the pinned converters this driver has (Ray installs them once per node in a virtual environment)."""
    env: dict[str, Any] = {"py_modules": [str(Path(edgekit.__file__).parent)], "excludes": ["__pycache__"]}
    if pip:
        env["pip"] = [f"{dist}=={ver}" for dist, ver in sorted(driver_versions().items())]
    return env


def driver_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for dist in NEEDED.values():
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return found


def connect(address: str, pip: bool) -> None:
    import ray

    target = resolve_address(address)
    try:
        ray.init(address=target, runtime_env=runtime_env(pip), logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UsageError(f"--ray: cannot join the Ray cluster at {target}: {str(exc).splitlines()[0][:200]}") from exc


def probe_worker() -> dict[str, Any]:
    """Runs on a worker: which of the needed distributions it has, and their versions."""
    import importlib.util

    from edgekit.cluster.raybackend import NEEDED, driver_versions

    return {"missing": [d for m, d in NEEDED.items() if importlib.util.find_spec(m) is None], **driver_versions()}


def check_workers(pip: bool) -> None:
    """One line naming what to install where a worker lacks what the driver has; a warning where versions differ
    (the artifacts would then differ from a local export's)."""
    import ray

    seen = ray.get(ray.remote(num_cpus=0)(probe_worker).remote())
    have = driver_versions()
    missing = [d for d in seen["missing"] if d in have]
    if missing:
        pins = " ".join(f"'{d}=={have[d]}'" for d in missing)
        raise EdgekitError(
            f"the Ray workers lack {', '.join(missing)}: install them there (pip install {pins}) "
            "or add --ray-pip to have Ray install them in a runtime environment"
        )
    differ = [f"{d} {seen[d]} (here {v})" for d, v in have.items() if seen.get(d) not in (None, v)]
    if differ and not pip:
        from edgekit import console

        console.warn(f"the Ray workers run other versions: {', '.join(differ)}; artifacts may differ from this host's")


# --- one task ----------------------------------------------------------------------------------------------------
class Attempts:
    """A Ray actor on the driver's node: counts each task's starts (a second start is Ray retrying it) and which run
    now, for the progress bars (the driver's node outlives the workers it watches)."""

    def __init__(self) -> None:
        self.starts: dict[str, int] = {}
        self.running: set[str] = set()

    def start(self, key: str) -> int:
        self.starts[key] = self.starts.get(key, 0) + 1
        self.running.add(key)
        return self.starts[key]

    def end(self, key: str) -> None:
        self.running.discard(key)

    def snapshot(self) -> tuple[dict[str, int], list[str]]:
        return dict(self.starts), sorted(self.running)


def run_task(job_dict: dict[str, Any], key: str, attempts, shared: str | None) -> dict[str, Any]:
    """A Ray task: the job with this task's CPUs as its threads, its artifacts packed for the driver."""
    import platform
    import shutil

    import ray

    from edgekit.cluster import transfer
    from edgekit.cluster.worker import run_job, set_threads

    ctx = ray.get_runtime_context()
    threads = max(int(ctx.get_assigned_resources().get("CPU", 1)), 1)
    set_threads(threads)  # max_calls=1: TensorFlow is not loaded yet
    attempt = ray.get(attempts.start.remote(key))
    # threads: TensorFlow's float sums (BatchNorm statistics, calibration ranges) depend on them, so the bytes match a
    # local export run with as many (TF_NUM_INTRAOP_THREADS=n OMP_NUM_THREADS=n)
    made_on = {
        "node": platform.node(),
        "ray_node_id": ctx.get_node_id(),
        "ip": ray.util.get_node_ip_address(),
        "threads": threads,
    }
    try:
        root = Path(shared) / key if shared else Path(tempfile.mkdtemp(prefix="edgekit-task-"))
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkerStorageError(f"{made_on['node']}: cannot write a scratch folder: {exc}") from exc
    try:
        result = run_job(Job.from_dict(job_dict), root)
        records = result.get("records", [])
        try:
            transfer.stamp_made_on(records, root, made_on)
            data = None if shared else transfer.pack(root, transfer.artifact_folders(records, root))
        except OSError as exc:
            raise WorkerStorageError(f"{made_on['node']}: cannot pack the artifacts: {exc}") from exc
    finally:
        if not shared:
            shutil.rmtree(root, ignore_errors=True)
        ray.get(attempts.end.remote(key))
    return {**result, "data": data, "root": str(root), "made_on": made_on, "attempt": attempt}


# --- the driver --------------------------------------------------------------------------------------------------
def task_error(exc: BaseException) -> str:
    """One line for a task that did not come back."""
    import ray

    if isinstance(exc, ray.exceptions.OutOfMemoryError):
        return f"out of memory on its node after {MAX_RETRIES + 1} attempts"
    if isinstance(exc, ray.exceptions.NodeDiedError | ray.exceptions.WorkerCrashedError):
        return f"its worker or node died {MAX_RETRIES + 1} times"
    if isinstance(exc, ray.exceptions.TaskCancelledError):
        return "cancelled"
    if isinstance(exc, ray.exceptions.RayTaskError):
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        return f"{type(cause).__name__}: {(str(cause).strip().splitlines() or [''])[-1][:300]}"
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"


def infeasible(jobs: list[Job], cpus: int) -> dict[int, str]:
    """The jobs (by index) no node can take (memory or CPUs beyond the largest node's), with the figures."""
    import ray

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    most_memory = max((n.get("memory", 0) for n in nodes), default=0)
    most_cpus = max((n.get("CPU", 0) for n in nodes), default=0)
    found = {}
    for i, job in enumerate(jobs):
        if job.memory_bytes > most_memory:
            found[i] = f"needs ~{job.memory_bytes / 1e9:.1f} GB; the largest node offers {most_memory / 1e9:.1f} GB"
        elif cpus > most_cpus:
            found[i] = f"--ray-cpus {cpus}: the largest node has {most_cpus:g} CPUs"
    return found


def submit(jobs: list[Job], cpus: int, shared: Path | None, attempts) -> dict[Any, tuple[Job, str]]:
    import ray

    task = ray.remote(max_calls=1)(run_task)  # a fresh worker per task: TensorFlow's threads and memory start anew
    refs = {}
    for job in jobs:
        key = f"{job.kind}-{uuid.uuid4().hex[:12]}"
        ref = task.options(
            num_cpus=cpus,
            memory=job.memory_bytes,
            max_retries=MAX_RETRIES,
            retry_exceptions=[WorkerStorageError],
            name=f"edgekit {job.kind} {job.name}",
        ).remote(job.to_dict(), key, attempts, str(shared) if shared else None)
        refs[ref] = (job, key)
    return refs


def run_on_ray(
    jobs: list[Job], out: Path, board: Board, address: str, cpus: int, shared: Path | None, pip: bool
) -> list[Outcome]:
    with contextlib.redirect_stdout(sys.stderr):  # Ray's own notices ("retrying...") never mix into --json
        return drive(jobs, out, board, address, cpus, shared, pip)


def drive(
    jobs: list[Job], out: Path, board: Board, address: str, cpus: int, shared: Path | None, pip: bool
) -> list[Outcome]:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from edgekit.cluster.transfer import receive

    connect(address, pip)
    try:
        check_workers(pip)
        here = NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)
        attempts = ray.remote(num_cpus=0)(Attempts).options(scheduling_strategy=here).remote()
        order = {id(job): i for i, job in enumerate(jobs)}
        done: dict[int, Outcome] = {}
        for i, cause in infeasible(jobs, cpus).items():  # Ray would keep them pending forever
            done[i] = Outcome(jobs[i], [], cause, EXIT_FAILURE)
            board.finished(done[i])
        refs = submit([j for j in jobs if order[id(j)] not in done], cpus, shared, attempts)
        retried: set[str] = set()
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
                starts, running = ray.get(attempts.snapshot.remote())
                for job, key in refs.values():
                    if starts.get(key, 0) > 1 and key not in retried:
                        retried.add(key)
                        board.retried(job.kind, job.name, "its node or worker died; Ray runs it again")
                for kind in board.totals:
                    board.running(kind, sum(1 for k in running if k.startswith(kind + "-")))
                for ref in ready:
                    job, key = refs[ref]
                    outcome = collect(ref, job, starts.get(key, 1), out, shared, receive)
                    done[order[id(job)]] = outcome
                    board.finished(outcome)
        except BaseException:  # ^C: cancel what has not finished; nothing partial was moved into out
            for ref in pending:
                ray.cancel(ref, force=True)
            raise
        return [done[i] for i in sorted(done)]
    finally:
        ray.shutdown()


def collect(ref, job: Job, starts: int, out: Path, shared: Path | None, receive) -> Outcome:
    import ray

    try:
        res = ray.get(ref)
    except (ray.exceptions.RayError, WorkerStorageError) as exc:
        return Outcome(job, [], task_error(exc), EXIT_FAILURE, max(starts, 1))
    records = res.get("records", [])
    if job.kind == GRAPH:  # compare's graph cache: file by file into this host's cache (out)
        for r in records:
            for rel, data in r.pop("graphs", {}).items():
                write_bytes_atomic(out / rel, data)
    elif records:
        records = receive(res["data"], res["root"], shared, out, records)
    return Outcome(job, records, res.get("error"), res.get("exit_code", 0), res["attempt"], res["made_on"])
