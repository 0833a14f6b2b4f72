"""compare's outputs: the console table, the CSV and the HTML report, one table per target and runtime.

Each table's title, each row (its runtime column) and each plot say the runtime the figures are for, so a ranking never
silently mixes LiteRT with ONNX Runtime. Plots and the HTML page are edgekit.choose.report's.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from edgekit.analyze.layernames import names_note
from edgekit.choose.report import meta_lines, plot_layers, plot_pareto, plot_precision, point, write_outputs

CSV_COLUMNS = (
    "model", "params", "params_in_notes", "macs", "size_fp32_mb", "size_int8_mb", "size_int8_source",
    "latency_median_ms", "latency_low_ms", "latency_high_ms", "latency_source", "energy_mj", "energy_source",
    "peak_memory_mb", "peak_memory_source", "accuracy", "accuracy_source", "fidelity_cosine", "use_case",
    "target", "runtime", "latency_runtime", "threads",
)  # fmt: skip


def _mb(fig: dict | None) -> float | None:
    value = (fig or {}).get("value")
    return round(value / 1e6, 3) if isinstance(value, (int, float)) else None


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    lat = row.get("latency_ms") or {}
    fid = row.get("fidelity") or {}
    return {
        "model": row["model"],
        "params": row["params"],
        "params_in_notes": row["params_in_notes"],
        "macs": row["macs"],
        "size_fp32_mb": _mb(row["size_fp32_bytes"]),
        "size_int8_mb": _mb(row["size_int8_bytes"]),
        "size_int8_source": row["size_int8_bytes"].get("source"),
        "latency_median_ms": lat.get("median"),
        "latency_low_ms": lat.get("low"),
        "latency_high_ms": lat.get("high"),
        "latency_source": lat.get("source"),
        "energy_mj": row["energy_mj"].get("value"),
        "energy_source": row["energy_mj"].get("source"),
        "peak_memory_mb": _mb(row["peak_memory_bytes"]),
        "peak_memory_source": row["peak_memory_bytes"].get("source"),
        "accuracy": row["accuracy"].get("value"),
        "accuracy_source": row["accuracy"].get("source"),
        "fidelity_cosine": fid.get("cosine"),
        "use_case": row["use_case"],
        "target": row.get("target"),
        "runtime": row.get("runtime"),
        "latency_runtime": (lat.get("runtime") or {}).get("name"),
        "threads": (lat.get("runtime") or {}).get("threads"),
    }


def _row_runtime(row: dict[str, Any]) -> str:
    """The runtime a row's latency is for: the table's, and the exact runtime of a saved result when it differs."""
    exact = ((row.get("latency_ms") or {}).get("runtime") or {}).get("name")
    if not row.get("latency_ms"):
        return "-"
    return row["runtime"] if exact in (None, row["runtime"]) else f"{row['runtime']} ({exact})"


def csv_text(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: "" if v is None else v for k, v in flat_row(r).items()} for r in rows)
    return buffer.getvalue()


def _num(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "-"


TABLE_COLUMNS = ("model", "params", "GMACs", "fp32 MB", "int8 MB", "latency ms", "band", "runtime", "mJ", "peak MB",
                 "top-1", "use case")  # fmt: skip


def table_title(table: dict[str, Any]) -> str:
    """A compare table's title: target, runtime, precision, threads and what the source marks mean."""
    return (
        f"{table['target']} on {table['runtime']} ({table['precision']}, {table['threads']} thread"
        f"{'s' if table['threads'] != 1 else ''}): (m) measured, (p) predicted, (pub) published"
    )


