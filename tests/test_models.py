"""The model zoo: registry data, builds at small sizes, stored params/MACs, weights handling.

Parametrized over the registry: a newly registered model is tested without editing this file. Models above
HEAVY_PARAMS are built at their default size only under `-m slow`.
"""

from __future__ import annotations

import subprocess
import sys
import urllib.error

import numpy as np
import pytest

from edgekit.errors import EdgekitError, UsageError
from edgekit.models import create_model, get_spec, list_models
from edgekit.models.registry import PREPROCESS_CAFFE, PREPROCESS_RAW, PREPROCESS_TF, PREPROCESS_TORCH

HEAVY_PARAMS = 30_000_000
SPECS = list_models()
NAMES = [s.name for s in SPECS]

# The architectures the notes name (one or more registered models each); the zoo may hold more.
NOTES_ARCHITECTURES = {
    "AlexNet": "alexnet",
    "VGG": "vgg19",
    "Inception": "inceptionv3",
    "SqueezeNet": "squeezenet",
    "ResNet": "resnet50",
    "DenseNet": "densenet121",
    "Xception": "xception",
    "NASNet": "nasnetmobile",
    "MobileNet": "mobilenetv2",
    "EfficientNet": "efficientnetb0",
    "ViT": "vitb16",
}
EDGE = {"mobilenetv2", "squeezenet", "squeezenet11", "efficientnetb0", "efficientnetlite0", "mobilenetv1"}

# Published multiply-accumulates at the default input size (papers / torchvision / keras tables).
PUBLISHED_GMACS = {
    "mobilenetv2": 0.30,
    "resnet50": 4.1,
    "vgg19": 19.6,
    "squeezenet": 0.82,
    "squeezenet11": 0.35,
    "efficientnetb0": 0.39,
    "densenet121": 2.9,
    "inceptionv3": 5.7,
    "vitb16": 17.6,
    "alexnet": 0.71,
    "vgg16": 15.5,
    "mobilenetv1": 0.569,
    "xception": 8.4,
    "nasnetmobile": 0.564,
    "vitti16": 1.26,
    "inceptionv1": 1.5,
    "vitb32": 4.4,
}
PUBLISHED_MPARAMS = {"mobilenetv2": 3.5, "resnet50": 25.6, "vgg16": 138.4, "vitb16": 86.6, "alexnet": 61.1}


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    if "keras" in sys.modules:
        sys.modules["keras"].backend.clear_session()


