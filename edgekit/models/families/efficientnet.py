"""EfficientNet (2019): searched inverted-residual + squeeze-excite blocks, scaled in depth, width and resolution;
EfficientNet-Lite (2020): the edge variant (ReLU6, no squeeze-excite, fixed stem/head), which survives INT8.
"""

from __future__ import annotations

from typing import Any

from edgekit.models import blocks
from edgekit.models.families._common import KERAS_APPS, hand_made, keras_app
from edgekit.models.registry import PREPROCESS_RAW, PREPROCESS_TF, ModelSpec, NotesRow, PublishedTop1, register_model

USE_CASE = "Practical deployment: the best accuracy for the resources"
NOTES = NotesRow(params="medium", use_case="practical deployment")

IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)


def set_input_normalization(model: Any) -> None:
    """Make EfficientNet's built-in Normalization layer apply the ImageNet mean/std.

    keras leaves it as the identity when weights=None and, with 'imagenet', stores std where the variance
    belongs and adds a compensating Rescaling layer. Setting the true statistics here means every build
    (random, ImageNet, or from a file) normalises raw [0, 255] pixels the same way.
    """
    import numpy as np

    for layer in model.layers:
        if type(layer).__name__ == "Normalization":
            count = layer.get_weights()[2]
            mean = np.asarray(IMAGENET_MEAN_RGB, "float32")
            variance = np.square(np.asarray(IMAGENET_STD_RGB, "float32"))
            layer.set_weights([mean, variance, count])
            layer.finalize_state()
            return


def _efficientnet(index: int, size: int, params: int, macs: int, top1: float, min_size: int = 32) -> ModelSpec:
    name = f"efficientnetb{index}"
    return register_model(
        ModelSpec(
            name=name,
            display_name=f"EfficientNet-B{index}",
            family="EfficientNet",
            year=2019,
            build_fn=keras_app(name, f"EfficientNetB{index}", size, post_build=set_input_normalization),
            default_input_size=size,
            min_input_size=min_size,
            params=params,
            macs=macs,
            use_case=USE_CASE,
            published_top1=PublishedTop1(top1, KERAS_APPS),
            notes=NOTES,
            default_row=9 if index == 0 else None,  # B0 stands for the family among compare's default rows
            preprocess=PREPROCESS_RAW,
            edge=index == 0,
            aliases=("efficientnet",) if index == 0 else (),
        )
    )


EFFICIENTNET_B0 = _efficientnet(0, 224, 5_330_571, 385_814_752, 0.771)
EFFICIENTNET_B1 = _efficientnet(1, 240, 7_856_239, 686_802_832, 0.791)
EFFICIENTNET_B2 = _efficientnet(2, 260, 9_177_569, 993_561_872, 0.801)
EFFICIENTNET_B3 = _efficientnet(3, 300, 12_320_535, 1_827_141_392, 0.816)

# EfficientNet-B0's stages: (kernel, repeats, output channels, expansion, first stride).
LITE0_STAGES = (
    (3, 1, 16, 1, 1),
    (3, 2, 24, 6, 2),
    (5, 2, 40, 6, 2),
    (3, 3, 80, 6, 2),
    (5, 3, 112, 6, 1),
    (5, 4, 192, 6, 2),
    (3, 1, 320, 6, 1),
)


def build_efficientnet_lite(
    input_size: int,
    num_classes: int = 1000,
    classifier_activation: str | None = None,
    stages: tuple[tuple[int, int, int, int, int], ...] = LITE0_STAGES,
    dropout: float = 0.2,
    drop_connect_rate: float = 0.2,
) -> Any:
    """EfficientNet-Lite: B0's blocks with ReLU6 everywhere and no squeeze-excite; layer names follow keras'
    EfficientNet ('stem_conv', 'block2a_expand', 'block2a_dwconv', 'block2a_project', 'top_conv')."""
    import keras

    inputs = keras.Input((input_size, input_size, 3), name="input")
    x = blocks.conv_bn_act(inputs, 32, 3, 2, activation="relu6", name="stem_conv")
    total = sum(stage[1] for stage in stages)
    done = 0
    for stage_index, (kernel, repeats, filters, expansion, stride) in enumerate(stages, start=1):
        for j in range(repeats):
            x = blocks.inverted_residual(
                x,
                filters,
                expansion=expansion,
                strides=stride if j == 0 else 1,
                kernel_size=kernel,
                activation="relu6",
                drop_rate=drop_connect_rate * done / total,
                name=f"block{stage_index}{chr(ord('a') + j)}",
            )
            done += 1
    x = blocks.conv_bn_act(x, 1280, 1, activation="relu6", name="top_conv")
    outputs = blocks.gap_head(x, num_classes, classifier_activation, dropout=dropout, name="top")
    return keras.Model(inputs, outputs, name="efficientnetlite0")


EFFICIENTNET_LITE0 = register_model(
    ModelSpec(
        name="efficientnetlite0",
        display_name="EfficientNet-Lite0",
        family="EfficientNet",
        year=2020,
        build_fn=hand_made("efficientnetlite0", build_efficientnet_lite),
        default_input_size=224,
        min_input_size=32,
        params=4_694_024,
        macs=385_187_552,
        use_case=USE_CASE,
        published_top1=PublishedTop1(
            0.7483,
            "https://github.com/huggingface/pytorch-image-models/blob/main/results/results-imagenet.csv "
            "(tf_efficientnet_lite0.in1k, top1)",
        ),
        notes=NOTES,
        preprocess=PREPROCESS_TF,
        edge=True,
        aliases=("efficientnetlite", "effnetlite0"),
    )
)
