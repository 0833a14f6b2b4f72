"""NASNet (2017): normal and reduction cells found by a reinforcement-learning architecture search."""

from edgekit.models.families._common import USE_CASES, keras_app
from edgekit.models.registry import PREPROCESS_TF, ModelSpec, register_model

NASNET_MOBILE = register_model(
    ModelSpec(
        name="nasnetmobile",
        family="NASNet",
        year=2017,
        build_fn=keras_app("nasnetmobile", "NASNetMobile", 224),
        default_input_size=224,
        min_input_size=32,
        params=5_326_716,
        macs=563_638_816,
        use_case=USE_CASES["NASNet"],
        preprocess=PREPROCESS_TF,
        aliases=("nasnet", "nasnetamobile"),
    )
)
