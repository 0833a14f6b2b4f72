"""Xception (2016): ResNet-like residual stages built from 3x3 depthwise-separable convolutions."""

from edgekit.models.families._common import USE_CASES, keras_app
from edgekit.models.registry import PREPROCESS_TF, ModelSpec, register_model

XCEPTION = register_model(
    ModelSpec(
        name="xception",
        family="Xception",
        year=2016,
        build_fn=keras_app("xception", "Xception", 299),
        default_input_size=299,
        min_input_size=71,
        params=22_910_480,
        macs=8_357_403_496,
        use_case=USE_CASES["Xception"],
        preprocess=PREPROCESS_TF,
    )
)
