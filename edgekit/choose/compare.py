"""`edgekit compare`: one row per model on one target and one runtime, every figure with its source.

A table ranks models on one runtime: the target's default (LiteRT on the Pis and the host, the Edge TPU on the Coral,
OpenVINO on the NPUs; edgekit.choose.lanes) unless --runtime / --format asks for another, and `--runtime all` gives one
table per runtime. Several targets (`--target rpi4,rpi5`) give one table per target. Models are zoo names or the
user's own files and export folders (edgekit.choose.usermodels); rows come from edgekit.choose.rows.

The result keeps the single-table keys (target, target_name, precision, input_size, rows, seconds: the first table)
and adds runtime, format and threads; "runtimes" ({runtime: table}) with `--runtime all`, "targets" ({target: its
result}) with several targets.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgekit.choose import report
from edgekit.choose.graphs import CACHE_VERSION, cache_root, cached_graph, derive_int8  # noqa: F401 (the API)
from edgekit.choose.lanes import Lane, choose_lanes
from edgekit.choose.rows import SOURCE_RANK, Table, files_row, input_size_for, keras_row, zoo_row  # noqa: F401
from edgekit.choose.usermodels import UserModel, looks_like_path, resolve_user_model
from edgekit.errors import UsageError
from edgekit.ioutil import write_bytes_atomic
from edgekit.models.registry import ModelSpec, default_models, get_spec

PRECISIONS = ("int8", "fp32")


@dataclass(frozen=True)
class CompareRequest:
    models: tuple[str, ...] = ()
    target: str = "host"  # one target id, or several: "rpi4,rpi5,coral-usb"
    precision: str | None = None  # None: int8 (what edge targets run)
    input_size: int | None = None
    num_classes: int = 1000
    profiles_dir: Path = Path("profiles")
    cache_dir: Path | None = None
    export_root: Path = Path("edgekit-out")
    saved_only: bool = False
    progress: Any = field(default=None, compare=False)  # callable(str) for "building X" lines
    runtime: str | None = None  # a runtime of the target, or "all" (None: the target's default)
    format: str | None = None  # the runtime that runs this artifact format
    threads: int | None = None  # None: the target's default
    bar: bool = False  # a progress bar on stderr (a terminal only)


# ---------------------------------------------------------------------------------------------------------------------
# Validation (before any work: one bad name processes none)


def resolve_models(names: tuple[str, ...] | list[str]) -> list[Any]:
    """The specs of the named zoo models (the notes' architectures when none); an unknown name fails them all."""
    return [c for c in resolve_candidates(names) if isinstance(c, ModelSpec)] if names else default_models()


def resolve_candidates(names: tuple[str, ...] | list[str]) -> list[ModelSpec | UserModel]:
    """Zoo specs and the user's files/folders, in the order given, without repeats."""
    if not names:
        return list(default_models())
    out: list[ModelSpec | UserModel] = []
    seen: set[str] = set()
    for name in names:
        # UsageError "unknown model 'x'; did you mean y?" before anything is built
        candidate = resolve_user_model(name) if looks_like_path(name) else get_spec(name)
        if candidate.name not in seen:
            seen.add(candidate.name)
            out.append(candidate)
    return out


def resolve_targets(value: str) -> list[Any]:
    from edgekit.hardware.targets import get_target

    ids = [t.strip() for t in str(value).split(",") if t.strip()]
    if not ids:
        raise UsageError("--target needs a target id (see `edgekit targets`)")
    targets = [get_target(t) for t in dict.fromkeys(ids)]
    return list({t.id: t for t in targets}.values())


def resolve_precision(target: Any, precision: str | None) -> str:
    precision = precision or "int8"
    if precision not in PRECISIONS:
        raise UsageError(f"compare takes --int8 or --fp32, not {precision}")
    if precision not in target.runtime.precisions:
        raise UsageError(
            f"{target.id} runs {'/'.join(target.runtime.precisions)} models, not {precision}: use --int8"
            if "int8" in target.runtime.precisions
            else f"{target.id} runs {'/'.join(target.runtime.precisions)} models, not {precision}"
        )
    return precision


def _load_saved(profiles_dir: Path, target: str) -> list[dict[str, Any]]:
    from edgekit.results.store import load_results_with_problems

    results, _problems = load_results_with_problems(profiles_dir, target)
    return results


@dataclass(frozen=True)
class _Plan:
    target: Any
    precision: str
    threads: int
    lanes: list[Lane]
    results: list[dict[str, Any]]


def _plan(target: Any, req: CompareRequest, candidates: list[Any]) -> _Plan:
    precision = resolve_precision(target, req.precision)
    lanes = choose_lanes(target, req.runtime, req.format)
    if req.threads is not None and req.threads < 1:
        raise UsageError("--threads must be at least 1")
    for c in candidates:
        if isinstance(c, ModelSpec):
            input_size_for(c, req.input_size)
    results = _load_saved(req.profiles_dir, target.id)
    if req.saved_only and not results:
        raise UsageError(
            f"no saved profiles for {target.id} in {Path(req.profiles_dir) / target.id}: fill it with "
            f"`edgekit profile MODEL --target {target.id}`, or drop --saved-only to predict on the spot"
        )
    return _Plan(target, precision, req.threads or target.runtime.default_threads, lanes, results)


# ---------------------------------------------------------------------------------------------------------------------
# Tables


def row_for(candidate: ModelSpec | UserModel, table: Table) -> dict[str, Any]:
    if isinstance(candidate, ModelSpec):
        return zoo_row(candidate, table)
    return keras_row(candidate, table) if candidate.kind == "keras" else files_row(candidate, table)


@contextmanager
def _bar(total: int, enabled: bool):
    """One tick per row, the current model in its description; on stderr, only on a terminal (transient)."""
    from edgekit import console

    if not enabled or not console.err_stream().isatty():
        yield lambda description: None, lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=console.err_console(), transient=True)  # fmt: skip
    with bar:
        task = bar.add_task("compare", total=total)
        yield lambda description: bar.update(task, description=description), lambda: bar.advance(task)


