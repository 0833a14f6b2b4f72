"""Weights ported from torchvision and timm (edgekit.models.ported): every mapping reproduces the publisher's logits,
the checkpoint reader refuses code, and `--weights imagenet` downloads, verifies and caches (a local HTTP server).

Parametrized over edgekit.models.ported.PORTS: a new port is tested without editing this file. The publishers'
models come from torch/torchvision/timm (the test extra); edgekit itself never imports torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import importlib.util
import json
import os
import pickle
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

if not all(importlib.util.find_spec(m) for m in ("torch", "torchvision", "timm", "safetensors")):
    pytest.skip("the publishers' frameworks come with the test extra", allow_module_level=True)

from _publisher import normalize, photos, publisher_model, save_checkpoints, torch_logits  # noqa: E402

from edgekit.errors import EdgekitError, UsageError  # noqa: E402
from edgekit.models import (  # noqa: E402
    create_model,
    get_spec,
    ported,  # noqa: E402
)
from edgekit.models.checkpoints import read_checkpoint  # noqa: E402
from edgekit.models.registry import PREPROCESS_TORCH  # noqa: E402

SLOW_PARAMS = 80_000_000  # ViT-B/16 and B/32: their checkpoints are 350 MB
# Models whose input size fixes a weight's shape (AlexNet's fc6 reads a 6x6 map): tested at the publisher's size.
PUBLISHER_SIZE_ONLY = {"alexnet"}
RTOL = 1e-3


def _params(slow_above: int = SLOW_PARAMS):
    return [
        pytest.param(name, id=name, marks=[pytest.mark.slow] if get_spec(name).params >= slow_above else [])
        for name in ported.PORTS
    ]


def _test_size(name: str) -> int:
    """The smallest size both builds take: 64 px, two patches for a ViT, the default where the size is fixed."""
    spec = get_spec(name)
    if name in PUBLISHER_SIZE_ONLY:
        return spec.default_input_size
    return max(64, 2 * spec.input_size_multiple) if spec.input_size_multiple > 1 else 64


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()


def _rel_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / np.abs(want).max())


@pytest.mark.parametrize("name", _params())
def test_publisher_logits_reproduced(name, tmp_path):
    """The publisher's model (random weights, random BatchNorm statistics) and edgekit's build loaded from its .pth
    and its .safetensors give the same logits on real photographs, each fed with its own preprocessing."""
    port, spec = ported.PORTS[name], get_spec(name)
    assert spec.preprocess == port.preprocess, "the registry must record the publisher's preprocessing"
    size = _test_size(name)
    reference = publisher_model(port.publisher, port.architecture, size)
    images = photos(size)
    # GoogLeNet's transform_input maps ImageNet mean/std input to [-1, 1]: torch gets the former, Keras the latter.
    torch_pre = PREPROCESS_TORCH if port.architecture == "googlenet" else port.preprocess
    want = torch_logits(reference, normalize(images, torch_pre))
    assert np.abs(want).max() > 0 and len(set(want.argmax(1))) >= 1
    for path in save_checkpoints(reference, tmp_path, port.architecture):
        model = create_model(name, size, 1000, weights=str(path))
        got = np.asarray(model(normalize(images, spec.preprocess)))
        err = _rel_error(got, want)
        print(f"{name} {path.suffix}: max relative error {err:.2e}")
        assert err <= RTOL, (name, path.suffix, err)
        assert (got.argmax(1) == want.argmax(1)).all()


def test_manifest_records_the_ported_weights_and_preprocessing(tmp_path):
    from edgekit.models.build import build_to_dir

    reference = publisher_model("torchvision", "squeezenet1_1", 64)
    pth, _ = save_checkpoints(reference, tmp_path, "sq")
    record = build_to_dir("squeezenet11", 64, 10, weights=str(pth), out=tmp_path / "out")
    source = record["build"]["weights_source"]
    assert record["build"]["weights_used"] == str(pth)
    assert source["publisher"] == "torchvision" and source["architecture"] == "squeezenet1_1"
    assert source["preprocess"] == PREPROCESS_TORCH.to_dict() == record["preprocess"]
    assert source["random_layers"] == ["head_conv"]  # 10 classes: the classifier stays random, the rest is loaded
    assert source["published_top1"]["value"] == pytest.approx(0.58178)
    saved = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert saved["build"]["weights_source"] == source


def test_registry_top1_is_the_ported_weights(tmp_path):
    for name, port in ported.PORTS.items():
        assert get_spec(name).published_top1 == port.top1, name
        assert get_spec(name).imagenet_weights


# --- hostile and broken files ----------------------------------------------------------------------------------------
class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
def test_a_pth_naming_foreign_code_is_refused_unrun(tmp_path, zipped):
    import torch

    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"conv.weight": torch.zeros(2), "x": _Payload(marker)}, path, _use_new_zipfile_serialization=zipped)
    with pytest.raises(UsageError) as err:
        read_checkpoint(path)
    assert err.value.message.startswith("refusing to load evil.pth") and "\n" not in err.value.message
    assert "system is not part of a weights-only state dict" in err.value.message
    with pytest.raises(UsageError, match="refusing to load evil.pth"):
        create_model("squeezenet11", 32, weights=str(path))
    assert not marker.exists()


def test_plain_pickles_and_damaged_files_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    plain = tmp_path / "plain.pth"
    plain.write_bytes(pickle.dumps(_Payload(marker)))
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes((10**9).to_bytes(8, "little") + b"{}")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint at all")
    for path in (plain, bad_st, garbage):
        with pytest.raises(UsageError, match=f"refusing to load {path.name}") as err:
            read_checkpoint(path)
        assert "\n" not in err.value.message
    assert not marker.exists()


def test_truncated_and_foreign_checkpoints_are_one_line(tmp_path):
    reference = publisher_model("torchvision", "squeezenet1_1", 64)
    pth, st = save_checkpoints(reference, tmp_path, "sq")
    for path in (pth, st):
        cut = tmp_path / f"cut{path.suffix}"
        cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        with pytest.raises(UsageError, match="refusing to load cut") as err:
            create_model("squeezenet11", 64, weights=str(cut))
        assert "\n" not in err.value.message
    with pytest.raises(EdgekitError, match="do not fit squeezenet"):
        create_model("squeezenet", 64, weights=str(pth))  # a 1.1 file for 1.0
    with pytest.raises(UsageError, match="takes no publisher checkpoint"):
        create_model("mobilenetv2", 32, weights=str(pth))


# --- --weights imagenet: download, verify, cache -------------------------------------------------------------------
class _Server:
    """A local HTTP server for the publisher's paths; `truncate` sends half the body under the full length."""

    def __init__(self, root: Path):
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(root), **kw)

            def log_message(self, *args):
                pass

            def copyfile(self, source, outputfile):
                data = source.read()
                outputfile.write(data[: len(data) // 2] if server.truncate else data)

        self.truncate = False
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def publisher_site(tmp_path, monkeypatch):
    """squeezenet1_1's official path served from 127.0.0.1 with a random-weights file, pinned to that file's hash."""
    port = ported.PORTS["squeezenet11"]
    reference = publisher_model("torchvision", "squeezenet1_1", 64)
    root = tmp_path / "www"
    target = root / port.url.split("://", 1)[1].split("/", 1)[1]
    target.parent.mkdir(parents=True)
    save_checkpoints(reference, target.parent, "tmp")[0].rename(target)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    monkeypatch.setitem(ported.PORTS, "squeezenet11", dataclasses.replace(port, sha256=digest[:8]))
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))
    server = _Server(root)
    monkeypatch.setenv("EDGEKIT_WEIGHTS_URL", server.url)
    yield server, target, reference
    server.close()


