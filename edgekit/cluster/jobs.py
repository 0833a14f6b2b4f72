"""The jobs of one command: a model x input size (x format, where a cluster runs them apart) each, what one job
needs, and what came of it. Plain data: a job crosses to a local process as JSON and to a Ray task as a dict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from edgekit.errors import UsageError

EXPORT, TRAIN, GRAPH = "export", "train", "graph"  # graph: a model's FP32 graph for compare


@dataclass
class Job:
    kind: str  # export | train
    model: str
    input_size: int | None
    formats: tuple[str, ...] | None  # None: the command's own set (export's default formats; train: none)
    options: dict[str, Any]  # the rest of api.export's / api.train's keyword arguments
    memory_bytes: int = 0

    @property
    def name(self) -> str:
        """How the summary and the progress lines call this job: model@size[:formats]."""
        size = f"@{self.input_size}" if self.input_size else ""
        return f"{self.model}{size}" + (f":{','.join(self.formats)}" if self.formats else "")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Job:
        return cls(**{**d, "formats": tuple(d["formats"]) if d.get("formats") else None})


@dataclass
class Outcome:
    """What came of one job: its records (export: one per artifact; train: the manifest), or the cause it failed."""

    job: Job
    records: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None  # one line
    exit_code: int = 0
    attempts: int = 1
    made_on: dict[str, Any] | None = None

    @property
    def state(self) -> str:
        if self.error or any(r.get("status") == "failed" for r in self.records):
            return "failed"
        return "retried" if self.attempts > 1 else "done"

    def cause(self) -> str:
        if self.error:
            return self.error
        failed = [r for r in self.records if r.get("status") == "failed"]
        return "; ".join(f"{r.get('format')}: {r.get('error')}" for r in failed)


def parse_sizes(value: str | None) -> list[int | None]:
    """--input-size 160,224 -> [160, 224]; none given -> [None] (each model's own)."""
    if value is None:
        return [None]
    sizes = []
    for part in value.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 8:
            raise UsageError(f"--input-size takes sizes of at least 8 px, comma separated (got '{value}')")
        sizes.append(int(part))
    if not sizes:
        raise UsageError("--input-size needs at least one size")
    return list(dict.fromkeys(sizes))


def model_names(models: list[str] | None, everything: bool) -> list[str]:
    """The models named, or every zoo model with --all (not both; at least one)."""
    if everything and models:
        raise UsageError("give model names or --all, not both")
    if everything:
        from edgekit.models.registry import list_models

        return [s.name for s in list_models()]
    if not models:
        raise UsageError("name a model (or several), or use --all")
    return list(dict.fromkeys(models))


def export_jobs(
    models: list[str], sizes: list[int | None], formats: tuple[str, ...] | None, options: dict[str, Any], split: bool
) -> list[Job]:
    """One job per model x size, or per model x size x format where split (a cluster runs the formats apart; each
    format then builds its model and calibration set again, which parallel workers repay)."""
    from edgekit.cluster.memory import export_memory_bytes

    calib = int(options.get("calib_size", 200))
    groups: list[tuple[str, ...] | None] = [(f,) for f in formats] if split and formats else [formats]
    jobs = []
    for model in models:
        for size in sizes:
            for group in groups:
                memory = export_memory_bytes(model, size, group, calib)
                jobs.append(Job(EXPORT, model, size, group, options, memory))
    return jobs


def train_jobs(models: list[str], size: int | None, options: dict[str, Any]) -> list[Job]:
    from edgekit.cluster.memory import train_memory_bytes

    return [Job(TRAIN, m, size, None, options, train_memory_bytes(m, size)) for m in dict.fromkeys(models)]


def separable_formats(formats: tuple[str, ...] | None, precision: str) -> tuple[str, ...] | None:
    """The formats an export will make, named, so a cluster can run each as its own job (None: keep them together:
    "all" and the default set are resolved here; an unknown name is left for export's own message)."""
    from edgekit.exporting.formats import default_formats, format_names
    from edgekit.exporting.formats import formats as table

    names = list(formats) if formats else list(default_formats())
    explicit = bool(formats) and "all" not in names  # as export: named formats must offer the precision
    if "all" in names:
        names = list(format_names())
    rows = table()
    if any(n not in rows for n in names):
        return formats
    return tuple(n for n in dict.fromkeys(names) if explicit or precision in rows[n].precisions)


def graph_jobs(models: list[str], input_size: int | None, num_classes: int) -> list[Job]:
    """compare --ray: one job per model whose FP32 graph (TensorFlow's conversion, the slow part of a compare) is
    not in the local cache yet; compare itself then runs here on the cached graphs."""
    from edgekit.choose.compare import resolve_models
    from edgekit.choose.graphs import cache_root
    from edgekit.choose.rows import input_size_for
    from edgekit.cluster.memory import export_memory_bytes

    graphs = cache_root() / "graphs"
    jobs = []
    for spec in resolve_models(models):
        size = input_size_for(spec, input_size)
        if not list(graphs.glob(f"{spec.name}-{size}px-{num_classes}c-*.json")):
            memory = export_memory_bytes(spec.name, size, ("tflite",))
            jobs.append(Job(GRAPH, spec.name, size, None, {"num_classes": num_classes}, memory))
    return jobs
