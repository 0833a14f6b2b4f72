"""Run a command's jobs where asked (this process, --jobs N local processes, --ray ADDRESS) with the progress bars,
then the summary; the callers render their own results from the outcomes."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from edgekit.cluster.jobs import Job, Outcome
from edgekit.errors import UsageError


@dataclass
class Where:
    """Where the jobs run: --jobs, --ray, --ray-cpus, --ray-shared, --ray-pip."""

    jobs: int = 1
    ray: str | None = None
    ray_cpus: int = 1
    ray_shared: Path | None = None
    ray_pip: bool = False

    def check(self) -> None:
        if self.jobs < 1:
            raise UsageError("--jobs must be at least 1")
        if self.ray and self.jobs > 1:
            raise UsageError("--jobs runs local processes; with --ray the cluster decides: drop one")
        if not self.ray and (self.ray_shared or self.ray_pip or self.ray_cpus != 1):
            raise UsageError("--ray-cpus, --ray-shared and --ray-pip go with --ray ADDRESS")
        if self.ray_cpus < 1:
            raise UsageError("--ray-cpus must be at least 1")
        if self.ray_shared is not None and not self.ray_shared.is_dir():
            raise UsageError(f"--ray-shared: {self.ray_shared} is not a folder (it must be mounted on every node)")


def run_jobs(jobs: list[Job], out: Path, where: Where) -> list[Outcome]:
    from edgekit.cluster.local import run_parallel, run_sequential
    from edgekit.cluster.summary import Board, print_summary

    where.check()
    with Board(dict(Counter(j.kind for j in jobs))) as board:
        if where.ray:
            from edgekit.cluster.raybackend import run_on_ray

            outcomes = run_on_ray(jobs, out, board, where.ray, where.ray_cpus, where.ray_shared, where.ray_pip)
        elif where.jobs > 1:
            outcomes = run_parallel(jobs, out, board, where.jobs)
        else:
            outcomes = run_sequential(jobs, out, board)
    print_summary(outcomes)
    return outcomes
