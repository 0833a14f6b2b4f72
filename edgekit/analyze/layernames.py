"""Readable layer names for per-layer views: the Keras layer an op came from, with the op type beside it.

Converters name ops after TensorFlow name scopes, and Keras 3 opens a uniquified scope per layer call, so a layer's
name is not found in op names as such. edgekit's keep-float trace (edgekit.exporting.keepfloat.layer_scopes) records
the exact scope segment each layer's ops carry; exports store it in their manifest ("layer_scopes") and compare keeps
it with its cached graphs. An op is given the layer whose segment sits deepest in one of its own names (its name, its
outputs) or in its weights' names (tf2onnx names a convolution with a folded BatchNorm with a made-up name, `t__109`,
while its weights keep the convolution's scope). An op with MACs takes the layer that owns its kernel (a TFLite
depthwise convolution fused with the ZeroPadding before it is the convolution's time); any other fused op takes the
first of its layers in call order. Without a recorded trace (a foreign file) the runtime's names
stay, and the view says so.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

RUNTIME_NAMES = "runtime op names: no Keras origin is recorded for this file"
_SEGMENT = re.compile(r"[/:]")


def _segment_index(scopes: dict[str, list[str]]) -> tuple[dict[str, str], dict[str, int]]:
    """scope segment -> layer, and layer -> call order."""
    segment_layer = {seg: layer for layer, segs in scopes.items() for seg in segs}
    return segment_layer, {layer: i for i, layer in enumerate(scopes)}


def _layers_in(names: list[str], segment_layer: dict[str, str]) -> list[str]:
    """For each ';'-separated part of each name, the layer of its deepest known scope segment."""
    found = []
    for name in names:
        for part in str(name).split(";"):
            hits = [segment_layer[s] for s in _SEGMENT.split(part) if s in segment_layer]
            if hits:
                found.append(hits[-1])
    return found


def op_layer_map(graph: Any, scopes: dict[str, list[str]] | None) -> dict[str, str]:
    """op name -> the Keras layer it came from, for the ops of an analysed graph (edgekit.analyze.Graph)."""
    if not scopes:
        return {}
    segment_layer, order = _segment_index(scopes)
    out = _op_layers(graph, segment_layer, order)
    for name, layer in _chain_layers(graph, out, order)[1].items():
        out.setdefault(name, layer)
    return out


def _kernel(op: Any) -> Any:
    """The largest constant input of an op with MACs: its kernel (scales and zero points are scalars or vectors)."""
    consts = [t for t in op.inputs if t.const] if getattr(op, "macs", 0) else []
    return max(consts, key=lambda t: t.size, default=None)


def _op_layers(graph: Any, segment_layer: dict[str, str], order: dict[str, int]) -> dict[str, str]:
    """op name -> the layer that owns its kernel where the kernel's name tells it (a TFLite depthwise convolution
    fused with the ZeroPadding before it is the convolution's time), else the earliest layer in its own names and
    its weights' names."""
    out = {}
    for op in graph.ops:
        kernel = _kernel(op)
        owner = _layers_in([kernel.name], segment_layer) if kernel is not None else []
        if owner:
            out[op.name] = min(owner, key=lambda layer: order[layer])
            continue
        own = _layers_in([op.name, *(t.name for t in op.outputs)], segment_layer)
        # its weights' layers too: a QDQ convolution whose ReLU6 was folded carries only the ReLU's scope in its names
        layers = own + _layers_in([t.name for t in op.inputs if t.const], segment_layer)
        if layers:
            out[op.name] = min(layers, key=lambda layer: order[layer])
    return out


# Ops a runtime folds into the op that feeds them (an activation, a bias add, a BatchNorm, a quantize step).
_FOLDED_CLASSES = ("elementwise", "quant")


def _chain_layers(graph: Any, op_layers: dict[str, str], order: dict[str, int]) -> tuple[dict, dict]:
    """(op name -> layer, tensor name -> layer) of the op chain that ends in the op, walked back through folded ops: a
    runtime names a fused node after its output tensor (ONNX Runtime's "<tensor>_nchwc" convolutions, OpenVINO's
    "Identity:0" classifier) or after its last op (OpenVINO's depthwise convolution + BatchNorm is named after the
    BatchNorm's Mul), while the time is the convolution's."""
    producer = {t.name: op for op in graph.ops for t in op.outputs}
    by_op, out = {}, {}
    for op in graph.ops:
        chain, current = [op], op
        while current.op_class in _FOLDED_CLASSES:
            fed = [t for t in current.inputs if not t.const and t.name in producer]
            if len(fed) != 1:
                break
            current = producer[fed[0].name]
            chain.append(current)
        layers = [op_layers[o.name] for o in chain if o.name in op_layers]
        if layers:
            by_op[op.name] = min(layers, key=lambda layer: order[layer])
            out.update({tensor.name: by_op[op.name] for tensor in op.outputs})
    return by_op, out


