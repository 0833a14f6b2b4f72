"""Calibration data: real image files of every kind, class folders, corrupt files, builtin photographs."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgekit.data import calibration as data
from edgekit.errors import EdgekitError, UsageError
from edgekit.models.registry import PREPROCESS_TF, PREPROCESS_TORCH


def _photo(seed: int, size=(60, 40)) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8))


@pytest.fixture
def mixed_folder(tmp_path) -> Path:
    """Class subfolders holding JPEG, PNG, BMP, WebP, grayscale and RGBA images, plus one corrupt file."""
    for cls, seeds in (("cat", (0, 1, 2)), ("dog", (3, 4, 5))):
        d = tmp_path / cls
        d.mkdir()
        _photo(seeds[0]).save(d / "a.jpg")
        _photo(seeds[1]).convert("L").save(d / "b.png")
        _photo(seeds[2]).convert("RGBA").save(d / "c.webp")
    _photo(9).save(tmp_path / "dog" / "d.bmp")
    (tmp_path / "cat" / "broken.jpg").write_bytes(b"\xff\xd8not a jpeg")
    return tmp_path


def test_class_folders_become_labels_and_corrupt_files_are_counted(mixed_folder):
    cs = data.from_folder(mixed_folder, n=100, size=24, pre=PREPROCESS_TF)
    assert cs.images.shape == (7, 24, 24, 3) and cs.images.dtype == np.float32
    assert cs.class_names == ["cat", "dog"]
    assert sorted(cs.labels.tolist()) == [0, 0, 0, 1, 1, 1, 1]
    assert cs.skipped == 1
    assert cs.images.min() >= -1.0 and cs.images.max() <= 1.0


def test_flat_folder_has_no_labels_and_torch_normalisation(tmp_path):
    _photo(1).save(tmp_path / "x.png")
    cs = data.from_folder(tmp_path, n=10, size=16, pre=PREPROCESS_TORCH)
    assert cs.labels is None and len(cs) == 1
    assert cs.images.max() > 1.0  # (x/255 - mean) / std reaches beyond 1


def test_grayscale_is_replicated_and_alpha_composited_on_white(tmp_path):
    Image.new("L", (8, 8), 100).save(tmp_path / "g.png")
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(tmp_path / "t.png")
    cs = data.from_folder(tmp_path, n=10, size=8, pre=data.Preprocess(scale=1.0, offset=0.0, crop_fraction=1.0))
    by_file = dict(zip([Path(f).name for f in cs.files], cs.images, strict=True))
    assert np.allclose(by_file["g.png"], 100.0)
    assert np.allclose(by_file["t.png"], 255.0)


def test_missing_empty_and_all_corrupt_folders(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        data.from_folder(tmp_path / "nope", 4, 16, PREPROCESS_TF)
    with pytest.raises(UsageError, match="has no images"):
        data.from_folder(tmp_path, 4, 16, PREPROCESS_TF)
    (tmp_path / "bad.png").write_bytes(b"garbage")
    with pytest.raises(EdgekitError, match="no readable images"):
        data.from_folder(tmp_path, 4, 16, PREPROCESS_TF)


def test_builtin_images_are_real_varied_and_reproducible():
    a = data.builtin(12, 32, PREPROCESS_TF, seed=0)
    b = data.builtin(12, 32, PREPROCESS_TF, seed=0)
    c = data.builtin(12, 32, PREPROCESS_TF, seed=1)
    assert a.source.startswith("builtin") and len(a) == 12
    assert np.array_equal(a.images, b.images) and not np.array_equal(a.images, c.images)
    flat = a.images.reshape(12, -1)
    assert len({tuple(np.round(f[:50], 3)) for f in flat}) == 12  # no two crops alike
    assert flat.std(axis=1).min() > 0.05  # photographs, not flat colour


def test_synthetic_only_when_asked_and_labelled_as_such():
    cs = data.calibration_set("synthetic", 3, 16, PREPROCESS_TF)
    assert cs.source == "synthetic" and cs.describe()["source"] == "synthetic"


def test_adapters_feed_every_toolchain():
    cs = data.synthetic(3, 8, PREPROCESS_TF)
    batches = list(cs.representative_dataset()())
    assert len(batches) == 3 and batches[0][0].shape == (1, 8, 8, 3)
    reader = cs.onnx_reader("input")
    got = [reader.get_next() for _ in range(4)]
    assert got[-1] is None and got[0]["input"].shape == (1, 8, 8, 3)
    reader.rewind()
    assert reader.get_next() is not None
    assert len(list(cs.nncf_dataset().get_inference_data())) == 3
