"""What a port is (a publisher's checkpoint, where it lives, how its tensors become the Keras build's), and the
layout conversions every mapping shares: PyTorch keeps images NCHW and kernels OIHW, Keras NHWC and HWIO."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError
from edgekit.models.registry import Preprocess, PublishedTop1

LayerWeights = dict[str, list[np.ndarray]]  # Keras layer name -> its weights, in layer.get_weights() order


@dataclass(frozen=True)
class Port:
    """One zoo model's weights from its canonical publisher."""

    model: str  # the edgekit registry name
    publisher: str  # 'torchvision' | 'timm'
    architecture: str  # the publisher's name for it, e.g. 'squeezenet1_0', 'tf_efficientnet_lite0.in1k'
    url: str  # the official download location
    # Hex SHA-256 the download must match: the full digest, or the prefix torchvision writes into its file names
    # (its own loader checks exactly that prefix; the full digests are not published alongside the files).
    sha256: str | None
    convert: Callable[[Tensors], LayerWeights]
    preprocess: Preprocess  # what the publisher's weights expect (the registry records the same)
    top1: PublishedTop1
    head: tuple[str, ...] = ("predictions",)  # classifier layers: left random when the class count differs
    ignore: tuple[str, ...] = ("*num_batches_tracked",)  # checkpoint tensors the Keras build has no use for

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


class Tensors:
    """A checkpoint's tensors, taken one by one: a name missing, or one left over, means another architecture."""

    def __init__(self, arrays: dict[str, np.ndarray], source: str, port: Port | None = None):
        self.arrays = arrays
        self.source = source
        self.taken: set[str] = set()
        self.ignore = port.ignore if port else ()

    def __call__(self, key: str) -> np.ndarray:
        if key not in self.arrays:
            raise EdgekitError(f"{self.source} has no tensor '{key}': not this architecture's checkpoint")
        self.taken.add(key)
        return np.asarray(self.arrays[key], np.float32)

    def has(self, key: str) -> bool:
        return key in self.arrays

    def prefixes(self, pattern: str) -> list[str]:
        """Sorted distinct prefixes 'a.b' of keys 'a.b.<rest>' matching pattern (a glob), numerically ordered."""
        found = {k.rsplit(".", 2)[0] for k in self.arrays if fnmatch.fnmatchcase(k, pattern)}
        return sorted(found, key=lambda p: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p)])

    def leftovers(self) -> list[str]:
        return [
            k
            for k in self.arrays
            if k not in self.taken and not any(fnmatch.fnmatchcase(k, pat) for pat in self.ignore)
        ]


def conv(t: Tensors, prefix: str, bias: bool = True) -> list[np.ndarray]:
    """Conv2D: OIHW -> HWIO (+ bias)."""
    out = [t(f"{prefix}.weight").transpose(2, 3, 1, 0)]
    return out + [t(f"{prefix}.bias")] if bias else out


def depthwise(t: Tensors, prefix: str) -> list[np.ndarray]:
    """DepthwiseConv2D: (C, 1, H, W) -> (H, W, C, 1)."""
    return [t(f"{prefix}.weight").transpose(2, 3, 0, 1)]


def dense(t: Tensors, prefix: str) -> list[np.ndarray]:
    """Dense: torch's (out, in) -> Keras' (in, out)."""
    return [t(f"{prefix}.weight").T, t(f"{prefix}.bias")]


def batchnorm(t: Tensors, prefix: str) -> list[np.ndarray]:
    """BatchNormalization: gamma, beta, moving mean, moving variance (torch: weight, bias, running_*)."""
    return [t(f"{prefix}.{n}") for n in ("weight", "bias", "running_mean", "running_var")]


def layernorm(t: Tensors, prefix: str) -> list[np.ndarray]:
    return [t(f"{prefix}.weight"), t(f"{prefix}.bias")]


def attention(qkv_weight: np.ndarray, qkv_bias: np.ndarray, out_weight: np.ndarray, out_bias: np.ndarray,
              heads: int) -> list[np.ndarray]:  # fmt: skip
    """Keras MultiHeadAttention from a packed in-projection (3D, D) as torch and timm keep it (rows: q, k, v; within
    each, head-major) and the output projection (D, D)."""
    dim = qkv_weight.shape[1]
    head_dim = dim // heads
    out: list[np.ndarray] = []
    for w, b in zip(np.split(qkv_weight, 3), np.split(qkv_bias, 3), strict=True):
        out += [w.T.reshape(dim, heads, head_dim), b.reshape(heads, head_dim)]
    return out + [out_weight.T.reshape(heads, head_dim, dim), out_bias]


@dataclass(frozen=True)
class VitKeys:
    """Where a ViT checkpoint keeps each tensor edgekit's ViT build needs; "{p}" stands for a block's prefix."""

    patch: str
    cls: str
    pos: str
    norm: str
    head: str
    blocks: str  # glob of each block's first norm weight: its prefix is the block's
    ln1: str
    ln2: str
    attention: tuple[str, str, str, str]  # packed qkv weight and bias, output projection weight and bias
    mlp: tuple[str, str]


def vit_weights(t: Tensors, keys: VitKeys) -> LayerWeights:
    """edgekit's ViT layers from a checkpoint laid out as `keys` say (timm's and torchvision's differ in names)."""
    out: LayerWeights = {
        "patch_embed_conv": conv(t, keys.patch),
        "patch_embed_cls": [t(keys.cls)],
        "patch_embed_pos": [t(keys.pos)],
        "encoder_norm": layernorm(t, keys.norm),
        "predictions": dense(t, keys.head),
    }
    dim = out["patch_embed_conv"][0].shape[-1]
    for i, p in enumerate(t.prefixes(keys.blocks), start=1):
        out[f"encoder{i}_ln1"] = layernorm(t, keys.ln1.format(p=p))
        out[f"encoder{i}_mha"] = attention(*(t(k.format(p=p)) for k in keys.attention), heads=dim // 64)
        out[f"encoder{i}_ln2"] = layernorm(t, keys.ln2.format(p=p))
        out[f"encoder{i}_mlp1"] = dense(t, keys.mlp[0].format(p=p))
        out[f"encoder{i}_mlp2"] = dense(t, keys.mlp[1].format(p=p))
    return out


def checkpoint_label(path: Path) -> str:
    return path.name
