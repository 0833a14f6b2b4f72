"""Graphs other tools exported (timm via torch.onnx opset 17, OpenVINO IR from `ovc`'s converter): predicted as
they are, lowered for the Edge TPU, and summarised as reference graphs for `edgekit fit` (issue 24)."""

from __future__ import annotations

import gzip
import json
import sys
import types
from pathlib import Path

import pytest

from edgekit.errors import UsageError


@pytest.fixture(scope="module")
def timm_onnx(tmp_path_factory) -> Path:
    """timm's mobilenetv2_050 at 64 px, exported as a user would (TorchScript exporter, opset 17)."""
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    timm = pytest.importorskip("timm")
    torch = pytest.importorskip("torch")
    path = tmp_path_factory.mktemp("timm") / "mobilenetv2_050.onnx"
    net = timm.create_model("mobilenetv2_050", pretrained=False, num_classes=10).eval()
    with torch.no_grad():
        torch.onnx.export(net, torch.zeros(1, 3, 64, 64), str(path), opset_version=17, dynamo=False)
    return path


def test_profile_predicts_a_timm_onnx_export(timm_onnx):
    from edgekit.costmodel.predict import predict_artifact
    from edgekit.hardware.targets import get_target

    pi = predict_artifact(timm_onnx, get_target("rpi5"))
    assert pi["runtime"]["name"] == "onnxruntime" and pi["runtime"]["version"]
    assert pi["macs"] > 1e6 and pi["latency_ms"]["low"] < pi["latency_ms"]["median"] < pi["latency_ms"]["high"]
    # the constants rest on published rows of other models, named in the result
    assert pi["fit"]["fitted_on"] and all("/onnxruntime" in r or "xnnpack" in r for r in pi["fit"]["fitted_on"])
    npu = predict_artifact(timm_onnx, get_target("intel-npu-arl"))
    assert npu["runtime"]["name"] == "openvino-npu" and npu["latency_ms"]["median"] > 0


def test_profile_predicts_an_ovc_converted_ir(timm_onnx, tmp_path):
    ov = pytest.importorskip("openvino")
    from edgekit.costmodel.predict import predict_artifact
    from edgekit.hardware.targets import get_target

    xml = tmp_path / "model.xml"
    ov.save_model(ov.convert_model(str(timm_onnx)), str(xml))  # what `ovc model.onnx` writes (FP16 weights)
    res = predict_artifact(xml, get_target("intel-npu-arl"))
    onnx_res = predict_artifact(timm_onnx, get_target("intel-npu-arl"))
    assert res["macs"] == pytest.approx(onnx_res["macs"], rel=0.02)
    assert res["latency_ms"]["median"] == pytest.approx(onnx_res["latency_ms"]["median"], rel=0.25)


def test_onnx_graph_lowers_to_what_the_edge_tpu_maps(timm_onnx):
    from edgekit.analyze import load_graph
    from edgekit.analyze.edgetpu import analyze_graph
    from edgekit.analyze.lowering import as_int8_tflite

    graph = load_graph(timm_onnx)
    low = as_int8_tflite(graph)
    assert low.format == "tflite" and low.precision == "int8" and low.macs == graph.macs
    types_ = {op.type for op in low.ops}
    assert {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"} <= types_ and "Clip" not in types_
    assert all(o.options.get("fused_activation") for o in low.ops if o.type == "DEPTHWISE_CONV_2D")
    # int8 weights: a quarter of the fp32 file's (biases stay 32-bit)
    assert graph.weight_bytes / 4 <= low.weight_bytes < graph.weight_bytes / 3
    analysis = analyze_graph(low)
    assert analysis["cpu_ops"] == 0 and analysis["tpu_ops"] == len(low.ops)


def test_fit_takes_a_reference_graph_from_any_framework(timm_onnx, tmp_path, monkeypatch):
    from edgekit.costmodel import foreign, reference

    monkeypatch.setattr(reference, "GRAPHS_DIR", tmp_path)
    out = foreign.write_foreign_summary("my_net", timm_onnx, tool="timm test export")
    assert out.name.startswith("my_net-64-fp32-")
    data = json.loads(gzip.decompress(out.read_bytes()))
    assert data["origin"]["format"] == "onnx" and data["origin"]["tool"] == "timm test export"
    graph = reference.reference_graph("my_net", 64, "fp32")
    assert graph.format == "onnx" and graph.macs > 1e6
    assert reference.stale_summaries() == []  # a foreign graph is its own definition
    with pytest.raises(UsageError, match="zoo model"):
        foreign.write_foreign_summary("mobilenetv2", timm_onnx)
    assert foreign.parse_graph_option("x@int8=a.tflite") == ("x", "int8", Path("a.tflite"))
    with pytest.raises(UsageError):
        foreign.parse_graph_option("no-file")


def test_published_rows_of_models_outside_the_zoo_have_graphs():
    from edgekit.costmodel import fit
    from edgekit.costmodel.reference import in_zoo

    rows = fit.published_rows()
    outside = {r.graph_model for r in rows if not in_zoo(r.graph_model)}
    assert {"resnet152v2", "timm_inception_v4", "timm_resnet18", "timm_vgg13"} <= outside
    for row in rows:
        assert fit.row_graph(row).ops, row.label
