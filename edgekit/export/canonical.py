"""Byte-identical ONNX files from tf2onnx: the same graph, named and ordered the same way on every run.

tf2onnx numbers the names it makes up (`mul_1__6`, `new_shape__303`) from a process-wide counter, and its optimizer
visits nodes in an order that depends on object identity, so two conversions of one model differ in those numbers and
in the order of the initializers, while the operators, weights and results are the same; its constant folding also
keeps one of several equal constants under whichever name it met first. Renumbering the made-up names in graph order,
naming shared and made-up constants by their first use and sorting the initializers removes exactly that difference
(names Keras gave to nodes and to weights used once stay as they are).
"""

from __future__ import annotations

import re
from pathlib import Path

_MADE_UP = re.compile(r"__\d+")


def _renamer():
    mapping: dict[str, str] = {}

    def rename(name: str) -> str:
        if name in mapping:
            return mapping[name]
        if not name or not _MADE_UP.search(name):
            return name
        if name not in mapping:
            mapping[name] = _MADE_UP.sub(f"__{len(mapping)}", name)
        return mapping[name]

    return rename, mapping


def canonicalize_onnx(path: Path) -> None:
    """Rewrite path in place with tf2onnx's made-up names renumbered in graph order and initializers sorted."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
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
    for node in graph.node:  # graph order is a topological order: deterministic for one model
        node.input[:] = [rename(n) for n in node.input]
        node.output[:] = [rename(n) for n in node.output]
        node.name = rename(node.name)
    for tensor in graph.initializer:
        tensor.name = rename(tensor.name)
    for info in (*graph.input, *graph.output, *graph.value_info):
        info.name = rename(info.name)
    ordered = sorted(graph.initializer, key=lambda t: t.name)
    copies = [onnx.TensorProto() for _ in ordered]
    for copy, tensor in zip(copies, ordered, strict=True):
        copy.CopyFrom(tensor)
    del graph.initializer[:]
    graph.initializer.extend(copies)
    onnx.save(model, str(path))
