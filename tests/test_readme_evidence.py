"""README.md's evidence blocks agree with the JSON under benchmarks/results/ (benchmarks/readme_evidence.py).

The generator runs as a subprocess, exactly as a developer runs it; it imports no heavy library, so each call is fast.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "readme_evidence.py"
README = REPO / "README.md"
RESULTS = REPO / "benchmarks" / "results"
BLOCK = re.compile(r"<!-- evidence:([\w.-]+) -->\n(.*?)<!-- /evidence:\1 -->", re.S)


def evidence(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=60
    )


def test_readme_agrees_with_the_results_json():
    assert BLOCK.search(README.read_text()), "README.md has no evidence block"
    proc = evidence("--check")
    assert proc.returncode == 0, f"README.md and benchmarks/results/ disagree:\n{proc.stdout}{proc.stderr}"


def tampered_copy(tmp_path: Path) -> tuple[Path, str, str]:
    """README copied to tmp_path with the first figure of the first block changed; (path, original, old figure)."""
    text = README.read_text()
    with_figures = [(m, f) for m in BLOCK.finditer(text) if (f := re.search(r"\d+\.\d+", m.group(2)))]
    assert with_figures, "no evidence block of README.md shows a figure"
    m, figure = with_figures[0]
    body_start = m.start(2)
    start, end = body_start + figure.start(), body_start + figure.end()
    old = figure.group(0)
    new = str(round(float(old) + 1, len(old.split(".")[1])))
    copy = tmp_path / "README.md"
    copy.write_text(text[:start] + new + text[end:])
    return copy, text, old


def test_a_changed_figure_fails_the_check_and_is_regenerated(tmp_path):
    copy, original, old = tampered_copy(tmp_path)
    proc = evidence("--check", "--readme", copy)
    assert proc.returncode == 1
    assert "generated blocks differ from their sources" in proc.stdout
    assert any(line.startswith("+") and old in line for line in proc.stdout.splitlines()), proc.stdout
    # regenerating puts the JSON's figure back, byte for byte
    assert evidence("--readme", copy).returncode == 0
    assert copy.read_text() == original


def test_a_rerun_benchmark_makes_the_readme_stale(tmp_path):
    """Change the JSON instead of the README (a benchmark was rerun): the check says the README is stale."""
    results = tmp_path / "results"
    shutil.copytree(RESULTS, results)
    text = README.read_text()
    shown = {m.group(1) for m in BLOCK.finditer(text)}
    # `--list`: "name  file[, file...]" or "name  (from the code)"; one-file blocks under benchmarks/results/
    listed = [line.split(None, 1) for line in evidence("--list").stdout.splitlines()]
    files = [rest.strip() for name, rest in listed if name in shown and "," not in rest and "/" not in rest
             and "(from the code)" not in rest]  # fmt: skip
    # a block that prints its results file's date (a block may show per-row dates instead)
    paths = [results / f for f in files]
    path = next(p for p in paths if json.loads(p.read_text()).get("date", "?") in text)
    path.write_text(path.read_text().replace('"date": "', '"date": "1999-01-01 was ', 1))
    proc = evidence("--check", "--results", results)
    assert proc.returncode == 1
    assert "1999-01-01 was" in proc.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- evidence:no-such-block -->\nx\n<!-- /evidence:no-such-block -->\n", "no renderer registered"),
        ("<!-- evidence:fit -->\nnever closed\n", "without its"),
    ],
)
def test_bad_markers_are_one_line_errors(tmp_path, text, message):
    readme = tmp_path / "README.md"
    readme.write_text(text)
    proc = evidence("--check", "--readme", readme)
    assert proc.returncode == 2
    assert message in proc.stdout and "Traceback" not in proc.stdout + proc.stderr
    assert readme.read_text() == text


def test_a_missing_results_file_is_named(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- evidence:benchmark-app -->\nold\n<!-- /evidence:benchmark-app -->\n")
    proc = evidence("--readme", readme, "--results", tmp_path)
    assert proc.returncode == 2
    assert "benchmark-app.json is missing" in proc.stdout
    assert readme.read_text().endswith("old\n<!-- /evidence:benchmark-app -->\n")  # nothing half-written


def test_the_sequential_export_switch(monkeypatch):
    """EDGEKIT_EXPORT_SEQUENTIAL=1 (what benchmarks/export_speed.py --sequential sets) turns the side process off."""
    from edgekit.exporting.options import ExportOptions

    assert ExportOptions(model="mobilenetv2").parallel
    monkeypatch.setenv("EDGEKIT_EXPORT_SEQUENTIAL", "1")
    assert not ExportOptions(model="mobilenetv2").parallel
    monkeypatch.setenv("EDGEKIT_EXPORT_SEQUENTIAL", "0")
    assert ExportOptions(model="mobilenetv2").parallel
