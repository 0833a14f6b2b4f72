"""MobileNet V1 (2017: depthwise-separable stacks) and V2 (2018: inverted residual bottlenecks)."""

from edgekit.models.families._common import USE_CASES, keras_app
from edgekit.models.registry import PREPROCESS_TF, ModelSpec, register_model

MOBILENET_V1 = register_model(
    ModelSpec(
        name="mobilenetv1",
        family="MobileNet",
        year=2017,
        build_fn=keras_app("mobilenetv1", "MobileNet", 224, with_alpha=True),
        default_input_size=224,
        min_input_size=32,
        params=4_253_864,
        macs=568_740_352,
        use_case=USE_CASES["MobileNet"],
        preprocess=PREPROCESS_TF,
        edge=True,
        supports_alpha=True,
        aliases=("mobilenet",),
    )
)

MOBILENET_V2 = register_model(
    ModelSpec(
        name="mobilenetv2",
        family="MobileNet",
        year=2018,
        build_fn=keras_app("mobilenetv2", "MobileNetV2", 224, with_alpha=True),
        default_input_size=224,
        min_input_size=32,
        params=3_538_984,
        macs=300_774_272,
        use_case=USE_CASES["MobileNet"],
        preprocess=PREPROCESS_TF,
        edge=True,
        supports_alpha=True,
    )
)
