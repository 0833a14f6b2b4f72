"""`edgekit profile` end to end on exported artifacts: measured here, predicted elsewhere, emulated under QEMU."""

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_cli

from edgekit.hardware.targets import load_targets

FAST = ["--runs", "5", "--min-seconds", "0.05", "--warmup", "1"]


def _profile(args, capsys, profiles: Path):
    code, out, err = run_cli(["profile", *args, "--profiles-dir", str(profiles), "--json"], capsys)
    return code, (json.loads(out) if out.strip() else None), err


def test_measured_on_host_has_the_contract(tiny_int8, tmp_path, capsys):
    code, results, err = _profile([tiny_int8["tflite"]["path"], "--target", "host", *FAST], capsys, tmp_path)
    assert code == 0, err
    (r,) = results
    assert r["source"] == "measured" and r["target"] == "host" and r["status"] == "ok"
    assert r["model"] == "tinynet" and r["format"] == "tflite" and r["precision"] == "int8"
    lat = r["latency_ms"]
    assert lat["n"] >= 5 and 0 < lat["median"] <= lat["p90"] <= lat["p99"]
    assert {"name", "version", "threads", "device"} <= r["runtime"].keys() and r["runtime"]["threads"] == 1
    assert r["size_bytes"] > 0 and r["peak_memory_bytes"] > 0 and isinstance(r["layers"], list)
    (saved,) = (tmp_path / "host").glob("tinynet__tflite-int8__*.json")  # one file per configuration
    assert json.loads(saved.read_text())["artifact"]["sha256"] == tiny_int8["tflite"]["sha256"]


@pytest.mark.parametrize("target", sorted(t for t, spec in load_targets().items() if not spec.is_this_machine()))
def test_every_other_target_is_predicted_never_measured(target, tiny_int8, export_root, tmp_path, capsys):
    code, results, err = _profile(["--target", target, "--int8", "--out", str(export_root)], capsys, tmp_path)
    assert code == 0, err
    assert results and all(r["source"] == "predicted" and r["target"] == target for r in results)
    for r in results:
        lat = r["latency_ms"]
        assert 0 < lat["low"] <= lat["median"] <= lat["high"], r
        assert r["runtime"]["device"] and "x86" not in r["runtime"]["device"].lower()
    assert not list((tmp_path / target).glob("*.json")) or all(
        json.loads(p.read_text())["source"] == "predicted" for p in (tmp_path / target).glob("*.json")
    )


def test_a_model_folder_or_export_root_profiles_what_the_target_runs(tiny_fp32, tiny_int8, tmp_path, capsys):
    model_dir = Path(tiny_int8["tflite"]["path"]).parent.parent  # <out>/<model>/ holding <format>-<precision>/
    code, results, err = _profile([str(model_dir), "--target", "intel-npu", "--int8"], capsys, tmp_path)
    assert code == 0, err
    assert sorted(r["format"] for r in results) == ["onnx", "openvino"]
    assert {r["precision"] for r in results} == {"int8"} and {r["source"] for r in results} == {"predicted"}
    code, results, err = _profile([str(model_dir.parent), "--target", "rpi4", "--fp32"], capsys, tmp_path)
    assert code == 0, err
    # other tests' artifacts too; the Pi runs .tflite with LiteRT and .onnx with ONNX Runtime, each predicted as such
    assert results and {(r["format"], r["precision"]) for r in results} == {("tflite", "fp32"), ("onnx", "fp32")}
    assert {r["runtime"]["name"] for r in results if r["format"] == "onnx"} == {"onnxruntime"}
    assert {r["runtime"]["name"] for r in results if r["format"] == "tflite"} == {"litert-xnnpack"}
    assert any(r["artifact"]["path"] == tiny_fp32["tflite"]["path"] for r in results)


def test_coral_prints_what_falls_back_and_refuses_float(tiny_fp32, tiny_int8, tmp_path, capsys):
    code, results, err = _profile([tiny_int8["edgetpu"]["path"], "--target", "coral-usb"], capsys, tmp_path)
    assert code == 0, err
    split = results[0]["split"]
    assert split["accelerator_ops"] + split["cpu_ops"] > 0
    code, _, err = _profile([tiny_fp32["tflite"]["path"], "--target", "coral-usb"], capsys, tmp_path)
    assert code == 2 and "--int8" in err and "Traceback" not in err
    args = [tiny_int8["edgetpu"]["path"], "--target", "coral-usb", "--link", "usb2"]
    code, usb2, err = _profile(args, capsys, tmp_path)
    assert code == 0 and usb2[0]["split"]["link"] == "usb2", err
    assert usb2[0]["split"]["io_transfer_ms"] > results[0]["split"]["io_transfer_ms"]
    code, _, err = _profile([tiny_int8["tflite"]["path"], "--target", "rpi4", "--link", "usb2"], capsys, tmp_path)
    assert code == 2 and "--link is for Edge TPU targets" in err
    code, _, err = _profile(["mobilenetv2", "--target", "coral-usb", "--fp32"], capsys, tmp_path)  # before exporting
    assert code == 2 and "use --int8" in err and len(err.strip().splitlines()) == 1


