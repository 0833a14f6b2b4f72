"""Inception V1/GoogLeNet (2014) and V3 (2015): modules of parallel convolution/pooling paths; training picks the
useful combinations."""

from __future__ import annotations

from typing import Any

from edgekit.models import blocks
from edgekit.models.families._common import KERAS_APPS, hand_made, keras_app
from edgekit.models.registry import PREPROCESS_TF, ModelSpec, NotesRow, PublishedTop1, register_model

USE_CASE = "Medium to large tasks: multi-scale convolutions"
NOTES = NotesRow(params="medium", use_case="medium to large tasks")

INCEPTION_V3 = register_model(
    ModelSpec(
        name="inceptionv3",
        display_name="InceptionV3",
        family="Inception",
        year=2015,
        build_fn=keras_app("inceptionv3", "InceptionV3", 299),
        default_input_size=299,
        min_input_size=75,
        params=23_851_784,
        macs=5_713_216_096,
        use_case=USE_CASE,
        published_top1=PublishedTop1(0.779, KERAS_APPS),
        notes=NOTES,
        default_row=2,
        preprocess=PREPROCESS_TF,
        aliases=("inception", "googlenetv3"),
    )
)

# GoogLeNet modules: (1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool projection), named as in the paper.
GOOGLENET_MODULES = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def build_inceptionv1(input_size: int, num_classes: int = 1000, classifier_activation: str | None = None) -> Any:
    """GoogLeNet as torchvision builds it (the publisher of its ImageNet weights): BatchNorm (eps 1e-3) after every
    convolution, the "5x5" branch as a 3x3 (as in torchvision and TF-slim), ceil-mode max pools, no auxiliary heads.
    Layers: 'conv1', 'conv2_reduce', 'conv2', 'inception_{3a..5b}_{b1,b2r,b2,b3r,b3,pool,proj}', 'predictions'."""
    import keras
    from keras import layers

    def conv(x: Any, filters: int, kernel: int, name: str, strides: int = 1, padding: str = "same") -> Any:
        return blocks.conv_bn_act(x, filters, kernel, strides, "relu", padding=padding, name=name)

    def pool(x: Any, size: int, name: str) -> Any:
        # torch's ceil_mode (stride 2, no padding) is Keras' "valid" where the windows tile the input exactly and
        # its "same" (all padding at the end) where one more, clipped window is needed.
        padding = "valid" if (int(x.shape[1]) - size) % 2 == 0 else "same"
        return layers.MaxPooling2D(size, 2, padding=padding, name=name)(x)

    def module(x: Any, key: str) -> Any:
        f1, f3r, f3, f5r, f5, fp = GOOGLENET_MODULES[key]
        n = f"inception_{key}"
        a = conv(x, f1, 1, f"{n}_b1")
        b = conv(conv(x, f3r, 1, f"{n}_b2r"), f3, 3, f"{n}_b2")
        c = conv(conv(x, f5r, 1, f"{n}_b3r"), f5, 3, f"{n}_b3")
        d = conv(layers.MaxPooling2D(3, 1, padding="same", name=f"{n}_pool")(x), fp, 1, f"{n}_proj")
        return layers.Concatenate(name=f"{n}_concat")([a, b, c, d])

    inputs = keras.Input((input_size, input_size, 3), name="input")
    # torch pads the 7x7/2 conv by 3 on every side; Keras' "same" would pad 2 before and 3 after.
    x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
    x = conv(x, 64, 7, "conv1", strides=2, padding="valid")
    x = pool(x, 3, "pool1")
    x = conv(conv(x, 64, 1, "conv2_reduce"), 192, 3, "conv2")
    x = pool(x, 3, "pool2")
    for key in GOOGLENET_MODULES:
        x = module(x, key)
        if key in ("3b", "4e"):
            x = pool(x, 3 if key == "3b" else 2, f"pool_{key}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name="inceptionv1")


INCEPTION_V1 = register_model(
    ModelSpec(
        name="inceptionv1",
        display_name="InceptionV1",
        family="Inception",
        year=2014,
        build_fn=hand_made("inceptionv1", build_inceptionv1),
        default_input_size=224,
        min_input_size=32,
        params=6_639_464,  # torchvision 6,624,904 + the BatchNorm moving statistics Keras counts
        macs=1_498_376_192,
        use_case=USE_CASE,
        published_top1=PublishedTop1(
            0.69778, "https://pytorch.org/vision/stable/models.html (GoogLeNet_Weights.IMAGENET1K_V1, acc@1)"
        ),
        notes=NOTES,
        preprocess=PREPROCESS_TF,  # torchvision's transform_input: its weights expect [-1, 1]
        aliases=("googlenet",),
    )
)
