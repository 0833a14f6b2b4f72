"""Per-operator timing for the device runner (--profile-ops): each operator of subgraph 0 run alone as a one-op model.

Standard library + numpy + LiteRT only, like litert_backend.py; imported only when --profile-ops asks for it.
"""

from __future__ import annotations

import statistics
import sys
import warnings
from pathlib import Path
from typing import Any

from .base import RunnerError
from .base import invoke as _invoke


def profile_ops(model: Path, interpreter_cls: Any, inputs: list[Any], threads: int, runs: int = 5) -> list[dict]:
    """Time every operator of subgraph 0 alone: a one-op model per operator, fed the real intermediate tensors.

    The Python interpreters expose no per-op profiler, so this rebuilds the flatbuffer (LiteRT's flatbuffer_utils)
    with a single operator and times its invoke(); the sum of op times is close to, not equal to, the model's
    latency (no fusion across ops, one dispatch per op). tflite-runtime lacks flatbuffer_utils: then it fails.
    """
    try:
        from ai_edge_litert.tools import flatbuffer_utils
    except ImportError as exc:
        raise RunnerError("per-op profiling needs ai-edge-litert (its flatbuffer_utils)") from exc

    content = model.read_bytes()
    # Run once preserving every intermediate tensor, to feed each op its real inputs.
    # Without the default (XNNPACK) delegate, so that ops stay one node each and intermediate tensors stay readable.
    resolver = sys.modules[interpreter_cls.__module__].OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    with warnings.catch_warnings():  # the "debugging only" warning is expected here
        warnings.simplefilter("ignore")
        full = interpreter_cls(
            model_content=content,
            experimental_op_resolver_type=resolver,
            experimental_preserve_all_tensors=True,
            num_threads=threads,
        )
    _allocate_for(full, inputs)  # --batch N: the full model was resized; so is its copy here
    input_details = full.get_input_details()
    _invoke(full, input_details, inputs)
    ops = full._get_ops_details()  # private but stable since TF 2.5: index, op_name, inputs, outputs
    tensor_names = {d["index"]: d["name"] for d in full.get_tensor_details()}

    graph = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    graph.signatureDefs = []
    subgraph = graph.subgraphs[0]
    all_operators = list(subgraph.operators)
    if len(all_operators) != len(ops):
        raise RunnerError("per-op profiling supports single-subgraph models only")

    def is_constant(index: int) -> bool:
        buffer = graph.buffers[subgraph.tensors[index].buffer]
        return (buffer.data is not None and len(buffer.data) > 0) or bool(getattr(buffer, "offset", 0))

    rows = []
    for op_index, operator in enumerate(all_operators):
        op_inputs = [int(i) for i in operator.inputs if i >= 0 and not is_constant(int(i))]
        subgraph.operators = [operator]
        subgraph.inputs = op_inputs
        subgraph.outputs = [int(i) for i in operator.outputs]
        one = interpreter_cls(
            model_content=bytes(flatbuffer_utils.convert_object_to_bytearray(graph)), num_threads=threads
        )
        feed = [full.get_tensor(i) for i in op_inputs]
        _allocate_for(one, feed)
        one_details = one.get_input_details()
        _invoke(one, one_details, feed)
        best = statistics.median(_invoke(one, one_details, feed) for _ in range(runs))
        outputs = [int(i) for i in operator.outputs]
        rows.append(
            {
                "index": op_index,
                "name": tensor_names.get(outputs[0], "") if outputs else "",
                "op": ops[op_index]["op_name"],
                "time_ms": round(best, 4),
            }
        )
    subgraph.operators = all_operators
    total = sum(r["time_ms"] for r in rows) or 1.0
    for r in rows:
        r["percent"] = round(100.0 * r["time_ms"] / total, 2)
    return sorted(rows, key=lambda r: r["time_ms"], reverse=True)


def _allocate_for(interpreter: Any, arrays: list[Any]) -> None:
    """allocate_tensors() with every input resized to the array it will be fed (a batch of N where the flatbuffer
    says 1): a one-op model keeps the converter's static shapes."""
    for detail, array in zip(interpreter.get_input_details(), arrays, strict=True):
        if tuple(detail["shape"]) != tuple(array.shape):
            interpreter.resize_tensor_input(detail["index"], list(array.shape), strict=False)
    interpreter.allocate_tensors()
