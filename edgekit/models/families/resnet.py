"""ResNet (2015): residual blocks f(x) = C(x) + x keep gradients flowing through very deep networks."""

from edgekit.models.families._common import USE_CASES, keras_app
from edgekit.models.registry import PREPROCESS_CAFFE, ModelSpec, register_model

RESNET50 = register_model(
    ModelSpec(
        name="resnet50",
        family="ResNet",
        year=2015,
        build_fn=keras_app("resnet50", "ResNet50", 224),
        default_input_size=224,
        min_input_size=32,
        params=25_636_712,
        macs=3_857_973_248,
        use_case=USE_CASES["ResNet"],
        preprocess=PREPROCESS_CAFFE,
        aliases=("resnet", "resnet50v1"),
    )
)
