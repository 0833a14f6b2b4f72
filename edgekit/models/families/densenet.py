"""DenseNet (2016): each layer's output is concatenated onto all later layers' inputs, so layers stay thin."""

from edgekit.models.families._common import USE_CASES, keras_app
from edgekit.models.registry import PREPROCESS_TORCH, ModelSpec, register_model

DENSENET121 = register_model(
    ModelSpec(
        name="densenet121",
        family="DenseNet",
        year=2016,
        build_fn=keras_app("densenet121", "DenseNet121", 224),
        default_input_size=224,
        min_input_size=32,
        params=8_062_504,
        macs=2_834_161_664,
        use_case=USE_CASES["DenseNet"],
        preprocess=PREPROCESS_TORCH,
        aliases=("densenet",),
    )
)