def _cache_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "cache" / "weights"
    return sorted(folder.rglob("*")) if folder.exists() else []


def test_imagenet_download_converts_once_and_caches(publisher_site, tmp_path, monkeypatch):
    server, target, reference = publisher_site
    images = photos(64)
    want = torch_logits(reference, normalize(images, PREPROCESS_TORCH))
    model = create_model("squeezenet11", 64, weights="imagenet")
    assert _rel_error(np.asarray(model(normalize(images, PREPROCESS_TORCH))), want) <= RTOL
    files = _cache_files(tmp_path)
    assert len(files) == 1 and files[0].suffix == ".npz"  # the converted weights only, no download left over
    server.close()  # a second build reads the cache: no network needed
    again = create_model("squeezenet11", 64, weights="imagenet")
    assert _rel_error(np.asarray(again(normalize(images, PREPROCESS_TORCH))), want) <= RTOL
    assert again._edgekit_weights_source["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()


def test_hash_mismatch_is_one_line_and_caches_nothing(publisher_site, tmp_path, monkeypatch):
    port = ported.PORTS["squeezenet11"]
    monkeypatch.setitem(ported.PORTS, "squeezenet11", dataclasses.replace(port, sha256="00000000"))
    with pytest.raises(EdgekitError, match="does not match its pinned SHA-256") as err:
        create_model("squeezenet11", 64, weights="imagenet")
    assert "\n" not in err.value.message and not _cache_files(tmp_path)


def test_truncated_download_is_one_line_and_caches_nothing(publisher_site, tmp_path):
    server, _, _ = publisher_site
    server.truncate = True
    with pytest.raises(EdgekitError, match="truncated download|broke off") as err:
        create_model("squeezenet11", 64, weights="imagenet")
    assert "\n" not in err.value.message and not _cache_files(tmp_path)


def test_no_network_is_one_line_and_auto_falls_back(publisher_site, tmp_path, monkeypatch, capsys):
    server, _, _ = publisher_site
    server.close()
    with pytest.raises(EdgekitError, match="no network") as err:
        create_model("squeezenet11", 64, weights="imagenet")
    assert "\n" not in err.value.message and not _cache_files(tmp_path)
    model = create_model("squeezenet11", 64, weights="auto")
    assert model._edgekit_weights == "random"
    assert "no ImageNet weights" in capsys.readouterr().err


# --- transfer learning from a publisher checkpoint -------------------------------------------------------------------
@pytest.fixture(scope="module")
def photo_classes(tmp_path_factory) -> Path:
    """200 small images: 4 photographs, 50 random crops each, one class per photograph."""
    from PIL import Image

    from edgekit.data import calibration as data
    from edgekit.models.registry import Preprocess

    root = tmp_path_factory.mktemp("photo-classes")
    raw = Preprocess(scale=1.0, offset=0.0)
    for i, name in enumerate(data.BUILTIN_PHOTOS[:4]):
        (root / name).mkdir()
        for j, crop in enumerate(data.random_crops([data._builtin_photo(name)], 50, 48, raw, seed=i)):
            Image.fromarray(crop.astype(np.uint8)).save(root / name / f"{j}.png")
    return root


def test_train_transfers_from_a_publisher_checkpoint(photo_classes, tmp_path):
    import keras

    from edgekit.models.blocks import custom_objects
    from edgekit.training.loop import TrainOptions, train

    reference = publisher_model("torchvision", "squeezenet1_1", 64)
    pth, _ = save_checkpoints(reference, tmp_path, "squeezenet1_1")
    messages: list[str] = []
    opts = TrainOptions("squeezenet11", str(photo_classes), epochs=2, input_size=48, weights=str(pth), out=tmp_path)
    record = train(opts, say=messages.append)
    assert record["strategy"] == "transfer" and record["weights"] == str(pth), record
    assert not any("from scratch" in m for m in messages), messages
    assert f"weights: {pth} (torchvision squeezenet1_1)" in messages
    manifest = json.loads(Path(record["manifest"]).read_text())
    assert manifest["weights"]["source"]["architecture"] == "squeezenet1_1"
    # Transfer learning: the backbone is the checkpoint's, untouched; only the new 4-class head trained.
    trained = keras.saving.load_model(record["model_path"], custom_objects=custom_objects(), compile=False)
    kernel = reference.state_dict()["features.3.squeeze.weight"].numpy().transpose(2, 3, 1, 0)
    np.testing.assert_array_equal(trained.get_layer("fire2_squeeze").get_weights()[0], kernel)
    assert trained.get_layer("head_conv").get_weights()[0].shape[-1] == 4
