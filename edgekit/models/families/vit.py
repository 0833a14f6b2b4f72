"""Vision Transformer (2020): 16x16 patches become tokens with learned positions, then transformer encoders.

The position embedding has one vector per patch, so a ViT's parameter count (and any weights file) is tied
to its input size; the input must be a multiple of the patch size.
"""

from __future__ import annotations

from typing import Any

from edgekit.models import blocks
from edgekit.models.families._common import hand_made
from edgekit.models.registry import PREPROCESS_TF, PREPROCESS_TORCH, ModelSpec, NotesRow, PublishedTop1, register_model

USE_CASE = "Large-data classification and pre-training: global features"
NOTES = NotesRow(params="high", use_case="large-data classification, pre-training")

PATCH = 16


def build_vit(
    input_size: int,
    num_classes: int = 1000,
    classifier_activation: str | None = None,
    patch_size: int = PATCH,
    dim: int = 768,
    depth: int = 12,
    heads: int = 12,
    mlp_dim: int = 3072,
    dropout: float = 0.0,
    name: str = "vit",
) -> Any:
    """Layers: 'patch_embed_*', 'encoder{i}_*' (i = 1..depth), 'encoder_norm', 'cls_select', 'predictions'."""
    import keras
    from keras import layers

    inputs = keras.Input((input_size, input_size, 3), name="input")
    x = blocks.patch_embedding(inputs, patch_size, dim, class_token=True, name="patch_embed")
    for i in range(1, depth + 1):
        x = blocks.transformer_encoder_block(x, heads, mlp_dim, dropout, name=f"encoder{i}")
    x = layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")(x)
    # Keep the class token only: built-in layers (not x[:, 0]) so that the layer names stay explicit.
    x = layers.Cropping1D((0, int(x.shape[1]) - 1), name="cls_select")(x)
    x = layers.Flatten(name="cls_flatten")(x)
    outputs = layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


# name: (patch, dim, depth, heads, mlp_dim)
VARIANTS = {
    "vitti16": (16, 192, 12, 3, 768),
    "vitb16": (16, 768, 12, 12, 3072),
    "vitb32": (32, 768, 12, 12, 3072),
}


def _builder(name: str):
    patch, dim, depth, heads, mlp_dim = VARIANTS[name]
    return hand_made(
        name,
        lambda size, classes, act: build_vit(size, classes, act, patch, dim, depth, heads, mlp_dim, name=name),
    )


VIT_TI16 = register_model(
    ModelSpec(
        name="vitti16",
        display_name="ViT-Ti/16",
        family="ViT",
        year=2020,
        build_fn=_builder("vitti16"),
        default_input_size=224,
        min_input_size=PATCH,
        params=5_717_416,
        macs=1_253_683_200,
        use_case=USE_CASE,
        published_top1=PublishedTop1(
            0.7545,
            "https://github.com/huggingface/pytorch-image-models/blob/main/results/results-imagenet.csv "
            "(vit_tiny_patch16_224.augreg_in21k_ft_in1k, top1)",
        ),
        notes=NOTES,
        preprocess=PREPROCESS_TF,
        aliases=("vittiny16", "vittiny", "vitti"),
        input_size_multiple=PATCH,
    )
)

VIT_B16 = register_model(
    ModelSpec(
        name="vitb16",
        display_name="ViT-B/16",
        family="ViT",
        year=2020,
        build_fn=_builder("vitb16"),
        default_input_size=224,
        min_input_size=PATCH,
        params=86_567_656,
        macs=17_563_828_224,
        use_case=USE_CASE,
        published_top1=PublishedTop1(
            0.81072, "https://pytorch.org/vision/stable/models.html (ViT_B_16_Weights.IMAGENET1K_V1, acc@1)"
        ),
        notes=NOTES,
        default_row=10,
        preprocess=PREPROCESS_TORCH,  # torchvision's ImageNet mean/std
        aliases=("vitbase16", "vitbase", "vitb"),
        input_size_multiple=PATCH,
    )
)

VIT_B32 = register_model(
    ModelSpec(
        name="vitb32",
        display_name="ViT-B/32",
        family="ViT",
        year=2020,
        build_fn=_builder("vitb32"),
        default_input_size=224,
        min_input_size=32,
        params=88_224_232,
        macs=4_409_186_304,
        use_case=USE_CASE,
        published_top1=PublishedTop1(
            0.75912, "https://pytorch.org/vision/stable/models.html (ViT_B_32_Weights.IMAGENET1K_V1, acc@1)"
        ),
        notes=NOTES,
        preprocess=PREPROCESS_TORCH,  # torchvision's ImageNet mean/std
        aliases=("vitbase32",),
        input_size_multiple=32,
    )
)
