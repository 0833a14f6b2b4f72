"""benchmark_app and LiteRT benchmark_model parity (issue 27): --device, --delegate, --mode throughput (measured), load
and compile time apart with OpenVINO's compile cache, --batch, --xnnpack-fp16 / --no-xnnpack, --max-seconds and
--inputs, in the device runner and through `edgekit profile`, recorded in every result and in its configuration key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

try:
    from tests._tiny import tiny_onnx_model, tiny_openvino_model, tiny_tflite_models
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from _tiny import tiny_onnx_model, tiny_openvino_model, tiny_tflite_models

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--idle-seconds", "0.05", "--warmup", "1"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """The runner's tiny models: conv + GAP + dense, no fixed reshape, so every runtime can take another batch."""
    base = tmp_path_factory.getbasetemp()
    models = dict(tiny_tflite_models(base / "tiny-models"))
    models["onnx"] = tiny_onnx_model(base / "tiny-onnx")
    models["openvino"] = tiny_openvino_model(models["onnx"])
    return models


def runner(*args: str, env: dict | None = None) -> tuple[int, dict | None, str]:
    cmd = [sys.executable, "-m", "edgekit.device", "run", *args, "--json", *QUICK]
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=full_env)
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        data = None
    return proc.returncode, data, proc.stderr


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error")]


# ------------------------------------------------------------------------------------------------ the device runner
@pytest.mark.parametrize("model", ["fp32", "onnx", "openvino"])
def test_throughput_is_measured_with_parallel_requests(tiny, model, tmp_path):
    code, data, err = runner(str(tiny[model]), "--mode", "throughput", "--requests", "2", "--runs", "60",
                             "--cache-dir", str(tmp_path))  # fmt: skip
    assert code == 0, err
    put = data["throughput"]
    assert data["mode"] == "throughput" and put["source"] == "measured" and put["requests"] == 2
    assert put["calls"] >= 60 and put["frames"] == put["calls"] and data["latency_ms"]["n"] == put["calls"]
    assert data["throughput_fps"] == put["fps"] == pytest.approx(put["frames"] / put["seconds"], rel=0.01)
    if model == "openvino":  # async requests on a THROUGHPUT-hinted compile, the streams the plugin chose
        assert data["runtime"]["performance_hint"] == "THROUGHPUT" and "AsyncInferQueue" in put["method"]
        assert put["streams"] == data["runtime"]["num_streams"] >= 1
    else:  # one loaded copy per request, each in its own thread
        assert put["streams"] == 2 and "2 " + data["runtime"]["name"] + " instances" in put["method"]


def test_latency_mode_records_its_own_sequential_figure(tiny):
    code, data, err = runner(str(tiny["int8"]), "--runs", "30", "--min-seconds", "0.2")
    assert code == 0, err
    put = data["throughput"]
    assert data["mode"] == "latency" and data["batch"] == 1 and put["requests"] == 1 and put["calls"] >= 30
    assert data["throughput_fps"] == pytest.approx(put["calls"] / put["seconds"], rel=0.01)
    assert data["latency_ms"]["n"] == put["calls"] and data["stopped_by"] == "runs"


@pytest.mark.parametrize("model", ["fp32", "int8", "onnx", "openvino"])
def test_batch_reaches_the_runtime(tiny, model):
    code, data, err = runner(str(tiny[model]), "--batch", "3", "--runs", "5")
    assert code == 0, err
    assert data["batch"] == 3 and data["input"]["shape"][0] == 3 and data["output"]["shape"][0] == 3
    assert data["throughput"]["frames"] == 3 * data["throughput"]["calls"]


@pytest.mark.parametrize("model", ["fp32", "int8"])
def test_per_op_profile_runs_at_the_batch(tiny, model):
    """LiteRT's per-op view rebuilds one-op models from the batch-1 flatbuffer: each is resized to what it is fed."""
    code, data, err = runner(str(tiny[model]), "--batch", "3", "--runs", "3", "--profile-ops")
    assert code == 0, err
    assert data["layers"] and sum(row["time_ms"] for row in data["layers"]) > 0 and "layers_error" not in data