def test_model_name_exports_once_then_reuses(tmp_path, capsys):
    args = [
        "squeezenet11",
        "--target",
        "host",
        "--input-size",
        "32",
        "--format",
        "onnx",
        "--out",
        str(tmp_path / "exp"),
        *FAST,
    ]
    code, first, err = _profile(args, capsys, tmp_path / "p")
    assert code == 0, err
    onnx_file = Path(first[0]["artifact"]["path"])
    mtime = onnx_file.stat().st_mtime_ns
    code, second, err = _profile(args, capsys, tmp_path / "p")
    assert code == 0 and onnx_file.stat().st_mtime_ns == mtime  # cached, keyed by its options
    assert second[0]["source"] == "measured" and second[0]["layers"]


def test_report_rolls_up(tiny_int8, tmp_path, capsys):
    _profile([tiny_int8["onnx"]["path"], "--target", "host", *FAST], capsys, tmp_path)
    _profile([tiny_int8["tflite"]["path"], "--target", "rpi4"], capsys, tmp_path)
    code, out, err = run_cli(
        [
            "report",
            "--profiles-dir",
            str(tmp_path),
            "--csv",
            str(tmp_path / "r.csv"),
            "--markdown",
            str(tmp_path / "r.md"),
            "--json",
        ],
        capsys,
    )
    assert code == 0, err
    rows = json.loads(out)
    assert {(r["target"], r["source"]) for r in rows} == {("host", "measured"), ("rpi4", "predicted")}
    assert len(list(csv.DictReader((tmp_path / "r.csv").open()))) == 2
    assert "rpi4" in (tmp_path / "r.md").read_text()
    code, out, err = run_cli(["report", "--profiles-dir", str(tmp_path), "--target", "rpi4"], capsys)
    assert code == 0 and "predicted" in out and "measured" not in out, err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--target", "rpi9"], "did you mean"),
        (["/nonexistent/model.tflite", "--target", "host"], "no such artifact"),
        (["mobilenetv2", "--target", "host", "--emulate", "--predict"], "not both"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, message, tmp_path, capsys):
    code, _, err = _profile(args, capsys, tmp_path)
    assert code == 2 and message in err and "Traceback" not in err


def test_damaged_model_is_one_line_exit_2_measured_and_predicted(tiny_int8, tmp_path, capsys):
    """One cause, one exit code: a damaged file is a usage error whether it is measured or predicted."""
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(Path(tiny_int8["onnx"]["path"]).read_bytes()[:500])
    for target in ("host", "rpi4"):
        code, _, err = _profile([str(bad), "--target", target, *FAST], capsys, tmp_path)
        assert code == 2 and "broken.onnx" in err and len(err.strip().splitlines()) == 1, (target, err)
    assert not list(tmp_path.rglob("broken__*.json"))  # bad input is no result, failed or not


@pytest.mark.arm
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_exported_artifacts_match_under_emulated_pi(precision, tiny_fp32, tiny_int8, tmp_path, capsys):
    """CI's emulated-ARM check: edgekit's own exports, run by the aarch64 runtime as a Pi 4 would, match x86."""
    if not (shutil.which("qemu-aarch64-static") and shutil.which("debootstrap")):
        if os.environ.get("EDGEKIT_REQUIRE_ARM") == "1":
            pytest.fail("qemu-user-static and debootstrap are required (EDGEKIT_REQUIRE_ARM=1)")
        pytest.skip("qemu-user-static/debootstrap missing: apt-get install qemu-user-static debootstrap")
    rec = (tiny_fp32 if precision == "fp32" else tiny_int8)["tflite"]
    code, results, err = _profile([rec["path"], "--target", "rpi4", "--emulate"], capsys, tmp_path)
    assert code == 0, err
    (r,) = results
    assert r["source"] == "emulated" and r["match"] is True and r["latency_ms"] is None
    assert "cortex-a72" in r["runtime"]["device"]
    if os.environ.get("EDGEKIT_REQUIRE_ARM") == "1" or r.get("guest_instructions"):  # CI has qemu-user and gcc
        guess = r["predicted_from_instructions"]  # a latency, so labelled predicted, apart from the emulated result
        assert guess["source"] == "predicted" and guess["threads"] == 4 and guess["latency_ms"]["median"] > 0


