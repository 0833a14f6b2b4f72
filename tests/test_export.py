"""Export: real conversions of a tiny MobileNetV2 to every format, manifests, fidelity, bad input."""

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from edgekit.exporting.formats import DEFAULT_FORMATS, formats
from edgekit.ioutil import sha256_file

REQUIRED = {"model", "format", "precision", "path", "size_bytes", "sha256", "status", "fidelity"}


@pytest.mark.parametrize("fmt", DEFAULT_FORMATS)
def test_fp32_artifacts_match_keras(tiny_fp32, fmt):
    rec = tiny_fp32[fmt]
    assert REQUIRED <= rec.keys() and rec["status"] == "ok"
    assert sha256_file(Path(rec["path"])) == rec["sha256"]
    fid = rec["fidelity"]
    assert fid["cosine"] > 0.9999 and fid["top1_agreement"] == 1.0, fid


@pytest.mark.parametrize("fmt", ("tflite", "onnx", "openvino", "edgetpu"))
def test_int8_artifacts_are_quantized_and_close(tiny_int8, tiny_fp32, fmt):
    rec = tiny_int8[fmt]
    assert rec["status"] == "ok", rec
    manifest = json.loads(Path(rec["manifest"]).read_text())
    assert manifest["calibration"]["source"].startswith("folder:") and manifest["calibration"]["count"] == 24
    assert manifest["calibration"]["batchnorm_reestimated"] == 0  # a trained .keras file keeps its statistics
    # Really quantized: smaller than FP32 (edgetpu shares tflite's float twin).
    float_size = tiny_fp32["tflite" if fmt == "edgetpu" else fmt]["size_bytes"]
    assert rec["size_bytes"] < 0.6 * float_size
    fid = rec["fidelity"]
    assert 0.93 < fid["cosine"] < 1.0 and fid["sqnr_db"] > 8 and fid["top1_agreement"] >= 0.7, fid
    # The held-out images carry labels (class folders): accuracy is reported next to the float model's.
    assert 0 <= fid["accuracy"] <= 1 and fid["reference_accuracy"] >= 0.5
    assert fid["reference_accuracy"] - fid["accuracy"] <= 0.25


def test_manifest_records_what_users_need(tiny_int8):
    m = json.loads(Path(tiny_int8["tflite"]["manifest"]).read_text())
    for key in (
        "edgekit_version",
        "tool_versions",
        "build",
        "files",
        "input",
        "output",
        "preprocess",
        "calibration",
        "fidelity",
        "holdout",
    ):
        assert key in m, key
    assert m["input"]["dtype"] == "int8" and m["input"]["quantization"]["scale"] > 0
    assert m["input"]["shape"] == [1, 32, 32, 3]
    assert m["build"]["file"].endswith("tinynet.keras") and len(m["build"]["file_sha256"]) == 64
    for f in m["files"]:
        p = Path(tiny_int8["tflite"]["manifest"]).parent / f["path"]
        assert p.stat().st_size == f["bytes"] and sha256_file(p) == f["sha256"]


def test_onnx_int8_records_cpu_specific_types(tiny_int8):
    m = json.loads(Path(tiny_int8["onnx"]["manifest"]).read_text())
    q = m["quantization"]
    assert q["scheme"] == "QDQ" and q["per_channel"] is True
    assert q["activation_type"] in ("QUInt8", "QInt8") and q["reason"]


def test_edgetpu_without_compiler_says_so_and_analyses(tiny_int8):
    rec = tiny_int8["edgetpu"]
    m = json.loads(Path(rec["manifest"]).read_text())
    if m["compiler"].get("status") == "absent":
        assert "edgetpu_compiler not found" in m["compiler"]["message"]
    assert m["input"]["dtype"] == "int8" and m["output"]["dtype"] == "int8"
    assert m.get("analysis"), "edgekit's own op mapping is given"


def _modules_with_a_format_row(package) -> set[str]:
    """The modules of a package that define FORMAT (an ExportFormat row), found by listing the package's files."""
    import importlib
    import pkgutil

    from edgekit.exporting.base import ExportFormat

    found = set()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if isinstance(getattr(module, "FORMAT", None), ExportFormat):
            found.add(module.__name__)
    return found


