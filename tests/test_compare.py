"""edgekit compare and the HTML report: rows with sources, saved profiles first, the graph cache, the derived INT8
graph against a real INT8 conversion, self-contained HTML, and bad input (one line, exit 2, nothing built)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import run_cli

SIZE = 32  # the smallest input mobilenetv2 takes: graphs build in seconds


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("compare-cache")


@pytest.fixture
def env(cache, monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("EDGEKIT_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)  # ./profiles and ./edgekit-out of an empty project
    return tmp_path


def _compare(args: list[str], capsys) -> tuple[int, dict | None, str]:
    code, out, err = run_cli(["compare", *args, "--json"], capsys)
    return code, (json.loads(out) if code == 0 else None), err


def test_rows_carry_sources_and_a_repeat_comes_from_the_cache(env, capsys):
    args = ["mobilenetv2", "squeezenet11", "--target", "rpi4", "--input-size", str(SIZE)]
    code, first, err = _compare(args, capsys)
    assert code == 0, err
    assert [r["model"] for r in first["rows"]] == ["mobilenetv2", "squeezenet11"]
    for row in first["rows"]:
        lat = row["latency_ms"]
        assert lat["source"] == "predicted" and lat["low"] < lat["median"] < lat["high"]
        assert lat["runtime"]["name"] and lat["runtime"]["threads"] >= 1 and lat["runtime"]["device"]
        assert row["energy_mj"]["source"] == "predicted" and row["energy_mj"]["value"] > 0  # rpi4 has power figures
        assert row["size_fp32_bytes"]["source"] == "measured" and row["size_int8_bytes"]["source"] == "predicted"
        assert row["size_int8_bytes"]["value"] < row["size_fp32_bytes"]["value"] / 3
        assert row["accuracy"]["source"] == "published" and "224 px" in row["accuracy"]["what"]
        assert row["params"] > 0 and row["macs"] > 0 and row["use_case"] and row["params_in_notes"] == "few"
        int8, fp32 = row["by_precision"]["int8"]["latency_ms"], row["by_precision"]["fp32"]["latency_ms"]
        assert int8["median"] < fp32["median"]  # XNNPACK int8 kernels on the A72
    assert first["rows"][0]["graph_cached"] is False
    code, again, err = _compare(args, capsys)
    assert code == 0, err
    assert all(r["graph_cached"] for r in again["rows"])
    assert [r["latency_ms"]["median"] for r in again["rows"]] == [r["latency_ms"]["median"] for r in first["rows"]]


def test_a_saved_measured_profile_is_preferred(env, capsys):
    from edgekit.results.record import base_result
    from edgekit.results.store import save_result

    result = base_result("host", "mobilenetv2", "tflite", "int8", "measured")
    result.update(
        latency_ms={"median": 1.5, "p90": 1.7, "p99": 1.9, "min": 1.4, "n": 50},
        size_bytes=123456,
        runtime={"name": "litert", "version": "2.3.0", "threads": 1, "device": "cpu"},
        inputs=[{"name": "input", "shape": [1, SIZE, SIZE, 3], "dtype": "int8"}],
        fidelity={"n": 8, "cosine": 0.99, "accuracy": 0.875},
    )
    save_result(result, env / "profiles")
    code, out, err = _compare(["mobilenetv2", "--target", "host", "--input-size", str(SIZE)], capsys)
    assert code == 0, err
    row = out["rows"][0]
    assert row["latency_ms"]["source"] == "measured" and row["latency_ms"]["median"] == 1.5
    assert row["latency_ms"]["runtime"]["name"] == "litert" and row["latency_ms"]["high"] == 1.9
    assert row["size_int8_bytes"] == {"value": 123456, "source": "measured", "what": "artifact file"}
    assert row["accuracy"]["source"] == "measured" and row["accuracy"]["value"] == 0.875
    assert row["from"].endswith("mobilenetv2__tflite-int8.json") or "profile" in row["from"]
    assert row["by_precision"]["fp32"]["latency_ms"]["source"] == "predicted"  # no fp32 profile: predicted


def test_derived_int8_graph_predicts_like_a_real_int8_conversion(tmp_path):
    """compare skips the calibrated INT8 conversion: its INT8 graph must cost what the real one costs."""
    from edgekit.analyze.graph import load_graph
    from edgekit.choose.compare import derive_int8
    from edgekit.costmodel.predict import predict_graph
    from edgekit.data import calibration as data
    from edgekit.exporting.formats.tflite import keras2tflite
    from edgekit.hardware.targets import get_target
    from edgekit.models.registry import PREPROCESS_TF, create_model

    model = create_model("mobilenetv2", SIZE, 10, 0.35, "none")
    (tmp_path / "fp32.tflite").write_bytes(keras2tflite(model, "fp32"))
    (tmp_path / "int8.tflite").write_bytes(keras2tflite(model, "int8", data.builtin(8, SIZE, PREPROCESS_TF)))
    derived, real = derive_int8(load_graph(tmp_path / "fp32.tflite")), load_graph(tmp_path / "int8.tflite")
    assert derived.precision == real.precision == "int8"
    assert abs(derived.weight_bytes - real.weight_bytes) / real.weight_bytes < 0.05
    for target in ("rpi4", "coral-usb"):
        d = predict_graph(derived, get_target(target), allow_any_format=True)["latency_ms"]["median"]
        r = predict_graph(real, get_target(target), allow_any_format=True)["latency_ms"]["median"]
        assert abs(d / r - 1) < 0.1, (target, d, r)


def test_html_report_is_self_contained_with_plots(env, capsys):
    html, plots = env / "out" / "compare.html", env / "plots"
    args = ["mobilenetv2", "squeezenet11", "--target", "rpi4", "--input-size", str(SIZE)]
    outputs = ["--html", str(html), "--plots", str(plots), "--csv", "c.csv", "--layers", "mobilenetv2"]
    code, _, err = run_cli(["compare", *args, *outputs], capsys)
    assert code == 0, err
    text = html.read_text()
    assert not re.search(r"https?://", text), "the report must open without a network"
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", text)
    assert len(images) == 4  # Pareto vs size, vs accuracy, INT8 vs FP32, per-layer breakdown
    pngs = sorted(p.name for p in plots.glob("*.png"))
    assert pngs == ["int8-vs-fp32.png", "layers-mobilenetv2.png", "pareto-accuracy.png", "pareto-size.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in plots.glob("*.png"))
    assert "mobilenetv2" in text and "predicted" in text
    assert (env / "c.csv").read_text().splitlines()[0].startswith("model,params,")


def test_pareto_front():
    from edgekit.choose.report import pareto_front

    pts = [
        {"label": "a", "median": 10.0, "size_mb": 1.0},
        {"label": "b", "median": 5.0, "size_mb": 4.0},
        {"label": "c", "median": 12.0, "size_mb": 5.0},  # bigger and slower than b
        {"label": "d", "median": 2.0, "size_mb": 20.0},
    ]
    assert [p["label"] for p in pareto_front(pts, "size_mb", higher_x_better=False)] == ["a", "b", "d"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mobilenetv2", "nosuchnet", "--target", "rpi4"], "unknown model 'nosuchnet'"),
        (["mobilenetv2", "--target", "rpi9"], "unknown target 'rpi9'"),
        (["mobilenetv2", "--target", "coral-usb", "--fp32"], "use --int8"),
        (["mobilenetv2", "--target", "rpi4", "--saved-only"], "edgekit profile"),
        (["mobilenetv2", "--target", "rpi4", "--html", "afile/report.html"], "is not a folder"),
        (["mobilenetv2", "--target", "rpi4", "--plots", "afile"], "is a file"),
        (["mobilenetv2", "--target", "rpi4", "--layers", "resnet50"], "not among the compared models"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_builds_nothing(env, cache, capsys, args, message):
    (env / "afile").write_text("a file where a folder should be")
    before = sorted(cache.rglob("*"))
    code, _, err = run_cli(["compare", *args], capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(cache.rglob("*")) == before


def test_report_html_from_saved_profiles(env, capsys):
    from edgekit.results.record import base_result
    from edgekit.results.store import save_result

    for prec, ms in (("fp32", 9.0), ("int8", 3.0)):
        r = base_result("rpi4", "mobilenetv2", "tflite", prec, "predicted")
        r.update(
            latency_ms={"median": ms, "low": ms / 1.5, "high": ms * 1.5},
            size_bytes=4_000_000 if prec == "int8" else 14_000_000,
            layers=[{"name": "a/b/conv", "op": "CONV_2D", "time_ms": 1.0, "percent": 30}],
            weights="imagenet",  # the export held the published weights: their top-1 gives the accuracy plot
        )
        save_result(r, env / "profiles")
    code, _, err = run_cli(["report", "--html", "r.html", "--plots", "p"], capsys)
    assert code == 0, err
    text = (env / "r.html").read_text()
    assert not re.search(r"https?://", text) and text.count("data:image/png;base64,") == 4
    assert {p.name for p in (env / "p").glob("*.png")} >= {"rpi4-pareto-size.png", "rpi4-int8-vs-fp32.png"}


def test_report_html_on_an_empty_store_says_how_to_fill_it(env, capsys):
    code, _, err = run_cli(["report", "--target", "rpi4", "--html", "r.html"], capsys)
    assert code == 2 and "edgekit profile" in err and len(err.strip().splitlines()) == 1
    assert not (env / "r.html").exists()
