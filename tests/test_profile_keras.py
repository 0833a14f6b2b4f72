"""Issue 23: `edgekit profile MODEL.keras --target T` predicts straight from the Keras model (off this machine) and
measures an export made on the fly on `--target host`; both results are saved under --profiles like any other."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from conftest import run_cli

from edgekit.results.store import load_results_with_problems


@pytest.fixture(scope="module")
def tiny_keras(tmp_path_factory) -> Path:
    """A small real classifier (convolutions, a residual add, pooling, dense) saved by Keras, random weights."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(inputs)
    y = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = keras.layers.Add()([x, y])
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(4)(x)
    path = tmp_path_factory.mktemp("keras") / "tinycls.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def _profile(args: list[str], capsys) -> tuple[int, list[dict], str]:
    code, out, err = run_cli(["profile", *args, "--json"], capsys)
    return code, (json.loads(out) if code == 0 else []), err


@pytest.fixture(autouse=True)
def graph_cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))  # compare's graph cache, shared with profile
    return tmp_path / "cache"


def test_keras_file_is_predicted_on_a_board_without_an_export(tiny_keras, tmp_path, monkeypatch, capsys, graph_cache):
    monkeypatch.chdir(tmp_path)  # the default export root ./edgekit-out must stay empty
    profiles = tmp_path / "profiles"
    code, results, err = _profile([str(tiny_keras), "--target", "rpi4", "--profiles", str(profiles)], capsys)
    assert code == 0, err
    (r,) = results
    assert r["source"] == "predicted" and r["target"] == "rpi4" and r["status"] == "ok"
    assert r["model"] == "tinycls" and r["format"] == "tflite" and r["precision"] == "int8"  # INT8 unless asked
    assert r["runtime"]["name"] == "litert-xnnpack" and r["runtime"]["threads"] >= 1 and r["runtime"]["version"]
    assert r["latency_ms"]["low"] < r["latency_ms"]["median"] < r["latency_ms"]["high"]
    assert r["input_size"] == 32 and r["macs"] > 0 and r["size_bytes"] > 0
    assert "Keras model's graph" in r["basis"] and r["artifact"]["kind"] == "keras" and r["graph_cached"] is False
    assert any(layer.get("keras_layer") for layer in r["layers"])  # the Keras layer beside the runtime's op name
    assert not (tmp_path / "edgekit-out").exists()
    saved, problems = load_results_with_problems(profiles)
    assert not problems and [s["source"] for s in saved] == ["predicted"] and saved[0]["precision"] == "int8"

    code, (fp32,), err = _profile([str(tiny_keras), "--target", "rpi4", "--fp32", "--no-save"], capsys)
    assert code == 0, err
    assert fp32["precision"] == "fp32" and fp32["size_bytes"] > 1.5 * r["size_bytes"]  # fp32 weights: 4x int8
    assert fp32["latency_ms"]["median"] != r["latency_ms"]["median"]
    assert fp32["graph_cached"] is True and len(list((graph_cache / "graphs").glob("*.json"))) == 1  # converted once

    code, (onnx,), err = _profile([str(tiny_keras), "--target", "rpi4", "--format", "onnx", "--no-save"], capsys)
    assert code == 0, err
    assert onnx["format"] == "onnx" and onnx["runtime"]["name"] == "onnxruntime"

    code, (npu,), err = _profile([str(tiny_keras), "--target", "intel-npu", "--no-save"], capsys)
    assert code == 0, err
    assert npu["format"] == "openvino" and npu["runtime"]["name"] == "openvino-npu" and npu["precision"] == "int8"


def test_keras_file_on_the_host_is_exported_then_measured(tiny_keras, tmp_path, capsys):
    out, profiles = tmp_path / "out", tmp_path / "profiles"
    args = [str(tiny_keras), "--target", "host", "--format", "tflite", "--out", str(out), "--profiles", str(profiles)]
    code, results, err = _profile([*args, "--runs", "5", "--min-seconds", "0", "--warmup", "1"], capsys)
    assert code == 0, err
    (r,) = results
    assert r["source"] == "measured" and r["precision"] == "int8" and r["format"] == "tflite"
    assert r["model"] == "tinycls" and r["latency_ms"]["median"] > 0 and r["runtime"]["name"]
    artifact = Path(r["artifact"]["path"])
    assert artifact.is_file() and out in artifact.parents  # exported on the fly into --out
    saved, problems = load_results_with_problems(profiles)
    assert not problems and [s["source"] for s in saved] == ["measured"]

    # The prediction from the Keras graph agrees with the prediction of the real INT8 export it stands for.
    code, (from_keras,), err = _profile([str(tiny_keras), "--target", "rpi5", "--no-save"], capsys)
    assert code == 0, err
    code, (from_file,), err = _profile([str(artifact), "--target", "rpi5", "--no-save"], capsys)
    assert code == 0, err
    ratio = from_keras["latency_ms"]["median"] / from_file["latency_ms"]["median"]
    assert 0.67 < ratio < 1.5, (from_keras["latency_ms"], from_file["latency_ms"])
    assert from_keras["macs"] == from_file["macs"]


def test_a_hostile_keras_file_is_refused_before_any_prediction(tiny_keras, tmp_path, capsys):
    evil = tmp_path / "evil.keras"
    with zipfile.ZipFile(tiny_keras) as zin, zipfile.ZipFile(evil, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                config = json.loads(data)
                config["config"]["layers"][-1]["config"]["activation"] = {
                    "module": "os",
                    "class_name": "system",
                    "config": "touch MARKER",
                    "registered_name": "system",
                }
                data = json.dumps(config).encode()
            zout.writestr(info.filename, data)
    code, _, err = _profile([str(evil), "--target", "rpi4", "--profiles", str(tmp_path / "p")], capsys)
    assert code == 2 and "refusing to load evil.keras" in err and "Traceback" not in err
    assert not (tmp_path / "p").exists()
    code, _, err = _profile([str(tiny_keras), "--target", "coral-usb", "--fp32", "--no-save"], capsys)
    assert code == 2 and "runs int8 models, not fp32" in err
