"""compare ranks on one runtime and says which (saved results of another runtime or thread count are another
table), `--runtime all` and several targets give one table each, a user's .keras file and export folder are rows,
and per-layer views read as Keras layer names (compare --layers, predicted and exported artifacts)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import run_cli

SIZE = 32  # the smallest input mobilenetv2 takes: graphs build in seconds
KERAS_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")  # a Keras layer name, not a converter's scope path or t__109


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("compare-runtimes-cache")


@pytest.fixture
def env(cache, monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("EDGEKIT_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def user_keras(tmp_path_factory) -> Path:
    """A user's own small model: MobileNetV2 at width 0.35, 10 classes, saved as .keras."""
    from edgekit.models.registry import create_model
    from edgekit.quiet import quiet_tf

    with quiet_tf():
        model = create_model("mobilenetv2", SIZE, 10, 0.35, "none")
        path = tmp_path_factory.mktemp("user") / "mynet.keras"
        model.save(path)
    return path


def _compare(args: list[str], capsys) -> tuple[int, dict | None, str]:
    code, out, err = run_cli(["compare", *args, "--json"], capsys)
    return code, (json.loads(out) if code == 0 else None), err


def _save(root: Path, fmt: str, runtime: str, median: float, threads: int = 4, target: str = "rpi4") -> None:
    from edgekit.results.record import base_result
    from edgekit.results.store import save_result

    result = base_result(target, "mobilenetv2", fmt, "int8", "predicted")
    result.update(
        latency_ms={"median": median, "low": median / 1.5, "high": median * 1.5},
        size_bytes=3_500_000,
        runtime={"name": runtime, "version": "x", "threads": threads, "device": "CPU"},
        inputs=[{"name": "input", "shape": [1, SIZE, SIZE, 3], "dtype": "int8"}],
    )
    save_result(result, root)


def test_mixed_saved_results_rank_on_one_runtime_and_say_which(env, capsys):
    """The README's main job saves a LiteRT and an ONNX Runtime result for MobileNetV2 on rpi4: the default table
    takes the LiteRT one, --runtime onnxruntime the other, and a result at another thread count neither."""
    _save(env / "profiles", "tflite", "litert-xnnpack", 9.0)
    _save(env / "profiles", "onnx", "onnxruntime", 17.9)
    base = ["mobilenetv2", "--target", "rpi4", "--input-size", str(SIZE), "--saved-only"]
    code, out, err = _compare(base, capsys)
    assert code == 0, err
    assert out["runtime"] == "litert-xnnpack" and out["format"] == "tflite" and out["threads"] == 4
    (row,) = out["rows"]
    assert row["runtime"] == "litert-xnnpack" and row["latency_ms"]["median"] == 9.0
    assert row["latency_ms"]["runtime"]["name"] == "litert-xnnpack"

    code, out, err = _compare([*base, "--runtime", "onnxruntime"], capsys)
    assert code == 0, err
    assert out["runtime"] == "onnxruntime" and out["rows"][0]["latency_ms"]["median"] == 17.9
    code, same, err = _compare([*base, "--format", "onnx"], capsys)
    assert code == 0 and same["rows"][0]["latency_ms"]["median"] == 17.9, err

    code, out, err = _compare([*base, "--threads", "1"], capsys)  # both saved at 4 threads: no match at 1
    assert code == 0, err
    assert out["rows"][0]["latency_ms"] is None and "--saved-only" in out["rows"][0]["from"]

    code, text, err = run_cli(["compare", *base], capsys)
    assert code == 0, err
    shown = text + err  # human tables go to stderr
    assert "rpi4 on litert-xnnpack (int8, 4 threads)" in shown and "17.9" not in shown


def test_runtime_all_gives_one_table_per_runtime(env, capsys):
    _save(env / "profiles", "onnx", "onnxruntime", 17.9)
    args = ["mobilenetv2", "--target", "rpi4", "--input-size", str(SIZE), "--runtime", "all", "--csv", "c.csv"]
    code, out, err = _compare(args, capsys)
    assert code == 0, err
    assert list(out["runtimes"]) == ["litert-xnnpack", "onnxruntime"]
    assert out["rows"] == out["runtimes"]["litert-xnnpack"]["rows"]  # the single-table keys: the default runtime
    litert, ort = (out["runtimes"][k]["rows"][0] for k in ("litert-xnnpack", "onnxruntime"))
    assert litert["latency_ms"]["source"] == "predicted" and litert["latency_ms"]["runtime"]["name"] == "litert-xnnpack"
    assert ort["latency_ms"]["median"] == 17.9 and ort["runtime"] == "onnxruntime"  # the saved ONNX Runtime result
    csv_rows = (env / "c.csv").read_text().splitlines()
    assert len(csv_rows) == 3 and "litert-xnnpack" in csv_rows[1] and "onnxruntime" in csv_rows[2]