def test_openvino_compile_cache_is_hit_on_the_second_run(tiny, tmp_path):
    env = {"EDGEKIT_CACHE": str(tmp_path)}  # the default cache dir: <edgekit's cache>/openvino
    first = runner(str(tiny["openvino"]), "--runs", "3", env=env)
    second = runner(str(tiny["openvino"]), "--runs", "3", env=env)
    assert first[0] == 0 and second[0] == 0, first[2] + second[2]
    assert first[1]["compile_cache"] == {"dir": str(tmp_path / "openvino"), "hit": False}
    assert second[1]["compile_cache"]["hit"] is True and list((tmp_path / "openvino").glob("*.blob"))
    for data in (first[1], second[1]):
        assert data["read_ms"] > 0 and data["compile_ms"] > 0 and data["load_ms"] >= data["compile_ms"]
    code, data, _ = runner(str(tiny["openvino"]), "--runs", "3", "--cache-dir", "none", env=env)
    assert code == 0 and data["compile_cache"] is None  # the control: no cache, no hit to report


def test_xnnpack_settings_reach_litert(tiny, tmp_path):
    outputs = {}
    for flag, name in ((None, "default"), ("--no-xnnpack", "off"), ("--xnnpack-fp16", "fp16")):
        saved = tmp_path / f"{name}.npy"
        code, data, err = runner(
            str(tiny["fp32"]), "--runs", "3", "--save-outputs", str(saved), *([flag] if flag else [])
        )
        assert code == 0, err
        assert data["runtime"]["xnnpack"] == name and data["compile_ms"] > 0
        outputs[name] = np.load(saved)
    assert data["runtime"]["api"] == "CompiledModel" and data["runtime"]["xnnpack_flags"] & 0x4  # FORCE_FP16
    # FP16 arithmetic rounds differently from FP32 (proof the flag reached XNNPACK), but stays close to it
    assert not np.array_equal(outputs["fp16"], outputs["default"])
    np.testing.assert_allclose(outputs["fp16"], outputs["default"], rtol=0.05, atol=0.05)
    np.testing.assert_allclose(outputs["off"], outputs["default"], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["latency", "throughput"])
def test_max_seconds_bounds_the_timed_loop(tiny, mode):
    start = time.monotonic()
    code, data, err = runner(str(tiny["int8"]), "--mode", mode, "--runs", "100000000", "--max-seconds", "0.3")
    assert code == 0, err
    assert data["stopped_by"] == "max_seconds" and data["max_seconds"] == 0.3
    assert 0.3 <= data["timed_seconds"] < 1.0 and data["latency_ms"]["n"] < 100000000
    assert time.monotonic() - start < 60


def test_inputs_folder_feeds_the_timed_runs(tiny, tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "samples"
    folder.mkdir()
    samples = [rng.integers(-128, 128, size=(1, 32, 32, 3), dtype=np.int8) for _ in range(3)]
    for i, sample in enumerate(samples):
        np.save(folder / f"{i}.npy", sample)
    code, data, err = runner(str(tiny["int8"]), "--inputs", str(folder), "--runs", "1", "--warmup", "0")
    assert code == 0, err
    assert data["input_source"] == f"dir:{folder}" and data["input_feeds"] == 3
    code, first, err = runner(str(tiny["int8"]), "--inputs", str(folder / "0.npy"), "--runs", "1", "--warmup", "0")
    assert first["output_sha256"] == data["output_sha256"]  # the one timed run was fed the first file
    code, seeded, _ = runner(str(tiny["int8"]), "--runs", "1", "--warmup", "0")
    assert seeded["output_sha256"] != data["output_sha256"]  # the control: generated inputs give other outputs


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--mode", "fast"], "invalid choice"),
        (["--batch", "0"], "must be >= 1"),
        (["--max-seconds", "0"], "must be > 0"),
        (["--xnnpack-fp16", "--no-xnnpack"], "not allowed with"),
    ],
)
def test_runner_refuses_bad_values(tiny, args, needle):
    code, _, err = runner(str(tiny["int8"]), *args)
    assert code == 2 and needle in err


def test_runner_refuses_options_of_another_runtime(tiny):
    code, data, err = runner(str(tiny["onnx"]), "--xnnpack-fp16")
    assert code == 2 and len(error_lines(err)) == 1 and "LiteRT's" in data["error"]
    code, data, err = runner(str(tiny["int8"]), "--device", "GPU")
    assert code == 2 and "OpenVINO" in data["error"]


# ---------------------------------------------------------------------------------------------------- edgekit profile
def profile(args: list[str], capsys, profiles: Path) -> tuple[int, list | None, str]:
    code, out, err = run_cli(["profile", *args, "--profiles-dir", str(profiles), "--json"], capsys)
    return code, (json.loads(out) if out.strip() else None), err


FAST = ["--runs", "5", "--min-seconds", "0.05", "--warmup", "1"]


