"""Edge TPU cost model: the compiler's op rules and one partition at the first unmappable op, a roofline on the
systolic array, the ~6.9 MiB on-chip parameter cache (a model beyond it streams its weights every inference) and the
input/output transfers; the CPU part (ops after the cut) costed by the CPU model.

Fitted (`edgekit fit`; every Coral target shares the chip): invoke overhead and array efficiency scale shared by
every board, and each board's effective streaming rate (link efficiency) from its rows over the cache; least squares
on the log ratios of the Edge TPU rows of every Coral target. Over the cache the whole model streams (see
streamed_param_bytes).
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

from edgekit.analyze import Graph, load_graph
from edgekit.costmodel.common import OpCost, Request, accel_op_ms, per_graph
from edgekit.costmodel.cpu import cpu_op_ms
from edgekit.costmodel.rows import PublishedRow, golden, predict_row
from edgekit.errors import UsageError
from edgekit.hardware.targets import Efficiency, Target, get_target

KIND = "edgetpu"
LABEL = "Edge TPU"
ACCELERATOR = True
ARTIFACT_FORMAT = "edgetpu"  # results are filed as the edgetpu export, predicted from the int8 .tflite beside it
CONSTANTS_TRANSFER = True  # one chip in every Coral target
DELEGATE = "edgetpu"  # the device runner times it through the Edge TPU delegate
LINK_MBS = {"usb2": 60.0, "usb3": 500.0, "pcie": 500.0}  # payload rates: 480 Mb/s; 5 Gb/s 8b/10b; Gen2 x1 8b/10b
# A systolic array; depthwise convolutions use a fraction of it.
TPU_REL = {"pointwise": 1.0, "conv": 1.0, "depthwise": 0.3, "fc": 1.0, "matmul": 1.0}


def link_mbs(target: Target, link: str | None = None) -> float:
    acc = target.accelerator
    assert acc is not None
    if link is None or link == acc.link:
        return acc.link_bandwidth_mbs
    if link not in LINK_MBS:
        raise UsageError(f"unknown link {link!r}; choose one of {', '.join(LINK_MBS)}")
    return LINK_MBS[link]


def streamed_param_bytes(analysis: dict[str, Any], compiler_log: dict[str, Any] | None) -> tuple[int, str]:
    """Parameter bytes streamed over the link per inference, and how that is known.

    The streaming rule: a model whose parameters fit the cache streams nothing; one that overflows it streams all
    of its Edge TPU parameters every inference, the cached part included. That is how every published figure over
    the cache behaves at one effective rate per board (VGG16, DenseNet-121, ResNet-152 V2 and Inception v4 on the
    USB Accelerator, 461-545 MB/s of whole-model bytes; streaming only the excess leaves DenseNet-121, 0.7 MiB over,
    at 6 ms against 20). A current compiler's log says what it streams: then its off-chip figure is used.
    """
    if compiler_log and compiler_log.get("off_chip_param_bytes") is not None:
        streamed = int(compiler_log["off_chip_param_bytes"])
        return streamed, "off-chip parameters from the edgetpu_compiler log beside the model"
    if not analysis["off_chip_param_bytes"]:
        return 0, "all parameters fit the cache"
    return (
        analysis["tpu_param_bytes"],
        "parameters overflow the cache: all of them stream every inference (the rule the published rows over the "
        "cache follow)",
    )


def predict(graph: Graph, target: Target, request: Request) -> dict[str, Any]:
    threads, link, compiler_log = request.threads, request.link, request.edgetpu_log
    from edgekit.analyze.edgetpu import analyze_graph

    acc, cost = target.accelerator, target.accelerator_cost
    assert acc is not None and cost is not None
    if graph.compiled_edgetpu:
        raise UsageError(
            f"{Path(graph.path).name} is already compiled for the Edge TPU (its ops are hidden in one custom op): "
            "predict from the int8 .tflite it was compiled from"
        )
    cache_bytes = int(acc.param_cache_mib * 1024 * 1024)
    analysis = per_graph("edgetpu", graph, cache_bytes, lambda: analyze_graph(graph, cache_bytes))
    if analysis["problems"]:
        raise UsageError(f"{target.id} cannot run {Path(graph.path).name}: {analysis['problems'][0]}")
    on_tpu = {o["index"] for o in analysis["ops"] if o["device"] == "tpu"}
    costs = [
        OpCost(op, "tpu", accel_op_ms(op, target, "int8"))
        if op.index in on_tpu
        else OpCost(op, "cpu", cpu_op_ms(op, target, threads, "int8"))
        for op in graph.ops
    ]
    bw = link_mbs(target, link) * 1e6 * cost.link_efficiency
    # Tensors crossing the link: into the TPU segment (model input) and out of it (its outputs or the cut).
    tpu_ops = [op for op in graph.ops if op.index in on_tpu]
    produced = {t.name for op in tpu_ops for t in op.outputs}
    consumed_in = {t.name: t for op in tpu_ops for t in op.act_inputs if t.name not in produced}
    cpu_consumed = {t.name for op in graph.ops if op.index not in on_tpu for t in op.act_inputs}
    graph_out = {t.name for t in graph.outputs}
    crossing_out = [t for op in tpu_ops for t in op.outputs if t.name in cpu_consumed or t.name in graph_out]
    io_bytes = sum(t.nbytes for t in consumed_in.values()) + sum(t.nbytes for t in crossing_out)
    transfer_ms = io_bytes / bw * 1e3 if tpu_ops else 0.0
    streamed, stream_note = streamed_param_bytes(analysis, compiler_log)
    tpu_compute_ms = sum(c.ms for c in costs if c.device == "tpu")
    accel_ms = tpu_compute_ms + (cost.invoke_overhead_us * 1e-3 if tpu_ops else 0.0)
    cpu_ms = sum(c.ms for c in costs if c.device == "cpu") + (target.cpu_cost.invoke_overhead_us * 1e-3)
    stream_ms = streamed / bw * 1e3
    total = accel_ms + cpu_ms + transfer_ms + stream_ms
    split = {
        "accelerator_ops": len(tpu_ops),
        "cpu_ops": len(graph.ops) - len(tpu_ops),
        "accelerator_ms": round(accel_ms, 4),
        "cpu_ms": round(cpu_ms, 4),
        "transfer_ms": round(transfer_ms + stream_ms, 4),
        "io_transfer_ms": round(transfer_ms, 4),
        "param_streaming_ms": round(stream_ms, 4),
        "on_chip_param_bytes": analysis["on_chip_param_bytes"],
        "off_chip_param_bytes": analysis["off_chip_param_bytes"],
        "streamed_param_bytes": streamed,
        "streamed_param_bytes_range": [streamed, streamed],  # one figure now: the streaming rule, or the log's
        "param_cache_bytes": analysis["param_cache_bytes"],
        "tpu_param_bytes": analysis["tpu_param_bytes"],
        "streaming_basis": stream_note,
        "link": link or acc.link,
    }
    basis = (
        f"Edge TPU roofline: {acc.peak_int8_tops:g} TOPS int8 x per-class efficiency + {cost.op_overhead_us:g} us/op "
        f"+ {cost.invoke_overhead_us:g} us/inference; one partition at the first unmappable op "
        f"({len(tpu_ops)}/{len(graph.ops)} ops on the TPU); {acc.param_cache_mib:g} MiB parameter cache, "
        f"{stream_note}; streaming over {split['link']} at {bw / 1e6:.0f} MB/s effective; CPU part on "
        f"{target.cpu.model} with {threads} thread(s)"
    )
    return {
        "total_ms": total,
        "costs": costs,
        "split": split,
        "fallback_ops": analysis["fallback_ops"],
        # Dynamic power follows the TPU's compute time (waiting on the link or the host draws little).
        "busy": {"accelerator": tpu_compute_ms / total if total else 0.0, "cpu": cpu_ms / total if total else 0.0},
        "basis": basis,
        "device": f"{acc.name} over {split['link']}",
        "analysis": analysis,
    }


# ---------------------------------------------------------------------------------------------------------------------
# Hooks (edgekit.costmodel.kinds)


def artifact_sources(path: Path) -> tuple[Path, dict[str, Any] | None]:
    """The int8 .tflite to predict from, and the edgetpu_compiler log beside it (an edgetpu export folder)."""
    from edgekit.analyze.edgetpu import parse_compiler_log

    twin = path.parent / "model.tflite"
    if path.name.endswith("_edgetpu.tflite") and twin.is_file():
        path = twin  # the compiled file hides its ops in one custom op: the export keeps the model it came from
    log = path.parent / "edgetpu_compiler.log"
    if not log.is_file():
        return path, None
    parsed = parse_compiler_log(log.read_text(errors="replace"))
    return path, parsed if parsed.get("off_chip_param_bytes") is not None else None


def measure_here(path: Path, req: Any, target: Target) -> dict[str, Any]:
    """The host runners would time the CPU: an Edge TPU is measured through the delegate instead."""
    raise UsageError(
        f"an Edge TPU is measured by the device runner with its delegate: edgekit profile {path} "
        f"--host $USER@localhost --target {target.id}"
    )


def apply_constants(target: Target, constants: dict[str, Any], runtime: str, precision: str) -> Target:
    acc = constants.get("accelerator")
    if not acc or target.accelerator_cost is None:
        return target
    cost = target.accelerator_cost
    if "efficiency_scale" in acc:
        scale = acc["efficiency_scale"]
        cost = replace(cost, efficiency=Efficiency(**{k: round(min(1.0, v * scale), 4) for k, v in TPU_REL.items()}))
    link = acc.get("link_efficiency", {})
    link = link.get(target.id) if isinstance(link, dict) else link
    cost = replace(cost, **{k: acc[k] for k in ("invoke_overhead_us",) if k in acc})
    if link is not None:
        cost = replace(cost, link_efficiency=link)
    return replace(target, accelerator_cost=cost)


def _streams(row: PublishedRow) -> bool:
    """Whether the row's model overflows the parameter cache (its figure then constrains the board's link)."""
    from edgekit.analyze.edgetpu import analyze_graph
    from edgekit.costmodel.rows import row_graph

    acc = get_target(row.target).accelerator
    assert acc is not None
    return bool(analyze_graph(row_graph(row), int(acc.param_cache_mib * 1024 * 1024))["off_chip_param_bytes"])


def fit_constants(rows: list[PublishedRow], target: Target) -> dict[str, Any]:
    """Invoke overhead and array efficiency shared by every Coral board (one chip), and each board's effective
    streaming rate (link efficiency) from its own rows over the cache, minimising the squared log errors of every
    Edge TPU row. A board with no row over the cache takes another's rate, and says so."""
    rows = [r for r in rows if get_target(r.target).kind == KIND]
    acc = dict(_fit(rows) or {})  # a copy: the fit is cached
    links = acc.pop("links", {})
    carried = None
    if target.id in links:
        acc["link_efficiency"] = links[target.id]
    elif links:
        donor = sorted(links)[0]
        acc["link_efficiency"] = links[donor]
        carried = f"{donor} streaming rate (no row of {target.id} over the parameter cache)"
    return {"accelerator": acc, "rows": [r.label for r in rows], "carried_over_from": carried}


