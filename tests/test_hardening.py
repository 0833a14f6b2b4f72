"""Hardening (issue 15): code in .keras files, loader version floors, errors that name their cause, names and paths,
SIGKILL at random moments, a full disk, concurrent writers, byte-identical exports.

Everything here runs the real code paths: real Keras archives (the Lambda one is first shown to run its code when
Keras is asked to load it unsafely), real processes killed with SIGKILL, a real tmpfs (or RLIMIT_FSIZE where mount is
not allowed), real TFLite/ONNX conversions.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest
import tomllib
from conftest import run_cli

from edgekit.errors import EdgekitError, UsageError
from edgekit.results.record import base_result
from edgekit.results.store import load_results_with_problems, save_result
from edgekit.safety import SECURITY_FLOORS, check_floor, check_keras_file, check_name

ROOT = Path(__file__).resolve().parents[1]
SEED = int(os.environ.get("EDGEKIT_HARDENING_SEED", "15"))


def _python(code: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, **kw)


# --------------------------------------------------------------------------------------------- code in .keras files
@pytest.fixture(scope="module")
def clean_keras(tmp_path_factory) -> Path:
    """A real edgekit model saved by Keras: the base every hostile archive below is made from."""
    from edgekit.models.registry import create_model

    path = tmp_path_factory.mktemp("clean") / "clean.keras"
    create_model("mobilenetv2", 32, 4, 0.35, "none").save(path)
    return path


def _rewrite(src: Path, dst: Path, edit_config=None, extra: dict[str, bytes] | None = None) -> Path:
    """Copy a .keras archive, changing its config.json and/or adding members."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json" and edit_config is not None:
                config = json.loads(data)
                edit_config(config)
                data = json.dumps(config).encode()
            zout.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return dst


