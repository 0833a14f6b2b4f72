"""A format is one module: a dummy format added to the table is exported, listed, profiled and analysed.

The dummy (tests/_dummy_format.py) is real ONNX under another name and suffix; every step below finds it only
through the formats table, so a step that still keeps its own list of format names or suffixes fails here.
"""

from __future__ import annotations

import importlib
import io
import json
import pkgutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from conftest import run_cli

import edgekit.exporting.formats
from edgekit.cli.app import main
from edgekit.exporting.base import TIMING_BACKENDS
from edgekit.exporting.formats import format_modules, format_of_suffix, formats, package_format_modules

DUMMY = "dummyonnx"
TINY_FP32 = "export mobilenetv2 --input-size 32 --alpha 0.35 --num-classes 10 --calib-size 8 --holdout 4 --fp32"


@pytest.fixture
def dummy_format(monkeypatch):
    """The formats table with tests/_dummy_format.py added, as a new module of edgekit/exporting/formats/ would be."""
    monkeypatch.setattr(edgekit.exporting.formats, "EXTRA_FORMAT_MODULES", ("_dummy_format",))
    return formats()[DUMMY]


@pytest.fixture(scope="module")
def dummy_export(tmp_path_factory) -> dict:
    """`edgekit export --format dummyonnx` of a tiny MobileNetV2, once for this module (the table patched for it)."""
    out = tmp_path_factory.mktemp("dummy-export")
    args = [*TINY_FP32.split(), "--format", DUMMY, "--out", str(out), "--json"]
    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp, redirect_stdout(stdout), redirect_stderr(stderr):
        mp.setattr(edgekit.exporting.formats, "EXTRA_FORMAT_MODULES", ("_dummy_format",))
        code = _exit_code(main, args)
    assert code == 0, stderr.getvalue()
    (record,) = json.loads(stdout.getvalue())
    return record


def _exit_code(main, args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def test_every_format_module_is_in_the_table():
    """Every module of edgekit/exporting/formats/ with a FORMAT row is in the table, and nothing else is."""
    with_rows = set()
    for info in pkgutil.iter_modules(edgekit.exporting.formats.__path__):
        module = importlib.import_module(f"edgekit.exporting.formats.{info.name}")
        if hasattr(module, "FORMAT"):
            with_rows.add(module.__name__)
    assert with_rows == set(format_modules())
    rows = formats()
    assert len(rows) == len(format_modules())  # no two modules share a name
    from edgekit.device import runtimes

    assert set(runtimes.default_runtimes()) == set(TIMING_BACKENDS)  # every runtime a row may name, the device runs
    for row in rows.values():
        assert row.timing in TIMING_BACKENDS and row.precisions and row.file_endings
        assert all(format_of_suffix(f"model{e}") == row.name for e in row.file_endings)


def test_a_module_dropped_into_the_package_is_a_format(tmp_path, monkeypatch):
    """Adding a format is one file: the dummy's module copied into the package's folder needs no other edit."""
    source = Path(__file__).with_name("_dummy_format.py").read_text()
    (tmp_path / "dnx.py").write_text(source)
    monkeypatch.setattr(edgekit.exporting.formats, "__path__", [*edgekit.exporting.formats.__path__, str(tmp_path)])
    package_format_modules.cache_clear()
    try:
        assert "edgekit.exporting.formats.dnx" in format_modules()
        assert DUMMY in formats() and format_of_suffix("model.dnx") == DUMMY
    finally:
        monkeypatch.undo()
        package_format_modules.cache_clear()
    assert DUMMY not in formats()  # the control: gone with its folder


def test_the_dummy_is_unknown_without_its_module(capsys, tmp_path):
    """The control: without the fixture the same command is refused, so the tests below are not vacuous."""
    code, _, err = run_cli([*TINY_FP32.split(), "--format", DUMMY, "--out", str(tmp_path)], capsys)
    assert code == 2 and f"unknown format '{DUMMY}'" in err
    assert format_of_suffix("model.dnx") is None


def test_listed(dummy_format, capsys):
    code, out, err = run_cli(["formats", "--json"], capsys)
    assert code == 0, err
    listed = {r["name"]: r for r in json.loads(out)}
    assert list(listed) == list(formats()) and DUMMY in listed
    assert listed[DUMMY]["suffixes"] == [".dnx"] and listed[DUMMY]["timing"] == "onnxruntime"
    assert listed[DUMMY]["module"] == "_dummy_format"
    from edgekit.exporting.options import ExportOptions
    from edgekit.exporting.source import resolve_formats

    assert DUMMY in resolve_formats(ExportOptions(model="mobilenetv2", formats=("all",)))
    assert DUMMY not in resolve_formats(ExportOptions(model="mobilenetv2"))  # default=False is honoured


def test_exported_with_its_manifest(dummy_export):
    assert dummy_export["status"] == "ok" and dummy_export["format"] == DUMMY
    path = Path(dummy_export["path"])
    assert path.name == "model.dnx" and path.parent.name == f"{DUMMY}-fp32"
    assert dummy_export["fidelity"]["cosine"] > 0.9999  # ONNX Runtime ran it through the row's loader
    manifest = json.loads(Path(dummy_export["manifest"]).read_text())
    assert manifest["format"] == DUMMY and manifest["files"][0]["path"] == "model.dnx"
    assert manifest["input"]["shape"] == [1, 32, 32, 3]  # the row's io_details read the file


def test_profiled_on_the_host(dummy_format, dummy_export, capsys):
    """The CLI finds the file by the table's suffixes and the worker times it with the row's backend."""
    folder = str(Path(dummy_export["path"]).parent)
    args = ["profile", folder, "--target", "host", "--runs", "3", "--min-seconds", "0.05", "--warmup", "1"]
    code, out, err = run_cli([*args, "--no-save", "--json"], capsys)
    assert code == 0, err
    (result,) = json.loads(out)
    assert result["status"] == "ok" and result["source"] == "measured" and result["format"] == DUMMY
    assert result["runtime"]["name"] == "onnxruntime" and result["latency_ms"]["median"] > 0
    assert result["precision_detected"] == "fp32"


def test_analysed_and_accepted_by_the_target_schema(dummy_format, dummy_export):
    from edgekit.analyze import load_graph
    from edgekit.exporting.artifacts import find_model_file
    from edgekit.hardware.targets import parse_target, read_toml, targets_dir

    path = Path(dummy_export["path"])
    graph = load_graph(path)
    assert graph.format == "onnx" and graph.macs > 0  # the row's reader: real ONNX inside
    assert find_model_file(path.parent)[1] == DUMMY
    data = read_toml(targets_dir() / "host.toml")
    data["runtime"]["formats"] = [*data["runtime"]["formats"], DUMMY]
    assert DUMMY in parse_target(data, "host.toml").formats
