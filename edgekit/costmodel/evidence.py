"""Leave-one-out and leave-one-model-out evidence for the cost model, the fitted constants file, and the report
`edgekit fit` prints.

Leave-one-out: each deployed published row is predicted by a fit that never saw it (edgekit.costmodel.fit.fit
without the row). Leave-one-model-out: every row of one architecture (all targets, runtimes, precisions and widths)
is held out together, so each is predicted by a fit that never saw that model: the question a user with their own
model asks. A row's band is [median / e^q, median x e^q], where q is the 90th percentile of the |log error| of the
*other* rows of the same target kind (and runtime) under the same scheme, leaving out the rows of its own model in
leave-one-model-out: a row's own error never sets its band. The constants edgekit predicts with (fitted.json) are
the fit on every deployed row, with q from all of a kind's leave-one-model-out errors. A row whose conditions are in
doubt (rows.NOT_FITTED) fits nothing and sets no band, but is held out and counted like the others; every
multi-threaded CPU row also records what one thread would read (lomo_one_thread_ratio), the condition a source most
often leaves unstated.
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
import statistics
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

from edgekit.costmodel.constants import FITTED_JSON, MIN_BAND, PACKAGE_DIR, PUBLISHED_CSV, package_relative
from edgekit.costmodel.fit import fit
from edgekit.costmodel.instructions import evaluate_instruction_rows
from edgekit.costmodel.kinds import fitted_target, hook
from edgekit.costmodel.predict import predict_graph
from edgekit.costmodel.reference import in_zoo
from edgekit.costmodel.rows import NOT_FITTED, PublishedRow, published_rows, row_graph, row_precision_hint
from edgekit.hardware.targets import get_target, load_targets
from edgekit.ioutil import write_json_atomic

# Where `edgekit fit` writes its evidence unless told (--results): the benchmarks/ folder of the checkout it runs in.
RESULTS_JSON = Path("benchmarks") / "results" / "fit.json"
INSTRUCTIONS_JSON = Path("benchmarks") / "results" / "fit-instructions.json"
BAND_QUANTILE = 0.9


def _kind(target: str) -> str:
    return get_target(target).kind


def _predict(
    row: PublishedRow, constants: dict[str, Any], band_log: float, threads: int | None = None
) -> dict[str, Any]:
    """The row's prediction by `constants`, at the row's threads unless `threads` says otherwise."""
    runtime = row.family or get_target(row.target).runtime.name
    target = fitted_target(get_target(row.target), constants, runtime, row.graph_precision)
    target = replace(target, uncertainty=math.exp(band_log))
    graph = row_graph(row)
    res = predict_graph(graph, target, threads=threads or row.threads, precision_hint=row_precision_hint(row, graph),
                        allow_any_format=True, fitted=False)  # fmt: skip
    return res["latency_ms"]


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return MIN_BAND
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return max(MIN_BAND, xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


UNCONSTRAINED = "nothing: no other row constrains it (the target file's constants, fitted on published rows)"


MIN_PEERS = 3  # fewer held-out rows of a runtime than this: its band comes from every runtime of the target kind


def band_log(records: list[dict[str, Any]], kind: str, runtime: str | None, ratio: str = "ratio") -> float:
    """log half-width of the band: the BAND_QUANTILE of the held-out |log error| of the rows of this target kind and
    runtime (a runtime's misses say little about another's), or of the whole kind when the runtime has few rows.
    A row whose conditions are in doubt (rows.NOT_FITTED) sets no band, as it fits no constant; its own error still
    counts in every figure summarize() reports.
    ratio: the records' field holding the scheme's prediction / published ratio."""
    held = [r for r in records if r.get("held_out") and r["kind"] == kind and r.get("fitted", True)]
    peers = [r for r in held if r["deployed_runtime"] == runtime]
    chosen = peers if len(peers) >= MIN_PEERS else held
    return round(_quantile([abs(math.log(r[ratio])) for r in chosen], BAND_QUANTILE), 4)


def _carried(constants: dict[str, Any], row: PublishedRow) -> str | None:
    target = get_target(row.target)
    cell = hook(target, "fitted_cell")(constants, row.family or target.runtime.name, row.graph_precision)
    return UNCONSTRAINED if cell is None else cell["carried_over_from"]


def cross_validate(rows: list[PublishedRow]) -> list[dict[str, Any]]:
    """One record per published row: leave-one-out prediction for deployed rows, full-fit prediction for context."""
    deployed = [r for r in rows if r.family]
    records = []
    for row in deployed:
        constants = fit([r for r in deployed if r is not row], row.target)
        point = _predict(row, constants, 0.0)
        role = "held out (leave-one-out)" + ("" if row.fitted else f"; fits nothing: {NOT_FITTED[row.key]}")
        records.append(_record(row, point, constants, role=role))
    for rec in records:  # a row whose fit had nothing else to rest on was not predicted blind: not held out
        rec["held_out"] = rec["carried_over_from"] != UNCONSTRAINED
        if not rec["held_out"]:
            rec["role"] = "not held out (the only row of its kind)"
    for rec in records:  # the band of each row from the other rows of its kind (and runtime)
        rec["band_log"] = band_log([o for o in records if o is not rec], rec["kind"], rec["deployed_runtime"])
    for rec, row in zip(records, deployed, strict=True):
        band = _predict(row, rec.pop("_constants"), rec["band_log"])
        rec["low_ms"], rec["high_ms"] = band["low"], band["high"]
        rec["inside_band"] = band["low"] <= row.latency_ms <= band["high"]
        rec["band_width"] = round(band["high"] / band["low"], 3)
    _leave_one_model_out(deployed, records)
    for row in rows:
        if not row.family:
            constants = fit(deployed, row.target)
            point = _predict(row, constants, 0.0)
            rec = _record(row, point, constants, role="context (runtime edgekit does not deploy)")
            rec.pop("_constants")
            records.append(rec)
    return records


LOMO = "lomo_"  # prefix of the leave-one-model-out fields of a record


def _leave_one_model_out(deployed: list[PublishedRow], records: list[dict[str, Any]]) -> None:
    """Each row predicted by a fit without any row of its architecture; band from the other models' errors."""
    for row, rec in zip(deployed, records, strict=True):
        constants = fit([r for r in deployed if r.model != row.model], row.target)
        rec[LOMO + "predicted_ms"] = round(_predict(row, constants, 0.0)["median"], 3)
        rec[LOMO + "ratio"] = round(rec[LOMO + "predicted_ms"] / row.latency_ms, 3)
        rec[LOMO + "carried_over_from"] = _carried(constants, row)
        if row.threads > 1:  # what a source that ran one thread (and said otherwise, or nothing) would read
            one = _predict(row, constants, 0.0, threads=1)["median"]
            rec[LOMO + "one_thread_ratio"] = round(one / row.latency_ms, 3)
        rec[LOMO + "_constants"] = constants
    for rec in records:
        others = [o for o in records if o["model"] != rec["model"]]
        rec[LOMO + "band_log"] = band_log(others, rec["kind"], rec["deployed_runtime"], LOMO + "ratio")
    for row, rec in zip(deployed, records, strict=True):
        band = _predict(row, rec.pop(LOMO + "_constants"), rec[LOMO + "band_log"])
        rec[LOMO + "low_ms"], rec[LOMO + "high_ms"] = band["low"], band["high"]
        rec[LOMO + "inside_band"] = band["low"] <= row.latency_ms <= band["high"]
        rec[LOMO + "band_width"] = round(band["high"] / band["low"], 3)


