"""Weights ported from each architecture's canonical publisher (torchvision, timm) onto edgekit's Keras builds.

`--weights FILE` with a `.pth` or `.safetensors` file and `--weights imagenet` for a model in PORTS land here (see
edgekit.models.weights). The checkpoint is read without torch (edgekit.models.checkpoints), each tensor is mapped
to its Keras layer in Keras' layout, and every tensor must be used and every weighted layer set: anything else is
another architecture's file. Only the classifier may stay random, when the build has another class count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError, UsageError
from edgekit.models.checkpoints import read_checkpoint
from edgekit.models.ported import fetch, timm_ports, torchvision_ports
from edgekit.models.ported.common import LayerWeights, Port, Tensors

PORTS: dict[str, Port] = {p.model: p for p in (*torchvision_ports.PORTS, *timm_ports.PORTS)}


def port_for(model_name: str) -> Port | None:
    return PORTS.get(model_name)


def _port(model_name: str) -> Port:
    port = PORTS.get(model_name)
    if port is None:
        raise UsageError(
            f"{model_name} takes no publisher checkpoint (.pth/.safetensors); ported models: {', '.join(PORTS)}"
        )
    return port


def convert_checkpoint(path: Path, port: Port) -> LayerWeights:
    """The publisher's file as Keras layer weights; a file of another architecture is refused."""
    tensors = Tensors(read_checkpoint(path), path.name, port)
    weights = port.convert(tensors)
    unused = tensors.leftovers()
    if unused:
        raise EdgekitError(
            f"{path.name} is not a {port.publisher} {port.architecture} checkpoint: "
            f"{len(unused)} tensors have no place in {port.model} (e.g. '{unused[0]}')"
        )
    return weights


def _shapes(values: list[Any]) -> list[tuple[int, ...]]:
    return [tuple(int(d) for d in v.shape) for v in values]


def apply_weights(model: Any, weights: LayerWeights, label: str, model_name: str, head: tuple[str, ...]) -> list[str]:
    """Set every weighted layer of model from weights; returns the head layers left random (other class count)."""
    wanted = [layer for layer in model.layers if layer.weights and type(layer).__name__ != "Normalization"]
    random: list[str] = []
    for layer in wanted:
        values = weights.get(layer.name)
        if values is None:
            raise EdgekitError(f"weights {label} do not fit {model_name}: nothing for its layer '{layer.name}'")
        if _shapes(values) != _shapes(layer.weights):
            if layer.name in head:
                random.append(layer.name)
                continue
            raise EdgekitError(
                f"weights {label} do not fit {model_name} (input {tuple(model.inputs[0].shape[1:])}): layer "
                f"'{layer.name}' takes {_shapes(layer.weights)}, the checkpoint has {_shapes(values)}",
                hint=f"build {model_name} at the publisher's input size",
            )
        layer.set_weights(values)
    extra = sorted(set(weights) - {layer.name for layer in wanted})
    if extra:
        raise EdgekitError(f"weights {label} do not fit {model_name}: no layer '{extra[0]}' in this build")
    return random


def source_record(port: Port, file: str, random: list[str], **extra: Any) -> dict[str, Any]:
    """What the manifest says about ported weights: whose, which file, the preprocessing they expect."""
    return {
        "publisher": port.publisher,
        "architecture": port.architecture,
        "file": file,
        **extra,
        "preprocess": port.preprocess.to_dict(),
        "published_top1": {"value": port.top1.value, "source": port.top1.source},
        "random_layers": random,  # the classifier, when the build's class count is not the publisher's 1000
    }


def load_checkpoint_file(model: Any, path: Path, model_name: str) -> dict[str, Any]:
    """--weights FILE.pth|FILE.safetensors."""
    port = _port(model_name)
    random = apply_weights(model, convert_checkpoint(path, port), path.name, model_name, port.head)
    return source_record(port, str(path), random)


def load_imagenet(model: Any, model_name: str) -> dict[str, Any]:
    """--weights imagenet: the publisher's file, downloaded and converted once (see fetch)."""
    port = _port(model_name)
    weights, source = fetch.imagenet_weights(port, model_name, lambda raw: convert_checkpoint(raw, port))
    random = apply_weights(model, weights, port.filename, model_name, port.head)
    return source_record(port, source["url"], random, sha256=source["sha256"])
