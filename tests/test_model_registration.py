"""One registration is enough: a family module dropped on the families path, and nothing else edited, shows up in
`edgekit models`, in compare's rows (its use case, notes line, published top-1, default rows), in recommend's
candidate facts and in the README's display names. No model is built: compare reads a saved profile."""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import run_cli

REPO = Path(__file__).resolve().parent.parent
MODULE = "edgekit.models.families.tinynet_plugin"
FAMILY = """
from edgekit.models.registry import PREPROCESS_TF, ModelSpec, NotesRow, PublishedTop1, register_model


def _never_built(**kwargs):
    raise AssertionError("listing, compare from a saved profile and recommend's facts build nothing")


TINYNET = register_model(
    ModelSpec(
        name="tinynet",
        display_name="TinyNet-A",
        family="TinyNet",
        year=2030,
        build_fn=_never_built,
        default_input_size=96,
        min_input_size=32,
        params=123_456,
        macs=7_890_000,
        use_case="Tests: one registration is enough",
        published_top1=PublishedTop1(0.612, "tests/test_model_registration.py (a made-up figure)"),
        notes=NotesRow(params="tiny", use_case="tests"),
        default_row=99,
        preprocess=PREPROCESS_TF,
        edge=True,
        imagenet_weights=False,
        aliases=("tinynet-a",),
    )
)
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The family module in a temp folder on the families path; the registry as it was afterwards."""
    from edgekit.models import families, registry

    before = {s.name for s in registry.list_models()}
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_ALIASES", dict(registry._ALIASES))
    folder = tmp_path / "families"
    folder.mkdir()
    (folder / "tinynet_plugin.py").write_text(FAMILY)
    monkeypatch.setattr(families, "__path__", [*families.__path__, str(folder)])
    importlib.invalidate_caches()
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    try:
        yield
    finally:
        sys.modules.pop(MODULE, None)
        if hasattr(families, "tinynet_plugin"):
            delattr(families, "tinynet_plugin")
    monkeypatch.undo()
    assert {s.name for s in registry.list_models()} == before


def test_edgekit_models_lists_it(plugin, capsys):
    code, out, err = run_cli(["models", "tinynet", "--json"], capsys)
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["name"] == "tinynet" and row["family"] == "TinyNet" and row["aliases"] == ["tinynet-a"]
    assert row["use_case"] == "Tests: one registration is enough" and row["params"] == 123_456
    code, out, err = run_cli(["models", "TinyNet"], capsys)
    assert code == 0 and "Tests: one registration is enough" in out


def _saved_profile(root: Path) -> None:
    from edgekit.results.record import base_result
    from edgekit.results.store import save_result

    result = base_result("host", "tinynet", "tflite", "int8", "measured")
    result.update(
        latency_ms={"median": 0.5, "p90": 0.6, "p99": 0.7, "min": 0.4, "n": 20},
        size_bytes=150_000,
        runtime={"name": "litert", "version": "2.3.0", "threads": 1, "device": "cpu"},
        inputs=[{"name": "input", "shape": [1, 96, 96, 3], "dtype": "int8"}],
    )
    save_result(result, root)


def test_compare_and_recommend_take_its_facts_from_the_registration(plugin, tmp_path, capsys):
    from edgekit.choose import recommend
    from edgekit.choose.compare import resolve_models

    assert resolve_models(())[-1].name == "tinynet"  # among compare's default rows, at its default_row
    _saved_profile(tmp_path / "profiles")
    code, out, err = run_cli(["compare", "tinynet-a", "--target", "host", "--saved-only", "--json"], capsys)
    assert code == 0, err
    (row,) = json.loads(out)["rows"]
    assert row["model"] == "tinynet" and row["params"] == 123_456 and row["macs"] == 7_890_000
    assert row["use_case"] == "Tests: one registration is enough"
    assert row["params_in_notes"] == "tiny" and row["use_case_in_notes"] == "tests"
    assert row["accuracy"]["value"] == 0.612 and row["accuracy"]["source"] == "published"
    assert row["accuracy"]["ref"] == "tests/test_model_registration.py (a made-up figure)"
    assert row["latency_ms"]["source"] == "measured" and row["latency_ms"]["median"] == 0.5

    facts = recommend.figures_from_row(row)
    assert facts["accuracy"]["value"] == 0.612 and facts["size_mb"]["value"] == 0.15
    answer = recommend.candidate("tinynet", "a rule", facts, [], "transfer-learning")
    assert answer["fits"] and "top-1 0.612 (published)" in answer["reason"]
    assert "no pretrained ImageNet weights" in answer["reason"]  # imagenet_weights=False, read from the spec


def test_the_readme_shows_its_display_name(plugin, monkeypatch):
    spec = importlib.util.spec_from_file_location("readme_evidence", REPO / "benchmarks" / "readme_evidence.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "readme_evidence", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    assert module.model_name("tinynet") == "TinyNet-A"
    assert module.model_name("mobilenetv2") == "MobileNetV2" and module.model_name("not-a-model") == "not-a-model"
