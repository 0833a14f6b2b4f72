"""A published ImageNet top-1 belongs to the published weights: compare and the report show it for a model that can
load them, and never for a saved result whose artifact held random (or other) weights."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from edgekit.choose.facts import accuracy_figure, profile_accuracy
from edgekit.models.registry import get_spec


def test_compare_shows_the_published_top1_only_for_the_published_weights():
    spec = get_spec("squeezenet11")
    assert spec.published_top1 is not None
    for weights in (None, "imagenet"):  # predicted on the spot (the architecture's weights), or a saved imagenet one
        acc = accuracy_figure(spec, 224, 1000, None, weights)
        assert acc["source"] == "published" and acc["value"] == spec.published_top1.value
    for weights in ("random", "none", "/data/my.weights.h5"):
        acc = accuracy_figure(spec, 224, 1000, None, weights)
        assert acc["value"] is None and acc["source"] is None and weights in acc["what"]
    measured = accuracy_figure(spec, 224, 1000, {"accuracy": 0.9}, "random")
    assert measured["source"] == "measured" and measured["value"] == 0.9


def test_the_report_shows_it_only_when_the_result_recorded_imagenet_weights():
    base = {"model": "squeezenet11", "fidelity": {}}
    assert profile_accuracy({**base, "weights": "imagenet"})["source"] == "published"
    assert profile_accuracy({**base, "weights": "random"}) is None
    assert profile_accuracy(base) is None  # not recorded: unknown weights, no published figure
    assert profile_accuracy({**base, "weights": "random", "fidelity": {"accuracy": 0.5}})["source"] == "measured"


def test_a_profile_result_records_the_weights_its_export_held(tmp_path):
    from edgekit.stages.profile import fill_identity

    manifest = {"model": "squeezenet11", "format": "tflite", "precision": "int8",
                "build": {"input_size": 64, "weights_used": "random"}}  # fmt: skip
    art = SimpleNamespace(manifest=manifest, path=Path(tmp_path / "model.tflite"), format="tflite")
    result = fill_identity({}, art, SimpleNamespace(id="rpi4"))
    assert result["weights"] == "random" and result["input_size"] == 64