def test_format_table_covers_every_module(tmp_path, monkeypatch):
    """Every module of edgekit/exporting/formats/ defining a FORMAT is in the table, and nothing else is."""
    import importlib

    import edgekit.exporting.formats
    from edgekit.exporting.formats import FORMAT_MODULES

    table = formats()
    assert _modules_with_a_format_row(edgekit.exporting.formats) == set(FORMAT_MODULES)
    rows = [importlib.import_module(m).FORMAT for m in FORMAT_MODULES]
    assert table == {row.name: row for row in rows}
    assert set(DEFAULT_FORMATS) <= set(table)
    for row in table.values():
        assert row.precisions and row.suffix.startswith(".")
    # The control: a package with one more FORMAT module than the table names is told apart.
    package = tmp_path / "morefmts"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "extra.py").write_text("from edgekit.exporting.formats.onnx import FORMAT  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _modules_with_a_format_row(importlib.import_module("morefmts")) == {"morefmts.extra"}


# A tiny untrained MobileNetV2 through the real CLI (int8, small calibration set).
TINY_INT8_CLI = "export mobilenetv2 --int8 --input-size 32 --alpha 0.35 --num-classes 10 --calib-size 8 --holdout 4"


def test_layer_report_names_the_worst_layers(export_root, capsys):
    args = [*TINY_INT8_CLI.split(), "--format", "tflite", "--layer-report", "--json"]
    code, out, err = run_cli([*args, "--out", str(export_root / "layer-report")], capsys)
    assert code == 0, err
    m = json.loads(Path(json.loads(out)[0]["manifest"]).read_text())
    assert m["calibration"]["batchnorm_reestimated"] > 0  # untrained: statistics re-estimated on real images
    layers = m["layer_errors"]
    assert len(layers) >= 3 and layers[0]["rmse_in_steps"] >= layers[-1]["rmse_in_steps"]
    assert all(layer["op"] and layer["tensor"] for layer in layers)
    # each under the Keras layers fused into its op (the output op's tensor, StatefulPartitionedCall:0, names none)
    assert all(layer["keras_layers"] and set(layer["keras_layers"]) <= set(m["layer_scopes"]) for layer in layers)
    assert any(name.startswith(("block_", "Conv")) for layer in layers for name in layer["keras_layers"])


def test_gate_exits_3_and_keeps_the_artifact(export_root, capsys):
    args = [*TINY_INT8_CLI.split(), "--format", "onnx", "--min-cosine", "0.99999", "--json"]
    code, out, err = run_cli([*args, "--out", str(export_root / "gate")], capsys)
    assert code == 3, err
    rec = json.loads(out)[0]
    assert rec["status"] == "below-threshold" and Path(rec["path"]).exists()
    assert len(err.strip().splitlines()) >= 1 and "min-cosine" in err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["export", "mobilenetv3"], 2, "did you mean mobilenetv2"),
        (["export", "inceptionv3", "--input-size", "32"], 2, "inceptionv3"),
        (["export", "mobilenetv2", "--int8", "--format", "edgetpu", "--io", "float"], 2, "--io float"),
        (["export", "mobilenetv2", "--format", "edgetpu"], 2, "--int8"),
        (["export", "mobilenetv2", "--int8", "--fp16"], 2, "choose one precision"),
        (["export", "mobilenetv2", "--format", "tflite,coreml"], 2, "unknown format 'coreml'"),
        (["export", "mobilenetv2", "--int8", "--calib", "/nonexistent/images"], 2, "does not exist"),
    ],
)
def test_bad_input_is_one_line(args, code, message, capsys, tmp_path):
    got, out, err = run_cli([*args, "--out", str(tmp_path / "o")], capsys)
    assert got == code, err
    assert message in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1