def _set_activation(obj) -> callable:
    """An editor that replaces the last Dense layer's activation with obj."""

    def edit(config):
        dense = [layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense"][-1]
        dense["config"]["activation"] = obj

    return edit


def test_clean_models_pass(clean_keras):
    check_keras_file(clean_keras)  # no exception: edgekit's own models are not refused


def test_lambda_bytecode_is_refused_and_never_runs(tmp_path, capsys):
    marker = tmp_path / "lambda-ran"
    evil = tmp_path / "evil.keras"
    build = _python(
        f"""
        import keras
        fn = eval("lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), x)[1]")
        inputs = keras.Input((32, 32, 3))
        x = keras.layers.Lambda(fn)(inputs)
        x = keras.layers.GlobalAveragePooling2D()(x)
        keras.Model(inputs, keras.layers.Dense(4)(x)).save({str(evil)!r})
        """
    )
    assert build.wait(timeout=300) == 0
    marker.unlink()  # building the model ran the lambda once
    # Proof the archive carries code: Keras, told to load it unsafely, runs it.
    unsafe = _python(
        f"""
        import keras
        keras.config.enable_unsafe_deserialization()
        keras.models.load_model({str(evil)!r}, safe_mode=False)
        """
    )
    assert unsafe.wait(timeout=300) == 0 and marker.read_text() == "ran"
    marker.unlink()

    code, _, err = run_cli(["export", str(evil), "--format", "tflite", "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "Lambda" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1
    assert not marker.exists() and not (tmp_path / "out" / "evil").exists()


HOSTILE_OBJECTS = {
    "foreign-module": {"module": "os", "class_name": "system", "config": "touch MARKER", "registered_name": "system"},
    "arbitrary-class": {"module": "subprocess", "class_name": "Popen", "config": {"args": ["touch", "MARKER"]}},
    "safe-mode-off": {"module": "keras.config", "class_name": "enable_unsafe_deserialization", "config": {}},
    "keras-gadget": {"module": "keras.utils", "class_name": "get_file", "config": {"origin": "file:///MARKER"}},
    "builtin-function": {"module": "builtins", "class_name": "function", "config": "eval", "registered_name": "f"},
    "torch-wrapper": {"module": "keras.layers", "class_name": "TorchModuleWrapper", "config": {}},
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_OBJECTS))
def test_hostile_configs_are_refused_before_keras_reads_them(kind, clean_keras, tmp_path, monkeypatch):
    marker = tmp_path / "MARKER"
    obj = json.loads(json.dumps(HOSTILE_OBJECTS[kind]).replace("MARKER", str(marker)))
    evil = _rewrite(clean_keras, tmp_path / f"{kind}.keras", _set_activation(obj))
    import keras

    def never(*args, **kwargs):
        raise AssertionError("Keras was asked to load a refused file")

    monkeypatch.setattr(keras.models, "load_model", never)
    from edgekit.exporting.options import ExportOptions
    from edgekit.exporting.source import load_keras_file

    with pytest.raises(UsageError, match="refusing to load") as refused:
        load_keras_file(evil, ExportOptions(model=str(evil)))
    assert kind.split("-")[0] in refused.value.message.lower() or obj["class_name"] in refused.value.message
    assert not marker.exists()


@pytest.mark.parametrize(
    "member, why",
    [
        ("../escaped.txt", "outside the archive"),
        ("/tmp/absolute.txt", "outside the archive"),
        ("assets/../../escaped.txt", "outside the archive"),
        ("payload.py", "unexpected archive member"),
    ],
)
def test_archive_members_outside_are_refused(member, why, clean_keras, tmp_path):
    evil = _rewrite(clean_keras, tmp_path / "members.keras", extra={member: b"print('ran')"})
    with pytest.raises(UsageError, match=why):
        check_keras_file(evil)
    with pytest.raises(UsageError, match=why):
        check_keras_file(evil, config=False)  # --weights FILE.keras: the same archive checks
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_symlink_members_and_zip_bombs_are_refused(clean_keras, tmp_path):
    link = _rewrite(clean_keras, tmp_path / "link.keras")
    with zipfile.ZipFile(link, "a") as z:
        info = zipfile.ZipInfo("assets/passwd")
        info.external_attr = (0o120777 << 16) | 0
        z.writestr(info, "/etc/passwd")
    with pytest.raises(UsageError, match="symbolic link"):
        check_keras_file(link)
    bomb = _rewrite(clean_keras, tmp_path / "bomb.keras", extra={"assets/zeros": bytes(64 << 20)})
    with pytest.raises(UsageError, match="expands"):
        check_keras_file(bomb)
    with pytest.raises(UsageError, match="not a .keras"):
        check_keras_file(_write(tmp_path / "junk.keras", b"PK\x03\x04 not really"))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _floor_of(requirement: str) -> tuple[int, ...] | None:
    """The lowest version a requirement allows (== or >=), None when it sets no lower bound."""
    match = re.search(r"(==|>=|~=)\s*([0-9][0-9.]*)", requirement)
    return tuple(int(p) for p in match.group(2).split(".")) if match else None


def test_loader_pins_stay_at_or_above_their_security_floors(monkeypatch):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    from importlib.metadata import version

    for package, floor in SECURITY_FLOORS.items():
        floor_t = tuple(int(p) for p in floor.split("."))
        pins = [r for r in requirements if re.match(rf"^{package}\s*[=<>~!]", r)]
        assert pins, f"pyproject.toml does not pin {package} (floor {floor})"
        for pin in pins:
            assert _floor_of(pin) and _floor_of(pin) >= floor_t, f"{pin!r} allows {package} below {floor}"
        installed = tuple(int(p) for p in re.findall(r"\d+", version(package))[:3])
        assert installed >= floor_t, f"installed {package} {version(package)} is below its floor {floor}"
    # and the runtime check refuses an older loader
    monkeypatch.setattr("edgekit.safety.version", lambda name: "3.13.2")
    with pytest.raises(EdgekitError, match="keras >= 3.14.0"):
        check_floor("keras")


# ------------------------------------------------------------------------------------------ errors name their cause
@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory) -> Path:
    """A real (tiny, fp32) TFLite model converted by TensorFlow."""
    import keras
    import tensorflow as tf

    inputs = keras.Input((16, 16, 3), batch_size=1)
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))
    path = tmp_path_factory.mktemp("tflite") / "tiny.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


