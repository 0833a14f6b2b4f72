"""The Python API (edgekit.build, export, profile, predict, compare, recommend, train): a light `import edgekit`,
typed and documented functions, the same records as the CLI's --json, and UsageError (never SystemExit) on bad input."""

from __future__ import annotations

import importlib.util
import inspect
import json
import typing
from pathlib import Path

import pytest
from conftest import HEAVY, TINY, imported_after, run_cli

import edgekit
from edgekit.errors import UsageError

API = ("build", "export", "profile", "predict", "compare", "recommend", "train")
# The tiny model's build options, as keyword arguments and as the CLI's flags.
TINY_BUILD = {"input_size": TINY["input_size"], "alpha": TINY["alpha"], "num_classes": TINY["num_classes"]}
TINY_FLAGS = ["--input-size", "32", "--alpha", "0.35", "--num-classes", "10", "--weights", "none"]


def _without(record: dict, *keys: str) -> dict:
    return {k: v for k, v in record.items() if k not in keys}


def test_import_edgekit_loads_no_heavy_library():
    mods = imported_after("import edgekit\nedgekit.export, edgekit.profile")
    assert not (set(HEAVY) & mods), set(HEAVY) & mods
    assert not ({"typer", "rich", "numpy"} & mods)  # the API needs none of them until a function runs


def test_every_function_is_exported_typed_and_documented():
    assert set(API) <= set(edgekit.__all__) and edgekit.__version__
    for name in API:
        fn = getattr(edgekit, name)
        assert callable(fn) and fn.__module__ == "edgekit.api", name
        assert fn.__doc__ and len(fn.__doc__.strip().splitlines()) > 3, f"{name} needs a docstring"
        hints = typing.get_type_hints(fn)
        params = inspect.signature(fn).parameters
        assert "return" in hints and set(params) <= set(hints), f"{name}: untyped {set(params) - set(hints)}"
        for param in list(params.values())[1:]:  # options are keyword-only, as on the command line
            assert param.kind is inspect.Parameter.KEYWORD_ONLY, f"{name}({param.name})"