def test_npu_memory_traffic_does_not_depend_on_the_file_format(tiny_int8):
    """The same int8 model as OpenVINO IR, QDQ ONNX or TFLite moves the same bytes on the NPU: the f32 tensors
    between FakeQuantize/QDQ nodes are not f32 traffic there (the NPU was calibrated on the TFLite graph)."""
    from edgekit.analyze.graph import load_graph
    from edgekit.costmodel.common import executed_act_bytes
    from edgekit.costmodel.predict import predict_graph
    from edgekit.hardware.targets import get_target

    mac_ops = {
        fmt: [op for op in load_graph(tiny_int8[fmt]["path"]).ops if op.macs] for fmt in ("tflite", "onnx", "openvino")
    }
    executed = {fmt: sum(executed_act_bytes(op, "int8") for op in ops) for fmt, ops in mac_ops.items()}
    stored = {fmt: sum(op.act_read_bytes + op.act_write_bytes for op in ops) for fmt, ops in mac_ops.items()}
    assert stored["onnx"] > 2 * stored["tflite"]  # the files really differ...
    assert max(executed.values()) / min(executed.values()) < 1.2, executed  # ...the NPU's traffic does not
    npu = get_target("intel-npu")
    medians = [
        predict_graph(load_graph(tiny_int8[f]["path"]), npu, allow_any_format=True)["latency_ms"]["median"]
        for f in mac_ops
    ]
    assert max(medians) / min(medians) < 1.15, medians


def test_console_names_the_slowest_measured_layers(tiny_int8, tmp_path, capsys):
    """The console (not only the JSON) shows a measurement's slowest layers, under the Keras layer names the export
    traced, with the runtime's op type beside them."""
    from edgekit.stages.profile import SLOWEST_LAYERS

    args = ["profile", tiny_int8["tflite"]["path"], "--target", "host", *FAST, "--profiles-dir", str(tmp_path)]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    text = out + err
    head = next(line for line in text.splitlines() if "slowest layers" in line)
    assert "runtime op names" not in head  # the export's trace named them
    rows = text.splitlines()[text.splitlines().index(head) + 1 :][:SLOWEST_LAYERS]
    rows = [r for r in rows if " ms " in r]
    assert rows and all(re.search(r"\w+ \([A-Z_0-9]+\)$", r) for r in rows), rows


CONV_OPS = ("Conv", "FusedConv", "QLinearConv", "Convolution", "GroupConvolution")


@pytest.mark.parametrize(("precision", "fmt"), [("fp32", "onnx"), ("int8", "onnx"), ("int8", "openvino")])
def test_every_measured_convolution_is_named_after_its_layer(precision, fmt, tiny_fp32, tiny_int8, tmp_path, capsys):
    """ONNX Runtime names fused, QDQ and NCHWc nodes its own way, and an NNCF-quantized IR keeps no weight names:
    each convolution row still names its Keras convolution (not the ReLU or BatchNorm folded into it), and the
    classifier is named too. A result keeps the 10 slowest rows (the contract of `layers`), which need not hold the
    classifier of a tiny network: every row of the runner's whole per-op list is checked as well."""
    from edgekit.analyze.layernames import name_artifact_layers

    record = (tiny_fp32 if precision == "fp32" else tiny_int8)[fmt]
    args = ["profile", record["path"], "--target", "host", *FAST, "--no-save", "--json"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    (result,) = json.loads(out)
    every = [sys.executable, "-m", "edgekit.device", "run", record["path"], "--profile-ops", "--runs", "2", "--json"]
    ran = subprocess.run(every, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    all_rows = name_artifact_layers(json.loads(ran.stdout)["layers"], Path(record["path"]))
    assert len(all_rows) > len(result["layers"])  # the whole list, not the stored slowest ones
    for rows in (result["layers"], all_rows):
        convs = [row for row in rows if row.get("op") in CONV_OPS]
        unnamed = [r["name"] for r in convs if not r.get("keras_layer") or r["keras_layer"].endswith(("relu", "_BN"))]
        assert convs and not unnamed, unnamed
    assert [row["op"] for row in all_rows if row.get("keras_layer") == "predictions"], all_rows
