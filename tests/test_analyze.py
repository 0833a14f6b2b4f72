"""Graph analysis (MACs, bytes, shapes) and the Edge TPU / Intel NPU rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from _predict_models import BIG_WEIGHTS, CONVNET_MACS, build_predict_models

from edgekit.analyze.edgetpu import (
    AFTER_PARTITION,
    BAD_RANK,
    MAPPED,
    NOT_SUPPORTED,
    UNSPECIFIED,
    UNSUPPORTED_DTYPE,
    analyze_edgetpu,
    fallback_lines,
    op_status,
    parse_compiler_log,
)
from edgekit.analyze.graph import OpInfo, TensorInfo, load_graph, static_graph
from edgekit.analyze.npu import analyze_npu
from edgekit.errors import UsageError


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    return build_predict_models(tmp_path_factory.getbasetemp() / "predict-models")


# --------------------------------------------------------------------------------------------------------- graph


@pytest.mark.parametrize("name", ["convnet-fp32", "convnet-int8", "convnet-onnx", "convnet-xml"])
def test_macs_of_a_tiny_convnet_equal_the_hand_count(models, name):
    graph = load_graph(models[name])
    assert graph.macs == CONVNET_MACS
    by_class = {op.op_class: op.macs for op in graph.ops if op.macs}
    assert by_class == {"conv": 16 * 16 * 8 * 27, "depthwise": 16 * 16 * 8 * 9, "pointwise": 16 * 16 * 16 * 8,
                        "fc": 160}  # fmt: skip


def test_tflite_graph_details(models):
    fp32, int8 = load_graph(models["convnet-fp32"]), load_graph(models["convnet-int8"])
    assert (fp32.precision, int8.precision) == ("fp32", "int8")
    assert [op.type for op in int8.ops] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D", "MEAN", "FULLY_CONNECTED"]
    conv = int8.ops[0]
    assert conv.inputs[0].shape == (1, 16, 16, 3) and conv.outputs[0].shape == (1, 16, 16, 8)
    assert conv.options["stride"] == (1, 1) and conv.options["dilation"] == (1, 1)
    assert conv.act_read_bytes == 16 * 16 * 3 and conv.act_write_bytes == 16 * 16 * 8
    assert conv.weight_bytes == 8 * 27 + 8 * 4  # int8 filter + int32 bias
    assert fp32.ops[0].weight_bytes == (8 * 27 + 8) * 4
    assert int8.arena_bytes() == 16 * 16 * 8 + 16 * 16 * 16  # the pointwise conv's input and output are live
    assert int8.summary()["op_classes"]["depthwise"] == 1


def test_op_names_match_the_interpreter(models):
    from ai_edge_litert.interpreter import Interpreter

    for name in ("convnet-int8", "transpose-int8"):
        ours = [op.type for op in load_graph(models[name]).ops]
        theirs = [d["op_name"] for d in Interpreter(model_path=str(models[name]))._get_ops_details()]
        assert ours == theirs


def test_dynamic_batch_is_seen_and_can_be_pinned(models):
    graph = load_graph(models["convnet-int8-dynbatch"])
    assert graph.inputs[0].dynamic and not graph.inputs[0].dynamic_beyond_batch
    assert graph.inputs[0].to_dict()["shape"] == [-1, 16, 16, 3]
    assert not static_graph(graph).dynamic_inputs


def test_openvino_dynamic_input(models):
    graph = load_graph(models["convnet-dynamic-xml"])
    assert graph.dynamic_inputs and graph.macs == CONVNET_MACS


def test_bad_files_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_graph(tmp_path / "missing.tflite")
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer at all")
    with pytest.raises(UsageError, match="not a TFLite flatbuffer"):
        load_graph(junk)
    other = tmp_path / "model.pb"
    other.write_bytes(b"x")
    with pytest.raises(UsageError, match="expected a .tflite, .onnx or .xml"):
        load_graph(other)


# ------------------------------------------------------------------------------------------------------- Edge TPU


def test_edgetpu_partition_at_the_first_unsupported_op(models):
    result = analyze_edgetpu(models["transpose-int8"])
    types = [o["op"] for o in result["ops"]]
    cut = types.index("TRANSPOSE")
    assert result["partition"]["index"] == cut and result["partition"]["op"] == "TRANSPOSE"
    assert "#193" in result["partition"]["reason"]
    assert [o["device"] for o in result["ops"]] == ["tpu"] * cut + ["cpu"] * (len(types) - cut)
    assert all(o["status"] == AFTER_PARTITION for o in result["ops"][cut + 1 :])
    assert result["fallback_ops"][0] == {"op": "TRANSPOSE", "index": cut, "reason": result["partition"]["reason"]}
    assert result["tpu_ops"] == cut and result["subgraphs"] == 1 and not result["compatible"]
    lines = fallback_lines(result)
    assert "partition at op 1 TRANSPOSE" in lines[0] and "run on the CPU" in lines[0]
    assert any("cpu: op 2 CONV_2D: after the partition" in line for line in lines)


def test_edgetpu_all_mapped(models):
    result = analyze_edgetpu(models["convnet-int8"])
    assert result["compatible"] and result["partition"] is None and result["fallback_ops"] == []
    assert result["off_chip_param_bytes"] == 0
    assert fallback_lines(result) == ["all 5 ops map to the Edge TPU"]


def test_edgetpu_float_model_is_not_runnable(models):
    result = analyze_edgetpu(models["convnet-fp32"])
    assert "--int8 --io int8" in result["problems"][0]
    assert result["ops"][0]["status"] == UNSUPPORTED_DTYPE and result["partition"]["index"] == 0


def test_edgetpu_dynamic_batch_is_a_warning(models):
    result = analyze_edgetpu(models["convnet-int8-dynbatch"])
    assert not result["problems"] and "batch" in result["warnings"][0]


def test_edgetpu_parameter_cache_cliff(models):
    result = analyze_edgetpu(models["big-int8"])
    assert result["off_chip_param_bytes"] >= BIG_WEIGHTS
    assert any("stream over the link" in line for line in fallback_lines(result))


def _t(shape, dtype="int8", const=False, values=None):
    return TensorInfo("t", tuple(shape), dtype, const=const, values=values)


def _op(op_type, op_class, inputs, outputs, **options):
    return OpInfo(0, "op", op_type, op_class, tuple(inputs), tuple(outputs), 0, options)


@pytest.mark.parametrize(
    ("op", "status", "words"),
    [
        (_op("HARD_SWISH", "elementwise", [_t((1, 4, 4, 8))], [_t((1, 4, 4, 8))]), NOT_SUPPORTED, "HARD_SWISH"),
        (
            _op(
                "CONV_2D", "conv", [_t((1, 8, 8, 4)), _t((8, 3, 3, 4), const=True)], [_t((1, 8, 8, 8))], dilation=(2, 1)
            ),
            UNSPECIFIED,
            "dilation",
        ),  # fmt: skip
        (
            _op("MAX_POOL_2D", "pool", [_t((1, 8, 8, 4))], [_t((1, 4, 4, 4))], fused_activation="RELU"),
            UNSPECIFIED,
            "fused activation",
        ),  # fmt: skip
        (_op("ADD", "elementwise", [_t((2, 4, 4, 8)), _t((2, 4, 4, 8))], [_t((2, 4, 4, 8))]), BAD_RANK, "innermost"),
        (
            _op("ADD", "elementwise", [_t((1, 4, 4, 8), "float32")], [_t((1, 4, 4, 8), "float32")]),
            UNSUPPORTED_DTYPE,
            "float32",
        ),  # fmt: skip
        (_op("FULLY_CONNECTED", "fc", [_t((1, 5, 8)), _t((4, 8), const=True)], [_t((1, 5, 4))]), UNSPECIFIED, "1-D"),
        (
            _op("MEAN", "pool", [_t((1, 4, 4, 6)), _t((1,), "int32", True, (3,))], [_t((1, 4, 4))]),
            UNSPECIFIED,
            "multiple of 4",
        ),  # fmt: skip
        (
            _op("CONCATENATION", "data", [_t((1, 4, 4, 8), const=True), _t((1, 4, 4, 8))], [_t((1, 4, 4, 16))]),
            UNSPECIFIED,
            "2nd of 2",
        ),  # fmt: skip
        (
            _op("PRELU", "elementwise", [_t((1, 4, 4, 8)), _t((4, 4, 8), const=True)], [_t((1, 4, 4, 8))]),
            UNSPECIFIED,
            "shared_axes",
        ),  # fmt: skip
        (_op("QUANTIZE", "quant", [_t((1, 4, 4, 8), "float32")], [_t((1, 4, 4, 8))]), MAPPED, ""),
        (_op("DEQUANTIZE", "quant", [_t((1, 4, 4, 8))], [_t((1, 4, 4, 8), "float32")]), NOT_SUPPORTED, "#659"),
    ],
)
def test_edgetpu_op_rules(op, status, words):
    got, reason = op_status(op)
    assert got == status and words in reason


SAMPLE_LOG = """\
Edge TPU Compiler version 16.0.384591198
Started a compilation timeout timer of 180 seconds.