def test_no_module_shadows_an_api_function():
    """A submodule named like a function would replace it on the package once imported."""
    for name in API:
        assert importlib.util.find_spec(f"edgekit.{name}") is None, name


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: edgekit.build("mobilenetv3"), "did you mean mobilenetv2?"),
        (lambda: edgekit.build("mobilenetv2", input_size=4), "input_size must be at least 8"),
        (lambda: edgekit.export("mobilenetv2", precision="int4"), "precision must be one of"),
        (lambda: edgekit.export("mobilenetv2", io="uint8"), "--io must be int8 or float"),
        (lambda: edgekit.export("mobilenetv2", keep_float=[" "]), "keep_float needs at least one name"),
        (lambda: edgekit.profile("x.tflite", target="rpi4", predict=True, emulate=True, save=False), "not both"),
        (lambda: edgekit.profile(target="rpi4", runs=0), "runs must be at least 1"),
        (lambda: edgekit.predict("missing.tflite", target="rpi4"), "no such artifact"),
        (lambda: edgekit.compare(["mobilenetv3"], target="rpi4"), "did you mean mobilenetv2?"),
        (lambda: edgekit.compare(target="rpi4", precision="fp16"), "precision must be one of int8, fp32"),
        (lambda: edgekit.recommend(target="rpi4", images_per_class=0), "images_per_class must be at least 1"),
        (lambda: edgekit.recommend(target="rpi4", images_per_class=9, min_accuracy=2), "between 0 and 1"),
        (lambda: edgekit.train("mobilenetv2", data="x", strategy="bogus"), "--strategy must be one of"),
    ],
)
def test_bad_input_raises_usage_error_not_system_exit(call, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written; if it were, not into the repository
    with pytest.raises(UsageError, match=message.replace("?", r"\?")):
        call()
    assert not any(tmp_path.iterdir())


def test_build_returns_the_cli_record(tmp_path, capsys):
    record = edgekit.build("mobilenetv2", weights="none", out=tmp_path, **TINY_BUILD)
    assert Path(record["path"]) == tmp_path / "mobilenetv2" / "keras" / "mobilenetv2.keras"
    code, out, err = run_cli(["build", "mobilenetv2", *TINY_FLAGS, "--out", str(tmp_path), "--json"], capsys)
    assert code == 0, err
    cli = json.loads(out)
    # Only the time and the file's bytes (a fresh random initialisation, a fresh zip) may differ.
    assert _without(record, "created", "files") == _without(cli, "created", "files")
    assert [f["path"] for f in record["files"]] == [f["path"] for f in cli["files"]]


@pytest.fixture(scope="module")
def api_export(tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("api-export")
    records = edgekit.export(
        "mobilenetv2",
        formats="tflite",
        weights="none",
        calib="synthetic",
        calib_size=TINY["calib_size"],
        holdout=TINY["holdout"],
        out=root,
        progress=lambda line: None,
        **TINY_BUILD,
    )
    return root, records


def test_export_returns_the_cli_records(api_export, capsys):
    root, records = api_export
    assert [(r["format"], r["precision"], r["status"]) for r in records] == [("tflite", "fp32", "ok")]
    sizes = ["--calib-size", str(TINY["calib_size"]), "--holdout", str(TINY["holdout"])]
    args = ["export", "mobilenetv2", *TINY_FLAGS, "--format", "tflite", "--calib", "synthetic", *sizes]
    code, out, err = run_cli([*args, "--out", str(root), "--json"], capsys)
    assert code == 0, err
    assert json.loads(out) == records  # the same options give the same (seeded) artifact and the same record


def test_predict_and_profile_return_the_cli_result(api_export, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    artifact = api_export[1][0]["path"]
    predicted = edgekit.predict(artifact, target="rpi4")
    assert predicted["source"] == "predicted" and predicted["target"] == "rpi4" and predicted["model"] == "mobilenetv2"
    code, out, err = run_cli(["profile", artifact, "--predict", "--target", "rpi4", "--no-save", "--json"], capsys)
    assert code == 0, err
    assert [_without(r, "date") for r in json.loads(out)] == [_without(predicted, "date")]
    profiled = edgekit.profile([artifact], target="rpi4", predict=True, save=False)
    assert [_without(r, "date") for r in profiled] == [_without(predicted, "date")]
    assert not Path("profiles").exists()  # save=False, as --no-save


@pytest.fixture
def graph_cache(tmp_path_factory, monkeypatch, tmp_path) -> Path:
    cache = tmp_path_factory.getbasetemp() / "api-graph-cache"  # shared by compare and recommend
    monkeypatch.setenv("EDGEKIT_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)  # ./profiles of an empty project
    return cache


def test_compare_returns_the_cli_record(graph_cache, capsys):
    edgekit.compare("mobilenetv2", target="rpi4", input_size=32)  # fills the graph cache: both runs below read it
    code, out, err = run_cli(["compare", "mobilenetv2", "--target", "rpi4", "--input-size", "32", "--json"], capsys)
    assert code == 0, err
    result = edgekit.compare(["mobilenetv2"], target="rpi4", input_size=32)
    assert [r["model"] for r in result["rows"]] == ["mobilenetv2"] and result["precision"] == "int8"
    assert _without(json.loads(out), "seconds") == _without(result, "seconds")


def test_recommend_returns_the_cli_record_and_impossible_is_a_result(graph_cache, capsys):
    args = {"target": "rpi4", "images_per_class": 300, "input_size": 32}
    result = edgekit.recommend(**args)
    assert result["strategy"] == "transfer-learning" and result["candidates"]
    code, out, err = run_cli(["recommend", "--target", "rpi4", "--images-per-class", "300", "--input-size", "32",
                              "--json"], capsys)  # fmt: skip
    assert code == 0, err
    assert json.loads(out) == result
    # No model fits: the API returns the answer naming the culprit; the command prints it and exits 2.
    impossible = edgekit.recommend(**args, max_latency=0.001)
    assert impossible["candidates"] == [] and "--max-latency" in impossible["impossible"]["constraint"]
    code, out, err = run_cli(["recommend", "--target", "rpi4", "--images-per-class", "300", "--input-size", "32",
                              "--max-latency", "0.001", "--json"], capsys)  # fmt: skip
    assert code == 2 and json.loads(out) == impossible and "no model fits on rpi4" in err
