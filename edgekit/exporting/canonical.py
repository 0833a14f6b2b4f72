"""Byte-identical ONNX files from tf2onnx: the same graph, named and ordered the same way on every run.

tf2onnx numbers the names it makes up (`mul_1__6`, `new_shape__303`) from a process-wide counter, and its optimizer
visits nodes in an order that depends on object identity, so two conversions of one model differ in those numbers and
in the order of the initializers, while the operators, weights and results are the same; its constant folding also
keeps one of several equal constants under whichever name it met first; where the graph branches (InceptionV3's
towers) the order of the nodes varies, and its merging of equal nodes keeps a different subset. Ordering the nodes by
the graph's structure alone, merging every set of equal nodes, renaming the made-up names whole in that order, naming
shared and made-up constants by their first use and sorting the initializers removes exactly that difference (names
Keras gave to nodes and to weights used once stay as they are).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

_MADE_UP = re.compile(r"__\d+")
_RANDOM = ("Random", "Bernoulli", "Multinomial", "Dropout")


def _renamer():
    mapping: dict[str, str] = {}

    def rename(name: str) -> str:
        if name in mapping:
            return mapping[name]
        if not name or not _MADE_UP.search(name):
            return name
        if name not in mapping:  # the whole name: tf2onnx prefixes it with whichever of several equal nodes it kept
            mapping[name] = f"t__{len(mapping)}" + (":0" if name.endswith(":0") else "")
        return mapping[name]

    return rename, mapping


def _refill(field, items) -> None:
    """Replace a repeated message field's contents with items, copied first: clearing the field frees them."""
    copies = [type(item)() for item in items]
    for copy, item in zip(copies, items, strict=True):
        copy.CopyFrom(item)
    del field[:]
    field.extend(copies)


def structural_order(graph) -> list:
    """The nodes in a topological order that depends on the graph alone: depth first from the graph's outputs, each
    node's inputs in their (meaningful) order; nodes no output needs keep their place at the end. A graph with
    subgraphs (If, Loop: they read outer names that are not among their inputs) keeps its order."""
    if any(a.type in (a.GRAPH, a.GRAPHS) for node in graph.node for a in node.attribute):
        return list(graph.node)
    producer = {out: node for node in graph.node for out in node.output if out}
    placed: set[int] = set()
    order = []
    for root in [producer[o.name] for o in graph.output if o.name in producer]:
        stack = [(root, False)]
        while stack:  # iterative: a deep network would exceed Python's recursion limit
            node, inputs_done = stack.pop()
            if id(node) in placed:
                continue
            if inputs_done:
                placed.add(id(node))
                order.append(node)
                continue
            stack.append((node, True))
            for name in reversed(node.input):
                up = producer.get(name)
                if up is not None and id(up) not in placed:
                    stack.append((up, False))
    return order + [n for n in graph.node if id(n) not in placed]


def merge_duplicates(graph) -> None:
    """Common subexpressions, merged: tf2onnx's own merging pass keeps a different subset of equal nodes from run to
    run (InceptionV3: 235 or 236 nodes). Nodes are equal when op, inputs and attributes are; in graph order, so each
    node's inputs are already final when it is compared."""
    outputs = {o.name for o in graph.output}
    seen: dict[bytes, list[str]] = {}
    alias: dict[str, str] = {}
    kept = []
    for node in graph.node:
        node.input[:] = [alias.get(n, n) for n in node.input]
        key = repr((node.domain, node.op_type, list(node.input))).encode()  # repr: no two lists read alike
        key += b"".join(a.SerializeToString() for a in node.attribute)
        first = seen.get(key)
        random = node.op_type.startswith(_RANDOM)  # equal inputs, independent draws
        if first is None or len(first) != len(node.output) or outputs & set(node.output) or not node.input or random:
            seen.setdefault(key, list(node.output))
            kept.append(node)
            continue
        alias.update((out, to) for out, to in zip(node.output, first, strict=True) if out)  # "": an absent output
    _refill(graph.node, kept)
    _refill(graph.value_info, [i for i in graph.value_info if i.name not in alias])  # less merged-away tensors