def test_unwritable_output_is_exit_1(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    if os.access(ro, os.W_OK):  # root ignores permissions: use a path under a regular file instead
        blocker = tmp_path / "file"
        blocker.write_text("x")
        ro = blocker / "sub"
    code, _, err = run_cli(["export", "mobilenetv2", "--input-size", "32", "--out", str(ro)], capsys)
    assert code == 1 and "cannot write to output folder" in err


def test_unsafe_keras_file_is_refused(tmp_path, capsys):
    import keras

    inp = keras.Input((32, 32, 3))
    out = keras.layers.Lambda(lambda x: x * 2.0)(inp)
    model = keras.Model(inp, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(out)))
    path = tmp_path / "lambda.keras"
    model.save(path)
    code, _, err = run_cli(["export", str(path), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "safe mode" in err and "Traceback" not in err


def _same_options(rec: dict, **kw):
    from edgekit.exporting.options import ExportOptions

    m = json.loads(Path(rec["manifest"]).read_text())
    return ExportOptions(
        model=m["build"]["file"],
        precision=m["precision"],
        formats=(m["format"],),
        calib=m["calibration"]["source"].split(":", 1)[1],
        calib_size=24,
        holdout=24,
        out=Path(rec["path"]).parents[2],
        threads=1,
        **kw,
    )


def test_failed_export_never_damages_the_earlier_artifact(tiny_fp32, monkeypatch):
    """A converter crash mid-export leaves the previous artifact and manifest byte-for-byte intact."""
    from edgekit.exporting.pipeline import export

    rec = tiny_fp32["tflite"]
    before = Path(rec["path"]).read_bytes(), Path(rec["manifest"]).read_bytes()

    def boom(job):
        (job.out_dir / "model.tflite").write_bytes(b"partial")
        raise RuntimeError("converter died")

    table = formats()
    broken = dataclasses.replace(table["tflite"], convert=boom)
    monkeypatch.setattr("edgekit.exporting.formats.formats", lambda: {**table, "tflite": broken})
    records = export(_same_options(rec), on_step=lambda m: None)
    assert records[0]["status"] == "failed" and "converter died" in records[0]["error"]
    assert (Path(rec["path"]).read_bytes(), Path(rec["manifest"]).read_bytes()) == before
    leftovers = [p for p in Path(rec["path"]).parents[1].iterdir() if p.name.startswith(".")]
    assert not leftovers


def test_reuse_skips_an_identical_export(tiny_fp32):
    from edgekit.exporting.pipeline import export

    rec = tiny_fp32["onnx"]
    mtime = Path(rec["path"]).stat().st_mtime_ns
    again = export(_same_options(rec, reuse=True), on_step=lambda m: None)
    assert again[0]["sha256"] == rec["sha256"] and Path(rec["path"]).stat().st_mtime_ns == mtime


def test_runner_hides_int8_scaling(tiny_int8):
    from edgekit.exporting.formats.tflite import TFLiteArtifact

    loaded = TFLiteArtifact(Path(tiny_int8["tflite"]["path"]))
    y = loaded.run(np.zeros((2, 32, 32, 3), np.float32))
    assert y.dtype == np.float32 and y.shape == (2, 8)


EDGE_MODELS = [s.name for s in __import__("edgekit.models.registry", fromlist=["list_models"]).list_models() if s.edge]


@pytest.mark.parametrize("name", EDGE_MODELS)
def test_every_edge_model_exports_fp32_everywhere(name, tmp_path):
    """Each edge model of the registry converts to every default format and runs there like Keras."""
    from edgekit.exporting.options import ExportOptions
    from edgekit.exporting.pipeline import export
    from edgekit.models.registry import get_spec

    size = max(32, get_spec(name).min_input_size)
    # 8 held-out images: with 2, one image whose random-weight logits sit near zero decides the mean cosine (OpenVINO
    # FP32 EfficientNet-B0, seed 0: 0.978 on 2 images, 0.994 on 8; ONNX Runtime 1.0 on both).
    opts = ExportOptions(model=name, input_size=size, num_classes=5, calib_size=4, holdout=8, out=tmp_path, threads=1)
    records = export(opts, on_step=lambda m: None)
    assert [r["format"] for r in records] == list(DEFAULT_FORMATS)
    for r in records:
        assert r["status"] == "ok", r
        # Random weights amplify float rounding differences (XNNPACK's sigmoid, fused ops) layer after layer:
        # a broken conversion scores near 0, a healthy FP32 one above 0.99 (trained models: > 0.9999, above).
        assert r["fidelity"]["cosine"] > 0.99, r


FAKE_COMPILER = """#!/usr/bin/env python3
# Stands in for Coral's edgetpu_compiler, which installs on x86-64 Debian only and is not on this machine: same
# arguments (-s -o DIR MODEL), same output names, a log in the format the real compiler prints (hardware.md).
import shutil, sys
from pathlib import Path
args = sys.argv[1:]
out, model = Path(args[args.index("-o") + 1]), Path(args[-1])
shutil.copy(model, out / (model.stem + "_edgetpu.tflite"))
print("Edge TPU Compiler version 16.0.384591198")
print("Model compiled successfully in 42 ms.")
print("Input model: " + str(model))
print("On-chip memory used for caching model parameters: 200.00KiB")
print("On-chip memory remaining for caching model parameters: 7.50MiB")
print("Off-chip memory used for streaming uncached model parameters: 64.00KiB")
print("Number of Edge TPU subgraphs: 1")
print("Total number of operations: 70")
print("Operation log: model_edgetpu.log")
print("Number of operations that will run on Edge TPU: 70")
print("Number of operations that will run on CPU: 0")
"""


def test_edgetpu_with_a_compiler_keeps_its_output_and_predicts_from_its_log(
    trained_keras, labelled_folder, tmp_path, monkeypatch, capsys
):
    """The compiler-present path end to end, with a stand-in compiler (the real one cannot be installed here)."""
    from conftest import _export

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "edgetpu_compiler").write_text(FAKE_COMPILER)
    (bin_dir / "edgetpu_compiler").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    (rec,) = _export(
        tmp_path / "out", str(trained_keras), "int8", ("edgetpu",), calib=str(labelled_folder), calib_size=8, holdout=8
    )
    folder = Path(rec["path"]).parent
    manifest = json.loads(Path(rec["manifest"]).read_text())
    assert manifest["compiler"]["compiler_version"] == "16.0.384591198" and manifest["compiler"]["compiled"] is True
    assert manifest["compiler"]["off_chip_param_bytes"] == 64 * 1024
    assert {"model_edgetpu.tflite", "edgetpu_compiler.log"} <= {p.name for p in folder.iterdir()}
    code, out, err = run_cli(["profile", str(folder), "--target", "coral-usb", "--json", "--no-save"], capsys)
    assert code == 0, err
    (result,) = json.loads(out)
    assert result["split"]["streamed_param_bytes_range"] == [64 * 1024, 64 * 1024]
    assert "edgetpu_compiler log" in result["split"]["streaming_basis"]
