"""timm's ImageNet weights (its Hugging Face hub files) for EfficientNet-Lite0 and ViT-Ti/16.

tf_efficientnet_lite0 is the TensorFlow original ported to PyTorch: TF-"same" padding (what Keras' "same" does),
BatchNorm eps 1e-3, inputs in [-1, 1]. Top-1 figures are timm's results table (results-imagenet.csv).
"""

from __future__ import annotations

from edgekit.models.ported.common import (
    LayerWeights,
    Port,
    Tensors,
    VitKeys,
    batchnorm,
    conv,
    dense,
    depthwise,
    vit_weights,
)
from edgekit.models.registry import PREPROCESS_TF, PublishedTop1

HUB = "https://huggingface.co/timm/{}/resolve/main/model.safetensors"
RESULTS = "https://github.com/huggingface/pytorch-image-models/blob/main/results/results-imagenet.csv"


def efficientnet_lite(t: Tensors) -> LayerWeights:
    """blocks.S.J: a depthwise-separable block (conv_dw, conv_pw) in stage 0, inverted residuals (conv_pw expand,
    conv_dw, conv_pwl project) after it; edgekit names them block{S+1}{a, b, ...}."""
    out: LayerWeights = {
        "stem_conv": conv(t, "conv_stem", bias=False),
        "stem_conv_bn": batchnorm(t, "bn1"),
        "top_conv": conv(t, "conv_head", bias=False),
        "top_conv_bn": batchnorm(t, "bn2"),
        "predictions": dense(t, "classifier"),
    }
    for p in t.prefixes("blocks.*.*.conv_dw.weight"):
        stage, index = (int(v) for v in p.split(".")[1:3])
        name = f"block{stage + 1}{chr(ord('a') + index)}"
        if t.has(f"{p}.conv_pwl.weight"):
            out[f"{name}_expand"] = conv(t, f"{p}.conv_pw", bias=False)
            out[f"{name}_expand_bn"] = batchnorm(t, f"{p}.bn1")
            dw_bn, project, project_bn = "bn2", "conv_pwl", "bn3"
        else:
            dw_bn, project, project_bn = "bn1", "conv_pw", "bn2"
        out[f"{name}_dwconv"] = depthwise(t, f"{p}.conv_dw")
        out[f"{name}_dwconv_bn"] = batchnorm(t, f"{p}.{dw_bn}")
        out[f"{name}_project"] = conv(t, f"{p}.{project}", bias=False)
        out[f"{name}_project_bn"] = batchnorm(t, f"{p}.{project_bn}")
    return out


TIMM_VIT = VitKeys(
    patch="patch_embed.proj", cls="cls_token", pos="pos_embed", norm="norm", head="head",
    blocks="blocks.*.norm1.weight", ln1="{p}.norm1", ln2="{p}.norm2",
    attention=("{p}.attn.qkv.weight", "{p}.attn.qkv.bias", "{p}.attn.proj.weight", "{p}.attn.proj.bias"),
    mlp=("{p}.mlp.fc1", "{p}.mlp.fc2"),
)  # fmt: skip


def vit(t: Tensors) -> LayerWeights:
    return vit_weights(t, TIMM_VIT)


def _port(model: str, arch: str, convert, top1: float) -> Port:
    return Port(
        model=model,
        publisher="timm",
        architecture=arch,
        url=HUB.format(arch),
        sha256=None,  # the hub publishes its files' SHA-256 online only: see ported.fetch for what is checked
        convert=convert,
        preprocess=PREPROCESS_TF,  # pretrained_cfg mean = std = (0.5, 0.5, 0.5)
        top1=PublishedTop1(top1, f"{RESULTS} ({arch}, top1)"),
    )


PORTS = (
    _port("efficientnetlite0", "tf_efficientnet_lite0.in1k", efficientnet_lite, 0.7483),
    _port("vitti16", "vit_tiny_patch16_224.augreg_in21k_ft_in1k", vit, 0.7545),
)
