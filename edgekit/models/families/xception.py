"""Xception (2016): ResNet-like residual stages built from 3x3 depthwise-separable convolutions."""

from edgekit.models.families._common import KERAS_APPS, keras_app
from edgekit.models.registry import PREPROCESS_TF, ModelSpec, NotesRow, PublishedTop1, register_model

USE_CASE = "Efficient inference: depthwise-separable convolutions"
NOTES = NotesRow(params="medium", use_case="efficient inference")

XCEPTION = register_model(
    ModelSpec(
        name="xception",
        display_name="Xception",
        family="Xception",
        year=2016,
        build_fn=keras_app("xception", "Xception", 299),
        default_input_size=299,
        min_input_size=71,
        params=22_910_480,
        macs=8_357_403_496,
        use_case=USE_CASE,
        published_top1=PublishedTop1(0.79, KERAS_APPS),
        notes=NOTES,
        default_row=6,
        preprocess=PREPROCESS_TF,
    )
)
