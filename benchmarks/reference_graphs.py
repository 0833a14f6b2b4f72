"""Reference graphs of the published rows' models that the zoo lacks, exported by the frameworks the rows used.

The ONNX Runtime and Arrow Lake NPU rows ran timm models exported to ONNX (their notes name them): each is exported
here with torch.onnx.export (TorchScript exporter, opset 17, batch 1) and summarised by `edgekit fit --graph`'s code
(edgekit.costmodel.foreign). ResNet-152 V2 is keras.applications.ResNet152V2 converted to a full-integer .tflite;
Inception v4 (in no Keras) is timm's inception_v4 as ONNX, lowered for the Edge TPU when predicted
(edgekit.costmodel.lowering). Random weights: only the graph's shape matters.

    python benchmarks/reference_graphs.py [NAME ...]      # writes edgekit/costmodel/data/reference-graphs/
"""

from __future__ import annotations

import sys
import tempfile
import types
from pathlib import Path

# (graph name, timm model, input size)
TIMM = [
    ("timm_mobilenetv2_100", "mobilenetv2_100", 224),
    ("timm_mobilenetv2_050", "mobilenetv2_050", 224),
    ("timm_efficientnet_b0", "efficientnet_b0", 224),
    ("timm_resnet18", "resnet18", 224),
    ("timm_vgg13", "vgg13", 224),
    ("timm_inception_v4", "inception_v4", 299),
]
KERAS = [("resnet152v2", "ResNet152V2", 299, "int8")]


def export_timm(model: str, size: int, out: Path) -> str:
    """timm's model at `size` as ONNX (opset 17, batch 1); returns the tool line the summary records."""
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    import timm
    import torch

    net = timm.create_model(model, pretrained=False, num_classes=1000).eval()
    with torch.no_grad():
        torch.onnx.export(net, torch.zeros(1, 3, size, size), str(out), opset_version=17, dynamo=False,
                          input_names=["input"], output_names=["logits"])  # fmt: skip
    return f"timm {timm.__version__} {model}, torch {torch.__version__} torch.onnx.export opset 17"


def save_keras(ctor: str, size: int, out: Path) -> str:
    import keras

    net = getattr(keras.applications, ctor)(weights=None, input_shape=(size, size, 3), classes=1000)
    net.save(out)
    return f"keras {keras.__version__} keras.applications.{ctor}, converted by TFLiteConverter (full integer)"


def main(names: list[str]) -> None:
    from edgekit.costmodel.foreign import write_foreign_summary

    with tempfile.TemporaryDirectory() as tmp:
        for name, model, size in TIMM:
            if not names or name in names:
                path = Path(tmp) / f"{model}.onnx"
                tool = export_timm(model, size, path)
                print(write_foreign_summary(name, path, tool=tool), flush=True)
                path.unlink()
        for name, ctor, size, precision in KERAS:
            if not names or name in names:
                path = Path(tmp) / f"{name}.keras"
                tool = save_keras(ctor, size, path)
                print(write_foreign_summary(name, path, precision, tool=tool), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
