"""ResNet (2015): residual blocks f(x) = C(x) + x keep gradients flowing through very deep networks."""

from edgekit.models.families._common import KERAS_APPS, keras_app
from edgekit.models.registry import PREPROCESS_CAFFE, ModelSpec, NotesRow, PublishedTop1, register_model

USE_CASE = "General classification and detection: skip connections"
NOTES = NotesRow(params="medium-high", use_case="general classification, detection")

RESNET50 = register_model(
    ModelSpec(
        name="resnet50",
        display_name="ResNet50",
        family="ResNet",
        year=2015,
        build_fn=keras_app("resnet50", "ResNet50", 224),
        default_input_size=224,
        min_input_size=32,
        params=25_636_712,
        macs=3_857_973_248,
        use_case=USE_CASE,
        published_top1=PublishedTop1(0.749, KERAS_APPS),
        notes=NOTES,
        default_row=4,
        preprocess=PREPROCESS_CAFFE,
        aliases=("resnet", "resnet50v1"),
    )
)
