"""SqueezeNet (2016): fire modules (1x1 squeeze, then 1x1 + 3x3 expand) between max pools; a 1x1 conv to
num_classes channels and global average pooling replace the fully connected head."""

from __future__ import annotations

from typing import Any

from edgekit.models import blocks
from edgekit.models.families._common import hand_made
from edgekit.models.registry import PREPROCESS_TORCH, ModelSpec, NotesRow, PublishedTop1, register_model

USE_CASE = "Embedded devices: a very small model"
NOTES = NotesRow(params="few", use_case="embedded")

# (squeeze, expand) per fire module, numbered as in the paper (fire2 ... fire9).
FIRES = {2: (16, 64), 3: (16, 64), 4: (32, 128), 5: (32, 128), 6: (48, 192), 7: (48, 192), 8: (64, 256), 9: (64, 256)}
# The fire modules followed by a 3x3/2 max pool (one also follows conv1).
POOL_AFTER_FIRE = {"1.0": (4, 8), "1.1": (3, 5)}


def _max_pool_ceil(x: Any, name: str) -> Any:
    """3x3/2 max pool rounding the output size up (Caffe's and torchvision's ceil_mode): pad one zero row and
    column at the end when the last window would not fit. Inputs are post-ReLU, so zero padding is exact."""
    from keras import layers

    if (int(x.shape[1]) - 3) % 2:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name=name)(x)


def build_squeezenet(
    input_size: int, num_classes: int = 1000, classifier_activation: str | None = None, version: str = "1.0"
) -> Any:
    """SqueezeNet 1.0 (7x7/2 first conv, 96 filters) or 1.1 (3x3/2, 64 filters, earlier pools: 2.4x cheaper).

    As in the Caffe original and torchvision, a ReLU follows the classifier conv (before the pooling): the
    published weights were trained with it, so their logits are reproduced only with it.
    """
    import keras
    from keras import layers

    pools = POOL_AFTER_FIRE[version]
    inputs = keras.Input((input_size, input_size, 3), name="input")
    if version == "1.0":
        x = layers.Conv2D(96, 7, strides=2, activation="relu", name="conv1")(inputs)
    else:
        x = layers.Conv2D(64, 3, strides=2, activation="relu", name="conv1")(inputs)
    x = _max_pool_ceil(x, name="pool1")
    for index, (squeeze, expand) in FIRES.items():
        x = blocks.fire_module(x, squeeze, expand, name=f"fire{index}")
        if index in pools:
            x = _max_pool_ceil(x, name=f"pool{index}")
    x = layers.Dropout(0.5, name="head_dropout")(x)
    x = layers.Conv2D(num_classes, 1, activation="relu", name="head_conv")(x)
    outputs = layers.GlobalAveragePooling2D(name="head_pool")(x)
    if classifier_activation:
        outputs = layers.Activation(classifier_activation, name="predictions")(outputs)
    return keras.Model(inputs, outputs, name="squeezenet" if version == "1.0" else "squeezenet11")


def _builder(name: str, version: str):
    return hand_made(name, lambda size, classes, act: build_squeezenet(size, classes, act, version))


SQUEEZENET = register_model(
    ModelSpec(
        name="squeezenet",
        display_name="SqueezeNet 1.0",
        family="SqueezeNet",
        year=2016,
        build_fn=_builder("squeezenet", "1.0"),
        default_input_size=224,
        min_input_size=21,
        params=1_248_424,
        macs=818_924_576,
        use_case=USE_CASE,
        published_top1=PublishedTop1(
            0.58092, "https://pytorch.org/vision/stable/models.html (SqueezeNet1_0_Weights.IMAGENET1K_V1, acc@1)"
        ),
        notes=NOTES,
        default_row=3,
        preprocess=PREPROCESS_TORCH,
        edge=True,
        aliases=("squeezenet10", "squeezenet1.0", "squeezenetv1"),
    )
)

SQUEEZENET11 = register_model(
    ModelSpec(
        name="squeezenet11",
        display_name="SqueezeNet 1.1",
        family="SqueezeNet",
        year=2016,
        build_fn=_builder("squeezenet11", "1.1"),
        default_input_size=224,
        min_input_size=17,
        params=1_235_496,
        macs=349_151_936,
        use_case=USE_CASE,
        published_top1=PublishedTop1(
            0.58178, "https://pytorch.org/vision/stable/models.html (SqueezeNet1_1_Weights.IMAGENET1K_V1, acc@1)"
        ),
        notes=NOTES,
        preprocess=PREPROCESS_TORCH,
        edge=True,
        aliases=("squeezenet1.1", "squeezenetv11"),
    )
)
