"""AlexNet (2012): five convolutions and three fully connected layers, ReLU throughout.

Built as torchvision's AlexNet (Krizhevsky's single-GPU 2014 variant: 64-192-384-256-256 filters, no local
response normalisation): 61.1 M parameters, 0.71 G MACs at 224. The 2012 paper split conv2/4/5 into two groups
for its two GPUs; that is left out on purpose: keras runs grouped convolutions on CPU through an XLA function,
which ONNX export cannot convert.
"""

from __future__ import annotations

from typing import Any

from edgekit.models import blocks
from edgekit.models.families._common import hand_made
from edgekit.models.registry import PREPROCESS_TORCH, ModelSpec, NotesRow, PublishedTop1, register_model

USE_CASE = "Teaching and history: the first deep CNN"
NOTES = NotesRow(params="many", use_case="teaching, history")


def build_alexnet(
    input_size: int, num_classes: int = 1000, classifier_activation: str | None = None, dropout: float = 0.5
) -> Any:
    """Layers: 'conv1' ... 'conv5' (+ '_act'), 'pool1', 'pool2', 'pool5', 'flatten', 'fc6', 'fc7', 'predictions'."""
    import keras
    from keras import layers

    def conv(x, filters, kernel, strides=1, padding="same", name="conv"):
        return blocks.conv_bn_act(x, filters, kernel, strides, "relu", batch_norm=False, padding=padding, name=name)

    inputs = keras.Input((input_size, input_size, 3), name="input")
    x = layers.ZeroPadding2D(2, name="conv1_pad")(inputs)
    x = conv(x, 64, 11, 4, padding="valid", name="conv1")
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = conv(x, 192, 5, name="conv2")
    x = layers.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = conv(x, 384, 3, name="conv3")
    x = conv(x, 256, 3, name="conv4")
    x = conv(x, 256, 3, name="conv5")
    x = layers.MaxPooling2D(3, strides=2, name="pool5")(x)
    x = layers.Flatten(name="flatten")(x)
    for index in (6, 7):
        x = layers.Dropout(dropout, name=f"fc{index}_dropout")(x)
        x = layers.Dense(4096, activation="relu", name=f"fc{index}")(x)
    outputs = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name="alexnet")


ALEXNET = register_model(
    ModelSpec(
        name="alexnet",
        display_name="AlexNet",
        family="AlexNet",
        year=2012,
        build_fn=hand_made("alexnet", build_alexnet),
        default_input_size=224,
        min_input_size=63,
        params=61_100_840,
        macs=714_188_480,
        use_case=USE_CASE,
        published_top1=PublishedTop1(
            0.56522, "https://pytorch.org/vision/stable/models.html (AlexNet_Weights.IMAGENET1K_V1, acc@1)"
        ),
        notes=NOTES,
        default_row=0,
        preprocess=PREPROCESS_TORCH,
    )
)