def test_profile_throughput_with_real_images_and_its_own_result_file(tiny_int8, labelled_folder, tmp_path, capsys):
    path = tiny_int8["tflite"]["path"]
    code, (latency,), err = profile([path, *FAST], capsys, tmp_path)
    assert code == 0, err
    args = [path, *FAST, "--mode", "throughput", "--max-seconds", "5", "--inputs", str(labelled_folder)]
    code, (result,), err = profile(args, capsys, tmp_path)
    assert code == 0, err
    assert result["mode"] == "throughput" and result["throughput"]["source"] == "measured"
    assert result["throughput_ips"] == result["throughput_fps"] == result["throughput"]["fps"] > 0
    assert result["input_source"].startswith("dir:") and result["input_feeds"] == 48  # 8 classes x 6 photographs
    assert result["settings"]["inputs"] == str(labelled_folder) and result["settings"]["max_seconds"] == 5
    assert result["read_ms"] > 0 and result["compile_ms"] > 0 and result["runtime"]["xnnpack"] == "default"
    assert latency["mode"] == "latency" and latency["saved_to"] != result["saved_to"]
    files = sorted((tmp_path / "host").glob("tinynet__tflite-int8__*.json"))
    assert len(files) == 2, files  # the throughput result did not replace the latency one
    assert {json.loads(f.read_text())["mode"] for f in files} == {"latency", "throughput"}


def test_profile_openvino_compile_cache_hit_and_no_xnnpack_key(tiny_int8, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))
    xml = tiny_int8["openvino"]["path"]
    hits = []
    for _ in range(2):
        code, (result,), err = profile([xml, *FAST, "--device", "CPU", "--no-save"], capsys, tmp_path)
        assert code == 0, err
        hits.append(result["compile_cache"]["hit"])
        assert result["runtime"]["requested_device"] == "CPU" and result["settings"]["device"] == "CPU"
    assert hits == [False, True]
    code, (result,), err = profile([tiny_int8["tflite"]["path"], *FAST, "--no-xnnpack"], capsys, tmp_path)
    assert code == 0 and result["runtime"]["xnnpack"] == "off"


def test_a_model_that_cannot_take_the_batch_says_so(tiny_int8, tmp_path, capsys):
    """edgekit's exports end in a Reshape fixed to batch 1: one line, exit 2, nothing saved."""
    code, _, err = profile([tiny_int8["openvino"]["path"], *FAST, "--batch", "4"], capsys, tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--batch 4: this model cannot" in err
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--device", "TPU"], "--device must be one of CPU, GPU, NPU"),
        (["--mode", "fast"], "--mode must be latency or throughput"),
        (["--batch", "0"], "--batch must be an integer of at least 1"),
        (["--max-seconds", "0"], "--max-seconds must be above 0"),
        (["--inputs", "/nonexistent-folder"], "not a folder of images"),
        (["--xnnpack-fp16", "--no-xnnpack"], "not both"),
        (["--delegate", "coral"], "--delegate must be edgetpu"),
        (["--mode", "throughput", "--target", "rpi4"], "this profile predicts (rpi4)"),
        (["--batch", "2", "--predict"], "this profile predicts (host); predictions are for batch 1"),
        (
            ["--batch", "2", "--emulate", "--target", "rpi4"],
            "--batch sets how a measurement runs; this profile emulates (rpi4): m",
        ),
        (["--device", "GPU", "--format", "tflite"], "--device GPU runs OpenVINO .xml artifacts"),
    ],
)
def test_profile_refuses_bad_values_in_one_line(tiny_int8, args, needle, tmp_path, capsys):
    code, _, err = profile([tiny_int8["tflite"]["path"], *args], capsys, tmp_path)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and needle in err


def test_profile_names_a_missing_delegate_or_device_in_one_line(tiny_int8, tmp_path, capsys):
    from edgekit.device import edgetpu_missing, openvino_devices

    if edgetpu_missing() is None or "GPU" in openvino_devices():
        pytest.skip("this machine has libedgetpu or an OpenVINO GPU")
    code, _, err = profile([tiny_int8["tflite"]["path"], "--delegate", "edgetpu"], capsys, tmp_path)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "libedgetpu.so.1 not found" in err
    code, _, err = profile([tiny_int8["openvino"]["path"], "--device", "GPU"], capsys, tmp_path)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "OpenVINO lists no GPU here" in err
    assert not list(tmp_path.rglob("*.json"))  # refused before anything ran: no failed result either


