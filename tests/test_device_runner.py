"""The device runner (python -m edgekit.device run), natively: JSON contract, determinism, inputs/outputs, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

try:
    from tests._tiny import tiny_onnx_model, tiny_openvino_model, tiny_tflite_models
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from _tiny import tiny_onnx_model, tiny_openvino_model, tiny_tflite_models

CONTRACT_KEYS = {
    "schema", "status", "error", "model", "runtime", "machine", "host", "python", "numpy", "input", "output",
    "inputs", "outputs", "input_source", "load_ms", "first_inference_ms", "warmup", "latency_ms",
    "peak_memory_bytes", "output_sha256", "outputs_saved", "inputs_saved", "layers",
}  # fmt: skip
# What every run imports of edgekit/device, whatever the format (each backend module adds itself).
DEVICE_CORE = [
    "edgekit.device", "edgekit.device.api", "edgekit.device.base", "edgekit.device.io", "edgekit.device.runner",
    "edgekit.device.runtimes", "edgekit.device.system", "edgekit.device.throughput",
]  # fmt: skip


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    return tiny_tflite_models(tmp_path_factory.getbasetemp() / "tiny-models")


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory) -> Path:
    return tiny_onnx_model(tmp_path_factory.getbasetemp() / "tiny-onnx")


@pytest.fixture(scope="session")
def tiny_openvino(tiny_onnx) -> Path:
    return tiny_openvino_model(tiny_onnx)


def run_device(*args: str, timeout: float = 120, env: dict | None = None, cwd: Path | None = None):
    """Run the runner in a subprocess; return (exit code, parsed stdout JSON or None, stdout, stderr)."""
    cmd = [sys.executable, "-m", "edgekit.device", "run", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        data = None
    return proc.returncode, data, proc.stdout, proc.stderr


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_json_contract(tiny_models, precision):
    code, data, stdout, stderr = run_device(str(tiny_models[precision]), "--json", "--runs", "7", "--warmup", "2")
    assert code == 0, stderr
    assert stdout.count("\n") == 1, "stdout must hold exactly one JSON object"
    assert CONTRACT_KEYS <= data.keys()
    assert data["status"] == "ok" and data["error"] is None and data["schema"] == "edgekit.device.run/1"
    assert set(data["runtime"]) == {"name", "version", "threads", "device", "cpus", "xnnpack"}
    assert data["runtime"]["cpus"] == sorted(os.sched_getaffinity(0)) == data["cpus"]
    assert data["runtime"]["name"] in ("litert", "tflite-runtime") and data["runtime"]["threads"] == 1
    assert data["machine"] == os.uname().machine
    assert set(data["latency_ms"]) >= {"median", "p90", "p99", "std", "n"} and data["latency_ms"]["n"] == 7
    assert data["latency_ms"]["median"] > 0 and data["load_ms"] > 0 and data["first_inference_ms"] > 0
    assert data["peak_memory_bytes"] > 10 * 2**20
    assert len(data["output_sha256"]) == 64 and data["outputs_saved"] is None and data["layers"] is None
    assert data["input"]["shape"] == [1, 32, 32, 3] and data["output"]["shape"] == [1, 5]
    if precision == "int8":
        assert data["input"]["dtype"] == "int8" and data["output"]["dtype"] == "int8"
        assert data["input"]["quantization"]["scale"] > 0
        assert isinstance(data["input"]["quantization"]["zero_point"], int)
    else:
        assert data["input"]["dtype"] == "float32" and data["input"]["quantization"] is None


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_same_seed_same_outputs(tiny_models, precision, tmp_path):
    model = str(tiny_models[precision])
    shas = []
    for i, seed in enumerate(["3", "3", "4"]):
        code, data, _, stderr = run_device(
            model, "--json", "--runs", "2", "--seed", seed, "--save-inputs", str(tmp_path / f"in{i}.npy")
        )
        assert code == 0, stderr
        shas.append(data["output_sha256"])
    assert shas[0] == shas[1]
    first, again, other = (np.load(tmp_path / f"in{i}.npy") for i in range(3))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    if precision == "int8":  # integers over the whole range, already in the input dtype
        assert first.dtype == np.int8 and first.min() < -100 and first.max() > 100
    else:
        assert first.dtype == np.float32 and -1.0 <= first.min() < -0.9 and 0.9 < first.max() <= 1.0


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_inputs_outputs_round_trip(tiny_models, precision, tmp_path):
    model = str(tiny_models[precision])
    inputs, out1, out2 = tmp_path / "inputs.npy", tmp_path / "out1.npy", tmp_path / "out2.npy"
    code, first, _, stderr = run_device(
        model, "--json", "--runs", "1", "--seed", "11", "--save-inputs", str(inputs), "--save-outputs", str(out1)
    )
    assert code == 0, stderr
    assert first["outputs_saved"] == str(out1) and first["inputs_saved"] == str(inputs)
    code, second, _, stderr = run_device(
        model, "--json", "--runs", "1", "--inputs", str(inputs), "--save-outputs", str(out2)
    )
    assert code == 0, stderr
    assert second["input_source"] == f"file:{inputs}"
    assert second["output_sha256"] == first["output_sha256"]
    saved = np.load(out2)
    np.testing.assert_array_equal(np.load(out1), saved)
    assert saved.dtype == np.dtype(first["output"]["dtype"]) and list(saved.shape) == first["output"]["shape"]


def _assert_one_line_failure(code, data, stdout, stderr, needle: str):
    assert code == 1
    assert stdout.count("\n") == 1 and data["status"] == "failed" and needle in data["error"]
    assert "\n" not in data["error"]
    error_lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "Traceback" not in stderr


@pytest.mark.parametrize("corruption", ["garbage", "truncated", "empty"])
def test_corrupt_model_fails_fast(tiny_models, tmp_path, corruption):
    content = tiny_models["int8"].read_bytes()
    bad = {
        "garbage": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "truncated": content[: len(content) // 2],
        "empty": b"",
    }[corruption]
    path = tmp_path / "bad.tflite"
    path.write_bytes(bad)
    code, data, stdout, stderr = run_device(str(path), "--json", timeout=60)
    _assert_one_line_failure(code, data, stdout, stderr, "cannot load")


def test_bad_inputs_and_missing_model(tiny_models, tmp_path):
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((1, 16, 16, 3), np.float32))
    code, data, stdout, stderr = run_device(str(tiny_models["int8"]), "--json", "--inputs", str(wrong))
    _assert_one_line_failure(code, data, stdout, stderr, "shape")
    np.save(wrong, np.zeros((1, 32, 32, 3), np.float32))
    code, data, stdout, stderr = run_device(str(tiny_models["int8"]), "--json", "--inputs", str(wrong))
    _assert_one_line_failure(code, data, stdout, stderr, "quantize first")
    code, data, stdout, stderr = run_device(str(tmp_path / "missing.tflite"), "--json")
    _assert_one_line_failure(code, data, stdout, stderr, "not found")
    code, _, _, stderr = run_device(str(tiny_models["int8"]), "--json", "--runs", "0")
    assert code == 2 and "must be >= 1" in stderr


def test_min_seconds_and_threads(tiny_models):
    code, data, _, stderr = run_device(
        str(tiny_models["fp32"]), "--json", "--runs", "1", "--min-seconds", "0.2", "--threads", "2"
    )
    assert code == 0, stderr
    assert data["latency_ms"]["n"] > 1 and data["runtime"]["threads"] == 2


def test_profile_ops(tiny_models):
    code, data, _, stderr = run_device(str(tiny_models["int8"]), "--json", "--runs", "2", "--profile-ops")
    assert code == 0, stderr
    layers = data["layers"]
    assert [row["op"] for row in layers].count("CONV_2D") == 1 and len(layers) == 3
    assert layers == sorted(layers, key=lambda r: r["time_ms"], reverse=True)
    assert abs(sum(row["percent"] for row in layers) - 100.0) < 0.1
    assert set(layers[0]) == {"index", "name", "op", "time_ms", "percent"}


def test_runs_alone_without_the_rest_of_edgekit(tiny_models, tmp_path):
    """A staged copy holding only edgekit/device runs, and imports no typer, rich or TensorFlow."""
    from edgekit.emulate import staged_device_package

    with staged_device_package() as staged:
        assert sorted(p.name for p in (staged / "edgekit").iterdir()) == ["__init__.py", "device"]
        env = {**os.environ, "PYTHONPATH": str(staged)}
        code = (
            "import sys, json; from edgekit.device.runner import main; rc = main(sys.argv[1:]); "
            "mods = sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'edgekit', 'typer', 'rich', 'tensorflow', 'keras', 'click', 'onnxruntime', 'openvino', 'PIL'}); "
            "sys.stderr.write(json.dumps([rc, mods, __import__('edgekit').__file__]) + '\\n')"
        )
        args = ["run", str(tiny_models["int8"]), "--json", "--runs", "1"]
        proc = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=staged, timeout=120
        )
    rc, modules, init_file = json.loads(proc.stderr.strip().splitlines()[-1])
    assert rc == 0 and json.loads(proc.stdout)["status"] == "ok"
    assert init_file.startswith(str(staged))
    assert modules == sorted(["edgekit", *DEVICE_CORE, "edgekit.device.litert_backend"])


def test_unavailable_runtime_is_one_line(tiny_models):
    try:
        import tflite_runtime  # noqa: F401

        pytest.skip("tflite-runtime is installed here")
    except ImportError:
        pass
    code, data, stdout, stderr = run_device(str(tiny_models["int8"]), "--json", "--runtime", "tflite-runtime")
    _assert_one_line_failure(code, data, stdout, stderr, "install tflite-runtime")


# ---------------------------------------------------------------- ONNX Runtime (.onnx)


def test_onnx_json_contract_and_outputs(tiny_onnx, tmp_path):
    """An .onnx file runs with ONNX Runtime (CPU provider, sequential): the same contract as TFLite, and the outputs
    are those of a plain onnxruntime session fed the same seeded inputs."""
    import onnxruntime as ort

    inputs, outputs = tmp_path / "in.npy", tmp_path / "out.npy"
    code, data, stdout, stderr = run_device(
        str(tiny_onnx), "--json", "--runs", "4", "--warmup", "1", "--seed", "5", "--threads", "2", "--cpus", "0",
        "--save-inputs", str(inputs), "--save-outputs", str(outputs),
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout.count("\n") == 1 and CONTRACT_KEYS <= data.keys() and data["status"] == "ok"
    session_options = {"providers": ["CPUExecutionProvider"], "inter_op_threads": 1, "execution_mode": "sequential"}
    runtime = {"name": "onnxruntime", "version": ort.__version__, "threads": 2, "device": "cpu", "cpus": [0]}
    assert data["runtime"] == {**runtime, **session_options}
    assert data["cpus"] == [0] and data["input_source"] == "seed:5" and data["latency_ms"]["n"] == 4
    assert data["latency_ms"]["median"] > 0 and data["load_ms"] > 0 and data["first_inference_ms"] > 0
    assert data["peak_memory_bytes"] > data["baseline_memory_bytes"] > 10 * 2**20
    assert data["input"] == {"name": "image", "shape": [1, 3, 32, 32], "dtype": "float32", "quantization": None}
    assert data["output"] == {"name": "logits", "shape": [1, 5], "dtype": "float32", "quantization": None}
    assert data["thermal"]["before"] and data["power"]["status"] in ("absent", "ok") and data["layers"] is None
    fed = np.load(inputs)
    assert fed.dtype == np.float32 and -1.0 <= fed.min() < -0.9 and 0.9 < fed.max() <= 1.0
    session = ort.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"])
    (expected,) = session.run(None, {"image": fed})
    np.testing.assert_allclose(np.load(outputs), expected, rtol=1e-5, atol=1e-6)
    assert np.ptp(expected) > 0.01, "a model whose outputs do not depend on its weights would prove nothing"

    code, again, _, stderr = run_device(str(tiny_onnx), "--json", "--runs", "1", "--seed", "5")
    assert code == 0, stderr
    assert again["output_sha256"] == data["output_sha256"], "same seed, same outputs (threads do not change them)"
    code, other, _, stderr = run_device(str(tiny_onnx), "--json", "--runs", "1", "--seed", "6")
    assert code == 0 and other["output_sha256"] != data["output_sha256"]


def test_onnx_dynamic_batch_from_inputs_file(tiny_onnx, tmp_path):
    """The symbolic batch dimension takes the size --inputs gives; a wrong static dimension is still refused."""
    batch = np.random.default_rng(1).uniform(-1, 1, (3, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "batch.npy", batch)
    code, data, _, stderr = run_device(str(tiny_onnx), "--json", "--runs", "1", "--inputs", str(tmp_path / "batch.npy"))
    assert code == 0, stderr
    assert data["input"]["shape"] == [3, 3, 32, 32] and data["output"]["shape"] == [3, 5]
    np.save(tmp_path / "wrong.npy", batch[:, :, :16])
    code, data, stdout, stderr = run_device(str(tiny_onnx), "--json", "--inputs", str(tmp_path / "wrong.npy"))
    _assert_one_line_failure(code, data, stdout, stderr, "the model wants [1, 3, 32, 32]")


def test_onnx_failures_are_one_line(tiny_onnx, tiny_models, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(tiny_onnx.read_bytes()[:200])
    code, data, stdout, stderr = run_device(str(bad), "--json")
    _assert_one_line_failure(code, data, stdout, stderr, "cannot load")
    for args, needle in (
        (["--delegate", "edgetpu"], "--delegate edgetpu runs .tflite models"),
        (["--runtime", "litert"], "--runtime litert does not run .onnx files"),
        (["--device", "NPU"], "--device NPU is for OpenVINO"),
    ):
        code, data, stdout, stderr = run_device(str(tiny_onnx), "--json", *args)
        assert code == 2 and data["status"] == "failed" and needle in data["error"], (args, stderr)
        assert "Traceback" not in stderr and stdout.count("\n") == 1
    code, data, _, _ = run_device(str(tiny_models["int8"]), "--json", "--runtime", "onnxruntime")
    assert code == 2 and "--runtime onnxruntime does not run .tflite files" in data["error"]


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_profile_ops_onnx_and_openvino(tiny_onnx, tiny_openvino, fmt):
    """--profile-ops on ONNX Runtime (its profiler) and OpenVINO (its performance counters): per-node rows."""
    model = tiny_onnx if fmt == "onnx" else tiny_openvino
    code, data, stdout, stderr = run_device(str(model), "--json", "--runs", "3", "--profile-ops")
    assert code == 0 and stdout.count("\n") == 1, stderr
    layers = data["layers"]
    assert layers and "layers_error" not in data and "over" in data["layers_note"]
    assert layers == sorted(layers, key=lambda r: r["time_ms"], reverse=True)
    assert abs(sum(row["percent"] for row in layers) - 100.0) < 0.1
    assert all({"index", "name", "op", "time_ms", "percent"} <= set(row) for row in layers)
    ops = {row["op"] for row in layers}
    if fmt == "onnx":
        assert ops & {"Conv", "FusedConv"} and data["precision_detected"] is None
    else:
        assert all(row["exec_type"] and "bf16" not in row["exec_type"] for row in layers)
        assert data["precision_detected"] == "fp32" and data["runtime"]["inference_precision_requested"] == "f32"


def test_open_model_in_process(tiny_onnx, tiny_openvino, tiny_models):
    """edgekit.device.open_model: the runner's backends in this process, with their tensor specs and run()."""
    from edgekit.device import RunnerError, open_model

    outputs = {}
    for key, path in (("onnx", tiny_onnx), ("openvino", tiny_openvino)):
        model = open_model(path, threads=1)
        (spec,) = model.input_specs()
        assert spec == {"name": "image", "shape": [1, 3, 32, 32], "dtype": "float32", "quantization": None}
        assert model.output_specs()[0]["shape"] == [1, 5]
        x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
        outputs[key] = model.run([x])[0]
    np.testing.assert_allclose(outputs["openvino"], outputs["onnx"], rtol=1e-4, atol=1e-5)
    int8 = open_model(tiny_models["int8"], runtime="litert")
    assert int8.input_specs()[0]["quantization"] and int8.output_specs()[0]["dtype"] == "int8"
    with pytest.raises(RunnerError, match="does not run .onnx"):
        open_model(tiny_onnx, runtime="openvino")