def table_rows(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Console rows; each figure is tagged (m)easured, (p)redicted or p(u)blished."""
    out = []
    for r in rows:
        lat = r.get("latency_ms") or {}
        tag = {"measured": " (m)", "predicted": " (p)", "emulated": " (e)", "published": " (pub)"}
        out.append(
            (
                r["model"],
                f"{r['params'] / 1e6:.2f} M" if r["params"] else "-",
                _num(r["macs"] / 1e9 if r["macs"] else None, ".2f"),
                _num(_mb(r["size_fp32_bytes"]), ".2f") + tag.get(r["size_fp32_bytes"].get("source"), ""),
                _num(_mb(r["size_int8_bytes"]), ".2f") + tag.get(r["size_int8_bytes"].get("source"), ""),
                _num(lat.get("median"), ".3g") + tag.get(lat.get("source"), ""),
                f"{_num(lat.get('low'), '.3g')}-{_num(lat.get('high'), '.3g')}",
                _row_runtime(r),
                _num(r["energy_mj"].get("value"), ".3g") + tag.get(r["energy_mj"].get("source"), ""),
                _num(_mb(r["peak_memory_bytes"]), ".1f"),
                _num(r["accuracy"].get("value"), ".3f") + tag.get(r["accuracy"].get("source"), ""),
                r["use_case"],
            )
        )
    return out


def points_from_compare(table: dict[str, Any]) -> list[dict[str, Any]]:
    points = []
    for r in table["rows"]:
        lat = r.get("latency_ms") or {}
        size = r["size_int8_bytes" if r["precision"] == "int8" else "size_fp32_bytes"].get("value")
        points.append(point(r["target"], r["model"], r["precision"], lat, size, r["accuracy"], r["model"]))
    return points


def pairs_from_compare(table: dict[str, Any]) -> list[tuple[str, dict, dict]]:
    """(model, fp32 latency, int8 latency) where both are known."""
    pairs = []
    for r in table["rows"]:
        fp32 = (r["by_precision"].get("fp32") or {}).get("latency_ms")
        int8 = (r["by_precision"].get("int8") or {}).get("latency_ms")
        if fp32 and int8 and fp32.get("median") and int8.get("median"):
            pairs.append((r["model"], fp32, int8))
    return pairs


def csv_of_tables(tables: list[dict[str, Any]]) -> str:
    """Every table's rows in one CSV; the target and runtime columns tell the tables apart."""
    return csv_text([row for table in tables for row in table["rows"]])


def table_label(table: dict[str, Any]) -> str:
    return f"{table['target']} on {table['runtime']}"


def compare_figures(table: dict[str, Any], layers_model: str | None, stem: str = "") -> list[tuple[str, str, bytes]]:
    """One table's plots, each titled with its target and runtime."""
    label, points, prec = table_label(table), points_from_compare(table), table["precision"]
    figures = [
        (f"{stem}pareto-size", f"{label}: median latency vs file size ({prec})", plot_pareto(points, "size_mb", label)),
        (f"{stem}pareto-accuracy", f"{label}: median latency vs top-1 accuracy ({prec})",
         plot_pareto(points, "accuracy", label)),
        (f"{stem}int8-vs-fp32", f"{label}: INT8 vs FP32", plot_precision(pairs_from_compare(table), label)),
    ]  # fmt: skip
    rows = [r for r in table["rows"] if r.get("layers")]
    chosen = next((r for r in rows if r["model"] == layers_model), None) if layers_model else None
    if chosen is None and rows:
        chosen = min(rows, key=lambda r: (r.get("latency_ms") or {}).get("median") or float("inf"))
    if chosen is not None:
        src = (chosen.get("latency_ms") or {}).get("source")
        note = names_note(chosen["layers"])
        caption = f"{chosen['model']} on {label}: per-layer time ({src})" + (f"; {note}" if note else "")
        figures.append((f"{stem}layers-{Path(chosen['model']).name}", caption,
                        plot_layers(chosen["model"], chosen["layers"], label, src)))  # fmt: skip
    return [f for f in figures if f[2] is not None]


def write_compare_report(tables: list[dict[str, Any]], html_path: Path | None, plots_dir: Path | None,
                         layers_model: str | None) -> list[str]:  # fmt: skip
    """The HTML report and/or PNGs: per table its rows and plots (file stems prefixed <target>-<runtime>- when
    there are several tables)."""
    several = len(tables) > 1
    figures, sections, extra = [], [], []
    for table in tables:
        stem = f"{table['target']}-{table['runtime']}-" if several else ""
        figures += compare_figures(table, layers_model, stem)
        sections.append((table_title(table), list(TABLE_COLUMNS), table_rows(table["rows"])))
        basis = sorted({r.get("from") or "" for r in table["rows"]})
        extra.append(f"{table_label(table)} ({table['target_name']}), {table['precision']}, {table['threads']} "
                     f"threads; row sources: " + "; ".join(basis))  # fmt: skip
    title = "edgekit compare: " + ", ".join(dict.fromkeys(table_label(t) for t in tables))
    return write_outputs(title, meta_lines(extra), sections, figures, html_path, plots_dir)


def layer_rows(table: dict[str, Any], model: str) -> tuple[str, tuple[str, ...], list[tuple[str, ...]]]:
    """`compare --layers M` on the console: M's slowest layers in this table, by Keras layer name (title, columns,
    rows); the title says so when the names are the runtime's."""
    from edgekit.analyze.layernames import layer_label

    row = next((r for r in table["rows"] if r["model"] == model), None)
    layers = (row or {}).get("layers") or []
    note = names_note(layers)
    title = f"{model} on {table_label(table)}: slowest layers" + (f" ({note})" if note else "")
    if not layers:
        title += ": none (no per-layer figures for this row)"
    cells = [
        (layer_label(x), _num(x.get("time_ms"), ".3g"), _num(x.get("percent"), ".1f"), str(x.get("name", ""))[:60])
        for x in layers
    ]
    return title, ("layer (op)", "ms", "%", "runtime op name"), cells