def _fit(rows: list[PublishedRow]) -> dict[str, Any] | None:
    return _fit_rows(tuple(rows))


@cache
def _fit_rows(rows: tuple[PublishedRow, ...]) -> dict[str, Any] | None:
    """The fit of `rows` (cached: leave-one-out fits every target of the kind on the same rows)."""
    if not rows:
        return None
    base = {r.target: get_target(r.target) for r in rows}
    start = base[rows[0].target].accelerator_cost
    assert start is not None
    boards = sorted({r.target for r in rows if _streams(r)})
    params = {"invoke_overhead_us": start.invoke_overhead_us, "efficiency_scale": 0.5,
              **{f"link:{b}": start.link_efficiency for b in boards}}  # fmt: skip
    bounds = {"invoke_overhead_us": (1.0, 20000.0), "efficiency_scale": (0.01, 1.0)}
    free = list(params)[: min(len(params), len(rows))]

    def constants(p: dict[str, float]) -> dict[str, Any]:
        links = {k.split(":", 1)[1]: v for k, v in p.items() if k.startswith("link:")}
        return {"accelerator": {"invoke_overhead_us": p["invoke_overhead_us"],
                                "efficiency_scale": p["efficiency_scale"], "link_efficiency": links}}  # fmt: skip

    def loss(p: dict[str, float]) -> float:
        c = constants(p)
        return sum(math.log(predict_row(r, apply_constants(base[r.target], c, "edgetpu", "int8")) / r.latency_ms) ** 2
                   for r in rows)  # fmt: skip

    for _ in range(4):
        for name in free:
            lo, hi = bounds.get(name, (0.05, 1.0))
            params[name] = golden(lambda v, n=name: loss({**params, n: v}), math.log(lo), math.log(hi))
    out: dict[str, Any] = {k: round(v, 4) for k, v in params.items() if not k.startswith("link:")}
    out["links"] = {k.split(":", 1)[1]: round(v, 4) for k, v in params.items() if k.startswith("link:")}
    return out


def edgetpu_fallback_lines(path: Path, target: Target) -> list[str]:
    """The lines `edgekit profile --target coral-*` prints: which ops fall back to the CPU and why."""
    from edgekit.analyze.edgetpu import analyze_graph, fallback_lines

    acc = target.accelerator
    cache = int((acc.param_cache_mib if acc else 6.9) * 1024 * 1024)
    return fallback_lines(analyze_graph(load_graph(path), cache))
