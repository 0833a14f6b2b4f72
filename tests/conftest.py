"""Session-wide cache of built artifacts: each tiny model is trained and exported once per test run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# Ported ImageNet weights (edgekit.models.ported) come from a closed local port: no test reaches the internet.
os.environ.setdefault("EDGEKIT_WEIGHTS_URL", "http://127.0.0.1:9")

# Libraries that must not load unless a command needs them (`edgekit --help` stays instant).
HEAVY = ("tensorflow", "keras", "openvino", "onnxruntime", "onnx", "nncf", "tf2onnx", "ai_edge_litert")


def imported_after(code: str) -> set[str]:
    """Top-level modules loaded in a fresh interpreter after running code."""
    probe = f"import sys\n{code}\nprint(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split())


# The smallest real edge model: MobileNetV2 at width 0.35 on 32x32 inputs.
TINY = {"model": "mobilenetv2", "input_size": 32, "alpha": 0.35, "num_classes": 10, "calib_size": 16, "holdout": 8}
CLASSES = 8  # builtin photographs used as classes for the trained tiny model


@pytest.fixture(scope="session")
def export_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("exports")


@pytest.fixture(scope="session")
def labelled_folder(tmp_path_factory) -> Path:
    """Real photographs as a labelled image folder: one class per builtin photograph, 6 JPEG crops each."""
    from PIL import Image

    from edgekit.data import calibration as data
    from edgekit.models.registry import Preprocess

    root = tmp_path_factory.mktemp("labelled")
    raw = Preprocess(scale=1.0, offset=0.0)
    for i, name in enumerate(data.BUILTIN_PHOTOS[:CLASSES]):
        (root / name).mkdir()
        crops = data.random_crops([data._builtin_photo(name)], 6, 48, raw, seed=100 + i)
        for j, crop in enumerate(crops):
            Image.fromarray(crop.astype(np.uint8)).save(root / name / f"{j}.jpg", quality=95)
    return root


@pytest.fixture(scope="session")
def trained_keras(tmp_path_factory, labelled_folder) -> Path:
    """A tiny MobileNetV2 trained for a few seconds to tell the photographs of labelled_folder apart.

    Random-weight networks amplify any perturbation layer after layer, so their INT8 fidelity says little;
    a trained network is what users quantize, and this one trains in ~10 s on 2 cores.
    """
    import keras

    from edgekit.data import calibration as data
    from edgekit.exporting.pipeline import reestimate_batchnorm
    from edgekit.models.registry import PREPROCESS_TF, create_model

    keras.utils.set_random_seed(0)
    images = data.from_folder(labelled_folder, 0, 32, PREPROCESS_TF)
    model = create_model("mobilenetv2", 32, CLASSES, 0.35, "none")
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images.images, images.labels, epochs=30, batch_size=16, verbose=0)
    # 90 steps leave BatchNorm's moving averages (momentum 0.99) far from the data: settle them.
    reestimate_batchnorm(model, images.images)
    path = tmp_path_factory.mktemp("trained") / "tinynet.keras"
    model.save(path)
    return path


def _export(root: Path, source: str, precision: str, formats: tuple[str, ...], **kw) -> list[dict]:
    from edgekit.exporting.options import ExportOptions
    from edgekit.exporting.pipeline import export

    opts = ExportOptions(model=source, precision=precision, formats=formats, out=root, threads=1, **kw)
    return export(opts, on_step=lambda msg: None)


@pytest.fixture(scope="session")
def tiny_fp32(export_root, trained_keras, labelled_folder) -> dict[str, dict]:
    recs = _export(
        export_root,
        str(trained_keras),
        "fp32",
        ("tflite", "onnx", "openvino"),
        calib=str(labelled_folder),
        calib_size=24,
        holdout=24,
    )
    return {r["format"]: r for r in recs}


@pytest.fixture(scope="session")
def tiny_int8(export_root, trained_keras, labelled_folder) -> dict[str, dict]:
    recs = _export(
        export_root,
        str(trained_keras),
        "int8",
        ("tflite", "onnx", "openvino", "edgetpu"),
        calib=str(labelled_folder),
        calib_size=24,
        holdout=24,
    )
    return {r["format"]: r for r in recs}


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Run edgekit's real entry point in-process; returns (exit code, stdout, stderr)."""
    from edgekit.cli.app import main

    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err
