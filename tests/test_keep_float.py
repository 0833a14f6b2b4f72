"""--keep-float (mixed precision) and the offer of it when INT8 loses more accuracy than --max-accuracy-drop.

A tiny trained network with named layers goes through the real CLI: a forced --max-accuracy-drop -1 (any drop
is larger) makes export name the layers to keep float and the command; that command is run, and the named
layers are checked to be float in each format: tensor dtypes in the .tflite (LiteRT interpreter), float weights
and no QDQ weight pair in the .onnx, no FakeQuantize or int8 weights feeding them in the OpenVINO IR.
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from edgekit.errors import UsageError

FORMATS = "tflite,onnx,openvino"


@pytest.fixture(scope="module")
def named_net(tmp_path_factory, labelled_folder) -> Path:
    """conv 'stem' (+ BatchNorm 'stem_bn', ReLU) -> conv 'mid' (ReLU) -> GAP -> Dropout 'drop' -> Dense 'head',
    trained for a few seconds."""
    import keras

    from edgekit.data import calibration as data
    from edgekit.exporting.pipeline import reestimate_batchnorm
    from edgekit.models.registry import PREPROCESS_TF

    keras.utils.set_random_seed(0)
    images = data.from_folder(labelled_folder, 0, 32, PREPROCESS_TF)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, name="stem")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.Conv2D(16, 3, activation="relu", name="mid")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(0.1, name="drop")(x)  # no op at inference: nothing to keep float
    model = keras.Model(inputs, keras.layers.Dense(int(images.labels.max()) + 1, name="head")(x))
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images.images, images.labels, epochs=20, batch_size=8, verbose=0)
    reestimate_batchnorm(model, images.images)
    plain = keras.Model.from_config(model.get_config())  # no compile config: the safe loader refuses optimizers
    plain.set_weights(model.get_weights())
    path = tmp_path_factory.mktemp("named") / "namednet.keras"
    plain.save(path)
    return path


def error_lines(err: str) -> list[str]:
    assert "Traceback" not in err, err
    return [line for line in err.splitlines() if line.startswith("error:")]


def export_args(model: Path, folder: Path, out: Path) -> list[str]:
    args = ["export", str(model), "--int8", "--format", FORMATS, "--calib", str(folder)]
    return [*args, "--calib-size", "24", "--holdout", "24", "--out", str(out)]


class Captured:
    """capsys for module-scoped fixtures (pytest's capsys is function-scoped): the CLI's stdout and stderr."""

    def __init__(self) -> None:
        self.out, self.err = io.StringIO(), io.StringIO()

    def readouterr(self) -> tuple[str, str]:
        return self.out.getvalue(), self.err.getvalue()


def run_module_cli(args: list[str]) -> tuple[int, str, str]:
    captured = Captured()
    with contextlib.redirect_stdout(captured.out), contextlib.redirect_stderr(captured.err):
        return run_cli(args, captured)


@pytest.fixture(scope="module")
def offered(named_net, labelled_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("offer")
    return run_module_cli([*export_args(named_net, labelled_folder, out), "--max-accuracy-drop", "-1", "--json"])


def test_tight_accuracy_gate_offers_keep_float(offered):
    code, out, err = offered
    assert code == 3, err
    lines = error_lines(err)
    assert len(lines) == 1, err
    assert "--keep-float" in lines[0] and "nncf.quantize_with_accuracy_control" in lines[0]
    records = json.loads(out)
    assert {r["format"] for r in records} == set(FORMATS.split(","))
    for rec in records:
        offer = rec["keep_float_suggestion"]
        assert rec["status"] == "below-threshold" and rec["keep_float"] == []
        assert 1 <= len(offer["layers"]) <= 5 and set(offer["layers"]) <= {
            "stem",
            "stem_relu",
            "mid",
            "pool",
            "head",
        }  # never BN or Dropout
        assert (
            offer["command"].startswith("edgekit export ")
            and "--keep-float " + ",".join(offer["layers"]) in offer["command"]
        )
        assert ("alternative" in offer) == (rec["format"] == "openvino")
        manifest = json.loads(Path(rec["manifest"]).read_text())
        assert manifest["keep_float_suggestion"] == offer and isinstance(manifest["layer_errors"], list)


@pytest.fixture(scope="module")
def rerun(offered):
    """The offered command, run as printed (it keeps --max-accuracy-drop -1, so it exits 3 again)."""
    offer = json.loads(offered[1])[0]["keep_float_suggestion"]
    argv = shlex.split(offer["command"])
    assert argv[:2] == ["edgekit", "export"]
    code, out, err = run_module_cli([*argv[1:], "--json"])
    assert code == 3, err
    return offer["layers"], {r["format"]: r for r in json.loads(out)}


def test_rerun_records_keep_float_and_offers_more(rerun):
    layers, records = rerun
    for rec in records.values():
        assert rec["keep_float"] == layers
        manifest = json.loads(Path(rec["manifest"]).read_text())
        assert manifest["keep_float"] == layers and "accuracy" in manifest["fidelity"]
        again = rec.get("keep_float_suggestion")
        if again:  # what is already float is not offered again
            assert not set(again["layers"]) & set(layers) and again["keep_float"][: len(layers)] == layers


def tflite_ops(path: Path) -> list[tuple[str, str, list[str]]]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    tensors = interp.get_tensor_details()
    rows = []
    for op in interp._get_ops_details():
        dtypes = [np.dtype(tensors[i]["dtype"]).name for i in (*op["inputs"], *op["outputs"]) if i >= 0]
        rows.append((op["op_name"], tensors[op["outputs"][0]]["name"], dtypes))
    return rows


def test_tflite_keeps_the_named_layers_float(rerun):
    from edgekit.exporting.keepfloat import layers_of_name

    layers, records = rerun
    path = Path(records["tflite"]["path"])
    manifest = json.loads(Path(records["tflite"]["manifest"]).read_text())
    assert manifest["input"]["dtype"] == "int8" and manifest["output"]["dtype"] == "int8"  # I/O stays int8
    ops = tflite_ops(path)
    assert any(op == "DEQUANTIZE" for op, _, _ in ops)
    scopes = {"stem": ["stem_1"], "mid": ["mid_1"], "stem_relu": ["stem_relu_1"], "head": ["head_1"]}
    convs = [(name, dtypes) for op, name, dtypes in ops if op in ("CONV_2D", "FULLY_CONNECTED")]
    assert convs
    for name, dtypes in convs:
        kept = set(layers_of_name(name, scopes)) & set(layers) or ("head" in layers and "StatefulPartitioned" in name)
        if kept:
            assert set(dtypes) <= {"float32"}, (name, dtypes)
        else:
            assert "int8" in dtypes, (name, dtypes)
    assert any("int8" in d for _, _, d in ops) and any(set(d) == {"float32"} for _, _, d in ops)


def test_onnx_keeps_the_named_layers_float(rerun):
    import onnx

    layers, records = rerun
    graph = onnx.load(records["onnx"]["path"]).graph
    made_by = {out: node for node in graph.node for out in node.output}
    weights = {t.name for t in graph.initializer}
    compute = [n for n in graph.node if n.op_type in ("Conv", "MatMul", "Gemm")]
    float_ops = 0
    for node in compute:
        weight_src = [made_by.get(i) for i in node.input[1:2]]
        from_dq = any(src is not None and src.op_type == "DequantizeLinear" for src in weight_src)
        named = any(f"/{layer}_1/" in name for layer in layers for name in (node.name, node.input[1]))
        if named:
            assert not from_dq and node.input[1] in weights, node.name  # float weights, no QDQ pair
            float_ops += 1
        else:
            assert from_dq, node.name
    assert float_ops >= 1


def test_openvino_keeps_the_named_layers_float(rerun):
    """OpenVINO renames a convolution that absorbed a BatchNorm scale (Multiply_N): count instead of names. The
    kept layers' weighted ops read float weights and no FakeQuantize; every other one is quantized."""
    import onnx
    import openvino as ov

    layers, records = rerun
    model = ov.Core().read_model(records["openvino"]["path"])
    kept, quantized = [], []
    for op in model.get_ordered_ops():
        if op.get_type_name() not in ("Convolution", "GroupConvolution", "MatMul"):
            continue
        sources = [inp.get_source_output().get_node() for inp in op.inputs()]
        types = [src.get_type_name() for src in sources]
        if types[1] == "Constant" and "FakeQuantize" not in types:
            assert sources[1].get_element_type().to_dtype().name == "float32"
            kept.append(op.get_friendly_name())
        else:  # int8 weights decompressed (Convert, Multiply) or fake-quantized
            assert types[1] in ("Multiply", "FakeQuantize", "Convert"), types
            quantized.append(op.get_friendly_name())
    graph = onnx.load(records["onnx"]["path"]).graph
    weights = {t.name for t in graph.initializer}
    onnx_float = [n for n in graph.node if n.op_type in ("Conv", "MatMul", "Gemm") and n.input[1] in weights]
    assert quantized and len(kept) == len(onnx_float) >= 1, (kept, quantized)


def test_unknown_layer_is_one_line_with_near_matches(named_net, labelled_folder, tmp_path, capsys):
    code, _, err = run_cli([*export_args(named_net, labelled_folder, tmp_path), "--keep-float", "midd"], capsys)
    assert code == 2 and len(error_lines(err)) == 1, err
    assert "no layer 'midd'" in err and "mid" in err.split("near matches:")[1]
    assert not any(tmp_path.rglob("*.tflite"))


@pytest.mark.parametrize("fmt", ["tflite", "onnx"])
def test_layer_without_ops_in_a_format_is_an_error(named_net, labelled_folder, tmp_path, capsys, fmt):
    """Dropout has no op at inference: keeping it float cannot mean anything, and export says so."""
    args = export_args(named_net, labelled_folder, tmp_path)
    args[args.index("--format") + 1] = fmt
    code, _, err = run_cli([*args, "--keep-float", "mid,drop"], capsys)
    assert code == 2 and len(error_lines(err)) == 1, err
    assert f"'drop' matches no {fmt} op" in err
    assert not any(tmp_path.rglob("model.*"))


def test_keep_float_needs_int8(named_net, labelled_folder, tmp_path, capsys):
    args = [a if a != "--int8" else "--fp32" for a in export_args(named_net, labelled_folder, tmp_path)]
    code, _, err = run_cli([*args, "--keep-float", "mid"], capsys)
    assert code == 2 and "use it with --int8" in err


def test_scopes_follow_keras_uniquified_names():
    """Layer conv2d runs under scope conv2d_1 and layer conv2d_1 under conv2d_1_2: names alone would mix them up."""
    import keras

    from edgekit.exporting.keepfloat import layer_scopes, layers_of_name, parse_keep_float

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.Conv2D(4, 3)(x)
    model = keras.Model(inputs, keras.layers.Conv2D(4, 3)(x))
    first, second = (layer.name for layer in model.layers[1:3])
    scopes = layer_scopes(model)
    assert scopes[first] == [f"{first}_1"] and scopes[second] == [f"{second}_2"]
    assert layers_of_name(f"model/{second}_2/convolution;model/{first}_1/Relu", scopes) == [first, second]
    assert "call" not in vars(model.layers[1])  # the recording is undone
    assert parse_keep_float(" a,b ,a") == ("a", "b")
    with pytest.raises(UsageError):
        parse_keep_float(" , ")


def test_suggestion_covers_half_the_error():
    """One dominating op: its layers alone; error spread evenly: several layers; kept and folded layers skipped."""
    from edgekit.exporting.keepfloat import suggest_layers

    scopes = {f"l{i}": [f"l{i}_1"] for i in range(12)} | {"bn": ["bn_1"], "out": ["out_1"]}
    flat = [{"tensor": f"m/l{i}_1/op", "rmse_in_steps": 0.39 - 0.005 * i} for i in range(10)]
    assert suggest_layers(flat, scopes, []) == ["l0", "l1", "l2", "l3", "l4"]
    peak = [{"tensor": "m/l3_1/Relu", "names": "m/l3_1/Relu;m/bn_1/add;m/l2_1/conv", "rmse_in_steps": 5.0}]
    peak += [{"tensor": f"m/l{i}_1/op", "rmse_in_steps": 0.3} for i in range(4, 12)]
    assert suggest_layers(peak, scopes, ["bn"]) == ["l2", "l3"]  # both layers fused into the op, not the BatchNorm
    assert suggest_layers(peak, scopes, ["bn", "l2", "l3"])[:1] == ["l4"]
    output = [{"tensor": "StatefulPartitionedCall_1:0", "rmse_in_steps": 2.0}]
    assert suggest_layers(output, scopes, [], output_layer="out") == ["out"]