def test_missing_onnxruntime_names_the_install_line(tiny_onnx):
    """onnxruntime made unimportable (sys.modules entry None: Python's own way to block an import)."""
    code = (
        "import sys; sys.modules['onnxruntime'] = None; from edgekit.device.runner import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "run", str(tiny_onnx), "--json"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert line.endswith('install it: pip install "onnxruntime==1.32.0"'), line
    assert json.loads(proc.stdout)["error"] == line.removeprefix("error: ")


def test_each_format_runs_alone_importing_only_its_runtime(tiny_onnx, tiny_openvino, tiny_models):
    """A staged edgekit/device alone runs each format importing its own runtime and none of typer, rich, pillow,
    TensorFlow or the other runtimes: a .tflite file never imports onnxruntime or openvino."""
    from edgekit.emulate import staged_device_package

    watched = "{'typer', 'rich', 'PIL', 'tensorflow', 'keras', 'click', 'onnxruntime', 'openvino', 'ai_edge_litert'}"
    code = (
        "import sys, json; from edgekit.device.runner import main; rc = main(sys.argv[1:]); "
        f"mods = sorted({{m.split('.')[0] for m in sys.modules}} & {watched}); "
        "dev = sorted(m for m in sys.modules if m.startswith('edgekit')); "
        "sys.stderr.write(json.dumps([rc, mods, dev]) + '\\n')"
    )
    seen = {}
    with staged_device_package() as staged:
        env = {**os.environ, "PYTHONPATH": str(staged)}
        for name, model in (("onnx", tiny_onnx), ("openvino", tiny_openvino), ("tflite", tiny_models["int8"])):
            proc = subprocess.run(
                [sys.executable, "-c", code, "run", str(model), "--json", "--runs", "1"],
                capture_output=True, text=True, env=env, cwd=staged, timeout=120,
            )  # fmt: skip
            seen[name] = json.loads(proc.stderr.strip().splitlines()[-1])
    base = ["edgekit", *DEVICE_CORE]
    assert seen["onnx"] == [0, ["onnxruntime"], sorted([*base, "edgekit.device.onnx_backend"])]
    assert seen["openvino"] == [0, ["openvino"], sorted([*base, "edgekit.device.openvino_backend"])]
    assert seen["tflite"] == [0, ["ai_edge_litert"], sorted([*base, "edgekit.device.litert_backend"])]


# ---------------------------------------------------------------- OpenVINO (.xml + .bin)


def test_openvino_cpu_contract_and_outputs(tiny_openvino, tiny_onnx, tmp_path):
    """--device CPU (the default) for real: OpenVINO's version, the device the compiled model executes on, f32
    inference; its outputs match ONNX Runtime's on the same seeded inputs (same weights, converted)."""
    from importlib.metadata import version

    code, data, stdout, stderr = run_device(
        str(tiny_openvino), "--json", "--runs", "3", "--seed", "5", "--cpus", "0", "--save-outputs",
        str(tmp_path / "ov.npy"),
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout.count("\n") == 1 and CONTRACT_KEYS <= data.keys() and data["status"] == "ok"
    runtime = data["runtime"]
    assert runtime["name"] == "openvino" and runtime["version"] == version("openvino") and runtime["cpus"] == [0]
    assert runtime["device"] == "CPU" and runtime["execution_devices"] == ["CPU"]
    assert runtime["requested_device"] == "CPU"
    assert runtime["inference_precision"] == "f32" and runtime["threads"] == 1 and runtime["threads_requested"] == 1
    assert data["input"] == {"name": "image", "shape": [1, 3, 32, 32], "dtype": "float32", "quantization": None}
    assert data["output"]["shape"] == [1, 5] and data["latency_ms"]["n"] == 3 and data["load_ms"] > 0
    code, ort, _, stderr = run_device(str(tiny_onnx), "--json", "--runs", "1", "--seed", "5", "--save-outputs",
                                      str(tmp_path / "ort.npy"))  # fmt: skip
    assert code == 0, stderr
    np.testing.assert_allclose(np.load(tmp_path / "ov.npy"), np.load(tmp_path / "ort.npy"), rtol=1e-4, atol=1e-5)


def test_openvino_devices_not_listed_are_one_line_errors(tiny_openvino):
    """No NPU (and no GPU driver) on this machine: a real OpenVINO run says so and names what it lists."""
    import openvino as ov

    available = ov.Core().available_devices
    for device in ("NPU", "npu", "GPU"):
        if device.upper() in available:
            continue
        code, data, stdout, stderr = run_device(str(tiny_openvino), "--json", "--device", device)
        _assert_one_line_failure(code, data, stdout, stderr, f"OpenVINO lists no {device.upper()} here (available: ")
        assert ", ".join(available) in data["error"]
    code, _, _, stderr = run_device(str(tiny_openvino), "--json", "--device", "AUTO")
    assert code == 2 and "invalid choice" in stderr, "AUTO could fall back to the CPU: not a device one can ask for"


def test_openvino_fallbacks_are_never_reported_as_the_device():
    """Device choice and the execution check on device lists as OpenVINO reports them (an NPU cannot exist here)."""
    from edgekit.device.openvino_backend import check_execution, choose_device
    from edgekit.device.runner import RunnerError

    assert choose_device(["CPU", "GPU", "NPU"], "NPU") == "NPU" and choose_device(["CPU", "GPU.0"], "GPU") == "GPU.0"
    with pytest.raises(RunnerError, match="lists no NPU here \\(available: CPU, GPU\\); install the Intel NPU"):
        choose_device(["CPU", "GPU"], "NPU")
    check_execution("NPU", ["NPU"])
    check_execution("NPU", ["NPU.0"])
    for executed in (["CPU"], ["NPU", "CPU"], [], ["AUTO"]):
        with pytest.raises(RunnerError, match="refusing to report it as NPU"):
            check_execution("NPU", executed)


def test_openvino_failures_are_one_line(tiny_openvino, tmp_path):
    lonely = tmp_path / "lonely.xml"
    lonely.write_bytes(tiny_openvino.read_bytes())
    code, data, stdout, stderr = run_device(str(lonely), "--json")
    _assert_one_line_failure(code, data, stdout, stderr, "lonely.bin not found")
    code, data, _, _ = run_device(str(tiny_openvino), "--json", "--delegate", "edgetpu")
    assert code == 2 and "--delegate edgetpu runs .tflite models" in data["error"]
    block = "import sys; sys.modules['openvino'] = None; from edgekit.device.runner import main; "
    command = [sys.executable, "-c", block + "sys.exit(main(sys.argv[1:]))", "run", str(tiny_openvino), "--json"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["error"].endswith('install it: pip install "openvino==2026.4.1"')


# ---------------------------------------------------------------- board readings (vcgencmd, sysfs, Coral)
# vcgencmd, a Pi 5 PMIC, cpufreq and the Edge TPU do not exist on this machine. Their parsers are tested on recorded
# outputs (the formats of the Raspberry Pi documentation's vcgencmd page; the PMIC text as a Pi 5 prints it, posted on
# the Raspberry Pi forums), and the runner's own path through them with a stand-in `vcgencmd` script on PATH that
# prints those recordings. Nothing here was run on a real board.

PI5_PMIC = """\
 3V7_WL_SW_A current(0)=0.00000000A
   3V3_SYS_A current(1)=0.05465400A
   1V8_SYS_A current(2)=0.17177800A
  DDR_VDD2_A current(3)=0.02635200A
  DDR_VDDQ_A current(4)=0.00000000A
   1V1_SYS_A current(5)=0.16103100A
    0V8_SW_A current(6)=0.33381000A
  VDD_CORE_A current(7)=0.58569600A
   3V3_DAC_A current(17)=0.00036630A
   3V3_ADC_A current(18)=0.00030525A
   0V8_AON_A current(16)=0.00054945A
      HDMI_A current(22)=0.01745040A
 3V7_WL_SW_V volt(8)=3.71236500V
   3V3_SYS_V volt(9)=3.30351400V
   1V8_SYS_V volt(10)=1.80012100V
  DDR_VDD2_V volt(11)=1.11237200V
  DDR_VDDQ_V volt(12)=0.60402930V
   1V1_SYS_V volt(13)=1.11103800V
    0V8_SW_V volt(14)=0.80402930V
  VDD_CORE_V volt(15)=0.88075600V
   3V3_DAC_V volt(20)=3.30448700V
   3V3_ADC_V volt(21)=3.30692800V
   0V8_AON_V volt(19)=0.80307700V
      HDMI_V volt(23)=5.16390200V
     EXT5V_V volt(24)=5.13550000V
      BATT_V volt(25)=0.00000000V
"""


def test_pmic_rails_are_paired_and_summed():
    from edgekit.device.system import parse_pmic

    reading = parse_pmic(PI5_PMIC)
    assert len(reading["rails"]) == 12, "EXT5V and BATT have a voltage but no current: not rails"
    assert reading["rails"]["VDD_CORE"] == pytest.approx(0.585696 * 0.880756, rel=1e-5)
    by_hand = 0.054654 * 3.303514 + 0.171778 * 1.800121 + 0.026352 * 1.112372 + 0.161031 * 1.111038
    by_hand += 0.33381 * 0.8040293 + 0.585696 * 0.880756 + 0.0003663 * 3.304487 + 0.00030525 * 3.306928
    by_hand += 0.00054945 * 0.803077 + 0.0174504 * 5.163902
    assert reading["total_w"] == pytest.approx(by_hand, rel=1e-4)
    assert parse_pmic("") is None and parse_pmic('error=1 error_msg="Command not registered"') is None


@pytest.mark.parametrize(
    ("before", "after", "throttled"),
    [("0x0", "0x0", False), ("0x0", "0x4", True), ("0x0", "0x40000", True), ("0x50000", "0x50000", False),
     ("0x50005", "0x50005", True), ("0x80000", "0x80008", False)],
)  # fmt: skip
def test_get_throttled_flags(before, after, throttled):
    from edgekit.device.system import parse_throttled, throttle_flags, was_throttled

    b, a = parse_throttled(f"throttled={before}\n"), parse_throttled(f"throttled={after}\n")
    assert was_throttled(b, a) is throttled
    assert throttle_flags(0x50005) == ["under-voltage", "throttled", "under-voltage occurred", "throttling occurred"]
    assert was_throttled(None, a) is None


def test_temp_clock_and_cpu_list_parsing(tmp_path):
    from edgekit.device.system import cpu_clocks, parse_cpu_list, parse_temp

    assert parse_temp("temp=48.3'C\n") == 48.3 and parse_temp("") is None
    assert parse_cpu_list("0-2,4") == [0, 1, 2, 4] and parse_cpu_list("3") == [3]
    for bad in ("", "a", "3-1", "1,,2"):
        with pytest.raises(ValueError):
            parse_cpu_list(bad)
    for cpu, (gov, khz) in enumerate([("ondemand", "1500000"), ("performance", "600000")]):
        base = tmp_path / f"cpu{cpu}" / "cpufreq"  # the cpufreq sysfs layout of a Pi 4 (recorded)
        base.mkdir(parents=True)
        (base / "scaling_governor").write_text(gov + "\n")
        (base / "scaling_cur_freq").write_text(khz + "\n")
    clocks = cpu_clocks([0, 1], root=tmp_path)
    assert clocks == {"status": "ok", "governor": {"0": "ondemand", "1": "performance"},
                      "clock_mhz": {"0": 1500.0, "1": 600.0}}  # fmt: skip
    assert cpu_clocks([0], root=tmp_path / "none")["status"] == "absent"


def _fake_vcgencmd(bin_dir: Path, state: Path, temps: list[float]) -> None:
    """A stand-in `vcgencmd` (no Raspberry Pi here) replaying recorded outputs: temperatures in order, then the last;
    get_throttled 0x0 on the first call and 0x40004 afterwards (throttled during the run); the Pi 5 PMIC text."""
    (state / "pmic.txt").write_text(PI5_PMIC)
    (state / "temps").write_text("\n".join(str(t) for t in temps) + "\n")
    script = f"""#!/bin/sh
case "$1" in
  measure_temp) t=$(head -n1 {state}/temps); n=$(wc -l < {state}/temps)
     [ "$n" -gt 1 ] && sed -i 1d {state}/temps; echo "temp=$t'C" ;;
  get_throttled) if [ -e {state}/seen ]; then echo throttled=0x40004; else touch {state}/seen; echo throttled=0x0; fi ;;
  measure_clock) echo "frequency(0)=1500398464" ;;
  pmic_read_adc) cat {state}/pmic.txt ;;
  *) exit 1 ;;
esac
"""
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "vcgencmd").write_text(script)
    (bin_dir / "vcgencmd").chmod(0o755)


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_runner_records_pi_thermals_and_power(tiny_models, tiny_onnx, tmp_path, fmt):
    from edgekit.device.system import parse_pmic

    _fake_vcgencmd(tmp_path / "bin", tmp_path, [61.0, 58.5, 52.0])
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    model = tiny_models["int8"] if fmt == "tflite" else tiny_onnx
    code, data, _, stderr = run_device(
        str(model), "--json", "--runs", "3", "--min-seconds", "0.3", "--cooldown-c", "60",
        "--cooldown-max-s", "20", "--idle-seconds", "0.3", "--cpus", "0", env=env,
    )  # fmt: skip
    assert code == 0, stderr
    assert data["cpus"] == [0] and data["runtime"]["cpus"] == [0]
    assert data["cooldown"]["status"] == "ok" and data["cooldown"]["start_c"] == 61.0
    assert data["cooldown"]["end_c"] == 58.5
    thermal = data["thermal"]
    assert thermal["before"]["throttled"] == "0x0" and thermal["after"]["throttled"] == "0x40004"
    assert thermal["throttled"] is True and thermal["after"]["arm_clock_mhz"] == 1500.4
    assert thermal["before"]["temp_source"] == "vcgencmd measure_temp"
    power = data["power"]
    assert power["source"] == "measured" and power["method"] == "pi5-pmic" and "PMIC rails" in power["scope"]
    recorded_w = parse_pmic(PI5_PMIC)["total_w"]  # the stand-in prints one recording: idle = active
    assert power["active_w"] == pytest.approx(recorded_w, abs=1e-4) and power["idle_w"] == power["active_w"]
    per_inference = power["active_w"] * data["timed_seconds"] / data["latency_ms"]["n"] * 1000
    assert power["energy_mj_per_inference"] == pytest.approx(per_inference, rel=1e-3)


def test_runner_says_what_is_absent(tiny_models, tmp_path):
    """This machine has no vcgencmd, no PMIC/RAPL and no Edge TPU: each says so instead of inventing a figure."""
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + ":/usr/bin:/bin"}
    code, data, _, stderr = run_device(str(tiny_models["int8"]), "--json", "--runs", "2", "--cooldown-c", "50", env=env)
    assert code == 0, stderr
    assert data["thermal"]["throttled"] is None and "not known" in data["thermal"]["throttled_note"]
    assert data["power"]["status"] == "absent" and "energy_mj_per_inference" not in data["power"]
    assert data["accelerators"] == {"edgetpu_usb": False, "edgetpu_pcie": False}
    if data["cooldown"]["status"] == "absent":  # a thermal zone may exist on some hosts
        assert data["cooldown"]["waited_s"] == 0.0
    code, data, stdout, stderr = run_device(str(tiny_models["int8"]), "--json", "--delegate", "edgetpu", env=env)
    _assert_one_line_failure(code, data, stdout, stderr, "libedgetpu.so.1 not found")
    assert "libedgetpu1-std" in data["error"]
    code, data, stdout, stderr = run_device(str(tiny_models["int8"]), "--json", "--cpus", "4096")
    _assert_one_line_failure(code, data, stdout, stderr, "not available here")


def _requirements(metadata: str) -> dict[str, set[str]]:
    """Requires-Dist of a wheel's METADATA by extra ("" for the base): {extra: {"name[==pin][; marker]"}}."""
    import re

    by_extra: dict[str, set[str]] = {}
    for line in metadata.splitlines():
        if not line.startswith("Requires-Dist:"):
            continue
        requirement = line.split(":", 1)[1].strip()
        match = re.search(r"""(?:\band\s+)?extra\s*==\s*['"]([^'"]+)['"]""", requirement)
        extra = match.group(1) if match else ""
        requirement = requirement.replace(match.group(0), "") if match else requirement
        by_extra.setdefault(extra, set()).add(re.sub(r"\s*;\s*$", "", requirement.strip()).replace('"', "'"))
    return by_extra


def test_wheel_requirements_keep_boards_lean(tmp_path_factory):
    """The built wheel's METADATA: base + device is numpy + LiteRT (tflite-runtime on armv7l) and nothing else;
    device-onnx and device-openvino add their one runtime; typer, rich and pillow come with the cli extra, which
    every workstation extra includes; the console script is the launcher (one line when the cli extra is missing)."""
    import zipfile

    try:
        from tests._wheel import built_wheel
    except ImportError:
        from _wheel import built_wheel

    wheel = built_wheel(tmp_path_factory.getbasetemp() / "wheel")
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = archive.read(next(n for n in archive.namelist() if n.endswith("entry_points.txt"))).decode()
    reqs = _requirements(metadata)
    assert reqs[""] == {"numpy<2.5,>=1.23"}
    assert reqs["device"] == {
        "numpy",
        "ai-edge-litert==2.3.0; platform_machine != 'armv7l'",
        "tflite-runtime==2.14.0; platform_machine == 'armv7l'",
    }
    assert reqs["device-onnx"] == {"numpy", "onnxruntime==1.32.0"}
    assert reqs["device-openvino"] == {"numpy", "openvino==2026.4.1"}
    assert reqs["cli"] == {"typer>=0.12", "rich>=13", "pillow>=10"}
    for extra in ("tf", "onnx", "openvino", "report"):
        assert "edgekit[cli]" in reqs[extra], extra
    assert "edgekit = edgekit.launcher:main" in entry_points

    from edgekit.device.onnx_backend import ORT_PIN
    from edgekit.device.openvino_backend import OPENVINO_PIN
    from edgekit.measure.remote import LITERT_PIN

    assert ORT_PIN in reqs["device-onnx"] and OPENVINO_PIN in reqs["device-openvino"]
    assert LITERT_PIN in {r.split(";")[0] for r in reqs["device"]}


def test_device_package_imports_only_the_standard_library_numpy_and_runtimes():
    """Every import in edgekit/device/*.py (top level or inside functions): the standard library, numpy, one of the
    runtimes, or the package itself; never typer, rich, pillow or the rest of edgekit."""
    import ast

    allowed = set(sys.stdlib_module_names) | {"numpy", "ai_edge_litert", "tflite_runtime", "onnxruntime", "openvino"}
    device = Path(__file__).resolve().parents[1] / "edgekit" / "device"
    found = {}
    for path in sorted(device.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(path.name)
    assert found and not {name: files for name, files in found.items() if name not in allowed}


@pytest.mark.arm
def test_wheel_installs_and_runs_in_the_emulated_pi_userland(tiny_models, tmp_path):
    """The wheel built from this checkout, installed into the emulated arm64 userland (no network: its numpy and
    LiteRT are the userland's own), runs `python -m edgekit.device run MODEL.tflite --json` as an aarch64 process."""
    try:
        from tests._emulated_python import emulated_python, tools_missing
    except ImportError:
        from _emulated_python import emulated_python, tools_missing
    from edgekit.emulate import setup_emulator

    missing = tools_missing()
    if missing and os.environ.get("EDGEKIT_REQUIRE_ARM") != "1":
        pytest.skip(f"{', '.join(missing)} missing")
    try:
        from tests._wheel import built_wheel
    except ImportError:
        from _wheel import built_wheel

    rootfs = setup_emulator(runtime="litert")
    wheel = built_wheel(tmp_path / "wheel")
    target = tmp_path / "installed"
    install = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target", str(target)]
    subprocess.run([*install, f"{wheel}[device]"], check=True, capture_output=True, timeout=300)
    python = emulated_python(rootfs, tmp_path, [target])

    # The base + device extra's requirements (numpy + LiteRT, nothing else) are met inside the guest by what the
    # userland holds.
    check = (
        "import json, re, edgekit; from importlib.metadata import requires, version; "
        "names = sorted({re.split('[=<>; ]', r)[0] for r in requires('edgekit') "
        "if ('extra ==' not in r or 'extra == \"device\"' in r) and not re.search('platform_machine == .armv7l', r)}); "
        "print(json.dumps([edgekit.__file__, {n: version(n) for n in names}]))"
    )
    proc = subprocess.run([str(python), "-c", check], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    location, versions = json.loads(proc.stdout)
    assert location.startswith(str(target)), "the installed wheel, not the checkout"
    assert set(versions) == {"numpy", "ai-edge-litert"} and versions["ai-edge-litert"] == "2.3.0"

    run = [str(python), "-m", "edgekit.device", "run", str(tiny_models["int8"]), "--json", "--runs", "2"]
    proc = subprocess.run(run, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(proc.stdout)
    assert data["status"] == "ok" and data["machine"] == "aarch64" and data["host"]["cpu_part"] == "0xd08"
    assert data["runtime"]["name"] == "litert" and data["latency_ms"]["n"] == 2
    native = run_device(str(tiny_models["int8"]), "--json", "--runs", "1")[1]
    assert data["output_sha256"] == native["output_sha256"], "same seed, same int8 outputs on aarch64 and x86"


def test_rapl_power_from_a_recorded_counter(tmp_path, monkeypatch):
    """Intel RAPL (unreadable here): the package counter read at both ends of the timed runs, wrap-around included,
    on a sysfs folder laid out like /sys/class/powercap/intel-rapl:0."""
    from edgekit.device import system

    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "max_energy_range_uj").write_text("262143328850\n")
    (zone / "energy_uj").write_text("262140000000\n")
    monkeypatch.setattr(system, "RAPL_ZONE", zone)
    monkeypatch.setattr(system, "vcgencmd", lambda *args, **kw: None)  # not a Pi
    sampler = system.PowerSampler()
    assert sampler.method == "intel-rapl"
    sampler.start()
    started = sampler._rapl_start[1]
    time.sleep(0.2)
    (zone / "energy_uj").write_text("1671150\n")  # wrapped: 3328850 + 1671150 = 5 J later
    before = time.monotonic() - started
    watts = sampler.stop()
    elapsed = time.monotonic() - started
    # the sampler's own clock read lies between the two: bounds, not a tolerance a busy machine could break
    assert 5.0 / elapsed * 0.9999 <= watts <= 5.0 / before * 1.0001  # rounded to 0.1 mW
    block = system.power_block("intel-rapl", None, watts, 10, before)
    assert block["scope"].startswith("Intel RAPL package")
    assert 500 * before / elapsed * 0.999 <= block["energy_mj_per_inference"] <= 500 * 1.001  # 4 digits