def test_emulation_without_userland_or_qemu_names_the_cause(tiny_tflite, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))  # no emulated userland here
    monkeypatch.setenv("PATH", str(tmp_path))  # and no qemu on PATH
    profiles = tmp_path / "profiles"
    args = ["profile", str(tiny_tflite), "--target", "rpi4", "--emulate", "--profiles-dir", str(profiles)]
    code, _, err = run_cli(args, capsys)
    assert code == 1 and "emulate setup" in err and "refusing to save" not in err and "Traceback" not in err
    assert load_results_with_problems(profiles)[0] == []  # a failed run is no result: kept apart, under failed/
    (saved,) = load_results_with_problems(profiles, failed=True)[0]
    assert saved["status"] == "failed" and saved["source"] == "emulated" and "emulate setup" in saved["error"]
    code, _, err = run_cli(["emulate", "setup", "--dir", str(tmp_path / "emu")], capsys)
    assert code == 1 and "qemu" in err and "install" in err and "Traceback" not in err


def test_a_runtime_killed_by_a_signal_is_named_with_the_file(tiny_tflite, tmp_path):
    """The measuring subprocess dies of SIGSEGV (sent to it from here): the CLI says which file and which signal."""
    cmd = [sys.executable, "-m", "edgekit", "profile", str(tiny_tflite), "--target", "host", "--runs", "100000"]
    cmd += ["--min-seconds", "600", "--profiles-dir", str(tmp_path / "profiles")]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    worker = _wait_for_runtime(proc.pid, timeout=120)
    time.sleep(1.0)
    os.kill(worker, signal.SIGSEGV)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "tiny.tflite" in err and re.search(r"SIGSEGV|signal 11", err), err
    assert "Traceback" not in err


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _wait_for_runtime(pid: int, timeout: float) -> int:
    """The measuring runtime among pid's descendants (it runs under a small shell, see profile/measure.py)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        todo = _children(pid)
        while todo:
            child = todo.pop()
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            args = cmdline.split(b"\0")
            if b"python" in args[0] and (b"edgekit.device" in args or b"edgekit.measure._worker" in args):
                return child
            todo += _children(child)
        time.sleep(0.1)
    raise AssertionError("the profiler never started its measuring subprocess")


# ------------------------------------------------------------------------------------------------- names and paths
@pytest.mark.parametrize("name", ["../up", "a/b", "-rf", "x;rm -rf ~", "a\nb", "$(id)", ".hidden", "`id`", ""])
def test_hostile_names_never_become_paths(name, tmp_path, capsys):
    with pytest.raises(UsageError):
        check_name(name)
    from edgekit.exporting.options import artifact_dir

    with pytest.raises(UsageError):
        artifact_dir(tmp_path, name, "tflite", "fp32")  # a name from a foreign manifest cannot climb out
    result = dict(base_result("host", name or "x", "tflite", "fp32", "measured"), host={"hostname": name})
    path = save_result(result, tmp_path / "profiles")
    assert path.resolve().is_relative_to((tmp_path / "profiles").resolve())
    assert re.fullmatch(r"[A-Za-z0-9_+][A-Za-z0-9._+-]*", path.name) and path.parent.name == "host"


@pytest.mark.parametrize("stem", ["-rf", "a;b", "x$(id)"])
def test_export_refuses_hostile_file_names_fast(stem, tmp_path, capsys):
    model = tmp_path / f"{stem}.keras"
    model.write_bytes(b"whatever")
    code, _, err = run_cli(["export", "--out", str(tmp_path / "out"), "--", str(model)], capsys)
    assert code == 2 and "not usable in a file name" in err and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["export", "profile"])
def test_folders_with_control_characters_are_refused(command, tmp_path, capsys):
    folder = tmp_path / "out\nerror: forged line"
    args = ["export", "mobilenetv2", "--out", str(folder)] if command == "export" else ["profile", "mobilenetv2"]
    if command == "profile":
        args += ["--target", "rpi4", "--profiles-dir", str(folder)]
    code, _, err = run_cli(args, capsys)
    assert code == 2 and "control character" in err and not folder.exists()


@pytest.mark.parametrize("host", ["-oProxyCommand=touch x", "a;b", "a\nb", "../x", "$(id)@h", "h/../x"])
def test_hostile_ssh_hosts_are_refused(host):
    ssh = pytest.importorskip("edgekit.measure.ssh")
    with pytest.raises(UsageError):
        ssh.parse_host(host)


# --------------------------------------------------------------------------------------- interruption and full disk
FOLDER_WRITER = """
import hashlib, json, os, sys
from pathlib import Path
from edgekit.ioutil import atomic_dir
final, version = Path(sys.argv[1]), int(sys.argv[2])
while True:
    version += 1
    with atomic_dir(final) as tmp:
        data = os.urandom(1 << 20) + str(version).encode()
        (tmp / "model.tflite").write_bytes(data)
        manifest = {"version": version, "files": [{"path": "model.tflite", "sha256": hashlib.sha256(data).hexdigest()}]}
        (tmp / "manifest.json").write_text(json.dumps(manifest))
    print(version, flush=True)
