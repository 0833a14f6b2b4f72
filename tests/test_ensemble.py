"""edgekit ensemble: logits averaged then softmax in one safe-mode Keras graph that exports like any model; members
with other preprocessing or input sizes adapted inside the graph; different class counts refused."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli


@pytest.fixture(scope="module")
def members(tmp_path_factory) -> dict[str, Path]:
    """Tiny real members as `edgekit build` writes them: MobileNetV2 ([-1, 1] input, 32 px) and SqueezeNet 1.1
    (Torch mean/std, 40 px), 10 classes; and one SqueezeNet with 5 classes."""
    from edgekit.models.build import build_to_dir

    root = tmp_path_factory.mktemp("members")
    specs = {
        "mnv2": ("mobilenetv2", 32, 10, 0.35),
        "sq": ("squeezenet11", 40, 10, None),
        "sq5": ("squeezenet11", 32, 5, None),
    }
    return {
        key: Path(build_to_dir(model, size, classes, alpha, "none", root / key)["path"])
        for key, (model, size, classes, alpha) in specs.items()
    }


@pytest.mark.parametrize("preset", ["PREPROCESS_CAFFE", "PREPROCESS_TORCH", "PREPROCESS_RAW", "PREPROCESS_TF"])
def test_adapter_maps_tf_input_to_the_members_preprocessing(preset):
    from edgekit.choose.ensemble import adapter_weights
    from edgekit.data import images as data
    from edgekit.models import registry

    pre = getattr(registry, preset)
    pixels = np.random.default_rng(0).integers(0, 256, (4, 5, 5, 3)).astype(np.uint8)
    kernel, bias = adapter_weights(pre)
    adapted = data.normalize(pixels, registry.PREPROCESS_TF) @ kernel[0, 0] + bias
    np.testing.assert_allclose(adapted, data.normalize(pixels, pre), rtol=1e-5, atol=1e-3)


def test_ensemble_averages_logits_saves_safely_and_exports_int8(members, tmp_path, capsys):
    args = [
        "ensemble",
        str(members["mnv2"]),
        str(members["sq"]),
        "--input-size",
        "32",
        "--out",
        str(tmp_path),
        "--json",
    ]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    record = json.loads(out)
    path = Path(record["path"])
    assert path == tmp_path / "ensemble" / "keras" / "ensemble.keras" and path.is_file()
    # MobileNetV2 needs no adapter; SqueezeNet gets one for Torch mean/std and a resize from 32 to 40 px.
    config = zipfile.ZipFile(path).read("config.json").decode()
    assert "Lambda" not in config and "member1_preprocess" in config and "member1_resize" in config
    assert record["safe_mode_reload_max_diff"] < 1e-5
    # The reference feeds SqueezeNet PIL crops made at 40 px, the graph upsamples 32 px in its Resizing layer: the
    # difference is reported, not zero (exactness is checked without resizing below).
    assert 0.0 < record["fidelity"]["cosine"] <= 1.0 and record["fidelity"]["n"] == 32
    assert record["combine"] == "softmax(mean of the members' logits)"
    assert "differ" in record["diversity_note"] and record["accuracy"]["available"] is False
    assert 0.0 <= record["member_top1_disagreement"] <= 1.0
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert manifest["build"] == {"input_size": 32, "num_classes": 10}
    code, out, err = run_cli(
        ["export", str(path), "--int8", "--format", "tflite", "--calib-size", "16", "--holdout", "8",
         "--out", str(tmp_path / "exports"), "--json"], capsys,
    )  # fmt: skip
    assert code in (0, 3), err  # 3: a random-weight net may fall below a fidelity gate; the export itself ran
    rec = json.loads(out)[0]
    assert rec["status"] in ("ok", "below-threshold") and Path(rec["path"]).is_file()
    assert rec["fidelity"]["cosine"] > 0.9


def test_same_architecture_members_get_the_notes_advice(members, tmp_path, capsys):
    code, out, err = run_cli(
        ["ensemble", str(members["sq"]), "squeezenet11", "--input-size", "40", "--num-classes", "10",
         "--out", str(tmp_path), "--json"], capsys,
    )  # fmt: skip
    assert code == 0, err
    record = json.loads(out)
    assert "both SqueezeNet" in record["diversity_note"]
    # Same size, no Resizing: the graph equals softmax(mean of the members' logits) to float precision. Random-weight
    # logits nearly tie, so float rounding can flip an argmax (in a full-suite run: cosine 1.0, one image of 16).
    assert record["fidelity"]["cosine"] > 0.99999 and record["fidelity"]["top1_agreement"] >= 0.9


@pytest.mark.parametrize(
    ("which", "extra", "message"),
    [
        (("mnv2", "sq5"), [], "different numbers of classes"),
        (("mnv2", "sq"), [], "pass --input-size N"),
        (("mnv2",), [], "at least two members"),
        (("mnv2", "nosuchnet"), [], "unknown model 'nosuchnet'"),
        (("mnv2", "missing.keras"), [], "no such model file"),
    ],
)
def test_bad_members_are_one_line_exit_2_and_write_nothing(members, tmp_path, capsys, which, extra, message):
    items = [str(members[w]) if w in members else w for w in which]
    code, _, err = run_cli(["ensemble", *items, *extra, "--out", str(tmp_path)], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not any(tmp_path.iterdir())
