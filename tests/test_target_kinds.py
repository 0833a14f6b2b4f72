"""A target kind is one module: the schema accepts exactly the kinds cost-model modules declare, predict dispatches to
a new one without any other edit, no kind name is special-cased outside its own module, and the cost model's
modules import each other without a cycle."""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

import pytest

import edgekit.costmodel
from edgekit.analyze import Graph
from edgekit.costmodel import kinds
from edgekit.costmodel.predict import predict_graph
from edgekit.errors import UsageError
from edgekit.hardware import targets

ROOT = Path(__file__).resolve().parent.parent
TOY = '''
"""A throwaway target kind for tests: a fixed latency."""

KIND = "toy"
LABEL = "Toy"


def predict(graph, target, request):
    return {"total_ms": 2.0, "costs": [], "split": None, "fallback_ops": None, "busy": {}, "basis": "toy model",
            "device": "toy device"}
'''


@pytest.fixture
def toy_kind(tmp_path, monkeypatch):
    """edgekit.costmodel grown by one module (in a temporary folder on its __path__) and a targets folder with a
    target of that kind; the registry and the target cache forget both afterwards."""
    package = tmp_path / "plugins"
    package.mkdir()
    (package / "toykind_for_tests.py").write_text(TOY)
    monkeypatch.setattr(edgekit.costmodel, "__path__", [*edgekit.costmodel.__path__, str(package)])
    folder = tmp_path / "targets"
    folder.mkdir()
    shutil.copy(targets.targets_dir() / "rpi4.toml", folder / "rpi4.toml")
    toml = (targets.targets_dir() / "rpi4.toml").read_text()
    (folder / "toy-board.toml").write_text(toml.replace('id = "rpi4"', 'id = "toy-board"').replace(
        'kind = "cpu"', 'kind = "toy"'))  # fmt: skip
    monkeypatch.setenv("EDGEKIT_TARGETS_DIR", str(folder))
    kinds.kind_modules.cache_clear()
    targets._cached_targets.cache_clear()
    yield folder
    kinds.kind_modules.cache_clear()
    targets._cached_targets.cache_clear()
    sys.modules.pop("edgekit.costmodel.toykind_for_tests", None)


def test_the_schema_accepts_exactly_the_declared_kinds():
    declared = {m.KIND for m in kinds.kind_modules().values()}
    assert declared == {"cpu", "edgetpu", "npu"} == set(targets.target_kinds())
    assert set(targets.accelerator_kinds()) == {k for k in declared if kinds.hook(k, "ACCELERATOR")}
    data = targets.read_toml(targets.targets_dir() / "rpi4.toml")
    with pytest.raises(UsageError, match="field 'kind' 'toy' is not one of"):
        targets.parse_target({**data, "kind": "toy"}, "rpi4.toml")


def test_a_new_kind_is_one_module(toy_kind):
    assert "toy" in targets.target_kinds()
    board = targets.load_targets()["toy-board"]
    assert board.kind == "toy" and targets.get_target("toy-board") == board
    graph = Graph(str(toy_kind / "model.tflite"), "tflite", (), (), (), "int8", ())
    result = predict_graph(graph, board, allow_any_format=True)
    assert result["latency_ms"]["median"] == 2.0 and result["runtime"]["device"] == "toy device"
    assert result["basis"].startswith("toy model")
    assert kinds.fitted_target(board, {"accelerator": {}}, "x", "int8") == board  # default hooks: nothing fitted


def test_an_unknown_kind_is_one_line():
    with pytest.raises(UsageError, match="target kind 'bogus' has no cost model"):
        kinds.kind_module("bogus")


def _kind_literals(node: ast.AST) -> list[str]:
    values = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
    return [v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)]


def _is_kind(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "kind") or (
        isinstance(node, ast.Name) and node.id == "kind"
    )


def test_no_kind_is_special_cased_outside_its_module():
    """`.kind == "<kind>"` comparisons and kind-keyed dicts appear only in that kind's module (format names such as
    the "edgetpu" export are another thing and are not scanned)."""
    names = set(kinds.kind_names())
    found = []
    for path in sorted((ROOT / "edgekit").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        own = {m.KIND for m in kinds.kind_modules().values() if Path(m.__file__ or "").resolve() == path.resolve()}
        for node in ast.walk(ast.parse(path.read_text())):
            used: list[str] = []
            if isinstance(node, ast.Compare) and any(_is_kind(n) for n in (node.left, *node.comparators)):
                used = [s for n in (node.left, *node.comparators) for s in _kind_literals(n)]
            elif isinstance(node, ast.Dict):
                keys = [k for key in node.keys if key is not None for k in _kind_literals(key)]
                used = keys if len(set(keys) & names) >= 2 else []
            found += [f"{rel}:{node.lineno} {s}" for s in used if s in names - own]
    assert not found, found
