"""The publishers' own models (torchvision, timm) with random weights, for the ported-weights tests.

torchvision's PyPI wheel is a CUDA build: with the CPU torch of the test extra, `import torchvision` fails on its
custom operators' meta registrations. Its model definitions are pure PyTorch, so the registrations are skipped.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")


def import_torchvision():
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    import torchvision

    return torchvision


def publisher_model(publisher: str, architecture: str, input_size: int, seed: int = 0):
    """The publisher's model in eval mode, with random weights and random, non-trivial BatchNorm statistics."""
    import torch

    torch.manual_seed(seed)
    tv = import_torchvision()  # timm imports torchvision too
    arch = architecture.split(".")[0]
    if publisher == "timm":
        import timm

        kw = {"img_size": input_size} if arch.startswith("vit") else {}
        model = timm.create_model(arch, pretrained=False, **kw)
    elif arch == "googlenet":
        model = tv.models.googlenet(weights=None, aux_logits=False, transform_input=True, init_weights=True)
    elif arch.startswith("vit"):
        model = getattr(tv.models, arch)(weights=None, image_size=input_size)
    else:
        model = getattr(tv.models, arch)(weights=None)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():  # zero-initialised biases, heads and class tokens would test nothing
            if not p.any():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                m.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(n, generator=gen) * 0.2)
    return model.eval()


def save_checkpoints(model, folder: Path, stem: str) -> tuple[Path, Path]:
    """The model's state dict as torch.save writes it (.pth) and as safetensors does."""
    import torch
    from safetensors.torch import save_file

    state = model.state_dict()
    pth, st = folder / f"{stem}.pth", folder / f"{stem}.safetensors"
    torch.save(state, pth)
    save_file({k: v.contiguous() for k, v in state.items()}, str(st))
    return pth, st


def photos(size: int) -> np.ndarray:
    """Real photographs (scikit-image), centre-cropped and resized: (N, size, size, 3) float32 in [0, 255]."""
    from PIL import Image

    from edgekit.data.calibration import _builtin_photo

    out = []
    for name in PHOTOS:
        img = _builtin_photo(name)
        side = min(img.shape[:2])
        top, left = (img.shape[0] - side) // 2, (img.shape[1] - side) // 2
        crop = Image.fromarray(img[top : top + side, left : left + side].astype(np.uint8))
        out.append(np.asarray(crop.resize((size, size), Image.BILINEAR), np.float32))
    return np.stack(out)


def normalize(images: np.ndarray, pre) -> np.ndarray:
    """A registry Preprocess applied to [0, 255] RGB pixels (NHWC)."""
    x = images * pre.scale + pre.offset
    return ((x - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)).astype(np.float32)


def torch_logits(model, images: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.from_numpy(images.transpose(0, 3, 1, 2).copy())).numpy()