# ONNX Runtime names a node its graph optimiser rewrote (a QDQ group fused into QLinearConv) after the node it
# replaced plus "_token_N", an NCHWc convolution after its output tensor plus "_nchwc"; OpenVINO's counters
# add "/WithoutBiases"-like parts to the node a fused op came from.
_ORT_TOKEN = re.compile(r"(_token_\d+|_nchwc)$")


def _layer_of(name: str, mapping: dict[str, str]) -> str | None:
    """The Keras layer of a runtime's op name: the name itself, else the graph node it was rewritten from."""
    if name in mapping:
        return mapping[name]
    parts = _ORT_TOKEN.sub("", name).split("/")
    for end in range(len(parts), 0, -1):
        found = mapping.get("/".join(parts[:end]))
        if found:
            return found
    return None


def with_keras_names(layers: list[dict[str, Any]], mapping: dict[str, str]) -> list[dict[str, Any]]:
    """Per-layer rows with "keras_layer" added where the op has a Keras origin (the runtime's "name" is kept)."""
    out = []
    for row in layers:
        layer = _layer_of(str(row.get("name", "")), mapping)
        out.append({**row, "keras_layer": layer} if layer else row)
    return out


def short_runtime_name(name: str) -> str:
    """The last components of a converter's fused op name (they run to hundreds of characters)."""
    parts = name.split(";")[0].rstrip("/").split("/")
    return "/".join(parts[-2:])[-48:] or name[:48]


def layer_label(row: dict[str, Any]) -> str:
    """`block_3_depthwise (DEPTHWISE_CONV_2D)`: the Keras layer, else the runtime's own (shortened) name."""
    name = row.get("keras_layer") or short_runtime_name(str(row.get("name", "")))
    return f"{name} ({row['op']})" if row.get("op") else name


def names_note(layers: list[dict[str, Any]]) -> str | None:
    """What a per-layer view must say when its names are the runtime's (None when they are Keras layers)."""
    if layers and not any(row.get("keras_layer") for row in layers):
        return RUNTIME_NAMES
    return None


def unnamed_node_layers(onnx_path: Path, scopes: dict[str, list[str]]) -> dict[str, str]:
    """node -> Keras layer for the ONNX nodes whose own name does not tell it (tf2onnx's `t__45`, a convolution with
    a folded BatchNorm; a BatchNorm Mul that OpenVINO folds into the depthwise convolution before it), and for the
    graph's outputs: an OpenVINO IR converted from that file keeps those names (`t__45/WithoutBiases`) but, once NNCF
    has quantized its weights, none of the weight names that told the layer."""
    from edgekit.analyze.graph import load_graph

    segment_layer, order = _segment_index(scopes)
    graph = load_graph(onnx_path)
    by_op, by_tensor = _chain_layers(graph, _op_layers(graph, segment_layer, order), order)
    named = {n: layer for n, layer in by_op.items() if _layers_in([n], segment_layer)[-1:] != [layer]}
    outputs = {t.name: by_tensor[t.name] for t in graph.outputs if t.name in by_tensor}  # OpenVINO's "Identity:0"
    return {**named, **outputs}


def _manifest_beside(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((Path(path).parent / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def scopes_beside(path: Path) -> dict[str, list[str]] | None:
    """The keep-float trace an export recorded in the manifest beside a model file (None: none recorded)."""
    return _scopes_of(_manifest_beside(path))


def _scopes_of(manifest: dict[str, Any]) -> dict[str, list[str]] | None:
    scopes = manifest.get("layer_scopes")
    return scopes if isinstance(scopes, dict) and scopes else None


def name_artifact_layers(layers: list[dict[str, Any]], path: Path, graph: Any = None) -> list[dict[str, Any]]:
    """An artifact's per-layer rows with their Keras layers, from the trace its manifest recorded; unchanged when
    there is none or the file cannot be read (a per-layer view never fails over its labels)."""
    manifest = _manifest_beside(path)
    scopes = _scopes_of(manifest)
    if not layers or not scopes:
        return layers
    if graph is None:
        from edgekit.analyze.graph import load_graph
        from edgekit.errors import EdgekitError

        try:
            graph = load_graph(Path(path))
        except (EdgekitError, OSError, ValueError):
            return layers
    mapping = op_layer_map(graph, scopes)
    mapping.update(manifest.get("node_layers") or {})  # the ONNX graph the IR came from knew better
    return with_keras_names(layers, mapping)
