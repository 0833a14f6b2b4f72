"""The model zoo: a registry of image classifiers (built with Keras on demand, never at import)."""

from edgekit.models.registry import (
    PREPROCESS_CAFFE,
    PREPROCESS_RAW,
    PREPROCESS_TF,
    PREPROCESS_TORCH,
    ModelSpec,
    Preprocess,
    create_model,
    get_spec,
    list_models,
    register_model,
)

__all__ = [
    "PREPROCESS_CAFFE",
    "PREPROCESS_RAW",
    "PREPROCESS_TF",
    "PREPROCESS_TORCH",
    "ModelSpec",
    "Preprocess",
    "create_model",
    "get_spec",
    "list_models",
    "register_model",
]
