"""The package's structure: an import graph without cycles, modules of readable size, light modules at the top.

The graph counts every `import` of an edgekit module wherever it stands (module level, inside functions, under
TYPE_CHECKING): a cycle hidden inside a function is still a cycle for a reader. A registry that loads its plugins
with importlib (the formats table, the model families, the cost models' kinds) draws no edge, which is the one loop
allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "edgekit"
MAX_LINES = 500


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported_modules(path: Path, known: set[str]) -> set[str]:
    """The edgekit modules a file imports (a name imported from a package counts as its submodule when it is one)."""
    tree = ast.parse(path.read_text())
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("edgekit"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            if not base.startswith("edgekit"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m in known and m != this}


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    return {name: imported_modules(path, set(mods)) for name, path in mods.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_import_graph_has_no_cycle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_graph_sees_imports_inside_functions(tmp_path):
    """The test above could not fail if function-level imports were invisible to it: check they are seen."""
    mods = modules()
    text = "def f():\n    from edgekit.errors import UsageError\n    import edgekit.console\n"
    probe = PACKAGE / "exporting" / "_layout_probe.py"
    try:
        probe.write_text(text)
        assert imported_modules(probe, set(mods) | {"edgekit.exporting._layout_probe"}) == {
            "edgekit.errors",
            "edgekit.console",
        }
    finally:
        probe.unlink()
    assert find_cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]


def test_no_module_over_500_lines():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_top_level_holds_the_face_and_small_helpers():
    """The pipeline is in the package names: only the API face and shared helpers sit flat in edgekit/."""
    flat = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert flat == sorted(
        [
            "__init__",
            "__main__",
            "_version",
            "api",
            "console",
            "errors",
            "ioutil",
            "launcher",
            "procfs",
            "quiet",
            "safety",
        ]
    ), flat
