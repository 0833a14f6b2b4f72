"""Predictions: the contract's result shape, per-target behaviour, the Edge TPU cliff, published rows within 2x."""

from __future__ import annotations

import json

import pytest
from _predict_models import build_predict_models

from edgekit.costmodel.common import amdahl_speedup
from edgekit.costmodel.edgetpu import edgetpu_fallback_lines
from edgekit.costmodel.predict import predict_artifact
from edgekit.errors import UsageError
from edgekit.hardware.targets import get_target, load_targets

TARGETS = sorted(load_targets())
CONTRACT_KEYS = {
    "target", "model", "format", "precision", "source", "status", "error", "latency_ms", "size_bytes",
    "peak_memory_bytes", "runtime", "layers", "artifact", "host", "date", "edgekit_version", "load_ms",
    "first_inference_ms", "throughput_ips", "power_w", "energy_mj", "basis",
}  # fmt: skip


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    return build_predict_models(tmp_path_factory.getbasetemp() / "predict-models")


def _artifact_for(target, models):
    """An artifact the target runs: int8 .tflite for CPUs and the Edge TPU, static OpenVINO IR for the NPU."""
    return models["convnet-xml"] if target.kind == "npu" else models["convnet-int8"]


@pytest.mark.parametrize("target_id", TARGETS)
def test_prediction_has_the_contract_shape(models, target_id):
    target = get_target(target_id)
    result = predict_artifact(_artifact_for(target, models), target)
    assert CONTRACT_KEYS <= set(result)
    assert result["source"] == "predicted" and result["status"] == "ok" and result["error"] is None
    assert result["target"] == target_id
    lat = result["latency_ms"]
    assert set(lat) == {"median", "low", "high"} and 0 < lat["low"] <= lat["median"] <= lat["high"]
    assert set(result["runtime"]) == {"name", "version", "threads", "device"}
    assert result["runtime"]["version"] == target.runtime.version
    assert result["peak_memory_bytes"] > result["size_bytes"] > 0
    times = [layer["time_ms"] for layer in result["layers"]]
    assert times == sorted(times, reverse=True) and len(times) <= 10
    assert (result["power_w"] is None) == (target.power is None) == (result["energy_mj"] is None)
    if result["power_w"] is not None:
        assert result["energy_mj"] == pytest.approx(result["power_w"] * lat["median"], rel=1e-2)
    if target.kind != "cpu":
        split = result["split"]
        assert {"accelerator_ops", "cpu_ops", "accelerator_ms", "cpu_ms", "transfer_ms"} <= set(split)
        assert isinstance(result["fallback_ops"], list)
    assert result["basis"]
    json.dumps(result)


def test_cpu_threads_scale_like_amdahl(models):
    rpi4 = get_target("rpi4")
    one = predict_artifact(models["convnet-int8"], rpi4, threads=1)["latency_ms"]["median"]
    four = predict_artifact(models["convnet-int8"], rpi4, threads=4)["latency_ms"]["median"]
    assert four < one
    assert amdahl_speedup(4, 0.9) == pytest.approx(1 / (0.1 + 0.9 / 4))
    assert amdahl_speedup(1, 0.9) == 1


def test_power_needs_sourced_figures(models):
    host = predict_artifact(models["convnet-int8"], get_target("host"))
    assert host["power_w"] is None and host["energy_mj"] is None and "null" in host["basis"]
    rpi4 = predict_artifact(models["convnet-int8"], get_target("rpi4"), threads=4)
    assert 3.0 < rpi4["power_w"] <= 6.2


def test_latency_from_emulated_instructions():
    from edgekit.costmodel.instructions import predict_from_instructions

    rpi4 = get_target("rpi4")
    one = predict_from_instructions(100_000_000, "int8", rpi4, threads=1)
    assert one["source"] == "predicted" and one["threads"] == one["runtime"]["threads"] == 1
    assert "Cortex-A72" in one["runtime"]["device"] and one["runtime"]["name"] == rpi4.runtime.name
    cpi = rpi4.cpu_cost.int8_cycles_per_instruction
    assert one["latency_ms"]["median"] == pytest.approx(100e6 * cpi / (rpi4.cpu.clock_ghz * 1e6), rel=1e-4)
    four = predict_from_instructions(100_000_000, "int8", rpi4, threads=4)
    assert one["latency_ms"]["median"] / four["latency_ms"]["median"] == pytest.approx(
        amdahl_speedup(4, rpi4.cpu_cost.parallel_fraction), rel=1e-3
    )
    fp32 = predict_from_instructions(100_000_000, "fp32", rpi4, threads=1)
    assert fp32["latency_ms"]["median"] > one["latency_ms"]["median"]  # fp32 kernels retire fewer per cycle
    rpi5_target = get_target("rpi5")  # its own cycles per instruction (A76 counts), not the Pi 4's
    rpi5 = predict_from_instructions(100_000_000, "int8", rpi5_target, threads=1)
    want = 100e6 * rpi5_target.cpu_cost.int8_cycles_per_instruction / (rpi5_target.cpu.clock_ghz * 1e6)
    assert rpi5["latency_ms"]["median"] == pytest.approx(want, rel=1e-4)
    host = predict_from_instructions(100_000_000, "int8", get_target("host"))  # no row fits the host's
    assert host["latency_ms"] is None and "no fitted" in host["basis"]


