"""The CLI surface: instant --help without heavy imports, models listing, build, one-line errors."""

import json
import subprocess
import sys
import time
from pathlib import Path

from conftest import HEAVY, imported_after, run_cli


def test_help_imports_no_heavy_library_and_is_fast():
    mods = imported_after("from edgekit.cli.app import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass")
    assert not (set(HEAVY) & mods), set(HEAVY) & mods
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "edgekit", "--help"], capture_output=True, check=True)
    assert time.perf_counter() - t0 < 5  # generous bound for a shared machine; typically ~0.3 s


def test_models_listing_imports_no_tensorflow():
    mods = imported_after(
        "from edgekit.cli.app import main\ntry:\n    main(['models', '--json'])\nexcept SystemExit:\n    pass"
    )
    assert not (set(HEAVY) & mods)


def test_models_json_contract(capsys):
    code, out, _ = run_cli(["models", "--json"], capsys)
    assert code == 0
    rows = json.loads(out)
    from edgekit.models.registry import list_models

    assert [r["name"] for r in rows] == [s.name for s in list_models()]  # the exact names: tests/test_models.py
    for r in rows:
        assert {"name", "family", "year", "params", "macs", "input_size", "use_case"} <= r.keys()
        assert r["params"] > 0 and r["macs"] > 0


def test_models_pattern_filters(capsys):
    code, out, _ = run_cli(["models", "efficientnet*", "--json"], capsys)
    assert code == 0 and {r["name"] for r in json.loads(out)} >= {"efficientnetb0", "efficientnetlite0"}
    assert all(r["name"].startswith("efficientnet") for r in json.loads(out))


def test_unknown_model_did_you_mean_exit_2(capsys):
    code, _, err = run_cli(["build", "mobilenetv3"], capsys)
    assert code == 2 and "unknown model 'mobilenetv3'; did you mean mobilenetv2?" in err
    assert "Traceback" not in err


def test_bad_input_size_one_line_exit_2(capsys, tmp_path):
    code, _, err = run_cli(["build", "inceptionv3", "--input-size", "32", "--out", str(tmp_path)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "inceptionv3" in err


def test_build_writes_keras_and_manifest(tmp_path, capsys):
    code, out, err = run_cli(
        ["build", "squeezenet11", "--input-size", "64", "--num-classes", "7", "--json", "--out", str(tmp_path)], capsys
    )
    assert code == 0, err
    rec = json.loads(out)
    folder = tmp_path / "squeezenet11" / "keras"  # --out is the export root, as in export and profile
    assert Path(rec["path"]) == folder / "squeezenet11.keras" and (folder / "manifest.json").exists()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["build"]["num_classes"] == 7 and manifest["params"] > 0
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_console_script_exit_codes():
    proc = subprocess.run([sys.executable, "-m", "edgekit", "export", "nosuchmodel"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown model")
    proc = subprocess.run([sys.executable, "-m", "edgekit", "export"], capture_output=True, text=True)
    assert proc.returncode == 2  # usage error from the parser


def _options(*path: str) -> dict[str, object]:
    """The click options of a command (by name path), keyed by each of their flags."""
    import typer

    from edgekit.cli.app import app

    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return {flag: param for param in command.params for flag in getattr(param, "opts", [])}


def test_one_vocabulary_across_commands():
    """--out is the export root in build, export and profile; --guest-runtime names the emulated guest's runtime in
    profile and emulate setup; profile and report share --profiles; profile takes --dynamic like export."""
    build, export, profile = _options("build"), _options("export"), _options("profile")
    assert build["--out"].help == export["--out"].help == profile["--out"].help
    assert "./edgekit-out" in build["--out"].help
    assert "--runtime" not in profile and "--runtime" not in _options("emulate", "setup")
    assert profile["--guest-runtime"].help == _options("emulate", "setup")["--guest-runtime"].help
    assert profile["--profiles"] is profile["--profiles-dir"] and "./profiles" in profile["--profiles"].help
    assert _options("report")["--profiles"].help == profile["--profiles"].help
    assert {"--int8", "--fp16", "--fp32", "--dynamic"} <= profile.keys() & export.keys()


def test_old_profile_runtime_option_is_a_usage_error(capsys):
    code, _, err = run_cli(["profile", "--target", "rpi4", "--emulate", "--runtime", "litert"], capsys)
    assert code == 2 and "--runtime" in err


def test_profile_dynamic_selects_the_dynamic_range_export(tmp_path, capsys):
    root = tmp_path / "out"
    tiny = "mobilenetv2 --input-size 32 --alpha 0.35 --num-classes 10 --weights none --calib-size 4 --holdout 4"
    code, _, err = run_cli(["export", *tiny.split(), "--dynamic", "--format", "tflite", "--out", str(root)], capsys)
    assert code == 0, err
    profile = ["profile", str(root / "mobilenetv2"), "--target", "rpi4", "--profiles", str(tmp_path / "p"), "--json"]
    code, out, err = run_cli([*profile, "--dynamic"], capsys)
    assert code == 0, err
    (result,) = json.loads(out)
    assert result["precision"] == "dynamic" and result["source"] == "predicted" and result["target"] == "rpi4"
    assert list((tmp_path / "p" / "rpi4").glob("mobilenetv2__tflite-dynamic*.json"))  # saved where --profiles said
    code, _, err = run_cli([*profile, "--int8"], capsys)
    assert code == 2 and "no artifact" in err  # the folder holds no int8 export: --dynamic was what selected it
    code, _, err = run_cli([*profile, "--dynamic", "--int8"], capsys)
    assert code == 2 and "choose one precision" in err


def test_console_script_without_the_cli_extra_is_one_line(tmp_path_factory):
    """The wheel installed with its base requirement only (what `pip install "edgekit[device]"` gives a board, minus
    numpy, which the launcher does not need): the `edgekit` script and `python -m edgekit` print one line, exit 1."""
    try:
        from tests._wheel import built_wheel
    except ImportError:
        from _wheel import built_wheel

    from edgekit.launcher import MISSING_LINE

    wheel = built_wheel(tmp_path_factory.getbasetemp() / "wheel")
    venv = tmp_path_factory.mktemp("bare-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index", "--no-deps"]
    subprocess.run([*install, str(wheel)], check=True, capture_output=True, timeout=300)
    probe = "import importlib.util as u; print([m for m in ('typer', 'rich', 'PIL') if u.find_spec(m)])"
    assert subprocess.run([str(python), "-c", probe], capture_output=True, text=True).stdout.strip() == "[]"
    for command in ([str(venv / "bin" / "edgekit"), "--help"], [str(python), "-m", "edgekit", "profile", "x.tflite"]):
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path_factory.getbasetemp())
        assert proc.returncode == 1 and proc.stdout == "" and proc.stderr == MISSING_LINE + "\n", (command, proc.stderr)
    assert MISSING_LINE.startswith('edgekit: the command line needs its extras: pip install "edgekit[all]"')
    assert MISSING_LINE.endswith("on a board use python -m edgekit.device") and "\n" not in MISSING_LINE
