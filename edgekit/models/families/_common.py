"""Shared helpers for the family modules (not a family: the registry skips modules named _*): build_fns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edgekit.models.weights import build_hand_made, build_keras_application

# Where keras.applications publishes its weights' ImageNet top-1 (a ModelSpec.published_top1 source).
KERAS_APPS = "https://keras.io/api/applications/"


def keras_app(
    model_name: str,
    ctor_name: str,
    default_size: int,
    with_alpha: bool = False,
    post_build: Callable[[Any], None] | None = None,
) -> Callable[..., Any]:
    """A registry build_fn (input_size, num_classes, alpha, classifier_activation, weights) -> keras.Model."""

    def build(
        input_size: int,
        num_classes: int = 1000,
        alpha: float = 1.0,
        classifier_activation: str | None = None,
        weights: str | None = "none",
    ) -> Any:
        from keras import applications

        kwargs: dict[str, Any] = {"alpha": alpha} if with_alpha else {}
        return build_keras_application(
            model_name,
            getattr(applications, ctor_name),
            default_size=default_size,
            input_size=input_size,
            num_classes=num_classes,
            classifier_activation=classifier_activation,
            weights=weights,
            post_build=post_build,
            **kwargs,
        )

    build.__name__ = f"build_{model_name}"
    return build


def hand_made(model_name: str, make: Callable[[int, int, str | None], Any]) -> Callable[..., Any]:
    """A registry build_fn for a model built from edgekit's blocks: make(input_size, num_classes, activation)."""

    def build(
        input_size: int,
        num_classes: int = 1000,
        alpha: float = 1.0,
        classifier_activation: str | None = None,
        weights: str | None = "none",
    ) -> Any:
        return build_hand_made(model_name, weights, lambda: make(input_size, num_classes, classifier_activation))

    return build
