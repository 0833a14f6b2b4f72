"""VGG (2014): 3x3 convolutions only, AlexNet's three fully connected layers on top (most of its weights)."""

from edgekit.models.families._common import KERAS_APPS, keras_app
from edgekit.models.registry import PREPROCESS_CAFFE, ModelSpec, NotesRow, PublishedTop1, register_model

USE_CASE = "Feature extraction: simple structure, good for transfer learning"
NOTES = NotesRow(params="very many", use_case="feature extraction")

VGG16 = register_model(
    ModelSpec(
        name="vgg16",
        display_name="VGG16",
        family="VGG",
        year=2014,
        build_fn=keras_app("vgg16", "VGG16", 224),
        default_input_size=224,
        min_input_size=32,
        params=138_357_544,
        macs=15_470_264_320,
        use_case=USE_CASE,
        published_top1=PublishedTop1(0.713, KERAS_APPS),
        notes=NOTES,
        preprocess=PREPROCESS_CAFFE,
        aliases=("vgg",),
    )
)

VGG19 = register_model(
    ModelSpec(
        name="vgg19",
        display_name="VGG19",
        family="VGG",
        year=2014,
        build_fn=keras_app("vgg19", "VGG19", 224),
        default_input_size=224,
        min_input_size=32,
        params=143_667_240,
        macs=19_632_062_464,
        use_case=USE_CASE,
        published_top1=PublishedTop1(0.713, KERAS_APPS),
        notes=NOTES,
        default_row=1,
        preprocess=PREPROCESS_CAFFE,
    )
)