"""


def _check_artifact(folder: Path) -> int:
    """The folder's manifest matches its files; returns its version. Reads through one handle on the folder, as a
    reader racing a writer must (a path looked up twice may meet two versions, each of them complete)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:

        def read(name: str) -> bytes:
            with open(os.open(name, os.O_RDONLY, dir_fd=fd), "rb") as f:
                return f.read()

        names = os.listdir(fd)
        if not names:
            raise FileNotFoundError(folder)  # swapped out and being removed (rmtree) before we looked
        manifest = json.loads(read("manifest.json"))
        for f in manifest["files"]:
            assert hashlib.sha256(read(f["path"])).hexdigest() == f["sha256"]
        listed = ["manifest.json", *(f["path"] for f in manifest["files"])]
        assert sorted(names) == sorted(listed)
    finally:
        os.close(fd)
    return manifest["version"]


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_sigkill_while_replacing_artifacts_never_leaves_a_partial_one(tmp_path):
    """24 seeded trials: a writer replacing an artifact folder is SIGKILLed at a random moment."""
    rng = random.Random(SEED)
    print(f"seed {SEED} (EDGEKIT_HARDENING_SEED to reproduce)")
    final = tmp_path / "mobilenetv2" / "tflite-int8"
    version = 0
    for _ in range(24):
        proc = subprocess.Popen(
            [sys.executable, "-c", FOLDER_WRITER, str(final), str(version)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
        )
        proc.stdout.readline()  # one complete version first, so there is an earlier artifact to protect
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = _check_artifact(final)
        assert now > version  # the earlier artifact or a newer complete one: never nothing, never a mix
        version = now
        assert _visible(final.parent) == ["tflite-int8"]
    leftovers = [p for p in final.parent.iterdir() if p.name.startswith(".")]
    assert len(leftovers) <= 2  # each writer removes the dead writers' hidden leftovers


RESULT_WRITER = """
import sys
from pathlib import Path
from edgekit.results.store import save_result
from edgekit.results.record import base_result
root, n, tag = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
for i in range(n):
    r = base_result("host", "m%d" % (i % 5), "onnx", "fp32", "measured")
    r.update(latency_ms={"median": float(i)}, layers=[{"name": tag, "op": "x" * 2000}] * 50, runtime={"threads": 1})
    save_result(r, root)
    print(i, flush=True)
"""


def test_sigkill_while_saving_results_keeps_every_file_valid(tmp_path):
    rng = random.Random(SEED + 1)
    root = tmp_path / "profiles"
    for trial in range(20):
        proc = subprocess.Popen(
            [sys.executable, "-c", RESULT_WRITER, str(root), "100000", f"t{trial}"],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
        )
        proc.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        results, problems = load_results_with_problems(root)
        assert problems == [] and 1 <= len(results) <= 5
        assert all(re.fullmatch(r"m\d__onnx-fp32__[0-9a-f]{10}\.json", n) for n in _visible(root / "host"))


def test_concurrent_result_writers_never_corrupt_each_other(tmp_path):
    root = tmp_path / "profiles"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RESULT_WRITER, str(root), "150", tag],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
        )
        for tag in ("a", "b")
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    results, problems = load_results_with_problems(root)
    assert problems == [] and len(results) == 5 and len(_visible(root / "host")) == 5
    assert not [p for p in (root / "host").iterdir() if p.name.startswith(".")]


