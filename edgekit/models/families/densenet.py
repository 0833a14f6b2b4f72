"""DenseNet (2016): each layer's output is concatenated onto all later layers' inputs, so layers stay thin."""

from edgekit.models.families._common import KERAS_APPS, keras_app
from edgekit.models.registry import PREPROCESS_TORCH, ModelSpec, NotesRow, PublishedTop1, register_model

USE_CASE = "Medical imaging and classification: dense connections"
NOTES = NotesRow(params="medium", use_case="medical imaging, classification")

DENSENET121 = register_model(
    ModelSpec(
        name="densenet121",
        display_name="DenseNet-121",
        family="DenseNet",
        year=2016,
        build_fn=keras_app("densenet121", "DenseNet121", 224),
        default_input_size=224,
        min_input_size=32,
        params=8_062_504,
        macs=2_834_161_664,
        use_case=USE_CASE,
        published_top1=PublishedTop1(0.75, KERAS_APPS),
        notes=NOTES,
        default_row=5,
        preprocess=PREPROCESS_TORCH,
        aliases=("densenet",),
    )
)