def _record(row: PublishedRow, point: dict[str, Any], constants: dict[str, Any], role: str) -> dict[str, Any]:
    return {
        "target": row.target, "kind": _kind(row.target), "model": row.model, "input": row.input,
        "precision": row.precision, "runtime": row.runtime, "deployed_runtime": row.family, "threads": row.threads,
        "published_ms": row.latency_ms, "predicted_ms": round(point["median"], 3),
        "alpha": row.alpha, "graph": row.graph_model, "zoo_model": in_zoo(row.graph_model),
        "ratio": round(point["median"] / row.latency_ms, 3), "role": role, "fitted": row.fitted,
        "carried_over_from": _carried(constants, row), "source": row.source, "notes": row.notes,
        "_constants": constants,
    }  # fmt: skip


# The bars: on unseen rows of unseen models (leave-one-model-out) and on the zoo's models (leave-one-out).
BARS = {
    "unseen_models": {"median_abs_error": 0.15, "worst_factor": 1.6, "band_coverage": 0.8, "median_band_width": 2.0},
    "zoo_models": {"median_abs_error": 0.12, "worst_factor": 1.5, "band_coverage": 0.8, "median_band_width": 2.0},
}


def _stats(rs: list[dict[str, Any]], prefix: str = "") -> dict[str, Any]:
    if not rs:
        return {"n": 0}
    ratios = [r[prefix + "ratio"] for r in rs]
    out = {
        "n": len(rs),
        "median_abs_error": round(statistics.median(abs(x - 1) for x in ratios), 4),
        "worst_factor": round(max(max(x, 1 / x) for x in ratios), 3),
    }
    if all(prefix + "inside_band" in r for r in rs):
        out["band_coverage"] = round(sum(r[prefix + "inside_band"] for r in rs) / len(rs), 3)
        out["median_band_width"] = round(statistics.median(r[prefix + "band_width"] for r in rs), 3)
    return out