def test_edgetpu_cliff_streams_weights(models):
    coral = get_target("coral-usb")
    big = predict_artifact(models["big-int8"], coral)
    small = predict_artifact(models["convnet-int8"], coral)
    assert big["split"]["param_streaming_ms"] > 0 and big["split"]["off_chip_param_bytes"] > 6.9 * 1024 * 1024
    assert small["split"]["param_streaming_ms"] == 0
    assert big["split"]["transfer_ms"] >= big["split"]["param_streaming_ms"]


def test_edgetpu_cache_overflow_streams_every_parameter(models):
    """Over the cache the whole model streams every inference (the rule the published rows over the cache follow:
    edgekit.costmodel.edgetpu.streamed_param_bytes), at the board's fitted streaming rate; the band is the
    leave-one-out band of the published Edge TPU rows, not a span of guesses."""
    coral = get_target("coral-usb")
    result = predict_artifact(models["overflow-int8"], coral)
    split, latency = result["split"], result["latency_ms"]
    assert 1.9e6 < split["off_chip_param_bytes"] < 2.3e6  # the 2048 x 1024 layer only
    assert split["streamed_param_bytes"] == split["tpu_param_bytes"] == result["weight_bytes"] > 8e6
    u = result["band"]["factor"]  # from the leave-one-out errors of the published Edge TPU rows (edgekit fit)
    assert u > 1 and "leave-one-out" in result["band"]["from"]
    assert latency["low"] == pytest.approx(latency["median"] / u, rel=1e-3)
    assert latency["high"] == pytest.approx(latency["median"] * u, rel=1e-3)
    assert "overflow" in split["streaming_basis"] and "overflow" in result["basis"]


def test_edgetpu_compiler_log_beside_the_model_replaces_the_guess(models, tmp_path):
    """edgetpu_compiler cannot be installed here: its log is written by hand in the format it prints (hardware.md)."""
    import shutil

    folder = tmp_path / "edgetpu-int8"
    folder.mkdir()
    shutil.copy(models["overflow-int8"], folder / "model.tflite")
    shutil.copy(models["overflow-int8"], folder / "model_edgetpu.tflite")  # stands in for the compiled file
    (folder / "edgetpu_compiler.log").write_text(
        "Edge TPU Compiler version 16.0.384591198\n"
        "On-chip memory used for caching model parameters: 6.00MiB\n"
        "On-chip memory remaining for caching model parameters: 640.00KiB\n"
        "Off-chip memory used for streaming uncached model parameters: 1.50MiB\n"
    )
    coral = get_target("coral-usb")
    for path in (folder / "model.tflite", folder / "model_edgetpu.tflite"):
        result = predict_artifact(path, coral)
        assert result["split"]["streamed_param_bytes_range"] == [1.5 * 1024 * 1024] * 2
        assert "edgetpu_compiler log" in result["split"]["streaming_basis"]
        assert result["artifact"]["path"] == str(folder / "model.tflite")
    guessed = predict_artifact(models["overflow-int8"], coral)
    assert result["latency_ms"]["high"] < guessed["latency_ms"]["high"]


def test_edgetpu_usb2_is_slower_than_usb3(models):
    coral = get_target("coral-usb")
    usb3 = predict_artifact(models["big-int8"], coral)
    usb2 = predict_artifact(models["big-int8"], coral, link="usb2")
    assert usb2["split"]["transfer_ms"] > 5 * usb3["split"]["transfer_ms"] and usb2["split"]["link"] == "usb2"


def test_edgetpu_fallback_is_reported(models):
    coral = get_target("coral-usb")
    result = predict_artifact(models["transpose-int8"], coral)
    assert result["fallback_ops"][0]["op"] == "TRANSPOSE" and result["split"]["cpu_ops"] == 4
    assert result["split"]["cpu_ms"] > 0
    assert "TRANSPOSE" in edgetpu_fallback_lines(models["transpose-int8"], coral)[0]


