"""Rendering of saved profiles, and the plots and HTML page compare shares (edgekit.choose.compare_report): PNG
plots and one self-contained HTML file.

Plots are drawn with matplotlib (the `report` extra), imported only here and only when a plot is asked for. The HTML
embeds every PNG as a base64 data URI and links nothing, so it opens from disk without a network.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any

from edgekit._version import __version__
from edgekit.analyze.layernames import layer_label, names_note
from edgekit.choose.facts import latency_from_result, profile_accuracy
from edgekit.errors import UsageError, require
from edgekit.ioutil import write_bytes_atomic

MARKERS = {"measured": ("o", "tab:blue"), "predicted": ("s", "tab:orange"), "emulated": ("^", "tab:gray")}

# ---------------------------------------------------------------------------------------------------------------------
# Output checks (before any work: a folder that cannot be written fails first)


def check_output_file(path: Path | None, option: str) -> None:
    if path is None:
        return
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    _check_dir(parent, option)


def _check_dir(folder: Path, option: str) -> None:
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{option}: cannot write into {folder}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option}: cannot write into {folder}: {existing} is not writable")


def check_outputs(csv_path: Path | None, html_path: Path | None, plots_dir: Path | None) -> None:
    check_output_file(csv_path, "--csv")
    check_output_file(html_path, "--html")
    if plots_dir is not None:
        if Path(plots_dir).exists() and not Path(plots_dir).is_dir():
            raise UsageError(f"--plots {plots_dir} is a file, not a folder")
        _check_dir(Path(plots_dir), "--plots")
    if html_path is not None or plots_dir is not None:
        require("matplotlib", "report")


# ---------------------------------------------------------------------------------------------------------------------
# Points: what the plots draw, from a comparison or from saved profiles


def point(target: str, model: str, precision: str, lat: dict, size: Any, acc: dict | None, label: str) -> dict:
    return {
        "target": target,
        "model": model,
        "label": label,
        "precision": precision,
        "source": lat.get("source"),
        "median": lat.get("median"),
        "low": lat.get("low"),
        "high": lat.get("high"),
        "size_mb": size / 1e6 if isinstance(size, (int, float)) else None,
        "accuracy": (acc or {}).get("value"),
        "accuracy_source": (acc or {}).get("source"),
    }


def points_from_profiles(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    points = []
    for res in results:
        if res.get("status") != "ok" or not (res.get("latency_ms") or {}).get("median"):
            continue
        acc = profile_accuracy(res)
        label = f"{res['model']} {res['format']}-{res['precision']}"
        lat = latency_from_result(res)
        points.append(point(res["target"], res["model"], res["precision"], lat, res.get("size_bytes"), acc, label))
    return points


def pairs_from_profiles(results: list[dict[str, Any]], target: str) -> list[tuple[str, dict, dict]]:
    by_key: dict[tuple[str, str], dict[str, dict]] = {}
    for res in results:
        if res.get("target") == target and res.get("status") == "ok" and (res.get("latency_ms") or {}).get("median"):
            by_key.setdefault((res["model"], res["format"]), {})[res["precision"]] = latency_from_result(res)
    return [(f"{m} {f}", p["fp32"], p["int8"]) for (m, f), p in sorted(by_key.items()) if "fp32" in p and "int8" in p]


# ---------------------------------------------------------------------------------------------------------------------
# Plots (PNG bytes)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    return plt


def _plain_log_ticks(axis) -> None:
    """Tick labels as 3, 10, 30 rather than 3x10^0."""
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda v, _pos: f"{v:g}")
    axis.set_major_formatter(fmt)
    axis.set_minor_formatter(fmt)


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def pareto_front(points: list[dict], x: str, higher_x_better: bool) -> list[dict]:
    """Points no other point beats on both x and latency (lower latency is better)."""
    usable = [p for p in points if p.get(x) is not None and p.get("median")]
    front = []
    for p in usable:
        dominated = any(
            q is not p
            and q["median"] <= p["median"]
            and (q[x] >= p[x] if higher_x_better else q[x] <= p[x])
            and (q["median"] < p["median"] or q[x] != p[x])
            for q in usable
        )
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: p[x])


def plot_pareto(points: list[dict], x: str, target: str) -> bytes | None:
    """Latency against size (x='size_mb') or accuracy (x='accuracy'); measured and predicted drawn differently,
    the predicted band (and the measured spread) as error bars, the Pareto front as a step line."""
    usable = [p for p in points if p.get(x) is not None and p.get("median")]
    if not usable:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for source, (marker, color) in MARKERS.items():
        group = [p for p in usable if p["source"] == source]
        if not group:
            continue
        xs, ys = [p[x] for p in group], [p["median"] for p in group]
        low = [max(p["median"] - (p["low"] or p["median"]), 0) for p in group]
        high = [max((p["high"] or p["median"]) - p["median"], 0) for p in group]
        ax.errorbar(xs, ys, yerr=[low, high], fmt=marker, color=color, ecolor=color, elinewidth=1, capsize=3,
                    markerfacecolor=color if source == "measured" else "white", markersize=7,
                    label=f"{source} ({'min-p99 spread' if source == 'measured' else 'cost-model band'})")  # fmt: skip
        for p in group:
            ax.annotate(p["label"], (p[x], p["median"]), textcoords="offset points", xytext=(5, 4), fontsize=7)
    front = pareto_front(usable, x, higher_x_better=(x == "accuracy"))
    if len(front) > 1:
        ax.step([p[x] for p in front], [p["median"] for p in front], where="post", color="tab:green", alpha=0.6,
                linestyle="--", label="Pareto front")  # fmt: skip
    ax.set_yscale("log")
    _plain_log_ticks(ax.yaxis)
    if x == "size_mb":
        ax.set_xscale("log")
        _plain_log_ticks(ax.xaxis)
        ax.set_xlabel("model file size (MB)")
    else:
        ax.set_xlabel("top-1 accuracy (published ImageNet unless measured)")
    ax.set_ylabel("median latency (ms, log)")
    ax.set_title(f"{target}: latency vs {'size' if x == 'size_mb' else 'accuracy'}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def plot_precision(pairs: list[tuple[str, dict, dict]], target: str) -> bytes | None:
    """INT8 against FP32 median latency per model, with their bands; predicted bars hatched."""
    if not pairs:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(pairs) + 2), 4.5))
    width = 0.38
    for i, (_name, fp32, int8) in enumerate(pairs):
        for j, (lat, color, prec) in enumerate(((fp32, "tab:red", "fp32"), (int8, "tab:blue", "int8"))):
            err = [[max(lat["median"] - (lat.get("low") or lat["median"]), 0)],
                   [max((lat.get("high") or lat["median"]) - lat["median"], 0)]]  # fmt: skip
            ax.bar(i + (j - 0.5) * width, lat["median"], width, color=color, alpha=0.8, yerr=err, capsize=3,
                   hatch="//" if lat.get("source") == "predicted" else None, edgecolor="black", linewidth=0.5,
                   label=prec if i == 0 else None)  # fmt: skip
        ratio = fp32["median"] / int8["median"]
        ax.annotate(f"{ratio:.2f}x", (i, max(fp32["median"], int8["median"])), ha="center", fontsize=7,
                    textcoords="offset points", xytext=(0, 8))  # fmt: skip
    ax.set_xticks(range(len(pairs)), [p[0] for p in pairs], rotation=30, ha="right", fontsize=8)
    ax.set_yscale("log")
    _plain_log_ticks(ax.yaxis)
    ax.set_ylabel("median latency (ms, log)")
    ax.set_title(f"{target}: INT8 vs FP32 (hatched: predicted; label: fp32/int8 speedup)")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    return _png(fig)


def plot_layers(model: str, layers: list[dict], target: str, source: str | None) -> bytes | None:
    if not layers:
        return None
    plt = _pyplot()
    top = layers[:12][::-1]
    fig, ax = plt.subplots(figsize=(7.5, 0.35 * len(top) + 1.5))
    labels = [layer_label(layer) for layer in top]  # the Keras layer (op type), else the runtime's op name
    ax.barh(range(len(top)), [layer.get("time_ms") or 0 for layer in top], color="tab:purple")
    ax.set_yticks(range(len(top)), labels, fontsize=7)
    ax.set_xlabel(f"time per inference (ms, {source or 'unknown source'})")
    note = names_note(layers)
    ax.set_title(f"{model} on {target}: slowest layers" + (f"\n({note})" if note else ""), fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


# ---------------------------------------------------------------------------------------------------------------------
# HTML


def _html_table(columns: list[str] | tuple[str, ...], rows: list) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;font-size:13px}"
    "td,th{border:1px solid #ccc;padding:3px 6px;text-align:left}th{background:#f0f0f0}img{max-width:100%;"
    "border:1px solid #eee;margin:8px 0}figure{margin:1em 0}figcaption{font-size:13px;color:#555}"
    ".meta{font-size:13px;color:#555}"
)


def render_html(title: str, meta: list[str], tables: list[tuple[str, list, list]], figures: list[tuple]) -> str:
    """figures: (file stem, caption, png bytes); every image inline as a data URI."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]  # fmt: skip
    parts += [f"<p class='meta'>{html.escape(line)}</p>" for line in meta]
    for heading, columns, rows in tables:
        parts.append(f"<h2>{html.escape(heading)}</h2>{_html_table(columns, rows)}")
    parts.append("<h2>Plots</h2>")
    for _stem, caption, png in figures:
        data = base64.b64encode(png).decode()
        parts.append(f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{html.escape(caption)}</figcaption></figure>")  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts)


def write_outputs(title: str, meta: list[str], tables: list, figures: list, html_path: Path | None,
                  plots_dir: Path | None) -> list[str]:  # fmt: skip
    """Write the HTML file and/or the PNGs atomically; returns the paths written."""
    written = []
    try:
        if plots_dir is not None:
            for stem, _caption, png in figures:
                path = Path(plots_dir) / f"{stem}.png"
                write_bytes_atomic(path, png)
                written.append(str(path))
        if html_path is not None:
            write_bytes_atomic(Path(html_path), render_html(title, meta, tables, figures).encode())
            written.append(str(html_path))
    except OSError as exc:
        raise UsageError(f"cannot write the report: {exc.strerror or exc} ({exc.filename or ''})") from exc
    return written


def meta_lines(extra: list[str]) -> list[str]:
    from edgekit.results.record import utc_now_iso

    return [
        f"edgekit {__version__}, {utc_now_iso()}.",
        "Every figure says where it came from: measured (run on that machine), predicted (edgekit's cost model, "
        "with its band) or published (ImageNet top-1 of the trained weights, as their authors report).",
        *extra,
    ]


def write_profiles_report(results: list[dict[str, Any]], html_path: Path | None, plots_dir: Path | None,
                          layers_model: str | None) -> list[str]:  # fmt: skip
    """`edgekit report --html`: the saved profiles' table and, per target, the Pareto charts and INT8 vs FP32."""
    from edgekit.results.table import REPORT_COLUMNS, report_row

    points = points_from_profiles(results)
    figures = []
    for target in sorted({p["target"] for p in points}):
        mine = [p for p in points if p["target"] == target]
        figures += [
            (f"{target}-pareto-size", f"{target}: median latency vs file size", plot_pareto(mine, "size_mb", target)),
            (f"{target}-pareto-accuracy", f"{target}: median latency vs top-1 accuracy",
             plot_pareto(mine, "accuracy", target)),
            (f"{target}-int8-vs-fp32", f"{target}: INT8 vs FP32", plot_precision(pairs_from_profiles(results, target),
                                                                                 target)),
        ]  # fmt: skip
    chosen = [r for r in results if r.get("layers") and (layers_model is None or r.get("model") == layers_model)]
    if chosen:
        best = min(chosen, key=lambda r: SOURCE_ORDER.get(r.get("source"), 9))
        runtime = (best.get("runtime") or {}).get("name") or best["format"]
        name = f"{best['model']} {best['format']}-{best['precision']} ({runtime})"
        figures.append((f"layers-{best['target']}-{best['model']}-{best['format']}-{best['precision']}",
                        f"{name} on {best['target']}: per-layer time ({best.get('source')})",
                        plot_layers(name, best["layers"], best["target"], best.get("source"))))  # fmt: skip
    rows = [[report_row(r)[c] for c in REPORT_COLUMNS] for r in results]
    tables = [("Saved profiles", list(REPORT_COLUMNS), rows)]
    figures = [f for f in figures if f[2] is not None]
    return write_outputs("edgekit report", meta_lines([]), tables, figures, html_path, plots_dir)


SOURCE_ORDER = {"measured": 0, "predicted": 1, "emulated": 2}


def report_profiles_html(
    profiles_dir: Path, target: str | None, html_path: Path | None, plots_dir: Path | None, layers_model: str | None
) -> list[str]:
    """`edgekit report --html/--plots`; an empty store is bad input: say how to fill it, or how to predict."""
    from edgekit.results.store import load_results

    check_outputs(None, html_path, plots_dir)
    results = [r for r in load_results(Path(profiles_dir), target) if r.get("status") == "ok"]
    if not results:
        where = Path(profiles_dir) / target if target else Path(profiles_dir)
        t = target or "T"
        raise UsageError(
            f"no saved profiles in {where}: fill it with `edgekit profile MODEL --target {t}` (measured where it "
            f"runs, predicted otherwise), or predict on the spot with `edgekit compare --target {t} --html F`"
        )
    return write_profiles_report(results, html_path, plots_dir, layers_model)
