"""The device runner (python -m edgekit.device run), natively: JSON contract, determinism, inputs/outputs, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

try:
    from tests._tiny import tiny_tflite_models
except ImportError:  # tests/ is not a package: pytest put it on sys.path
    from _tiny import tiny_tflite_models

CONTRACT_KEYS = {
    "schema", "status", "error", "model", "runtime", "machine", "host", "python", "numpy", "input", "output",
    "inputs", "outputs", "input_source", "load_ms", "first_inference_ms", "warmup", "latency_ms",
    "peak_memory_bytes", "output_sha256", "outputs_saved", "inputs_saved", "layers",
}  # fmt: skip


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    return tiny_tflite_models(tmp_path_factory.getbasetemp() / "tiny-models")


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
    assert set(data["runtime"]) == {"name", "version", "threads", "device"}
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
            "{'edgekit', 'typer', 'rich', 'tensorflow', 'keras', 'click'}); "
            "sys.stderr.write(json.dumps([rc, mods, __import__('edgekit').__file__]) + '\\n')"
        )
        args = ["run", str(tiny_models["int8"]), "--json", "--runs", "1"]
        proc = subprocess.run(
            [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=staged, timeout=120
        )
    rc, modules, init_file = json.loads(proc.stderr.strip().splitlines()[-1])
    assert rc == 0 and json.loads(proc.stdout)["status"] == "ok"
    assert init_file.startswith(str(staged))
    assert modules == ["edgekit", "edgekit.device", "edgekit.device.runner"]


def test_unavailable_runtime_is_one_line(tiny_models):
    try:
        import tflite_runtime  # noqa: F401

        pytest.skip("tflite-runtime is installed here")
    except ImportError:
        pass
    code, data, stdout, stderr = run_device(str(tiny_models["int8"]), "--json", "--runtime", "tflite-runtime")
    _assert_one_line_failure(code, data, stdout, stderr, "install tflite-runtime")