def test_float_model_on_the_edgetpu_says_what_to_export(models):
    with pytest.raises(UsageError, match="--int8 --io int8") as info:
        predict_artifact(models["convnet-fp32"], get_target("coral-usb"))
    assert info.value.exit_code == 2


def test_npu_wants_openvino_or_onnx(models):
    with pytest.raises(UsageError, match="--format openvino"):
        predict_artifact(models["convnet-int8"], get_target("intel-npu"))
    onnx = predict_artifact(models["convnet-onnx"], get_target("intel-npu"))
    assert onnx["format"] == "onnx" and onnx["split"]["compute_precision"] == "fp16"


def test_npu_dynamic_batch_is_pinned_but_a_dynamic_size_is_a_usage_error(models, tmp_path):
    """The NPU runner reshapes a dynamic batch to 1 (or --batch) before compiling; a dynamic height it cannot guess."""
    import openvino as ov

    pinned = predict_artifact(models["convnet-dynamic-xml"], get_target("intel-npu"))
    static = predict_artifact(models["convnet-xml"], get_target("intel-npu"))
    assert pinned["latency_ms"]["median"] == pytest.approx(static["latency_ms"]["median"], rel=1e-6)
    assert "dims of -1 counted as 1" in pinned["basis"]
    model = ov.convert_model(str(models["convnet-onnx"]))
    model.reshape({model.inputs[0]: ov.PartialShape([1, 3, -1, -1])})
    ov.save_model(model, str(tmp_path / "any-size.xml"), compress_to_fp16=False)
    with pytest.raises(UsageError, match=r"\[1, 3, -1, -1\] has a dynamic shape.*static shapes only.*--input-size"):
        predict_artifact(tmp_path / "any-size.xml", get_target("intel-npu"))


def test_cpu_target_rejects_other_formats(models):
    with pytest.raises(UsageError, match="rpi4 runs tflite"):
        predict_artifact(models["convnet-xml"], get_target("rpi4"))


def test_int8_predicts_faster_than_fp32_on_the_pi(models):
    rpi5 = get_target("rpi5")
    fp32 = predict_artifact(models["convnet-fp32"], rpi5)["latency_ms"]["median"]
    int8 = predict_artifact(models["convnet-int8"], rpi5)["latency_ms"]["median"]
    assert int8 < fp32


def test_coral_profile_says_what_streams_when_over_the_cache(models, tmp_path, capfd):
    from conftest import run_cli

    args = ["profile", str(models["overflow-int8"]), "--target", "coral-usb", "--profiles-dir", str(tmp_path)]
    code, _, err = run_cli(args, capfd)
    err = " ".join(err.split())  # rich wraps long lines
    assert code == 0, err
    assert "parameters overflow the Edge TPU cache: all 8.40 MB stream over usb3" in err, err
    assert "edgetpu_compiler --num_segments 2" in err


def _qdq_int8(src, dst):
    """The convnet quantized as edgekit exports ONNX for ARM: QDQ, per-channel, S8S8 (onnxruntime.quantization)."""
    import numpy as np
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.batches = iter([{"x": rng.standard_normal((1, 3, 16, 16)).astype(np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)  # fmt: skip
    return dst


def test_onnx_qdq_pairs_cost_what_onnx_runtime_runs(models, tmp_path):
    """ONNX Runtime folds each activation Q -> DQ pair into its int8 kernels: an int8 QDQ .onnx predicts like the
    same model's int8 .tflite with the same constants (it came out 2.4x slower for MobileNetV2 when every Q and DQ
    was costed as an op with float activations), and only the input Q and the output DQ are left to run."""
    from edgekit.analyze import load_graph
    from edgekit.costmodel.predict import predict_graph

    rpi4 = get_target("rpi4")
    qdq = load_graph(_qdq_int8(models["convnet-onnx"], tmp_path / "convnet-int8.onnx"))
    assert sum(op.type.endswith("QuantizeLinear") for op in qdq.ops) > 6

    def predicted(graph):
        return predict_graph(graph, rpi4, threads=1, allow_any_format=True, fitted=False)

    onnx_int8 = predicted(qdq)
    tflite_int8 = predicted(load_graph(models["convnet-int8"]))
    ratio = onnx_int8["latency_ms"]["median"] / tflite_int8["latency_ms"]["median"]
    assert 0.8 < ratio < 1.25, ratio
    assert onnx_int8["latency_ms"]["median"] < predicted(load_graph(models["convnet-onnx"]))["latency_ms"]["median"]
    assert "QDQ pairs folded" in onnx_int8["basis"] and "(onnxruntime)" in onnx_int8["basis"]