def test_layers_read_as_keras_names(env, capsys):
    args = ["mobilenetv2", "--target", "rpi4", "--input-size", str(SIZE), "--layers", "mobilenetv2"]
    code, out, err = _compare([*args], capsys)
    assert code == 0, err
    layers = out["rows"][0]["layers"]
    assert layers and all(KERAS_NAME.match(x.get("keras_layer", "")) for x in layers), layers
    assert any(x["keras_layer"].startswith("block_") for x in layers)
    code, text, err = run_cli(["compare", *args, "--plots", "p"], capsys)
    assert code == 0, err
    shown = text + err
    assert re.search(r"block_\d+_(expand|project|depthwise) \((CONV_2D|DEPTHWISE_CONV_2D)\)", shown), shown
    assert (env / "p" / "layers-mobilenetv2.png").is_file()


def test_a_users_keras_file_is_a_row(env, capsys, user_keras):
    args = ["mobilenetv2", str(user_keras), "--target", "rpi4", "--input-size", str(SIZE)]
    code, out, err = _compare([*args, "--layers", str(user_keras)], capsys)
    assert code == 0, err
    zoo, mine = out["rows"]
    assert mine["model"] == str(user_keras) and mine["family"] == "your model" and mine["input_size"] == SIZE
    assert mine["latency_ms"]["source"] == "predicted" and mine["runtime"] == "litert-xnnpack"
    assert 0 < mine["macs"] < zoo["macs"]  # width 0.35 and 10 classes: fewer MACs than the zoo's width 1.0
    assert mine["layers"] and all(KERAS_NAME.match(x.get("keras_layer", "")) for x in mine["layers"])


def test_an_export_folder_is_a_row_per_runtime_with_keras_layer_names(env, capsys, user_keras):
    """An edgekit export records its Keras layer trace: its ONNX nodes (tf2onnx's scope paths, or canonical t__N names
    for a convolution with a folded BatchNorm, named through its weights) read as layers."""
    from edgekit.exporting.options import ExportOptions
    from edgekit.exporting.pipeline import export

    opts = ExportOptions(model=str(user_keras), precision="fp32", formats=("tflite", "onnx"), out=env / "out",
                         threads=1, calib="synthetic", calib_size=4, holdout=4)  # fmt: skip
    records = export(opts, on_step=lambda msg: None)
    assert all(r["status"] == "ok" for r in records), records
    folder = env / "out" / "mynet"
    code, out, err = _compare([str(folder), "--target", "rpi4", "--fp32", "--runtime", "all"], capsys)
    assert code == 0, err
    for runtime, suffix in (("litert-xnnpack", ".tflite"), ("onnxruntime", ".onnx")):
        (row,) = out["runtimes"][runtime]["rows"]
        assert row["model"] == str(folder) and row["latency_ms"]["source"] == "predicted", row
        assert suffix in row["from"] and row["input_size"] == SIZE
        named = [x for x in row["layers"] if x.get("keras_layer")]
        assert len(named) >= len(row["layers"]) - 1 and all(KERAS_NAME.match(x["keras_layer"]) for x in named)
    onnx_layers = out["runtimes"]["onnxruntime"]["rows"][0]["layers"]
    assert all(x["name"] != x.get("keras_layer") for x in onnx_layers), onnx_layers  # the runtime's name stays too


def test_several_targets_give_one_table_each(env, capsys):
    args = ["mobilenetv2", "--target", "rpi4,coral-usb", "--input-size", str(SIZE)]
    code, out, err = _compare(args, capsys)
    assert code == 0, err
    assert list(out["targets"]) == ["rpi4", "coral-usb"] and out["target"] == "rpi4"
    assert out["targets"]["coral-usb"]["runtime"] == "litert-edgetpu"
    assert out["targets"]["coral-usb"]["rows"][0]["target"] == "coral-usb"
    assert out["targets"]["rpi4"]["rows"][0]["runtime"] == "litert-xnnpack"
    code, text, err = run_cli(["compare", *args], capsys)
    shown = text + err
    assert code == 0 and "rpi4 on litert-xnnpack" in shown and "coral-usb on litert-edgetpu" in shown, shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runtime", "tensorrt"], "unknown runtime 'tensorrt'"),
        (["--runtime", "onnx"], "did you mean onnxruntime"),
        (["--runtime", "all", "--format", "onnx"], "not both"),
        (["--format", "openvino"], "does not run openvino"),
        (["--target", "rpi4,rpi9"], "unknown target 'rpi9'"),
        (["no/such/model.keras"], "no such model file"),
    ],
)
def test_bad_runtime_or_target_is_one_line_exit_2(env, capsys, args, message):
    base = ["mobilenetv2", "--input-size", str(SIZE)] + ([] if "--target" in args else ["--target", "rpi4"])
    code, _, err = run_cli(["compare", *base, *args], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
