"""--dynamic-batch: ONNX and OpenVINO IR with a symbolic first dimension, beside the batch-1 artifacts, never over them;
`profile MODEL --batch N` asks for it itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
CALIB = ["--calib-size", "16", "--holdout", "8", "--int8"]


def runner(model: Path, *args: str) -> dict:
    cmd = [sys.executable, "-m", "edgekit.device", "run", str(model), "--json", "--warmup", "1", "--runs", "3", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, trained_keras, labelled_folder) -> Path:
    """The tiny trained model exported at batch 1 (ONNX), then with --dynamic-batch (ONNX, OpenVINO, TFLite)."""
    root = tmp_path_factory.mktemp("anybatch")
    common = [str(trained_keras), "--calib", str(labelled_folder), *CALIB, "--out", str(root), "--json"]
    code, _, err = run_cli(["export", *common, "--format", "onnx"], _Capture())
    assert code == 0, err
    code, _, err = run_cli(["export", *common, "--format", "onnx,openvino,tflite", "--dynamic-batch"], _Capture())
    assert code == 0, err
    return root / "tinynet"


class _Capture:
    """run_cli's capsys, for a module-scoped fixture (the CLI prints; the records are read from the manifests)."""

    def readouterr(self) -> tuple[str, str]:
        return "", ""


def test_dynamic_export_sits_beside_the_batch_one(exported):
    static = json.loads((exported / "onnx-int8" / "manifest.json").read_text())
    dynamic = json.loads((exported / "onnx-int8-anybatch" / "manifest.json").read_text())
    assert static["batch"] == 1 and static["input"]["shape"][0] == 1
    assert dynamic["batch"] == "dynamic" and dynamic["input"]["shape"][0] == dynamic["output"]["shape"][0] == "batch"
    assert static["options_key"] != dynamic["options_key"]
    assert json.loads((exported / "openvino-int8-anybatch" / "manifest.json").read_text())["batch"] == "dynamic"
    # TFLite resizes its input at load: --dynamic-batch does not make it another artifact
    assert (exported / "tflite-int8").is_dir() and not (exported / "tflite-int8-anybatch").exists()
    assert json.loads((exported / "tflite-int8" / "manifest.json").read_text())["batch"] == 1


@pytest.mark.parametrize("folder", ["onnx-int8-anybatch", "openvino-int8-anybatch"])
def test_any_batch_runs_and_matches_single_images(exported, folder, tmp_path):
    model = next(p for p in (exported / folder).iterdir() if p.suffix in (".onnx", ".xml"))
    images = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 3)).astype(np.float32)
    np.save(tmp_path / "three.npy", images)
    three = runner(model, "--batch", "3", "--inputs", str(tmp_path / "three.npy"), "--save-outputs",
                   str(tmp_path / "three-out.npy"))  # fmt: skip
    assert three["input"]["shape"][0] == 3 and three["output"]["shape"][0] == 3
    batched = np.load(tmp_path / "three-out.npy")
    for i in range(3):
        np.save(tmp_path / "one.npy", images[i : i + 1])
        runner(model, "--inputs", str(tmp_path / "one.npy"), "--save-outputs", str(tmp_path / "one-out.npy"))
        np.testing.assert_allclose(batched[i], np.load(tmp_path / "one-out.npy")[0], rtol=1e-4, atol=1e-4)


def test_batch_one_onnx_names_the_way_out(exported):
    cmd = [sys.executable, "-m", "edgekit.device", "run", str(exported / "onnx-int8" / "model.onnx"), "--batch", "2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2 and "--dynamic-batch" in proc.stderr


def test_profile_model_with_batch_exports_any_batch(trained_keras, labelled_folder, tmp_path, capsys):
    """profile MY.keras --batch 2 --format onnx: exported with --dynamic-batch on the fly, then measured at batch 2."""
    code, out, err = run_cli(
        ["profile", str(trained_keras), "--format", "onnx", "--batch", "2", "--runs", "3", "--min-seconds", "0",
         "--calib", str(labelled_folder), "--calib-size", "8", "--out", str(tmp_path / "exp"),
         "--profiles", str(tmp_path / "profiles"), "--json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    (result,) = json.loads(out)
    assert result["batch"] == 2 and result["throughput"]["frames"] == 2 * result["throughput"]["calls"]
    assert Path(result["artifact"]["path"]).parent.name.endswith("-anybatch")


@pytest.mark.parametrize(("batch", "folder"), [("2", "onnx-int8-anybatch"), ("1", "onnx-int8")])
def test_profile_of_the_export_root_takes_the_twin_the_batch_wants(exported, batch, folder, tmp_path, capsys):
    code, out, err = run_cli(
        ["profile", "--out", str(exported.parent), "--format", "onnx", "--batch", batch, "--runs", "2",
         "--min-seconds", "0", "--profiles", str(tmp_path), "--json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    (result,) = json.loads(out)
    assert Path(result["artifact"]["path"]).parent.name == folder and result["batch"] == int(batch)


def test_named_twins_are_both_profiled(exported, tmp_path, capsys):
    """Files the user names are measured as named: the batch-1 ONNX and its twin, side by side at batch 1."""
    files = [str(exported / f / "model.onnx") for f in ("onnx-int8", "onnx-int8-anybatch")]
    code, out, err = run_cli(
        ["profile", *files, "--runs", "2", "--min-seconds", "0", "--profiles", str(tmp_path), "--json"], capsys
    )
    assert code == 0, err
    measured = sorted(Path(r["artifact"]["path"]).parent.name for r in json.loads(out))
    assert measured == ["onnx-int8", "onnx-int8-anybatch"]
