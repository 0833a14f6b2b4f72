"""Inception V3 (2015): modules of parallel convolution/pooling paths; training picks the useful combinations."""

from edgekit.models.families._common import USE_CASES, keras_app
from edgekit.models.registry import PREPROCESS_TF, ModelSpec, register_model

INCEPTION_V3 = register_model(
    ModelSpec(
        name="inceptionv3",
        family="Inception",
        year=2015,
        build_fn=keras_app("inceptionv3", "InceptionV3", 299),
        default_input_size=299,
        min_input_size=75,
        params=23_851_784,
        macs=5_713_216_096,
        use_case=USE_CASES["Inception"],
        preprocess=PREPROCESS_TF,
        aliases=("inception", "googlenetv3"),
    )
)