Model compiled successfully in 1267 ms.

Input model: edgekit-out/mobilenetv3/tflite-int8/model.tflite
Input size: 4.02MiB
Output model: edgekit-out/mobilenetv3/edgetpu-int8/model_edgetpu.tflite
Output size: 4.21MiB
On-chip memory used for caching model parameters: 3.52MiB
On-chip memory remaining for caching model parameters: 3.40MiB
Off-chip memory used for streaming uncached model parameters: 0.00B
Number of Edge TPU subgraphs: 1
Total number of operations: 118
Operation log: edgekit-out/mobilenetv3/edgetpu-int8/model_edgetpu.log

Operator                       Count      Status

HARD_SWISH                     19         Operation not supported
ADD                            10         Mapped to Edge TPU
ADD                            6          More than one subgraph is not supported
CONV_2D                        8          Mapped to Edge TPU
CONV_2D                        45         More than one subgraph is not supported
DEPTHWISE_CONV_2D              15         More than one subgraph is not supported
MEAN                           1          Operation is otherwise supported, but not mapped due to some unspecified \
limitation
DEQUANTIZE                     1          Operation is working on an unsupported data type
QUANTIZE                       1          Mapped to Edge TPU
RESHAPE                        2          Tensor has unsupported rank (up to 3 innermost dimensions mapped)
Compilation child process completed within timeout period.
Compilation succeeded!
"""


def test_parse_compiler_log():
    log = parse_compiler_log(SAMPLE_LOG)
    assert log["compiler_version"] == "16.0.384591198" and log["compiled"] is True
    assert log["on_chip_param_bytes"] == round(3.52 * 1024 * 1024)
    assert log["on_chip_remaining_bytes"] == round(3.40 * 1024 * 1024)
    assert log["off_chip_param_bytes"] == 0
    assert (log["subgraphs"], log["total_ops"]) == (1, 118)
    assert log["output_model"].endswith("model_edgetpu.tflite") and log["input_size_bytes"] > 4_000_000
    assert len(log["operators"]) == 10
    assert log["operators"][0] == {"op": "HARD_SWISH", "count": 19, "status": "Operation not supported"}
    assert log["mapped_ops"] == 10 + 8 + 1
    assert {o["op"] for o in log["unmapped"]} == {"HARD_SWISH", "ADD", "CONV_2D", "DEPTHWISE_CONV_2D", "MEAN",
                                                   "DEQUANTIZE", "RESHAPE"}  # fmt: skip


def test_parse_compiler_log_counts_and_failure():
    text = (
        "Edge TPU Compiler version 15.0.340273435\n"
        "Number of Edge TPU subgraphs: 2\nTotal number of operations: 64\n"
        "Number of operations that will run on Edge TPU: 60\nNumber of operations that will run on CPU: 4\n"
        "Off-chip memory used for streaming uncached model parameters: 12.5MiB\n"
        "ERROR: Didn't find op for builtin opcode 'CUSTOM' version '1'\nCompilation failed!\n"
    )
    log = parse_compiler_log(text)
    assert (log["tpu_ops"], log["cpu_ops"], log["subgraphs"]) == (60, 4, 2)
    assert log["off_chip_param_bytes"] == round(12.5 * 1024 * 1024) and log["compiled"] is False
    assert parse_compiler_log("")["operators"] == []


# ------------------------------------------------------------------------------------------------------- Intel NPU


def test_npu_static_model(models):
    result = analyze_npu(models["convnet-xml"])
    assert result["compatible"] and result["compute_precision"] == "fp16" and "FP16" in result["precision_note"]


def test_npu_dynamic_input_names_the_fix(models):
    result = analyze_npu(models["convnet-dynamic-xml"])
    assert not result["compatible"]
    assert "static" in result["problems"][0] and "--input-size" in result["problems"][0]


def test_npu_ignores_outputs_nobody_reads(tmp_path):
    """MaxPool-8 has an int64 indices output that models leave unread: the pooling still runs on the NPU."""
    import numpy as np
    import openvino as ov
    from openvino import opset8 as ops

    x = ops.parameter([1, 8, 16, 16], np.float32, name="x")
    pool = ops.max_pool(x, [2, 2], [1, 1], [0, 0], [0, 0], [2, 2], index_element_type="i64")
    ov.save_model(ov.Model([ops.result(pool.output(0))], [x]), tmp_path / "pool.xml")
    result = analyze_npu(tmp_path / "pool.xml")
    assert result["compatible"] and result["fallback_ops"] == [], result["fallback_ops"]


def test_runtime_op_names_find_the_node_they_were_rewritten_from():
    """ONNX Runtime renames a node its optimiser fused (QDQ -> QLinearConv) `<node>_token_N`; OpenVINO's counters add
    parts such as `/WithoutBiases`: both still name the Keras layer of the graph node; a name of no node stays bare."""
    from edgekit.analyze.layernames import layer_label, with_keras_names

    rows = [
        {"name": "t__41_token_0", "op": "QLinearConv"},
        {"name": "t__41/WithoutBiases", "op": "Convolution"},
        {"name": "block_2_depthwise", "op": "DEPTHWISE_CONV_2D"},
        {"name": "Conv1_token_x", "op": "Add"},
    ]
    named = with_keras_names(rows, {"t__41": "Conv1", "block_2_depthwise": "block_2_depthwise"})
    assert [r.get("keras_layer") for r in named] == ["Conv1", "Conv1", "block_2_depthwise", None]
    assert layer_label(named[0]) == "Conv1 (QLinearConv)" and named[0]["name"] == "t__41_token_0"


def test_a_node_named_after_its_output_tensor_finds_the_convolution(tiny_fp32):
    """ONNX Runtime's NCHWc convolutions are named `<output tensor>_nchwc`, and a Conv + ReLU6 fusion's tensor is the
    Clip's: the row still names the convolution's Keras layer (the time is the convolution's)."""
    from edgekit.analyze.graph import load_graph
    from edgekit.analyze.layernames import _layer_of, op_layer_map, scopes_beside

    path = Path(tiny_fp32["onnx"]["path"])
    graph = load_graph(path)
    mapping = op_layer_map(graph, scopes_beside(path))
    producer = {t.name: op for op in graph.ops for t in op.outputs}
    clips = [op for op in graph.ops if op.type == "Clip" and producer[op.inputs[0].name].type == "Conv"]
    assert clips
    for clip in clips:
        conv = producer[clip.inputs[0].name]
        assert _layer_of(clip.outputs[0].name + "_nchwc", mapping) == mapping[conv.name] != mapping[clip.name]


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_a_convolution_fused_with_its_padding_is_the_convolutions_layer(precision, tiny_fp32, tiny_int8):
    """The TFLite converter folds MobileNetV2's ZeroPadding2D into the strided depthwise convolution after it; the
    fused op's names start with the pad's scope, but its MACs (and its time) are the convolution's: every op with
    MACs names the layer that owns its kernel, never a padding, BatchNorm or activation layer."""
    from edgekit.analyze.graph import load_graph
    from edgekit.analyze.layernames import op_layer_map, scopes_beside

    path = Path((tiny_fp32 if precision == "fp32" else tiny_int8)["tflite"]["path"])
    graph = load_graph(path)
    scopes = scopes_beside(path)
    mapping = op_layer_map(graph, scopes)
    assert any(layer.endswith("_pad") for layer in scopes)  # the network has paddings to fuse
    owners = {op.name: mapping.get(op.name) for op in graph.ops if op.macs}
    wrong = {name: layer for name, layer in owners.items() if not layer or layer.endswith(("_pad", "_BN", "relu"))}
    assert owners and not wrong, wrong
    assert {"block_1_depthwise", "block_3_depthwise"} <= set(owners.values())  # the strided, padded ones


def test_openvino_node_layers_are_bounded_and_never_fail_an_export(tiny_fp32, tmp_path, monkeypatch):
    """The IR's node -> layer map is read from the ONNX it came from; over the size bound, or from a graph the
    analyzer cannot read, the export records why instead."""
    import json as _json
    import shutil as _shutil

    from edgekit.exporting.base import ExportJob
    from edgekit.exporting.formats import openvino as ov_format

    onnx_path = Path(tiny_fp32["onnx"]["path"])
    scopes = _json.loads((onnx_path.parent / "manifest.json").read_text())["layer_scopes"]
    _shutil.copyfile(onnx_path, tmp_path / "model-fp32.onnx")
    job = ExportJob(None, "tinynet", "int8", "int8", None, tmp_path, tmp_path, layer_scopes=scopes)
    ov_format.record_node_layers(job)
    assert job.extra["node_layers"] and "node_layers_note" not in job.extra
    monkeypatch.setattr(ov_format, "NODE_LAYERS_MAX_BYTES", 10)
    job = ExportJob(None, "tinynet", "int8", "int8", None, tmp_path, tmp_path, layer_scopes=scopes)
    ov_format.record_node_layers(job)
    assert "node_layers" not in job.extra and "over 256 MB" in job.extra["node_layers_note"]
    monkeypatch.undo()
    (tmp_path / "model-fp32.onnx").write_bytes(b"not an onnx file")
    job = ExportJob(None, "tinynet", "int8", "int8", None, tmp_path, tmp_path, layer_scopes=scopes)
    ov_format.record_node_layers(job)
    assert "node_layers" not in job.extra and job.extra["node_layers_note"].startswith("not recorded: ")
