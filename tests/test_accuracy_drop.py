"""--max-accuracy-drop is in percentage points (as the README speaks): 1.0 fires on a 1.2 pp drop; without labelled
images export says in one line that it cannot judge, never a silent pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from edgekit.exporting.fidelity import accuracy_drop_pp, gate


@pytest.mark.parametrize(
    "bar, fires",
    [(1.0, True), (1.19, True), (1.2, False), (1.5, False), (0.012, True), (-1, True)],
)
def test_bar_is_in_percentage_points(bar, fires):
    fidelity = {"cosine": 0.999, "accuracy": 0.838, "reference_accuracy": 0.850}  # 85.0 % -> 83.8 %: 1.2 pp
    assert accuracy_drop_pp(fidelity) == pytest.approx(1.2)
    reason = gate(fidelity, None, bar)
    assert (reason is not None) == fires, reason
    if fires:
        assert "1.20 pp" in reason and f"--max-accuracy-drop {bar:g} pp" in reason


def test_no_labels_no_drop():
    assert accuracy_drop_pp({"cosine": 0.99}) is None and gate({"cosine": 0.99}, None, 0.0) is None


def test_help_names_the_unit():
    import typer

    from edgekit.cli.app import app

    export = typer.main.get_command(app).commands["export"]
    (option,) = [p for p in export.params if "--max-accuracy-drop" in p.opts]
    assert "percentage points" in option.help


def test_manifest_keeps_fractions_and_adds_pp(tiny_fp32):
    """The labelled export (conftest's tiny model, calibrated on a labelled folder) records the drop in pp beside the
    accuracies it always had (fractions)."""
    manifest = json.loads((Path(tiny_fp32["tflite"]["path"]).parent / "manifest.json").read_text())
    fid = manifest["fidelity"]
    assert 0 <= fid["accuracy"] <= 1 and 0 <= fid["reference_accuracy"] <= 1
    assert fid["accuracy_drop_pp"] == pytest.approx(100 * (fid["reference_accuracy"] - fid["accuracy"]), abs=1e-3)


def test_without_labels_it_says_it_cannot_judge(trained_keras, tmp_path, capsys):
    args = ["export", str(trained_keras), "--format", "tflite", "--calib", "synthetic", "--calib-size", "8"]
    args += ["--holdout", "8", "--max-accuracy-drop", "1.0", "--out", str(tmp_path), "--json"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    said = [line for line in err.splitlines() if "--max-accuracy-drop" in line]
    assert len(said) == 1 and "cannot be judged" in said[0] and "labels" in said[0]
    (record,) = json.loads(out)
    assert record["status"] == "ok" and "accuracy_drop_pp" not in record["fidelity"]