def test_concurrent_artifact_writers_never_mix_files(tmp_path):
    """Two processes replace the same artifact folder over and over; a reader checks it all along."""
    final = tmp_path / "m" / "tflite-fp32"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", FOLDER_WRITER, str(final), str(start)],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
        )
        for start in (0, 10**6)
    ]
    checks, deadline = 0, time.monotonic() + 8
    try:
        while time.monotonic() < deadline:
            if final.exists():
                try:
                    _check_artifact(final)
                    checks += 1
                except FileNotFoundError:
                    pass  # the folder we opened was swapped out (and removed) while we read it: not a mix
    finally:
        for p in procs:
            p.kill()
            p.wait()
    _check_artifact(final)
    assert checks > 10 and _visible(final.parent) == ["tflite-fp32"]


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs when this process may mount (root in CI); else None (callers use RLIMIT_FSIZE instead)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    ok = bool(shutil.which("mount")) and os.geteuid() == 0
    if ok:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
        ok = mounted.returncode == 0
    yield mount if ok else None
    if ok:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_is_a_clean_error_and_loses_nothing(small_disk, tmp_path):
    code = """
    import sys
    from pathlib import Path
    from edgekit.errors import EdgekitError
    from edgekit.results.store import save_result
    from edgekit.results.record import base_result
    root = Path(sys.argv[1])
    first = save_result(base_result("host", "m", "onnx", "fp32", "measured"), root)
    r = base_result("host", "m", "onnx", "fp32", "measured")
    r["layers"] = [{"name": "big", "op": "x" * (2 << 20)}]
    try:
        save_result(r, root)
    except EdgekitError as exc:
        print(exc.message)
    """
    root = (small_disk or tmp_path) / "profiles"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), str(root)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        preexec_fn=None if small_disk else limit,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    reason = "the disk is full" if small_disk else "the file size limit was reached"
    assert reason in proc.stdout and "nothing was replaced" in proc.stdout
    results, problems = load_results_with_problems(root)
    assert problems == [] and len(results) == 1 and results[0]["layers"] == []  # the earlier result is intact
    assert not [p for p in (root / "host").iterdir() if p.name.startswith(".")]  # no temp file left behind


# ------------------------------------------------------------------------------- real exports: determinism, SIGKILL
EXPORT_ARGS = ["mobilenetv2", "--input-size", "32", "--alpha", "0.35", "--num-classes", "4", "--int8"]
EXPORT_ARGS += ["--format", "tflite,onnx", "--calib", "synthetic", "--calib-size", "8", "--holdout", "2"]