def _breakdown(held: list[dict[str, Any]], prefix: str = "") -> dict[str, Any]:
    by: dict[str, Any] = {"all_deployed": _stats(held, prefix), "by_target": {}, "by_runtime": {}}
    for key, field in (("by_target", "target"), ("by_runtime", "deployed_runtime")):
        for value in sorted({r[field] for r in held}):
            by[key][value] = _stats([r for r in held if r[field] == value], prefix)
    return by


def _beyond(rs: list[dict[str, Any]], factor: float) -> list[dict[str, Any]]:
    """The rows off by more than `factor` under leave-one-model-out, with what one thread would read."""
    return [
        {
            "row": f"{r['target']}/{r['model']}@{r['input']}/{r['precision']}/{r['runtime']}",
            "threads": r["threads"], "ratio": r[LOMO + "ratio"], "one_thread_ratio": r.get(LOMO + "one_thread_ratio"),
            "fitted": r["fitted"],
        }
        for r in rs
        if max(r[LOMO + "ratio"], 1 / r[LOMO + "ratio"]) > factor
    ]  # fmt: skip


def _meets(stats: dict[str, Any], bar: dict[str, float]) -> bool:
    return bool(stats.get("n")) and all(
        stats.get(k, math.inf) >= v if k == "band_coverage" else stats.get(k, math.inf) <= v for k, v in bar.items()
    )


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Leave-one-out figures per target and runtime (all_deployed, by_target, by_runtime), the same for
    leave-one-model-out, the zoo's models under leave-one-out, context rows, and whether each bar is met."""
    held = [r for r in records if r.get("held_out")]
    by = _breakdown(held)
    by["context"] = _stats([r for r in records if not r["deployed_runtime"]])
    lomo = [r for r in held if LOMO + "ratio" in r]
    by["leave_one_model_out"] = _breakdown(lomo, LOMO)
    by["leave_one_model_out"]["beyond_worst_bar"] = _beyond(lomo, BARS["unseen_models"]["worst_factor"])
    by["zoo_models"] = _stats([r for r in held if r["zoo_model"]])
    by["bars"] = {
        "unseen_models": {**BARS["unseen_models"], "met": _meets(by["leave_one_model_out"]["all_deployed"],
                                                                 BARS["unseen_models"])},
        "zoo_models": {**BARS["zoo_models"], "met": _meets(by["zoo_models"], BARS["zoo_models"])},
    }  # fmt: skip
    return by


def fitted_constants(rows: list[PublishedRow], records: list[dict[str, Any]]) -> dict[str, Any]:
    """The constants edgekit predicts with: each target fitted on every deployed row, band from its kind's LOO."""
    deployed = [r for r in rows if r.family]
    with_rows = {r.target for r in deployed}
    kinds_with_rows = {_kind(t) for t in with_rows}
    bands = {kind: band_log(records, kind, None, LOMO + "ratio") for kind in sorted(kinds_with_rows)}
    targets = {}
    for tid, target in sorted(load_targets().items()):
        # A target without rows keeps its own file's constants unless its kind's transfer (one chip in all of them):
        # another CPU board's do not (the host).
        if tid in with_rows or (hook(target, "CONSTANTS_TRANSFER") and target.kind in kinds_with_rows):
            targets[tid] = hook(target, "with_bands")(
                fit(deployed, tid),
                target,
                lambda runtime, kind=target.kind: band_log(records, kind, runtime, LOMO + "ratio"),
            )
    return {"generated_by": "edgekit fit --write", "band_quantile": BAND_QUANTILE, "bands": bands, "targets": targets}


