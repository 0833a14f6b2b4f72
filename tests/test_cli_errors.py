"""Every usage error is one line and exit 2, Typer's own (bad values, unknown commands and options, missing
arguments) as much as edgekit's; one cause gives one exit code whatever the command. None of these loads TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import run_cli

from edgekit.errors import UsageError


@pytest.fixture
def damaged(tmp_path) -> Path:
    """A .tflite file holding random bytes (seeded): what a broken download looks like."""
    import numpy as np

    path = tmp_path / "damaged.tflite"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


def _lines(out: str, err: str) -> list[str]:
    return [line for line in (out + err).splitlines() if line.strip()]


# (arguments, exit code, text the one line holds). "{damaged}" and "{tmp}" are filled in per test.
CASES = [
    (["build", "mobilenetv2", "--input-size", "4"], 2, "'--input-size'"),
    (["build", "mobilenetv2", "--input-size", "abc"], 2, "'--input-size'"),
    (["exprot", "mobilenetv2"], 2, "unknown command 'exprot'; did you mean export?"),
    (["bogus"], 2, "unknown command 'bogus' (see 'edgekit --help')"),
    (["build"], 2, "missing argument"),
    (["models", "--bogus"], 2, "no such option: --bogus"),
    (["profile", "--bogus-option"], 2, "no such option"),
    (["train", "mobilenetv2"], 2, "'--data'"),
    (["emulate", "setup", "--arch"], 2, "requires an argument"),
    (["targets", "extra"], 2, "unexpected extra argument"),
    (["profile", "--runs", "0"], 2, "'--runs'"),
    (["export", "mobilenetv2", "--max-accuracy-drop", "abc"], 2, "'--max-accuracy-drop'"),
    (["models", "resnet18"], 2, "did you mean resnet (an alias of resnet50)?"),
    (["build", "resnet18"], 2, "did you mean resnet (an alias of resnet50)?"),
    (["export", "mobilenetv3"], 2, "did you mean mobilenetv2?"),
    (["report", "--profiles", "/nonexistent"], 2, "no profiles folder /nonexistent"),
    (["export", "mobilenetv2", "--format", "coreml"], 2, "unknown format 'coreml' (valid: tflite, onnx, openvino"),
    (["profile", "mobilenetv2", "--format", "coreml"], 2, "unknown format 'coreml' (valid: tflite, onnx"),
    (["export", "mobilenetv2", "--int8", "--fp16"], 2, "choose one precision"),
    (["export", "mobilenetv2", "--io", "int4"], 2, "--io must be int8 or float"),
    (["profile", "mobilenetv2", "--target", "rpi9"], 2, "did you mean rpi"),
    (["profile", "{damaged}", "--target", "rpi4", "--profiles", "{tmp}"], 2, "damaged.tflite"),
    (["profile", "{damaged}", "--target", "host", "--profiles", "{tmp}", "--runs", "1"], 2, "damaged.tflite"),
]


@pytest.mark.parametrize("args, code, text", CASES, ids=[" ".join(c[0][:3]) for c in CASES])
def test_bad_input_is_one_line(args, code, text, damaged, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing a refused command might write lands in the checkout
    args = [a.format(damaged=damaged, tmp=tmp_path / "profiles") for a in args]
    got, out, err = run_cli(args, capsys)
    lines = _lines(out, err)
    assert got == code and len(lines) == 1, (got, out, err)
    assert lines[0].startswith("error: ") and text in lines[0], lines[0]
    assert not list(tmp_path.rglob("*.json"))  # bad input leaves no result behind, failed or not


def test_damaged_file_has_one_message_measured_and_predicted(damaged, tmp_path, capsys):
    """The same file, the same cause: one exit code and the same line, predicted (rpi4) or measured (host)."""
    lines = []
    for target in ("rpi4", "host"):
        code, out, err = run_cli(["profile", str(damaged), "--target", target, "--profiles", str(tmp_path)], capsys)
        assert code == 2, err
        lines.append(_lines(out, err)[0])
    assert lines[0] == lines[1] == "error: damaged.tflite is not a TFLite flatbuffer (no TFL3 identifier)"


def test_help_version_and_bare_command_still_work(capsys):
    code, out, _ = run_cli(["models", "--help"], capsys)
    assert code == 0 and "--json" in out
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and out.startswith("edgekit ")
    code, out, err = run_cli([], capsys)  # no command: the help, exit 2 (click's convention)
    assert code == 2 and "models" in out + err


def test_debug_env_shows_the_exception(monkeypatch, capsys):
    monkeypatch.setenv("EDGEKIT_DEBUG", "1")
    with pytest.raises(UsageError, match="resnet50"):
        run_cli(["models", "resnet18"], capsys)
    assert os.environ["EDGEKIT_DEBUG"] == "1"


def test_models_lists_aliases(capsys):
    code, out, _ = run_cli(["models", "resnet"], capsys)
    assert code == 0 and "resnet50" in out and "aliases" in out and "resnet, " in out


def test_seed_means_one_thing_and_ensemble_help_matches_its_default():
    import typer

    from edgekit.cli.app import app

    group = typer.main.get_command(app)

    def option(command: str, flag: str):
        return next(p for p in group.commands[command].params if flag in p.opts)

    helps = {option(c, "--seed").help for c in ("build", "export", "profile")}
    assert len(helps) == 1 and "random weights" in helps.pop()
    weights = option("ensemble", "--weights")
    assert weights.default == "none" and weights.help.startswith("For members given by name: none")
