"""Host measurement: each artifact in a fresh subprocess, result contract, crash/hang isolation, RAPL reading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgekit.errors import UsageError
from edgekit.exporting.artifacts import find_model_file
from edgekit.measure.energy import RaplMeter, energy_fields, find_zones
from edgekit.measure.host import MeasureError, measure_artifact, parse_json_output, tflite_precision
from edgekit.results.record import REQUIRED_KEYS, validate_result

FAST = {"runs": 5, "min_seconds": 0.1, "warmup": 1}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A tiny Keras conv net (32x32) as .onnx, FP32 and FP16 OpenVINO IR, and .tflite."""
    pytest.importorskip("tensorflow")
    ov = pytest.importorskip("openvino")
    pytest.importorskip("onnxruntime")
    import keras
    import numpy as np
    import tensorflow as tf

    out = tmp_path_factory.mktemp("models")
    inp = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inp)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.Conv2D(16, 1, activation="relu", name="pw")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inp, keras.layers.Dense(10, name="logits")(x))
    model(np.zeros((1, 32, 32, 3), "float32"))  # keras' ONNX export needs a called model

    paths = {"onnx": out / "tiny.onnx", "openvino": out / "tiny.xml", "ov_fp16": out / "tiny16.xml"}
    model.export(str(paths["onnx"]), format="onnx", verbose=False)
    ov_model = ov.convert_model(model)
    ov.save_model(ov_model, str(paths["openvino"]), compress_to_fp16=False)
    ov.save_model(ov_model, str(paths["ov_fp16"]))  # default: weights compressed to f16
    paths["tflite"] = out / "tiny.tflite"
    paths["tflite"].write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return paths


def _check_ok(result: dict, fmt: str) -> None:
    assert validate_result(result) == []
    assert set(REQUIRED_KEYS) <= set(result)
    assert (result["status"], result["source"], result["target"], result["format"]) == ("ok", "measured", "host", fmt)
    lat = result["latency_ms"]
    assert lat["n"] >= FAST["runs"]
    assert 0 < lat["median"] <= lat["p90"] <= lat["p99"]
    assert lat["std"] >= 0
    assert result["load_ms"] > 0 and result["first_inference_ms"] > 0 and result["throughput_ips"] > 0
    # A Python process with a runtime loaded; far below this test process (TensorFlow loaded), whose ru_maxrss a
    # forked child would otherwise inherit.
    assert 10e6 < result["peak_memory_bytes"] < 500e6
    assert result["size_bytes"] > 0 and len(result["artifact"]["sha256"]) == 64
    assert result["runtime"]["threads"] == 1 and result["runtime"]["version"]
    assert set(result["host"]) >= {"hostname", "machine", "cpu", "os", "cores"}
    # Never invented: either a RAPL reading or null with the reason.
    assert (result["energy_mj"] is None) == (result["power_w"] is None)
    if result["energy_mj"] is None:
        assert result["energy_note"].startswith("RAPL")  # e.g. "RAPL not readable: <why>"


def _check_layers(layers: list[dict]) -> None:
    assert 0 < len(layers) <= 10
    assert all(set(row) >= {"name", "op", "time_ms", "percent"} for row in layers)
    times = [row["time_ms"] for row in layers]
    assert times == sorted(times, reverse=True)
    assert 0 < sum(row["percent"] for row in layers) <= 100.01


def test_onnx(models):
    result = measure_artifact(models["onnx"], **FAST)
    _check_ok(result, "onnx")
    assert result["runtime"]["name"] == "onnxruntime"
    assert result["runtime"]["providers"] == ["CPUExecutionProvider"]
    assert result["precision"] == "fp32"
    assert result["timed_seconds"] >= FAST["min_seconds"]
    _check_layers(result["layers"])
    assert {row["op"] for row in result["layers"]} & {"Conv", "FusedConv"}


def test_openvino_fp32_keeps_f32(models):
    result = measure_artifact(models["openvino"], **FAST)
    _check_ok(result, "openvino")
    runtime = result["runtime"]
    assert runtime["name"] == "openvino" and runtime["device"] == "CPU"
    assert runtime["execution_devices"] == ["CPU"]
    assert runtime["inference_precision"] == "f32" and runtime["inference_precision_requested"] == "f32"
    assert result["precision"] == "fp32"
    assert result["timed_seconds"] >= FAST["min_seconds"]
    _check_layers(result["layers"])
    assert all("bf16" not in row.get("exec_type", "") for row in result["layers"])
    assert result["size_bytes"] == sum(f["bytes"] for f in result["artifact"]["files"])  # .xml + .bin


def test_openvino_fp16_uses_default_precision(models):
    result = measure_artifact(models["ov_fp16"], profile_layers=False, **FAST)
    assert result["precision"] == "fp16"
    assert result["runtime"]["inference_precision_requested"] == "default"
    assert result["layers"] == [] and result["layers_note"] == "layer profiling not requested"


def test_tflite(models):
    result = measure_artifact(models["tflite"], **FAST)
    _check_ok(result, "tflite")
    assert result["runtime"]["name"] == "litert"
    assert result["precision"] == "fp32"
    if result["layers"]:
        _check_layers(result["layers"])
    else:
        assert result["layers_note"]


def test_every_format_runs_in_the_device_runner(models):
    """One runtime layer: every host measurement is `python -m edgekit.device run`, the runtime from its table."""
    from edgekit.device import runtimes
    from edgekit.measure.host import runner_command

    for key in ("onnx", "openvino", "tflite"):
        cmd = runner_command(models[key], 1, 5, 1, 0.1, True, "fp32")
        assert cmd[1:5] == ["-m", "edgekit.device", "run", str(models[key])] and "--profile-ops" in cmd
        assert cmd[cmd.index("--runtime") + 1] == runtimes.for_suffix(models[key]).name
        assert cmd[cmd.index("--precision") + 1] == "fp32"
    result = measure_artifact(models["tflite"], **FAST)
    assert result["settings"]["runner"] == "device runner"
    assert not (Path(__file__).resolve().parents[1] / "edgekit" / "measure" / "_worker.py").exists()


