"""The model registry: one ModelSpec per name holding every fact about the model; families register themselves.

A family is one module under edgekit/models/families/ calling register_model: the registry finds and imports those
modules itself, so adding a model edits nothing else. Listing the registry must never import TensorFlow:
params/MACs are kept as data here and a test checks them against the built models.
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgekit.errors import UsageError, did_you_mean


@dataclass(frozen=True)
class Preprocess:
    """How raw RGB pixels in [0, 255] become model input: x * scale + offset, then (x - mean) / std per channel
    (mean/std in RGB order), then the channels are put in `channels` order ('BGR' for keras' caffe mode)."""

    scale: float = 1.0 / 127.5
    offset: float = -1.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    resize: str = "bilinear"
    crop_fraction: float = 0.875
    channels: str = "RGB"

    def to_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "offset": self.offset,
            "mean": list(self.mean),
            "std": list(self.std),
            "resize": self.resize,
            "crop_fraction": self.crop_fraction,
            "layout": "NHWC",
            "channels": self.channels,
        }


# Keras' preprocessing modes, as data.
PREPROCESS_TF = Preprocess()  # [-1, 1]
PREPROCESS_TORCH = Preprocess(scale=1.0 / 255.0, offset=0.0, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
# keras' caffe mode (VGG, ResNet50): subtract the ImageNet mean, no scaling, and feed BGR.
PREPROCESS_CAFFE = Preprocess(scale=1.0, offset=0.0, mean=(123.68, 116.779, 103.939), channels="BGR")
PREPROCESS_RAW = Preprocess(scale=1.0, offset=0.0)  # model normalises internally (EfficientNet)


@dataclass(frozen=True)
class PublishedTop1:
    """ImageNet-1k top-1 of the trained fp32 weights at the default input size, as their authors publish it."""

    value: float
    source: str  # a URL or a citation


@dataclass(frozen=True)
class NotesRow:
    """The model's family's line in the notes' comparison table (cnn-models-notes)."""

    params: str  # the table's "Params" adjective
    use_case: str


@dataclass(frozen=True)
class ModelSpec:
    name: str
    display_name: str  # how prose and tables written for people spell it, e.g. "MobileNetV2"
    family: str
    year: int
    build_fn: Callable[..., Any] = field(
        repr=False
    )  # (input_size, num_classes, alpha, classifier_activation, weights) -> keras.Model
    default_input_size: int
    min_input_size: int
    params: int  # at default input size, 1000 classes, alpha 1.0
    macs: int  # multiply-accumulates per inference at default input size
    use_case: str
    # Required, so that a registration states it: None only where no top-1 for these weights is published.
    published_top1: PublishedTop1 | None
    notes: NotesRow | None = None  # None: the family is not in the notes' table
    default_row: int | None = None  # its place among compare's default rows (the notes' architectures, one each)
    preprocess: Preprocess = PREPROCESS_TF
    edge: bool = False
    aliases: tuple[str, ...] = ()
    supports_alpha: bool = False
    imagenet_weights: bool = True  # whether keras.applications (or a URL) provides ImageNet weights
    input_size_multiple: int = 1  # e.g. 16 for ViT-*/16 (patch size)
    fixed_input_size: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "year": self.year,
            "params": self.params,
            "macs": self.macs,
            "input_size": self.default_input_size,
            "min_input_size": self.min_input_size,
            "use_case": self.use_case,
            "edge": self.edge,
            "aliases": list(self.aliases),
        }

    def check_input_size(self, size: int) -> None:
        if size < self.min_input_size:
            raise UsageError(
                f"{self.name} cannot take input size {size}: the smallest it supports is {self.min_input_size}"
            )
        if self.input_size_multiple > 1 and size % self.input_size_multiple:
            raise UsageError(f"{self.name} needs an input size that is a multiple of {self.input_size_multiple}")
        if self.fixed_input_size and size != self.default_input_size:
            raise UsageError(f"{self.name} only takes input size {self.default_input_size}")


