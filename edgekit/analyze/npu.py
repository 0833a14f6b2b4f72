"""Intel NPU (OpenVINO NPU plugin) compatibility: static shapes, compute precision, what falls back.

Facts used (hardware.md section 3, openvino docs npu-device.rst): the plugin compiles static shapes only; the
hardware computes in FP16 (INT8 / mixed models are accepted and run their quantized layers in INT8); there is no
automatic CPU fallback inside the NPU plugin: an op its compiler rejects makes compilation fail unless the model runs
under HETERO:NPU,CPU, which is what the "cpu" device of an op below means.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.analyze.graph import Graph, OpInfo, load_graph
from edgekit.errors import UsageError

# Data types the NPU computes in; others (fp64, 64-bit integer arithmetic, strings) go to the CPU under HETERO.
NPU_DTYPES = {"float32", "float16", "bfloat16", "int8", "uint8", "int32", "int4", "uint4", "bool"}
SHAPE_OPS = {"ShapeOf", "Shape", "Reshape", "Squeeze", "Unsqueeze", "Gather", "Concat", "Convert"}


def compute_precision(graph: Graph) -> str:
    """What the NPU computes in: int8 for quantized models, else fp16 (FP32 models are executed in FP16)."""
    return "int8" if graph.precision == "int8" else "fp16"


def static_shape_problem(graph: Graph, batch_pinned: bool = False) -> str | None:
    """A dynamic input dim: the NPU compiles none. batch_pinned: only one beyond the batch counts (edgekit's device
    runner reshapes a dynamic batch to 1 or --batch before compiling, as benchmark_app's -shape does; a height or
    width it cannot guess)."""
    dyn = [t for t in graph.dynamic_inputs if t.dynamic_beyond_batch or not batch_pinned]
    if not dyn:
        return None
    names = ", ".join(f"{t.name} {t.to_dict()['shape']}" for t in dyn)
    return (
        f"input {names} has a dynamic shape but the Intel NPU compiles static shapes only: reshape it to a static "
        "shape (openvino: model.reshape({name: [1, H, W, 3]})) or export with --input-size"
    )


def op_device(op: OpInfo, used: set[str] | None = None) -> tuple[str, str]:
    """used: names of the tensors something reads (or the graph returns); an output nobody reads, such as
    MaxPool-8's int64 indices, is not computed and so does not send the op to the CPU."""
    if op.op_class == "custom":
        return "cpu", f"custom op {op.type} is unknown to the NPU compiler"
    outputs = [t for t in op.outputs if used is None or t.name in used]
    bad = [t for t in list(op.act_inputs) + outputs if t.dtype not in NPU_DTYPES]
    if bad and op.type not in SHAPE_OPS:
        return "cpu", f"{bad[0].dtype} arithmetic is not executed on the NPU (runs on the CPU under HETERO:NPU,CPU)"
    return "npu", ""


def analyze_npu_graph(graph: Graph) -> dict[str, Any]:
    problems = [p for p in [static_shape_problem(graph)] if p]
    used = {t.name for op in graph.ops for t in op.inputs} | {t.name for t in graph.outputs}
    ops = []
    for op in graph.ops:
        device, reason = op_device(op, used)
        ops.append({"index": op.index, "op": op.type, "name": op.name, "device": device, "reason": reason})
    fallback = [{"op": o["op"], "index": o["index"], "reason": o["reason"]} for o in ops if o["device"] == "cpu"]
    precision = compute_precision(graph)
    note = (
        "quantized layers run at the NPU's INT8 rate"
        if precision == "int8"
        else f"the {graph.precision} model runs in FP16 on the NPU (half the INT8 rate)"
    )
    return {
        "model": graph.path,
        "compatible": not problems and not fallback,
        "problems": problems,
        "compute_precision": precision,
        "precision_note": note,
        "ops": ops,
        "npu_ops": sum(o["device"] == "npu" for o in ops),
        "cpu_ops": len(fallback),
        "fallback_ops": fallback,
    }


def analyze_npu(path: Path | str) -> dict[str, Any]:
    return analyze_npu_graph(load_graph(path))


def require_static(graph: Graph) -> None:
    """What edgekit's NPU runner can compile: a dynamic batch is pinned, any other dynamic dim is a usage error."""
    problem = static_shape_problem(graph, batch_pinned=True)
    if problem:
        raise UsageError(problem)