def provenance() -> dict[str, Any]:
    from importlib import metadata

    def version(p: str) -> str:
        try:
            return metadata.version(p)
        except metadata.PackageNotFoundError:
            return "absent"

    try:  # the commit of the checkout edgekit runs from, if it is one (an installed wheel: none)
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PACKAGE_DIR, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit or None,
        "machine": f"{platform.machine()} {platform.processor() or platform.node()}",
        "versions": {
            p: version(p)
            for p in ("edgekit", "tensorflow-cpu", "keras", "ai-edge-litert", "onnx", "torch", "timm", "openvino")
        },
    }


def run_fit(write: bool = False, build: bool = False, results: Path | None = None) -> dict[str, Any]:
    """Cross-validate every published row; with write=True also regenerate fitted.json; with results, write the
    evidence there. Returns the report."""
    rows = published_rows()
    if build:
        for row in rows:
            row_graph(row, build=True)
    records = cross_validate(rows)
    report = {
        **provenance(),
        "command": "edgekit fit" + (" --write" if write else ""),
        "published_csv": package_relative(PUBLISHED_CSV),
        "summary": summarize(records),
        "rows": records,
    }
    if write:
        write_json_atomic(FITTED_JSON, fitted_constants(rows, records))
    report["results_path"] = str(results) if results is not None else None
    if results is not None:
        write_json_atomic(Path(results), report)
    return report


def instruction_report(fit: bool = False, results: Path | None = None) -> dict[str, Any]:
    """Cycles-per-instruction predictions of the Pi rows (fitted on INSN_FITTED_ROWS when fit=True), written to
    results (INSTRUCTIONS_JSON under the current folder when not given)."""
    rows = evaluate_instruction_rows(fit=fit)
    held = [r for r in rows if r["role"] == "held out" and r["ratio"] is not None]
    report = {
        **provenance(),
        "command": "edgekit fit --instructions" + (" --write" if fit else ""),
        "summary": {
            "held_out": len(held),
            "median_abs_error": round(statistics.median(abs(r["ratio"] - 1) for r in held), 4) if held else None,
            "worst_factor": round(max(max(r["ratio"], 1 / r["ratio"]) for r in held), 3) if held else None,
        },
        "rows": rows,
    }
    path = Path(results or INSTRUCTIONS_JSON)
    report["results_path"] = str(path)
    write_json_atomic(path, report)
    return report


def report_lines(report: dict[str, Any]) -> list[str]:
    head = (f"{'target':14} {'model':14} {'prec':5} {'runtime':19} {'published':>9} {'predicted':>9} {'ratio':>6} "
            f"{'band':>15}  role")  # fmt: skip
    lines = [head]
    for r in report["rows"]:
        band = f"{r['low_ms']:.3g}-{r['high_ms']:.3g}" if "low_ms" in r else "-"
        mark = "" if r.get("inside_band", True) else " OUTSIDE"
        carried = f" [carried over: {r['carried_over_from']}]" if r["carried_over_from"] else ""
        lines.append(
            f"{r['target']:14} {r['model'] + '@' + str(r['input']):14} {r['precision']:5} {r['runtime']:19} "
            f"{r['published_ms']:>9.2f} {r['predicted_ms']:>9.2f} {r['ratio']:>6.2f} {band:>15}  "
            f"{r['role'].split(' (')[0]}{mark}{carried}"
        )
    summary = report["summary"]
    for label, s in (("leave-one-out", summary["all_deployed"]),
                     ("leave-one-model-out", summary["leave_one_model_out"]["all_deployed"]),
                     ("leave-one-out, zoo models", summary["zoo_models"])):  # fmt: skip
        lines.append(
            f"{label}, deployed runtimes: n={s['n']} median |error| {s['median_abs_error']:.1%}, worst "
            f"{s['worst_factor']:.2f}x, {s['band_coverage']:.0%} inside their band, "
            f"median band {s['median_band_width']:.2f}x"
        )
    for b in summary["leave_one_model_out"]["beyond_worst_bar"]:
        one = f"; at one thread {b['one_thread_ratio']:.2f}" if b["one_thread_ratio"] else ""
        lines.append(f"beyond the bar's worst factor: {b['row']} at {b['threads']} thread(s) {b['ratio']:.2f}{one}")
    return lines
