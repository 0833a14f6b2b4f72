"""edgekit recommend: the notes' thresholds and rules, constraints filtering with the target's figures, and
impossible constraints named with the closest model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

SIZE = ["--input-size", "32"]  # the candidates' graphs build in seconds at 32 px


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("recommend-cache")


@pytest.fixture
def env(cache, monkeypatch, tmp_path) -> Path:
    monkeypatch.setenv("EDGEKIT_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("n", "strategy"),
    [(1, "transfer-learning"), (999, "transfer-learning"), (1000, "fine-tuning"), (5000, "fine-tuning"),
     (5001, "from-scratch")],
)  # fmt: skip
def test_strategy_follows_the_notes_thresholds(n, strategy):
    from edgekit.choose.recommend import strategy_for

    assert strategy_for(n)[0] == strategy


def _recommend(args: list[str], capsys) -> tuple[int, dict, str]:
    code, out, err = run_cli(["recommend", *args, *SIZE, "--json"], capsys)
    return code, json.loads(out), err


def test_json_contract_and_the_notes_rules_without_limits(env, capsys):
    code, out, err = _recommend(["--target", "rpi4", "--images-per-class", "300"], capsys)
    assert code == 0, err
    assert out["strategy"] == "transfer-learning" and "1000" in out["reason"]
    models = [c["model"] for c in out["candidates"]]
    assert sorted(models) == ["efficientnetb0", "ensemble", "mobilenetv2", "resnet50", "squeezenet"]
    assert models[0] == "efficientnetb0"  # the notes: the best model when nothing limits you
    for c in out["candidates"]:
        assert c["reason"].startswith("the notes: ") and c["figures"]["latency_ms"]["source"] == "predicted"
        assert c["figures"]["latency_ms"]["runtime"]["threads"] >= 1 and c["figures"]["size_mb"]["value"] > 0
    ens = next(c for c in out["candidates"] if c["model"] == "ensemble")
    members = [next(c for c in out["candidates"] if c["model"] == m) for m in ens["members"]]
    total = sum(m["figures"]["latency_ms"]["median"] for m in members)
    assert ens["figures"]["latency_ms"]["median"] == pytest.approx(total, rel=1e-3)
    squeeze = next(c for c in out["candidates"] if c["model"] == "squeezenet")
    # transfer learning needs pretrained weights: SqueezeNet's are torchvision's, ported (edgekit.models.ported)
    assert "no pretrained ImageNet weights" not in squeeze["reason"] and "top-1 0.581 (published)" in squeeze["reason"]


def test_constraints_filter_and_rank(env, capsys):
    code, out, err = _recommend(["--target", "rpi4", "--images-per-class", "3000", "--max-size", "2"], capsys)
    assert code == 0, err
    assert out["strategy"] == "fine-tuning"
    assert [c["model"] for c in out["candidates"]] == ["squeezenet"]  # 1.3 MB int8; MobileNetV2 is 3.5 MB
    excluded = {c["model"]: c["excluded_by"] for c in out["excluded"]}
    assert excluded["mobilenetv2"][0].startswith("--max-size 2 (")


def test_impossible_constraint_names_the_culprit_and_the_closest_model(env, capsys):
    code, out, err = _recommend(["--target", "rpi4", "--images-per-class", "9000", "--max-latency", "0.01"], capsys)
    assert code == 2 and out["strategy"] == "from-scratch" and out["candidates"] == []
    assert out["impossible"]["constraint"] == "--max-latency 0.01" and out["impossible"]["alone"]
    line = err.strip().splitlines()
    assert len(line) == 1 and "--max-latency 0.01 excludes every candidate" in line[0] and "closest is" in line[0]
    fastest = min(out["excluded"], key=lambda c: c["figures"]["latency_ms"]["median"])
    assert out["impossible"]["closest"]["model"] == fastest["model"]


def test_energy_limit_without_power_figures_is_impossible_not_guessed(env, capsys):
    """The host target has no sourced power figures: no energy, so --max-energy cannot be met."""
    code, out, err = _recommend(["--target", "host", "--images-per-class", "50", "--max-energy", "100"], capsys)
    assert code == 2 and out["impossible"]["constraint"] == "--max-energy 100"
    assert all("figure unknown" in c["excluded_by"][0] for c in out["excluded"])


def test_an_unknown_figure_says_why():
    from edgekit.choose.facts import figure
    from edgekit.choose.recommend import _describe

    why = "no published top-1: the measured artifact holds random weights"
    fig = {"latency_ms": {"median": 15.6, "source": "predicted"}, "size_mb": figure(4.0, "measured"),
           "energy_mj": figure(95.5, "predicted"), "accuracy": figure(None, None, what=why)}  # fmt: skip
    text = _describe(fig)
    assert "15.6 ms (predicted)" in text and "accuracy unknown (no published top-1: the measured artifact" in text
    assert "energy unknown" in _describe({**fig, "energy_mj": figure(None, None)})  # no reason known: none invented
