"""MobileNet V1 (2017: depthwise-separable stacks) and V2 (2018: inverted residual bottlenecks)."""

from edgekit.models.families._common import KERAS_APPS, keras_app
from edgekit.models.registry import PREPROCESS_TF, ModelSpec, NotesRow, PublishedTop1, register_model

USE_CASE = "Mobile and edge devices: light and efficient"
NOTES = NotesRow(params="few", use_case="mobile")

MOBILENET_V1 = register_model(
    ModelSpec(
        name="mobilenetv1",
        display_name="MobileNetV1",
        family="MobileNet",
        year=2017,
        build_fn=keras_app("mobilenetv1", "MobileNet", 224, with_alpha=True),
        default_input_size=224,
        min_input_size=32,
        params=4_253_864,
        macs=568_740_352,
        use_case=USE_CASE,
        published_top1=PublishedTop1(0.704, KERAS_APPS),
        notes=NOTES,
        preprocess=PREPROCESS_TF,
        edge=True,
        supports_alpha=True,
        aliases=("mobilenet",),
    )
)

MOBILENET_V2 = register_model(
    ModelSpec(
        name="mobilenetv2",
        display_name="MobileNetV2",
        family="MobileNet",
        year=2018,
        build_fn=keras_app("mobilenetv2", "MobileNetV2", 224, with_alpha=True),
        default_input_size=224,
        min_input_size=32,
        params=3_538_984,
        macs=300_774_272,
        use_case=USE_CASE,
        published_top1=PublishedTop1(0.713, KERAS_APPS),
        notes=NOTES,
        default_row=8,
        preprocess=PREPROCESS_TF,
        edge=True,
        supports_alpha=True,
    )
)