# ------------------------------------------------------------------------------------------- keys and the board side
def test_timing_settings_are_part_of_the_configuration_key():
    from edgekit.results.store import CONFIG_KEYS, config_id, result_config

    base = {"target": "host", "model": "m", "format": "tflite", "precision": "int8", "source": "measured",
            "runtime": {"name": "litert", "version": "2.3.0", "threads": 1, "device": "cpu"}}  # fmt: skip
    old = json.dumps({k: result_config(base).get(k) for k in CONFIG_KEYS}, sort_keys=True, default=str)
    import hashlib

    assert config_id(result_config(base)) == hashlib.sha256(old.encode()).hexdigest()[:10]  # old ids unchanged
    variants = [
        {**base, "mode": "throughput"},
        {**base, "batch": 4},
        {**base, "runtime": {**base["runtime"], "xnnpack": "off"}},
        {**base, "runtime": {**base["runtime"], "xnnpack": "fp16"}},
        {**base, "format": "openvino", "runtime": {**base["runtime"], "name": "openvino", "device": "GPU"}},
        {**base, "format": "openvino", "runtime": {**base["runtime"], "name": "openvino", "device": "CPU"}},
    ]
    ids = {config_id(result_config(v)) for v in [base, *variants]}
    assert len(ids) == len(variants) + 1


def test_the_board_runner_gets_the_same_options(tmp_path):
    from edgekit.measure.options import timing_options
    from edgekit.measure.remote import HostPlan, RemoteOptions, runner_argv
    from edgekit.measure.ssh import Host
    from edgekit.stages.profile import ProfileRequest

    timing = timing_options(mode="throughput", batch=2, xnnpack_fp16=True, max_seconds=3.0)
    req = ProfileRequest(items=["x.tflite"], timing=timing)
    host = Host(name="pi", address="pi.local", python="python3")
    plan = HostPlan(host, None, {"root": "/c", "executable": "python3"}, "rpi5", None)
    argv = runner_argv(plan, "/c/models/x.tflite", req, RemoteOptions(hosts=[host]), "/c/inputs/abc")
    text = " ".join(argv)
    assert "--mode throughput --batch 2 --xnnpack-fp16 --max-seconds 3.0 --inputs /c/inputs/abc" in text
    assert "--threads" not in argv  # throughput without --threads: the runtime's own choice, as on the host
    latency = runner_argv(plan, "/c/m.xml", ProfileRequest(items=["m.xml"], timing=timing_options(device="NPU")),
                          RemoteOptions(hosts=[host]))  # fmt: skip
    assert "--device NPU" in " ".join(latency) and "--threads" in latency


def test_inputs_are_preprocessed_as_the_manifest_says(tiny_int8, labelled_folder, tmp_path):
    from edgekit.data.calibration import from_folder
    from edgekit.data.labelled import preprocess_from_dict
    from edgekit.exporting.artifacts import find_model_file
    from edgekit.measure.inputs import image_files, prepare_samples

    file, _, manifest = find_model_file(Path(tiny_int8["tflite"]["path"]))
    count = prepare_samples(labelled_folder, manifest, file, tmp_path)
    files = sorted(tmp_path.glob("*.npy"))
    assert count == len(files) == 48
    first = np.load(files[0])
    spec = manifest["input"]
    assert list(first.shape) == spec["shape"] and first.dtype.name == spec["dtype"] == "int8"
    # the first image (by path) through the calibration path (float), quantized with the input's scale: equal
    calib = from_folder(labelled_folder, 0, 32, preprocess_from_dict(manifest["preprocess"]))
    index = calib.files.index(str(image_files(labelled_folder)[0]))
    scale, zero = spec["quantization"]["scale"], spec["quantization"]["zero_point"]
    expected = np.clip(np.round(calib.images[index] / scale + zero), -128, 127)
    assert np.abs(expected - first[0]).max() <= 1 and np.abs(first[0]).max() > 10


def test_the_npu_runner_gets_them_too():
    from edgekit.errors import UsageError
    from edgekit.measure.npu import npu_command
    from edgekit.measure.options import timing_options

    cmd = npu_command(Path("m.xml"), 5, 1, 1.0, timing_options(device="NPU", mode="throughput", batch=2))
    assert cmd.count("--device") == 1 and " --mode throughput --batch 2" in " ".join(cmd)
    with pytest.raises(UsageError, match="measures the NPU"):
        npu_command(Path("m.xml"), 5, 1, 1.0, timing_options(device="GPU"))
