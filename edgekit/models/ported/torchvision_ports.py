"""torchvision's ImageNet weights (download.pytorch.org) mapped onto edgekit's builds of the same architectures.

Top-1 figures are torchvision's own (each weights enum's meta['_metrics'], also in its model docs).
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
    vit_weights,
)
from edgekit.models.registry import PREPROCESS_TF, PREPROCESS_TORCH, PublishedTop1

BASE = "https://download.pytorch.org/models/"
DOCS = "https://pytorch.org/vision/stable/models.html"
GOOGLENET_MODULES = ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")


def squeezenet(t: Tensors) -> LayerWeights:
    """features.0 is conv1; the Fire modules (fire2 ... fire9) are the features.N holding a squeeze conv."""
    out = {"conv1": conv(t, "features.0"), "head_conv": conv(t, "classifier.1")}
    fires = t.prefixes("features.*.squeeze.weight")
    for index, prefix in enumerate(fires, start=2):
        for part in ("squeeze", "expand1x1", "expand3x3"):
            out[f"fire{index}_{part}"] = conv(t, f"{prefix}.{part}")
    return out


def alexnet(t: Tensors) -> LayerWeights:
    out = {f"conv{i}": conv(t, f"features.{n}") for i, n in enumerate((0, 3, 6, 8, 10), start=1)}
    # fc6 reads the last feature map flattened: torch in (C, H, W) order, Keras' Flatten in (H, W, C) order.
    w = t("classifier.1.weight")
    channels = out["conv5"][0].shape[-1]
    side = round((w.shape[1] // channels) ** 0.5)
    w = w.reshape(-1, channels, side, side).transpose(0, 2, 3, 1).reshape(w.shape[0], -1)
    out["fc6"] = [w.T, t("classifier.1.bias")]
    out["fc7"] = dense(t, "classifier.4")
    out["predictions"] = dense(t, "classifier.6")
    return out


def googlenet(t: Tensors) -> LayerWeights:
    """BasicConv2d (conv without bias, BatchNorm eps 1e-3, ReLU) per edgekit conv; the aux heads are left out."""
    out: LayerWeights = {}

    def basic(prefix: str, name: str) -> None:
        out[name] = conv(t, f"{prefix}.conv", bias=False)
        out[f"{name}_bn"] = batchnorm(t, f"{prefix}.bn")

    basic("conv1", "conv1")
    basic("conv2", "conv2_reduce")
    basic("conv3", "conv2")
    parts = {"b1": "branch1", "b2r": "branch2.0", "b2": "branch2.1", "b3r": "branch3.0", "b3": "branch3.1"}
    for key in GOOGLENET_MODULES:
        for name, branch in (*parts.items(), ("proj", "branch4.1")):
            basic(f"inception{key}.{branch}", f"inception_{key}_{name}")
    out["predictions"] = dense(t, "fc")
    return out


def vit(t: Tensors) -> LayerWeights:
    """torchvision's VisionTransformer; its MLP is mlp.0/mlp.3 (mlp.linear_1/linear_2 in files saved before 0.15)."""
    blocks = "encoder.layers.*.ln_1.weight"
    old = any(t.has(f"{p}.mlp.linear_1.weight") for p in t.prefixes(blocks))
    a = "{p}.self_attention"
    keys = VitKeys(
        patch="conv_proj", cls="class_token", pos="encoder.pos_embedding", norm="encoder.ln", head="heads.head",
        blocks=blocks, ln1="{p}.ln_1", ln2="{p}.ln_2",
        attention=(f"{a}.in_proj_weight", f"{a}.in_proj_bias", f"{a}.out_proj.weight", f"{a}.out_proj.bias"),
        mlp=("{p}.mlp.linear_1", "{p}.mlp.linear_2") if old else ("{p}.mlp.0", "{p}.mlp.3"),
    )  # fmt: skip
    return vit_weights(t, keys)


def _port(model: str, arch: str, file: str, convert, top1: float, enum: str, **kw) -> Port:
    return Port(
        model=model,
        publisher="torchvision",
        architecture=arch,
        url=BASE + file,
        sha256=file.rsplit("-", 1)[-1].split(".")[0],  # torchvision's file names end in their SHA-256's prefix
        convert=convert,
        preprocess=kw.pop("preprocess", PREPROCESS_TORCH),
        top1=PublishedTop1(top1, f"{DOCS} ({enum}.IMAGENET1K_V1, acc@1)"),
        **kw,
    )


PORTS = (
    _port("squeezenet", "squeezenet1_0", "squeezenet1_0-b66bff10.pth", squeezenet, 0.58092, "SqueezeNet1_0_Weights",
          head=("head_conv",)),
    _port("squeezenet11", "squeezenet1_1", "squeezenet1_1-b8a52dc0.pth", squeezenet, 0.58178,
          "SqueezeNet1_1_Weights", head=("head_conv",)),
    _port("alexnet", "alexnet", "alexnet-owt-7be5be79.pth", alexnet, 0.56522, "AlexNet_Weights"),
    # GoogLeNet's weights expect transform_input=True, which turns ImageNet mean/std input back into [-1, 1]:
    # the Keras build takes [-1, 1] directly.
    _port("inceptionv1", "googlenet", "googlenet-1378be20.pth", googlenet, 0.69778, "GoogLeNet_Weights",
          preprocess=PREPROCESS_TF, ignore=("*num_batches_tracked", "aux1.*", "aux2.*")),
    _port("vitb16", "vit_b_16", "vit_b_16-c867db91.pth", vit, 0.81072, "ViT_B_16_Weights"),
    _port("vitb32", "vit_b_32", "vit_b_32-d86f8d99.pth", vit, 0.75912, "ViT_B_32_Weights"),
)  # fmt: skip
