"""NASNet (2017): normal and reduction cells found by a reinforcement-learning architecture search."""

from edgekit.models.families._common import KERAS_APPS, keras_app
from edgekit.models.registry import PREPROCESS_TF, ModelSpec, NotesRow, PublishedTop1, register_model

USE_CASE = "High-accuracy needs: an automatically designed architecture"
NOTES = NotesRow(params="high", use_case="high-accuracy needs")

NASNET_MOBILE = register_model(
    ModelSpec(
        name="nasnetmobile",
        display_name="NASNet-Mobile",
        family="NASNet",
        year=2017,
        build_fn=keras_app("nasnetmobile", "NASNetMobile", 224),
        default_input_size=224,
        min_input_size=32,
        params=5_326_716,
        macs=563_638_816,
        use_case=USE_CASE,
        published_top1=PublishedTop1(0.744, KERAS_APPS),
        notes=NOTES,
        default_row=7,
        preprocess=PREPROCESS_TF,
        aliases=("nasnet", "nasnetamobile"),
    )
)