@pytest.fixture(scope="module")
def first_export(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export-a")
    from edgekit.cli.app import main

    with pytest.raises(SystemExit) as done:
        main(["export", *EXPORT_ARGS, "--out", str(root)])
    assert done.value.code in (0, None, 3)  # 3: an untrained tiny net may miss a fidelity bar; the files are written
    return root


def test_exporting_twice_gives_byte_identical_tflite_and_onnx(first_export, tmp_path, capsys):
    code, _, err = run_cli(["export", *EXPORT_ARGS, "--out", str(tmp_path)], capsys)
    assert code in (0, 3), err
    for fmt, file in (("tflite", "model.tflite"), ("onnx", "model.onnx")):
        a = (first_export / "mobilenetv2" / f"{fmt}-int8" / file).read_bytes()
        b = (tmp_path / "mobilenetv2" / f"{fmt}-int8" / file).read_bytes()
        assert a == b, f"{fmt}: two exports with the same options and seed differ"


def test_branching_graphs_get_one_node_order_and_one_set_of_names(tmp_path):
    """tf2onnx orders the towers of a branching network (InceptionV3) differently from run to run, with different
    made-up numbers, and merges a different subset of equal nodes: canonicalisation must give the same bytes for the
    same graph, and keep it valid."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from edgekit.exporting.canonical import canonicalize_onnx

    def tower(i: int, n: int) -> list:
        return [
            helper.make_node("Relu", ["x"], [f"relu__{n}"], name=f"relu__{n}"),
            helper.make_node("Mul", [f"relu__{n}", f"scale__{n + 1}"], [f"t{i}"], name=f"tower{i}"),
        ]

    def model(order: list[int], first_number: int) -> onnx.ModelProto:
        nodes, inits = [], []
        for k, i in enumerate(order):
            n = first_number + 10 * k
            nodes += tower(i, n)
            inits.append(helper.make_tensor(f"scale__{n + 1}", TensorProto.FLOAT, [1], [float(i + 2)]))
        nodes.append(helper.make_node("Concat", ["t0", "t1", "t2"], ["y"], name="concat", axis=1))
        graph = helper.make_graph(
            nodes,
            "towers",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6])],
            inits,
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    files = []
    for order, first in (([0, 1, 2], 3), ([2, 0, 1], 40), ([1, 2, 0], 7)):
        path = tmp_path / f"m{first}.onnx"
        onnx.save(model(order, first), str(path))
        canonicalize_onnx(path)
        files.append(path.read_bytes())
    assert files[0] == files[1] == files[2]
    assert [n.op_type for n in onnx.load(str(tmp_path / "m3.onnx")).graph.node].count("Relu") == 1  # equal nodes merged
    x = np.array([[1.0, -1.0]], np.float32)
    y = ort.InferenceSession(str(tmp_path / "m3.onnx")).run(None, {"x": x})[0]
    assert y.tolist() == [[2.0, 0.0, 3.0, 0.0, 4.0, 0.0]]


def test_a_reshape_to_the_shape_it_has_is_dropped(tmp_path):
    """tf2onnx's transpose optimizer leaves a Reshape of a 1x1 map to the shape it already has in one conversion and
    removes it in the next (MobileNetV2 at 32 px, two exports in one process: 336 and 333 INT8 nodes): canonical
    files drop it, so both give the same bytes; a Reshape that changes the shape, or writes a graph output, stays."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from edgekit.exporting.canonical import canonicalize_onnx

    def model(identity: bool) -> onnx.ModelProto:
        conv = helper.make_node("Conv", ["x", "w"], ["c__4"], name="conv")
        steps = [helper.make_node("Reshape", ["c__4", "same__9"], ["r__5"], name="r__5")] if identity else []
        feeds = "r__5" if identity else "c__4"
        tail = [
            helper.make_node("Relu", [feeds], ["a"], name="relu"),
            helper.make_node("Reshape", ["a", "flat"], ["y"], name="flatten"),  # changes the shape: kept
        ]
        inits = [
            helper.make_tensor("w", TensorProto.FLOAT, [4, 2, 1, 1], [1.0, -1.0] * 4),
            helper.make_tensor("flat", TensorProto.INT64, [2], [1, 4]),
        ]
        inits += [helper.make_tensor("same__9", TensorProto.INT64, [4], [1, 4, 1, 1])] if identity else []
        graph = helper.make_graph(
            [conv, *steps, *tail],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 1, 1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
            inits,
        )  # no value_info, as tf2onnx writes none: the shapes are inferred
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    paths = {identity: tmp_path / f"m{identity}.onnx" for identity in (True, False)}
    for identity, path in paths.items():
        onnx.save(model(identity), str(path))
        canonicalize_onnx(path)
    assert paths[True].read_bytes() == paths[False].read_bytes()
    kept = onnx.load(str(paths[True]))
    assert [n.op_type for n in kept.graph.node] == ["Conv", "Relu", "Reshape"]
    assert sorted(t.name for t in kept.graph.initializer) == ["flat", "w"]  # the dropped step's shape went with it
    x = np.array([[[[2.0]], [[1.0]]]], np.float32)
    assert ort.InferenceSession(str(paths[True])).run(None, {"x": x})[0].tolist() == [[1.0] * 4]


def _sigkill_export_trials(first_export: Path, tmp_path: Path, trials: int) -> None:
    """Replace an earlier export (seed 0) with a different one (seed 1), SIGKILLed at a seeded random moment."""
    rng = random.Random(SEED + 2)
    for trial in range(trials):
        root = tmp_path / f"trial{trial}"
        shutil.copytree(first_export, root)
        before = {p: p.read_bytes() for p in root.rglob("model.*")}
        cmd = [sys.executable, "-m", "edgekit", "export", *EXPORT_ARGS, "--seed", "1", "--out", str(root)]
        proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=rng.uniform(1.0, 30.0))
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        for folder in (root / "mobilenetv2" / "tflite-int8", root / "mobilenetv2" / "onnx-int8"):
            manifest = json.loads((folder / "manifest.json").read_text())
            names = sorted(p.name for p in folder.iterdir())
            assert names == sorted(["manifest.json", *(f["path"] for f in manifest["files"])]), names
            for f in manifest["files"]:
                assert hashlib.sha256((folder / f["path"]).read_bytes()).hexdigest() == f["sha256"]
            model = next(p for p in folder.iterdir() if p.name.startswith("model."))
            seed = manifest["calibration"]["seed"]  # the earlier export (seed 0) whole, or the new one (seed 1) whole
            assert seed == 1 or (seed == 0 and model.read_bytes() == before[model])
        assert _visible(root / "mobilenetv2") == ["onnx-int8", "tflite-int8"]


def test_sigkill_during_a_real_export_keeps_the_earlier_artifacts(first_export, tmp_path):
    _sigkill_export_trials(first_export, tmp_path, trials=2)


@pytest.mark.slow
def test_sigkill_during_real_exports_20_trials(first_export, tmp_path):
    _sigkill_export_trials(first_export, tmp_path, trials=20)


@pytest.mark.slow
def test_two_real_exports_into_the_same_folder(tmp_path):
    """Two `edgekit export` processes (seeds 0 and 1) write the same artifacts at once: each folder ends up whole."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "edgekit", "export", *EXPORT_ARGS, "--seed", str(s), "--out", str(tmp_path)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for s in (0, 1)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=1800)
        assert proc.returncode in (0, 3), err[-1000:]
    for folder in (tmp_path / "mobilenetv2" / "tflite-int8", tmp_path / "mobilenetv2" / "onnx-int8"):
        manifest = json.loads((folder / "manifest.json").read_text())
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            ["manifest.json", *(f["path"] for f in manifest["files"])]
        )
        for f in manifest["files"]:
            assert hashlib.sha256((folder / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    assert _visible(tmp_path / "mobilenetv2") == ["onnx-int8", "tflite-int8"]