_REGISTRY: dict[str, ModelSpec] = {}
_ALIASES: dict[str, str] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name} registered twice")
    _REGISTRY[spec.name] = spec
    for alias in spec.aliases:
        _ALIASES[normalize_name(alias)] = spec.name
    return spec


def normalize_name(name: str) -> str:
    """'MobileNet_V2', 'mobilenet-v2' and 'mobilenetv2' are one name."""
    return name.strip().lower().replace("-", "").replace("_", "")


FAMILIES_PACKAGE = "edgekit.models.families"


def _load_families() -> None:
    """Import every module of the families package (found on its path, not listed) so that they register.

    A module imports no TensorFlow at load time; one whose name starts with "_" holds helpers, not models.
    """
    package = importlib.import_module(FAMILIES_PACKAGE)
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{FAMILIES_PACKAGE}.{info.name}")


def default_models() -> list[ModelSpec]:
    """compare's default rows: the notes' architectures, one model each, in the notes' order."""
    chosen = [s for s in list_models() if s.default_row is not None]
    return sorted(chosen, key=lambda s: s.default_row or 0)


def list_models(pattern: str | None = None) -> list[ModelSpec]:
    """The registered models, or those whose name, family or an alias matches pattern (glob or substring)."""
    _load_families()
    specs = list(_REGISTRY.values())
    if pattern:
        pat = pattern.lower()
        if not any(c in pat for c in "*?["):
            pat = f"*{pat}*"
        specs = [s for s in specs if any(fnmatch.fnmatch(n, pat) for n in (s.name, s.family.lower(), *s.aliases))]
    return specs


def models_matching(pattern: str | None) -> list[ModelSpec]:
    """list_models(pattern), refusing a filter that matches nothing (a usage error naming the closest model)."""
    specs = list_models(pattern)
    if pattern and not specs:
        raise unknown_model(pattern, "no model matches")
    return specs


def unknown_model(name: str, what: str = "unknown model") -> UsageError:
    """`unknown model 'resnet18'; did you mean resnet (an alias of resnet50)?`: an alias names its model."""
    close = did_you_mean("model", normalize_name(name), list(_REGISTRY) + list(_ALIASES)).suggestion
    suffix = ""
    if close:
        suffix = f"; did you mean {close}" + (f" (an alias of {_ALIASES[close]})" if close in _ALIASES else "") + "?"
    return UsageError(f"{what} '{name}'{suffix}")


def get_spec(name: str) -> ModelSpec:
    _load_families()
    key = normalize_name(name)
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise unknown_model(name)
    return _REGISTRY[key]


def create_model(
    name: str,
    input_size: int | None = None,
    num_classes: int = 1000,
    alpha: float | None = None,
    weights: str = "none",
    classifier_activation: str | None = None,
):
    """Build a keras.Model. weights: 'none' | 'imagenet' | path to a local .weights.h5/.keras file."""
    spec = get_spec(name)
    size = input_size or spec.default_input_size
    spec.check_input_size(size)
    if alpha is not None and not spec.supports_alpha:
        raise UsageError(f"{spec.name} has no width multiplier (--alpha)")
    if alpha is not None and not 0 < alpha <= 4:
        raise UsageError(f"--alpha must be in (0, 4], got {alpha}")
    if num_classes < 1:
        raise UsageError(f"the number of classes must be at least 1, got {num_classes}")
    return spec.build_fn(
        input_size=size,
        num_classes=num_classes,
        alpha=alpha if alpha is not None else 1.0,
        classifier_activation=_classifier_activation(classifier_activation),
        weights=weights,
    )


_LOGITS = {"", "none", "linear", "logits"}
_ACTIVATIONS = {"softmax", "sigmoid"}


def _classifier_activation(value: str | None) -> str | None:
    """None (logits, edgekit's default) or an activation name Keras knows for a classifier."""
    if value is None or value.strip().lower() in _LOGITS:
        return None
    if value.strip().lower() in _ACTIVATIONS:
        return value.strip().lower()
    raise UsageError(f"classifier activation must be none (logits), softmax or sigmoid, got '{value}'")
