"""Edge TPU compatibility, following the compiler's published rules (hardware.md section 2).

Per op: does it map to the Edge TPU, and if not why. The compiler partitions once: the first op it cannot map and
every op after it run on the CPU. Parameters are cached on chip (about 6.9 MiB usable) in op order; what does not
fit streams over the link on every inference. parse_compiler_log() reads the real edgetpu_compiler log.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from edgekit.analyze.graph import Graph, OpInfo, load_graph

MIB = 1024 * 1024
PARAM_CACHE_BYTES = int(6.9 * MIB)  # usable on-chip parameter cache; the compiler log's "remaining" line tells

# Statuses as the compiler's Operator Count Status table words them.
MAPPED = "Mapped to Edge TPU"
UNSUPPORTED_DTYPE = "Operation is working on an unsupported data type"
UNSPECIFIED = "Operation is otherwise supported, but not mapped due to some unspecified limitation"
AFTER_PARTITION = "More than one subgraph is not supported"
BAD_RANK = "Tensor has unsupported rank (up to 3 innermost dimensions mapped)"
NOT_SUPPORTED = "Operation not supported"  # op type absent from the supported-ops table

# Supported op types (TFLite builtin names); limits are checked in _op_limit below.
SUPPORTED_OPS = {
    "ADD", "EXPAND_DIMS", "L2_NORMALIZATION", "LOGISTIC", "MAXIMUM", "MINIMUM", "MUL", "QUANTIZE", "RELU", "RELU6",
    "RELU_N1_TO_1", "AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D",
    "FULLY_CONNECTED", "UNIDIRECTIONAL_SEQUENCE_LSTM", "LSTM", "MEAN", "PACK", "PAD", "PRELU", "REDUCE_MAX",
    "REDUCE_MIN", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "SUB", "TANH", "SPACE_TO_DEPTH", "SOFTMAX",
    "SQUEEZE", "STRIDED_SLICE", "SPLIT", "SUM", "SLICE", "RSQRT", "SQUARED_DIFFERENCE", "TRANSPOSE_CONV",
}  # fmt: skip
# Known absent, with the issue that says so (the rest of the unsupported types get the generic reason).
KNOWN_UNSUPPORTED = {
    "DEPTH_TO_SPACE": "is not supported by the Edge TPU compiler (google-coral/edgetpu#386)",
    "TRANSPOSE": "is not supported by the Edge TPU compiler (google-coral/edgetpu#193)",
    "FLOOR_MOD": "is not supported by the Edge TPU compiler",
    "DEQUANTIZE": "(float output) runs on the CPU (google-coral/edgetpu#659): export with --io int8",
    "HARD_SWISH": "is not in the Edge TPU supported-ops table (build it from ReLU6, Add and Mul, which map)",
}
INT_TYPES = {"int8", "uint8"}


def _act_tensors(op: OpInfo):
    return [t for t in op.inputs if not t.const] + list(op.outputs)


def _rank_ok(shape: tuple[int, ...]) -> bool:
    return len(shape) <= 3 or all(d == 1 for d in shape[:-3])


def op_status(op: OpInfo) -> tuple[str, str]:
    """(status, reason) for one op considered on its own (the partition is applied by analyze_graph)."""
    if op.type == "edgetpu-custom-op":
        return MAPPED, "already compiled for the Edge TPU"
    if op.type not in SUPPORTED_OPS:
        why = KNOWN_UNSUPPORTED.get(op.type, "is not in the Edge TPU supported-ops table")
        return NOT_SUPPORTED, f"{op.type} {why}"
    acts = _act_tensors(op)
    if any(t.dynamic_beyond_batch for t in acts):
        return UNSPECIFIED, "tensor sizes must be constant at compile time (dynamic shape)"
    float_in = [t for t in op.inputs if not t.const and t.dtype not in INT_TYPES]
    if op.type == "QUANTIZE":
        pass  # float -> int8 at the model input is mapped
    elif float_in or any(t.dtype not in INT_TYPES for t in op.outputs):
        bad = (float_in or [t for t in op.outputs if t.dtype not in INT_TYPES])[0]
        return UNSUPPORTED_DTYPE, f"{bad.dtype} tensor {bad.name!r}: the Edge TPU needs full-integer (8-bit) tensors"
    if op.op_class in ("conv", "pointwise", "depthwise", "fc"):
        weights = [t for t in op.inputs if t.const and len(t.shape) >= 2]
        if any(t.dtype not in INT_TYPES for t in weights):
            return UNSUPPORTED_DTYPE, "weights are not quantized to 8 bits"
    for t in acts:
        if not _rank_ok(t.shape):
            return BAD_RANK, f"tensor {t.name!r} has shape {list(t.shape)}: only the 3 innermost dims may exceed 1"
    limit = _op_limit(op)
    if limit:
        return UNSPECIFIED, limit
    return MAPPED, ""


def _op_limit(op: OpInfo) -> str:
    """The per-op limitations of the supported-ops table; '' when the op is within them."""
    o = op.options
    t = op.type
    if t in ("AVERAGE_POOL_2D", "MAX_POOL_2D", "CONCATENATION") and o.get("fused_activation", "NONE") != "NONE":
        return f"{t} with a fused activation ({o['fused_activation']}) is not supported"
    if t == "CONCATENATION":
        consts = [i for i, x in enumerate(op.inputs) if x.const]
        if consts and (len(op.inputs) != 2 or consts != [1]):
            return "a constant input to CONCATENATION is only supported as the 2nd of 2 inputs (and all zeros)"
    if t in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        dh, dw = o.get("dilation", (1, 1))
        if dh != dw:
            return f"dilation must be the same in x and y (got {dh}x{dw})"
    if t == "FULLY_CONNECTED":
        if o.get("weights_format", 0) != 0:
            return "FULLY_CONNECTED needs the default weights format"
        if op.outputs and sum(d > 1 for d in op.outputs[0].shape) > 1:
            return f"FULLY_CONNECTED needs a 1-D output (got {list(op.outputs[0].shape)})"
    if t in ("MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN"):
        axes = next((x.values for x in op.inputs if x.const and x.values is not None), None)
        shape = op.inputs[0].shape if op.inputs else ()
        if axes is not None and shape:
            axes = [a % len(shape) for a in axes]
            if 0 in axes and shape[0] > 1:
                return f"{t} cannot reduce the batch dimension"
            if t == "MEAN" and len(shape) >= 2 and len(shape) - 1 in axes and shape[-1] % 4:
                return f"MEAN over the channel (z) axis needs a multiple of 4 channels (got {shape[-1]})"
    if t == "PACK" and o.get("axis", 1) == 0:
        return "PACK is not supported along the batch dimension"
    if t == "PAD":
        pads = next((x.values for x in op.inputs if x.const and x.values is not None), None)
        if pads and any(pads[:2]):
            return "PAD is not supported in the batch dimension"
    if t == "PRELU":
        alpha = next((x for x in op.inputs if x.const), None)
        if alpha is not None and sum(d > 1 for d in alpha.shape) > 1:
            return "PRELU needs a 1-D alpha (Keras: PReLU(shared_axes=[1, 2]))"
    if t == "SOFTMAX" and op.inputs:
        shape = op.inputs[0].shape
        if sum(d > 1 for d in shape) > 1 or (shape and shape[-1] > 16000):
            return "SOFTMAX is mapped only for 1-D inputs of at most 16000 elements"
    if t == "BIDIRECTIONAL_SEQUENCE_LSTM":
        return "only unidirectional LSTM is supported"
    return ""


def model_problems(graph: Graph) -> list[str]:
    """Reasons the whole model cannot go to the Edge TPU (each with what to do)."""
    problems = []
    if graph.precision != "int8":
        problems.append(
            f"the model is {graph.precision}, the Edge TPU runs only full-integer 8-bit models: "
            "export with --int8 --io int8"
        )
    dyn = [t for t in graph.dynamic_inputs if t.dynamic_beyond_batch]
    if dyn:
        names = ", ".join(t.name for t in dyn)
        problems.append(f"input {names} has a dynamic shape: export with a fixed --input-size")
    if any(not _rank_ok(t.shape) for t in graph.inputs):
        problems.append("batch size > 1 on a 4-D input is not supported: export with batch 1")
    return problems


def analyze_graph(graph: Graph, param_cache_bytes: int = PARAM_CACHE_BYTES) -> dict[str, Any]:
    """Per-op status with the one-time partition, the parameter cache split and the fallback list."""
    ops_out: list[dict[str, Any]] = []
    partition: dict[str, Any] | None = None
    cached = streamed = 0
    cache_full = False
    for op in graph.ops:
        if partition is None:
            status, reason = op_status(op)
            if status != MAPPED:
                partition = {"index": op.index, "op": op.type, "name": op.name, "reason": reason, "status": status}
        else:
            status = AFTER_PARTITION
            reason = (
                f"after the partition at op {partition['index']} ({partition['op']}): the compiler maps only the "
                "ops before the first one it cannot map"
            )
        on_tpu = status == MAPPED
        if on_tpu and op.weight_bytes:
            if not cache_full and cached + op.weight_bytes <= param_cache_bytes:
                cached += op.weight_bytes
            else:
                cache_full = True  # parameters are cached in op order: everything after the first miss streams
                streamed += op.weight_bytes
        ops_out.append(
            {
                "index": op.index,
                "op": op.type,
                "name": op.name,
                "device": "tpu" if on_tpu else "cpu",
                "status": status,
                "reason": reason,
            }  # fmt: skip
        )
    fallback = [{"op": o["op"], "index": o["index"], "reason": o["reason"]} for o in ops_out if o["device"] == "cpu"]
    tpu_ops = sum(o["device"] == "tpu" for o in ops_out)
    problems = model_problems(graph)
    warnings = []
    if any(t.dynamic and not t.dynamic_beyond_batch for t in graph.inputs):
        warnings.append(
            "the batch dimension is dynamic (-1): the Edge TPU delegate needs static-sized tensors, so pin batch 1 "
            "when exporting (keras.Input(batch_size=1)); analysed as batch 1"
        )
    return {
        "model": graph.path,
        "compatible": not problems and not fallback,
        "problems": problems,
        "warnings": warnings,
        "ops": ops_out,
        "total_ops": len(ops_out),
        "tpu_ops": tpu_ops,
        "cpu_ops": len(ops_out) - tpu_ops,
        "partition": partition,
        "fallback_ops": fallback,
        "subgraphs": 1 if tpu_ops else 0,
        "param_cache_bytes": param_cache_bytes,
        "on_chip_param_bytes": cached,
        "off_chip_param_bytes": streamed,
        "tpu_param_bytes": cached + streamed,
    }


def analyze_edgetpu(tflite_path: Path | str, param_cache_bytes: int = PARAM_CACHE_BYTES) -> dict[str, Any]:
    """Which ops of a .tflite would map to the Edge TPU, which fall back to the CPU and why."""
    return analyze_graph(load_graph(tflite_path), param_cache_bytes)


def fallback_lines(analysis: dict[str, Any], limit: int = 20) -> list[str]:
    """Human lines for `edgekit profile --target coral-*`: what runs on the CPU and why."""
    lines = [f"not runnable on the Edge TPU: {p}" for p in analysis.get("problems", [])]
    lines += [f"warning: {w}" for w in analysis.get("warnings", [])]
    part = analysis.get("partition")
    if part is None:
        if not lines:
            lines.append(f"all {analysis['total_ops']} ops map to the Edge TPU")
    else:
        after = analysis["cpu_ops"] - 1
        lines.append(
            f"partition at op {part['index']} {part['op']} ({part['name']}): {part['reason']}; "
            f"it and the {after} op(s) after it run on the CPU ({analysis['tpu_ops']} of {analysis['total_ops']} "
            "ops on the Edge TPU)"
        )
        fallback = analysis["fallback_ops"]
        for f in fallback[:limit]:
            why = "after the partition" if f["reason"].startswith("after the partition") else f["reason"]
            lines.append(f"  cpu: op {f['index']} {f['op']}: {why}")
        if len(fallback) > limit:
            lines.append(f"  ... and {len(fallback) - limit} more op(s) on the CPU")
    streamed = analysis.get("off_chip_param_bytes", 0)
    if streamed:
        lines.append(
            f"parameters: {analysis['on_chip_param_bytes'] / MIB:.2f} MiB cached on chip, {streamed / MIB:.2f} MiB "
            "stream over the link on every inference (the parameter cache holds about 6.9 MiB)"
        )
    return lines


# ---------------------------------------------------------------------------------------------------------------------
# edgetpu_compiler log

_SIZE_RE = re.compile(r"([\d.]+)\s*([KMG]i?B|B)", re.I)
_UNITS = {"b": 1, "kib": 1024, "kb": 1000, "mib": MIB, "mb": 1000**2, "gib": 1024**3, "gb": 1000**3}
_LOG_SIZES = {
    "On-chip memory used for caching model parameters": "on_chip_param_bytes",
    "On-chip memory remaining for caching model parameters": "on_chip_remaining_bytes",
    "Off-chip memory used for streaming uncached model parameters": "off_chip_param_bytes",
    "Input size": "input_size_bytes",
    "Output size": "output_size_bytes",
}
_LOG_COUNTS = {
    "Number of Edge TPU subgraphs": "subgraphs",
    "Total number of operations": "total_ops",
    "Number of operations that will run on Edge TPU": "tpu_ops",
    "Number of operations that will run on CPU": "cpu_ops",
}
_OP_ROW = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s+(\d+)\s+(\S.*?)\s*$")


def _to_bytes(text: str) -> int | None:
    m = _SIZE_RE.search(text)
    if not m:
        return None
    return int(round(float(m.group(1)) * _UNITS[m.group(2).lower()]))


def parse_compiler_log(text: str) -> dict[str, Any]:
    """Facts from an edgetpu_compiler log: memory split, subgraphs, op counts and the Operator Count Status table."""
    out: dict[str, Any] = {
        "compiler_version": None,
        "compiled": None,
        "input_model": None,
        "output_model": None,
        **{k: None for k in _LOG_SIZES.values()},
        **{k: None for k in _LOG_COUNTS.values()},
        "operators": [],
    }
    in_table = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if line.startswith("Edge TPU Compiler version"):
            out["compiler_version"] = line.rsplit(" ", 1)[-1]
        elif sep and key in _LOG_SIZES:
            out[_LOG_SIZES[key]] = _to_bytes(value)
        elif sep and key in _LOG_COUNTS:
            out[_LOG_COUNTS[key]] = int(re.sub(r"\D", "", value) or 0)
        elif sep and key == "Input model":
            out["input_model"] = value
        elif sep and key == "Output model":
            out["output_model"] = value
        elif "Compilation succeeded" in line or "compiled successfully" in line:
            out["compiled"] = True
        elif "Compilation failed" in line or line.startswith("ERROR"):
            out["compiled"] = False
        elif line.split()[:3] == ["Operator", "Count", "Status"]:
            in_table = True
        elif in_table:
            m = _OP_ROW.match(raw)
            if m:
                out["operators"].append({"op": m.group(1), "count": int(m.group(2)), "status": m.group(3)})
            elif not sep:
                in_table = False
    ops = out["operators"]
    out["mapped_ops"] = sum(o["count"] for o in ops if o["status"] == MAPPED)
    out["unmapped"] = [o for o in ops if o["status"] != MAPPED]
    return out