def _static_shapes(model) -> dict[str, list[int]]:
    """tensor -> its shape where ONNX's shape inference finds every dim a number. Inferred on a copy that holds only
    the small constants (shapes, axes) and declares the weights as inputs: a VGG19 is not copied for it."""
    import onnx
    from onnx import helper

    graph = model.graph
    declared = {i.name for i in graph.input}
    small = [t for t in graph.initializer if math.prod(t.dims) <= 64]
    weights = [
        helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
        for t in graph.initializer
        if math.prod(t.dims) > 64 and t.name not in declared
    ]
    light = helper.make_graph(graph.node, "shapes", [*graph.input, *weights], graph.output, small)
    try:
        inferred = onnx.shape_inference.infer_shapes(
            helper.make_model(light, opset_imports=model.opset_import, ir_version=model.ir_version)
        )
    except Exception:  # a graph the checker cannot follow: nothing is dropped
        return {}
    out = {}
    for info in (*inferred.graph.input, *inferred.graph.value_info):
        dims = info.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            out[info.name] = [d.dim_value for d in dims]
    return out


def drop_identity_reshapes(model) -> None:
    """Reshapes to the shape their input already has, removed: tf2onnx's transpose optimizer turns a layout transpose
    of a 1x1 map into such a Reshape and removes it or not depending on the order it visits nodes (MobileNetV2 at 32
    px: 336 or 333 nodes after INT8 quantization, from two exports in one process)."""
    from onnx import numpy_helper

    graph = model.graph
    if any(a.type in (a.GRAPH, a.GRAPHS) for node in graph.node for a in node.attribute):
        return  # subgraphs read outer names: renaming consumers here would miss theirs
    consts = {t.name: t for t in graph.initializer}
    if not any(n.op_type == "Reshape" and len(n.input) == 2 and n.input[1] in consts for n in graph.node):
        return  # nothing to drop: no shape inference
    shapes = _static_shapes(model)
    outputs = {o.name for o in graph.output}
    alias: dict[str, str] = {}
    kept, targets = [], set()
    for node in graph.node:  # in topological order: a node's inputs are final when it is looked at
        node.input[:] = [alias.get(n, n) for n in node.input]
        target = consts.get(node.input[1]) if node.op_type == "Reshape" and len(node.input) == 2 else None
        same = target is not None and shapes.get(node.input[0]) == numpy_helper.to_array(target).tolist()
        if same and node.output[0] not in outputs:
            alias[node.output[0]] = node.input[0]
            targets.add(node.input[1])
            continue
        kept.append(node)
    if not alias:
        return
    _refill(graph.node, kept)
    _refill(graph.value_info, [i for i in graph.value_info if i.name not in alias])
    used = {name for node in graph.node for name in node.input}
    _refill(graph.initializer, [t for t in graph.initializer if t.name in used or t.name not in targets])


def canonicalize_onnx(path: Path) -> None:
    """Rewrite path in place: identity reshapes dropped, nodes in structural order, equal nodes merged, made-up names
    renumbered in that order, initializers sorted."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    _refill(graph.node, structural_order(graph))
    drop_identity_reshapes(model)
    merge_duplicates(graph)
    rename, mapping = _renamer()
    initializers = {t.name for t in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    for node in graph.node:  # constants that dedup may have named after any of their users: name them by first use
        for name in node.input:
            if name in initializers and name not in mapping and (uses[name] > 1 or _MADE_UP.search(name)):
                mapping[name] = f"const__{len(mapping)}"
    for node in graph.node:  # in structural order now: the same for the same graph
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
        node.name = rename(node.name)
    for tensor in graph.initializer:
        tensor.name = rename(tensor.name)
    for info in (*graph.input, *graph.output, *graph.value_info):
        info.name = rename(info.name)
    name_symbolic_dims(graph)
    _refill(graph.initializer, sorted(graph.initializer, key=lambda t: t.name))
    onnx.save(model, str(path))


def name_symbolic_dims(graph) -> None:
    """tf2onnx calls an unknown dimension unk__<counter>: the first one of the input and of each output (a
    --dynamic-batch export's batch: a Keras model keeps the batch axis first) becomes "batch", any other dim__<k> in
    order of appearance."""
    names: dict[str, str] = {}
    leading = [info.type.tensor_type.shape.dim[:1] for info in (*graph.input[:1], *graph.output)]
    if leading[0] and leading[0][0].HasField("dim_param") and _MADE_UP.search(leading[0][0].dim_param):
        for dims in leading:
            if dims and dims[0].HasField("dim_param") and _MADE_UP.search(dims[0].dim_param):
                names[dims[0].dim_param] = "batch"
    for info in (*graph.input, *graph.output, *graph.value_info):
        for dim in info.type.tensor_type.shape.dim:
            if dim.HasField("dim_param") and _MADE_UP.search(dim.dim_param):
                dim.dim_param = names.setdefault(dim.dim_param, f"dim__{len(names)}")