def _small_size(spec) -> int:
    """The cheapest size every model takes: its minimum, at least 32, rounded up to its multiple."""
    size = max(spec.min_input_size, 32)
    step = spec.input_size_multiple
    return -(-size // step) * step


def _by_weight(spec, heavy_mark=pytest.mark.slow):
    return pytest.param(spec.name, id=spec.name, marks=[heavy_mark] if spec.params >= HEAVY_PARAMS else [])


def _image(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (1, size, size, 3)).astype("float32")


# --- registry data (no TensorFlow) -------------------------------------------------------------------------------


def test_registry_holds_every_architecture_of_the_notes():
    for family, name in NOTES_ARCHITECTURES.items():
        assert get_spec(name).family == family
    assert {s.family for s in SPECS} == set(NOTES_ARCHITECTURES)
    assert EDGE <= {s.name for s in SPECS if s.edge}


def test_listing_imports_no_tensorflow():
    code = (
        "import sys, edgekit.models as m; specs = m.list_models(); m.get_spec('mobilenet_v2'); "
        "bad = [k for k in ('tensorflow', 'keras', 'onnxruntime', 'openvino') if k in sys.modules]; "
        "assert not bad, bad; print(len(specs))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == len(SPECS)


@pytest.mark.parametrize("name", NAMES)
def test_spec_data(name):
    spec = get_spec(name)
    assert spec.family and 2010 <= spec.year <= 2025 and spec.use_case.isascii() and len(spec.use_case) > 10
    assert type(spec.params) is int and type(spec.macs) is int and spec.params > 0 and spec.macs > 0
    assert 0 < spec.min_input_size <= spec.default_input_size
    assert spec.default_input_size % spec.input_size_multiple == 0
    summary = spec.summary()
    assert summary["name"] == name and summary["params"] == spec.params


@pytest.mark.parametrize("name", sorted(PUBLISHED_GMACS))
def test_stored_macs_match_published(name):
    spec = get_spec(name)
    assert spec.macs == pytest.approx(PUBLISHED_GMACS[name] * 1e9, rel=0.10)
    if name in PUBLISHED_MPARAMS:
        assert spec.params == pytest.approx(PUBLISHED_MPARAMS[name] * 1e6, rel=0.02)


def test_preprocess_modes_follow_keras():
    modes = {
        "vgg16": PREPROCESS_CAFFE,
        "resnet50": PREPROCESS_CAFFE,
        "densenet121": PREPROCESS_TORCH,
        "inceptionv3": PREPROCESS_TF,
        "xception": PREPROCESS_TF,
        "mobilenetv2": PREPROCESS_TF,
        "nasnetmobile": PREPROCESS_TF,
        "efficientnetb0": PREPROCESS_RAW,
        "efficientnetb3": PREPROCESS_RAW,
    }
    for name, mode in modes.items():
        assert get_spec(name).preprocess == mode, name
    assert PREPROCESS_CAFFE.to_dict()["channels"] == "BGR"


@pytest.mark.parametrize(
    "alias, name",
    [
        ("mobilenet_v2", "mobilenetv2"),
        ("MobileNet-V2", "mobilenetv2"),
        ("efficientnet-b0", "efficientnetb0"),
        ("EfficientNet-Lite0", "efficientnetlite0"),
        ("squeezenet1.1", "squeezenet11"),
        ("squeezenet1_0", "squeezenet"),
        ("vit-ti16", "vitti16"),
        ("vit_b16", "vitb16"),
    ],
)
def test_aliases(alias, name):
    assert get_spec(alias).name == name


def test_unknown_name_suggests():
    with pytest.raises(UsageError, match="did you mean"):
        get_spec("mobilenetv3")
    with pytest.raises(UsageError):
        create_model("not-a-model")


def test_bad_input_sizes_are_usage_errors():
    with pytest.raises(UsageError, match="75"):
        create_model("inceptionv3", input_size=32)
    with pytest.raises(UsageError, match="multiple of 16"):
        create_model("vitti16", input_size=40)
    with pytest.raises(UsageError, match="width multiplier"):
        create_model("resnet50", input_size=32, alpha=0.5)
    with pytest.raises(UsageError, match="classifier activation"):
        create_model("squeezenet", input_size=32, classifier_activation="tanh")
    with pytest.raises(UsageError, match="classes"):
        create_model("squeezenet", input_size=32, num_classes=0)


# --- builds ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_builds_small_with_logits_and_softmax(name):
    spec = get_spec(name)
    size = _small_size(spec)
    x = _image(size)
    logits = create_model(name, input_size=size, num_classes=7)
    y = np.asarray(logits(x, training=False))
    assert y.shape == (1, 7) and np.isfinite(y).all()
    assert not np.allclose(y.sum(), 1.0, atol=1e-3)
    probs = create_model(name, input_size=size, num_classes=7, classifier_activation="softmax")
    p = np.asarray(probs(x, training=False))
    assert p.shape == (1, 7) and np.allclose(p.sum(), 1.0, atol=1e-5) and (p >= 0).all()
    if not spec.imagenet_weights:
        # Hand-built models name every layer: a second build in the same session gets the same names
        # (keras' auto-names would have gained a suffix).
        names = [layer.name for layer in logits.layers]
        again = [layer.name for layer in probs.layers]
        assert [n for n in again if n in names] == names
        assert [n for n in again if n not in names] in ([], ["predictions"])


@pytest.mark.parametrize("spec", [_by_weight(s) for s in SPECS])
def test_stored_params_and_macs_match_a_default_build(spec):
    from edgekit.models.macs import count_params_macs

    s = get_spec(spec)
    assert count_params_macs(create_model(s.name)) == (s.params, s.macs)


def test_mobilenet_width_multiplier():
    full = create_model("mobilenetv2", input_size=32, num_classes=7)
    half = create_model("mobilenetv2", input_size=32, num_classes=7, alpha=0.5)
    assert half.count_params() < 0.6 * full.count_params()
    v1 = create_model("mobilenetv1", input_size=32, num_classes=7, alpha=0.25)
    assert v1.output.shape == (None, 7)


def test_efficientnet_normalises_raw_pixels():
    model = create_model("efficientnetb0", input_size=32, num_classes=7)
    norm = next(layer for layer in model.layers if type(layer).__name__ == "Normalization")
    mean, variance, _ = norm.get_weights()
    np.testing.assert_allclose(mean, [0.485, 0.456, 0.406], rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(variance), [0.229, 0.224, 0.225], rtol=1e-6)


def test_efficientnet_lite_is_the_edge_variant():
    model = create_model("efficientnetlite0", input_size=32, num_classes=7)
    kinds = {type(layer).__name__ for layer in model.layers}
    acts = {layer.get_config()["activation"] for layer in model.layers if type(layer).__name__ == "Activation"}
    assert "Multiply" not in kinds  # no squeeze-excite
    assert acts == {"relu6"}
    assert {"stem_conv", "block2a_expand", "block2a_dwconv", "block2a_project", "top_conv"} <= {
        layer.name for layer in model.layers
    }


# --- weights ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_weights_file_round_trip(tmp_path, suffix):
    x = _image(32, seed=1)
    source = create_model("squeezenet11", input_size=32, num_classes=7)
    path = tmp_path / f"sq{suffix}"
    if suffix == ".keras":
        source.save(path)
    else:
        source.save_weights(path)
    loaded = create_model("squeezenet11", input_size=32, num_classes=7, weights=str(path))
    np.testing.assert_array_equal(np.asarray(source(x)), np.asarray(loaded(x)))
    fresh = create_model("squeezenet11", input_size=32, num_classes=7)
    assert not np.array_equal(np.asarray(source(x)), np.asarray(fresh(x)))


def test_weights_file_round_trip_keras_application(tmp_path):
    x = _image(32, seed=2)
    source = create_model("mobilenetv2", input_size=32, num_classes=5, alpha=0.35)
    path = tmp_path / "m.weights.h5"
    source.save_weights(path)
    loaded = create_model("mobilenetv2", input_size=32, num_classes=5, alpha=0.35, weights=str(path))
    np.testing.assert_array_equal(np.asarray(source(x)), np.asarray(loaded(x)))


def test_weights_file_errors(tmp_path):
    path = tmp_path / "sq.weights.h5"
    create_model("squeezenet11", input_size=32, num_classes=7).save_weights(path)
    with pytest.raises(EdgekitError) as err:
        create_model("squeezenet11", input_size=32, num_classes=9, weights=str(path))
    assert "does not fit squeezenet11" in err.value.message and "\n" not in err.value.message
    with pytest.raises(UsageError, match="not found"):
        create_model("squeezenet11", input_size=32, weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(UsageError, match="weights must be"):
        create_model("squeezenet11", input_size=32, weights=str(tmp_path / "w.bin"))


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """Point keras' download cache at a temporary folder."""
    from keras.src.backend import config

    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path / "keras"))
    return tmp_path / "keras"


def _offline(url, filename, reporthook=None, data=None):
    with open(filename, "wb") as f:
        f.write(b"partial")
    raise urllib.error.URLError("[Errno -2] Name or service not known")


def test_imagenet_without_network_is_one_line(keras_home, monkeypatch, capsys):
    from keras.src.utils import file_utils

    monkeypatch.setattr(file_utils, "urlretrieve", _offline)
    with pytest.raises(EdgekitError) as err:
        create_model("mobilenetv2", input_size=32, num_classes=7, weights="imagenet")
    assert "Downloading" not in capsys.readouterr().out  # stdout stays free for --json
    message = err.value.message
    assert message.startswith("could not download ImageNet weights for mobilenetv2: no network (")
    assert "Name or service not known" in message and "\n" not in message
    assert not any(keras_home.rglob("*.h5"))  # no partial download left behind


def test_corrupt_download_leaves_no_file(keras_home, monkeypatch):
    from keras.src.utils import file_utils

    def corrupt(url, filename, reporthook=None, data=None):
        with open(filename, "wb") as f:
            f.write(b"not an h5 file")

    monkeypatch.setattr(file_utils, "urlretrieve", corrupt)
    with pytest.raises(EdgekitError, match="could not load ImageNet weights for mobilenetv2") as err:
        create_model("mobilenetv2", input_size=32, num_classes=7, weights="imagenet")
    assert "\n" not in err.value.message
    assert not any(keras_home.rglob("*.h5"))


def test_imagenet_weights_are_copied_at_any_size(tmp_path, monkeypatch):
    """keras' imagenet file stood in by random weights: the trunk is copied, the new classifier stays fresh."""
    import keras
    from keras.src.utils import file_utils

    reference = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(224, 224, 3), alpha=0.35)
    path = tmp_path / "notop.weights.h5"
    reference.save_weights(path)
    monkeypatch.setattr(file_utils, "get_file", lambda *args, **kwargs: str(path))
    model = create_model("mobilenetv2", input_size=64, num_classes=7, alpha=0.35, weights="imagenet")
    for name in ("Conv1", "block_16_project", "Conv_1_bn"):
        for a, b in zip(reference.get_layer(name).get_weights(), model.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert model.output.shape == (None, 7)


def test_imagenet_with_unsupported_alpha_is_usage_error(keras_home):
    with pytest.raises(UsageError, match="no ImageNet weights for mobilenetv2"):
        create_model("mobilenetv2", input_size=32, alpha=0.6, weights="imagenet")


def test_readme_lists_every_registered_model():
    """docs/models-and-training.md's model list is checked against the registry (a new registration must be
    documented there; README's model table is generated from the registry)."""
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "models-and-training.md").read_text()
    section = page.split("## Models", 1)[1].split("\n## ", 1)[0]
    missing = [name for name in NAMES if f"`{name}`" not in section]
    assert not missing, f"docs/models-and-training.md's Models section does not list {missing}"
