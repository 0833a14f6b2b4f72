"""The driver's view of many jobs: one progress bar per job kind (done / running / retried / failed), a line per
finished job, and the summary at the end (done, retried, failed with its one-line cause)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from edgekit import console
from edgekit.cluster.jobs import Outcome


class Board:
    """One rich bar per job kind on stderr (silent when stderr is not a terminal; the job lines always show)."""

    def __init__(self, totals: dict[str, int]):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.totals = totals
        self.counts = {kind: Counter() for kind in totals}
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console.err_console(),
            disable=not console.err_stream().isatty(),
        )
        self.tasks = {kind: self.bar.add_task(kind, total=n) for kind, n in totals.items()}
        self._draw()

    def __enter__(self) -> Board:
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def _draw(self) -> None:
        for kind, task in self.tasks.items():
            c = self.counts[kind]
            finished = c["done"] + c["failed"]
            text = f"{kind}: {c['done']} done, {c['running']} running, {c['retried']} retried, {c['failed']} failed"
            self.bar.update(task, description=text, completed=finished)

    def running(self, kind: str, n: int) -> None:
        self.counts[kind]["running"] = n
        self._draw()

    def retried(self, kind: str, name: str, why: str) -> None:
        self.counts[kind]["retried"] += 1
        console.info(f"retrying {kind} {name}: {why}")
        self._draw()

    def finished(self, outcome: Outcome) -> None:
        kind = outcome.job.kind
        failed = outcome.state == "failed"
        self.counts[kind]["failed" if failed else "done"] += 1
        where = f" on {outcome.made_on['node']}" if outcome.made_on else ""
        line = f"failed: {outcome.cause()}" if failed else "done"
        console.info(f"{kind} {outcome.job.name}{where}: {line}")
        self._draw()


def summary_rows(outcomes: list[Outcome]) -> list[tuple[str, ...]]:
    return [
        (o.job.kind, o.job.name, o.state, str(o.attempts), (o.made_on or {}).get("node", ""), o.cause())
        for o in outcomes
    ]


def print_summary(outcomes: list[Outcome]) -> None:
    """The table of jobs and one count line, on stderr (stdout holds the command's own result)."""
    counts = Counter(o.state for o in outcomes)
    for o in outcomes:
        if o.state != "done":
            tries = f" after {o.attempts} attempts" if o.attempts > 1 else ""
            cause = f": {o.cause()}" if o.state == "failed" else ""
            console.info(f"{o.state} {o.job.kind} {o.job.name}{tries}{cause}")
    n, done, retried, failed = len(outcomes), counts["done"], counts["retried"], counts["failed"]
    console.info(f"{n} jobs: {done} done, {retried} retried (then done), {failed} failed")


def failed_record(outcome: Outcome) -> dict[str, Any]:
    """A job that produced no records (it failed before any artifact): one record saying so, as export's own
    failed records do, so --json lists every job."""
    job = outcome.job
    return {
        "model": job.model,
        "format": ",".join(job.formats) if job.formats else None,
        "input_size": job.input_size,
        "status": "failed",
        "error": outcome.error,
        "attempts": outcome.attempts,
    }


def all_records(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    records = []
    for o in outcomes:
        if o.records:
            for r in o.records:
                extra = {"made_on": o.made_on} if o.made_on else {}
                records.append({**r, **extra, **({"attempts": o.attempts} if o.attempts > 1 else {})})
        else:
            records.append(failed_record(o))
    return records
