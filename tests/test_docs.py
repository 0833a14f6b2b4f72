"""The README and docs/ name only options that exist: every `edgekit CMD ... --option` written in a code span or a
code block of README.md, CONTRIBUTING.md or docs/*.md is checked against that command's parameters in the Typer app
(the same ones `edgekit CMD --help` lists). The command table itself is generated from the app
(benchmarks/readme_evidence.py, checked by tests/test_readme_evidence.py), so it cannot drift either."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

from edgekit.cli.app import app

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
SPAN = re.compile(r"`([^`\n]+)`")
CALL = re.compile(r"(?<![\w./-])edgekit\s+([a-z][a-z-]*)((?:\s+[a-z][a-z-]*)?)(.*)")
QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
OPTION = re.compile(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)")


def commands() -> dict[str, set[str]]:
    """{'export': {'--int8', ...}, 'emulate setup': {...}} from the Typer app."""
    found: dict[str, set[str]] = {}

    def walk(prefix: str, group) -> None:
        for name, cmd in group.commands.items():
            full = f"{prefix} {name}".strip()
            if hasattr(cmd, "commands"):
                walk(full, cmd)
            else:
                found[full] = {o for p in cmd.params for o in (*p.opts, *getattr(p, "secondary_opts", []))} | {"--help"}

    walk("", typer.main.get_command(app))
    return found


def snippets(text: str) -> list[str]:
    """Code block lines and code spans: where a command is written to be typed."""
    out = [line for block in FENCE.findall(text) for line in block.splitlines()]
    prose = FENCE.sub("", text)
    return out + SPAN.findall(prose)


def calls(page: Path, known: dict[str, set[str]]) -> list[tuple[str, str, list[str]]]:
    """(snippet, command, options) for every edgekit call on a page; the options stop at a shell separator."""
    found = []
    for snippet in snippets(page.read_text()):
        for part in re.split(r"&&|;|\|\||(?<!\\)\|(?!\|)| #", snippet):
            m = CALL.search(part)
            if not m:
                continue
            name = m.group(1) + (m.group(2) if f"{m.group(1)}{m.group(2)}".strip() in known else "")
            name = " ".join(name.split())
            if name not in known:
                continue  # prose such as `edgekit fit` is checked; `edgekit is ...` never appears in code
            rest = QUOTED.sub(
                "", m.group(3)
            )  # a quoted argument's own flags (--power-cmd "meter --watts") are not ours
            found.append((snippet, name, OPTION.findall(rest)))
    return found


def test_the_pages_name_commands():
    known = commands()
    assert sum(len(calls(p, known)) for p in PAGES) > 30, "the checker found too few commands: is its regex broken?"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_option_the_page_names_exists(page):
    known = commands()
    wrong = [
        f"`edgekit {name}` has no {opt}: {snippet.strip()[:100]}"
        for snippet, name, options in calls(page, known)
        for opt in options
        if opt not in known[name]
    ]
    assert not wrong, "\n".join(wrong)


def test_an_unknown_option_is_caught(tmp_path):
    """The checker itself can fail: a page naming `--devices` for profile is reported."""
    page = tmp_path / "page.md"
    page.write_text("Run `edgekit profile model.tflite --devices NPU`.\n")
    known = commands()
    found = calls(page, known)
    assert found == [("edgekit profile model.tflite --devices NPU", "profile", ["--devices"])]
    assert "--devices" not in known["profile"]