def test_tflite_precision_from_flatbuffer(models, tmp_path):
    assert tflite_precision(models["tflite"]) == "fp32"
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer")
    assert tflite_precision(bad) is None


def test_export_folder_with_manifest(models, tmp_path):
    folder = tmp_path / "edgekit-out" / "tinynet" / "onnx-fp32"
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(models["onnx"].read_bytes())
    manifest = {"model": "tinynet", "format": "onnx", "precision": "fp32", "files": [{"path": "model.onnx"}]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    file, fmt, found = find_model_file(folder)
    assert (file, fmt, found) == (folder / "model.onnx", "onnx", manifest)
    result = measure_artifact(folder, profile_layers=False, **FAST)
    assert (result["model"], result["format"], result["precision"]) == ("tinynet", "onnx", "fp32")
    assert result["artifact"]["manifest"].endswith("manifest.json")


def test_find_model_file_rejects_bad_input(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        find_model_file(tmp_path / "missing.onnx")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UsageError, match="not a model file"):
        find_model_file(tmp_path / "notes.txt")
    with pytest.raises(UsageError, match="no model file"):
        find_model_file(tmp_path)


def test_bad_arguments(models):
    with pytest.raises(UsageError):
        measure_artifact(models["onnx"], threads=0)
    with pytest.raises(UsageError):
        measure_artifact(models["onnx"], runs=0)


def test_truncated_model_is_a_one_line_usage_error(models, tmp_path):
    """A damaged file is the user's input whether measured or predicted: the reader's usage error, exit 2."""
    from edgekit.analyze.graph import load_graph

    for key in ("onnx", "tflite"):
        data = models[key].read_bytes()
        bad = tmp_path / f"truncated{models[key].suffix}"
        bad.write_bytes(data[: len(data) // 3])
        with pytest.raises(UsageError) as info:
            measure_artifact(bad, **FAST)
        assert bad.name in info.value.message and "\n" not in info.value.message
        assert info.value.exit_code == 2
        with pytest.raises(UsageError) as predicted:  # the same message as the prediction's reader gives
            load_graph(bad)
        assert predicted.value.message == info.value.message


def test_crash_names_file_and_signal(models, monkeypatch):
    monkeypatch.setenv("EDGEKIT_TEST_CRASH", "segv")
    with pytest.raises(MeasureError) as info:
        measure_artifact(models["onnx"], **FAST)
    message = info.value.message
    assert str(models["onnx"]) in message and "SIGSEGV" in message and "\n" not in message
    failed = info.value.result
    assert failed["status"] == "failed" and "SIGSEGV" in failed["error"] and validate_result(failed) == []
    # Same failure, returned instead of raised (to be saved like any result).
    returned = measure_artifact(models["onnx"], raise_errors=False, **FAST)
    assert returned["status"] == "failed" and "SIGSEGV" in returned["error"]


def test_hang_times_out(models, monkeypatch):
    monkeypatch.setenv("EDGEKIT_TEST_HANG", "1")
    with pytest.raises(MeasureError, match="timed out after 2 s") as info:
        measure_artifact(models["openvino"], timeout=2, **FAST)
    assert str(models["openvino"]) in info.value.message


def test_parse_json_output_skips_log_lines():
    assert parse_json_output('log line\n{"a": 1}\n') == {"a": 1}
    assert parse_json_output('{\n  "a": {"b": 2}\n}\n') == {"a": {"b": 2}}
    assert parse_json_output("no json here") is None
    assert parse_json_output("") is None


def _fake_rapl(root: Path, energy_uj: int, max_range: int = 1000) -> None:
    zone = root / "intel-rapl:0"
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "name").write_text("package-0\n")
    (zone / "max_energy_range_uj").write_text(f"{max_range}\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    sub = root / "intel-rapl:0:0"  # a sub-zone (core): must not be counted twice
    sub.mkdir(exist_ok=True)
    (sub / "energy_uj").write_text("5\n")


def test_rapl_wraps_and_reports(tmp_path):
    _fake_rapl(tmp_path, 900)
    meter = RaplMeter(tmp_path)
    assert meter.available and meter.zone_names == ["package-0"]
    meter.start()
    _fake_rapl(tmp_path, 100)  # wrapped: 900 -> 1000 -> 100 is 200 uJ
    joules = meter.stop()
    assert joules == pytest.approx(200e-6)
    fields = energy_fields(joules, seconds=0.001, inferences=2, meter=meter)
    assert fields["power_w"] == pytest.approx(0.2) and fields["energy_mj"] == pytest.approx(0.1)


def test_rapl_unreadable_is_null_with_reason(tmp_path):
    zones, note = find_zones(tmp_path / "nothing")
    assert zones == [] and note.startswith("RAPL not readable:")
    meter = RaplMeter(tmp_path / "nothing")
    meter.start()
    fields = energy_fields(meter.stop(), 1.0, 10, meter)
    assert fields["power_w"] is None and fields["energy_mj"] is None and fields["energy_note"].startswith("RAPL")


def test_import_is_light():
    from conftest import HEAVY, imported_after

    loaded = imported_after("import edgekit.measure, edgekit.results.store, edgekit.measure.energy")
    assert not loaded & {*HEAVY, "numpy"}, loaded & {*HEAVY, "numpy"}