def _table(plan: _Plan, lane: Lane, req: CompareRequest, candidates: list[Any], tick: tuple) -> dict[str, Any]:
    describe, advance = tick
    table = Table(plan.target, lane, plan.precision, plan.threads, plan.results, req)
    t0 = time.perf_counter()
    rows = []
    for c in candidates:
        describe(f"{plan.target.id} {lane.runtime}: {c.name}")
        rows.append(row_for(c, table))
        advance()
    return {
        "target": plan.target.id,
        "target_name": plan.target.name,
        "runtime": lane.runtime,
        "format": lane.format,
        "formats": list(lane.formats),
        "threads": plan.threads,
        "precision": plan.precision,
        "input_size": req.input_size,
        "rows": rows,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def _target_result(tables: list[dict[str, Any]]) -> dict[str, Any]:
    """A target's result: its first table's keys, and every table by runtime when there are several."""
    out = {**tables[0], "seconds": round(sum(t["seconds"] for t in tables), 2)}
    if len(tables) > 1:
        out["runtimes"] = {t["runtime"]: t for t in tables}
    return out


def compare(req: CompareRequest) -> dict[str, Any]:
    """The comparison: validated first for every target (nothing is built if any name is wrong), then table by
    table; the first target's first table is the result's own rows."""
    targets = resolve_targets(req.target)
    candidates = resolve_candidates(req.models)
    plans = [_plan(t, req, candidates) for t in targets]
    total = sum(len(p.lanes) for p in plans) * len(candidates)
    by_target = {}
    with _bar(total, req.bar) as tick:
        for plan in plans:
            by_target[plan.target.id] = _target_result(
                [_table(plan, lane, req, candidates, tick) for lane in plan.lanes]
            )
    first = next(iter(by_target.values()))
    return {**first, "targets": by_target} if len(by_target) > 1 else first


def tables_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every table of a comparison, target by target, runtime by runtime."""
    out = []
    for per_target in (result.get("targets") or {result["target"]: result}).values():
        out += list((per_target.get("runtimes") or {per_target["runtime"]: per_target}).values())
    return out


def run_compare(
    req: CompareRequest,
    csv_path: Path | None = None,
    html_path: Path | None = None,
    plots_dir: Path | None = None,
    layers_model: str | None = None,
) -> dict[str, Any]:
    """`edgekit compare`: outputs checked before any work, then the tables and the files asked for (the command
    line prints the tables)."""
    report.check_outputs(csv_path, html_path, plots_dir)
    if layers_model is not None:
        names = [c.name for c in resolve_candidates(req.models)]
        wanted = layers_model if layers_model in names or looks_like_path(layers_model) else get_spec(layers_model).name
        if wanted not in names:
            raise UsageError(f"--layers {layers_model} is not among the compared models ({', '.join(names)})")
        layers_model = wanted
    result = compare(req)
    if csv_path is not None:
        from edgekit.choose.compare_report import csv_of_tables

        write_bytes_atomic(Path(csv_path), csv_of_tables(tables_of(result)).encode())
    if html_path is not None or plots_dir is not None:
        from edgekit.choose.compare_report import write_compare_report

        result["written"] = write_compare_report(tables_of(result), html_path, plots_dir, layers_model)
    return result


__all__ = ["CACHE_VERSION", "CompareRequest", "cache_root", "cached_graph", "compare", "derive_int8", "run_compare"]
