"""Fuzz every file edgekit reads: .tflite, .onnx, OpenVINO .xml/.bin, .keras, manifest.json, target .toml, profile
.json, hosts files, images. Seeded: the seed is printed, EDGEKIT_FUZZ_SEED=N reproduces a run.

Each generated case (truncated, bit-flipped, wrong magic, huge declared sizes and counts, valid containers with absurd
contents, ONNX external data outside the model folder, symlinks) goes through edgekit's real entry point in-process and
must end within a bounded time with exit 0 (a reader that skips a bad file with a warning, as `edgekit report` does),
1 or 2 and at most one error line: no traceback, no hang, no crash of the CLI process. A few cases run the real
runtimes, which happens in a subprocess: a crash there must name the file (and the signal).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

SEED = int(os.environ.get("EDGEKIT_FUZZ_SEED", random.SystemRandom().randrange(1 << 30)))
CASE_SECONDS = 60  # one case, bounded: a reader that hangs fails here (SIGALRM), never the whole suite
MUTATIONS = ("truncate", "bitflip", "magic", "huge", "zero", "random", "splice", "empty")
COUNTS = {"tflite": 45, "onnx": 40, "openvino": 30, "keras": 20, "manifest": 20, "toml": 20, "profile": 20}
COUNTS |= {"hosts": 16, "image": 20}


def setup_module() -> None:
    print(f"\nfuzz seed {SEED} (EDGEKIT_FUZZ_SEED={SEED} reproduces this run)")


# ------------------------------------------------------------------------------------------------------- mutations
def mutate(data: bytes, kind: str, rng: random.Random) -> bytes:
    """One structural damage of a valid file."""
    if kind == "empty" or not data:
        return b""
    if kind == "truncate":
        return data[: rng.randrange(len(data))]
    if kind == "bitflip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 32)):
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
        return bytes(out)
    if kind == "magic":
        return bytes(rng.randrange(256) for _ in range(8)) + data[8:]
    if kind == "huge":  # declared sizes, counts and offsets at the edge of their types
        out = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(max(len(out) - 4, 1)) & ~3
            out[i : i + 4] = struct.pack("<I", rng.choice([0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 1 << 30]))
        return bytes(out)
    if kind == "zero":
        start = rng.randrange(len(data))
        return data[:start] + bytes(min(len(data) - start, rng.randint(1, 4096))) + data[start + 4096 :]
    if kind == "splice":  # a chunk repeated: lengths and offsets no longer agree
        a, b = sorted(rng.randrange(len(data)) for _ in range(2))
        return data[:b] + data[a:b] * rng.randint(1, 3) + data[b:]
    return bytes(rng.randrange(256) for _ in range(rng.randint(1, 4096)))


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"a reader took longer than {CASE_SECONDS} s")


def run_bounded(args: list[str], capsys) -> tuple[int, str, str]:
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_SECONDS)
    try:
        return run_cli(args, capsys)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def check_outcome(code: int, err: str, case: str, allow_ok: bool = False, name: str | None = None) -> None:
    where = f"[seed {SEED}] {case}"
    assert code in ((0, 1, 2) if allow_ok else (1, 2)), f"{where}: exit {code}: {err[-500:]}"
    assert "Traceback" not in err, f"{where}: traceback: {err[-2000:]}"
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) <= 1 and (errors or code == 0), f"{where}: expected one error line, got {err[-800:]}"
    if errors and name:
        assert name in err, f"{where}: the error does not name the file: {errors[0]}"


# --------------------------------------------------------------------------------------------------- valid seeds
@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, Path]:
    """Small valid files of every kind, made by the real converters."""
    import keras
    import onnx
    import openvino as ov
    import tensorflow as tf
    from onnx import TensorProto, helper
    from PIL import Image

    root = tmp_path_factory.mktemp("fuzz-seeds")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3), batch_size=1)
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))
    model.save(root / "seed.keras")
    (root / "seed.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())

    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], np.random.default_rng(0).random(108).tolist())
    conv = helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])
    graph = helper.make_graph(
        [conv],
        "seed",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 14, 14])],
        [weight],
    )
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(onnx_model, root / "seed.onnx")
    ov.save_model(ov.convert_model(str(root / "seed.onnx")), str(root / "seed.xml"), compress_to_fp16=False)

    rgb = (np.random.default_rng(1).random((24, 24, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(root / "seed.png")
    Image.fromarray(rgb).save(root / "seed.jpg", quality=90)
    shutil.copy(Path(__file__).resolve().parents[1] / "targets" / "rpi4.toml", root / "seed.toml")
    return {p.suffix[1:]: p for p in root.iterdir()}


def _cases(kind: str) -> list[tuple[int, str]]:
    rng = random.Random(f"{SEED}-{kind}")
    return [(i, rng.choice(MUTATIONS)) for i in range(COUNTS[kind])]


def _rng(kind: str, i: int) -> random.Random:
    return random.Random(f"{SEED}-{kind}-{i}")


# ------------------------------------------------------------------------------------------ model files (analysis)
def _profile_predict(path: Path, capsys) -> tuple[int, str, str]:
    return run_bounded(["profile", str(path), "--target", "host", "--predict", "--no-save", "--json"], capsys)


@pytest.mark.parametrize("kind", ["tflite", "onnx"])
def test_fuzz_model_files(kind, seeds, tmp_path, capsys):
    data = seeds[kind].read_bytes()
    for i, mutation in _cases(kind):
        path = tmp_path / f"case{i}-{mutation}.{kind}"
        path.write_bytes(mutate(data, mutation, _rng(kind, i)))
        code, _, err = _profile_predict(path, capsys)
        check_outcome(code, err, f"{kind} case {i} ({mutation})", allow_ok=True, name=path.name)


def _xml_variants(xml: str, rng: random.Random) -> str:
    """Valid XML with absurd contents: huge dims, negative dims, unknown layer types, an entity bomb."""
    choice = rng.randrange(4)
    if choice == 0:
        return xml.replace("<dim>16</dim>", f"<dim>{rng.choice([2**62, 10**30, -5, 0])}</dim>", 1)
    if choice == 1:
        return xml.replace('type="Convolution"', 'type="NoSuchOp"', 1)
    if choice == 2:
        return xml.replace('offset="', 'offset="99999999', 1)
    bomb = '<!DOCTYPE net [<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + k)} "{("&" + chr(97 + k) + ";") * 10}">' for k in range(8)
    )
    return xml.replace("<net ", bomb + "]>\n<net note='&i;' ", 1).replace("<?xml version", "<?xml version", 1)


def test_fuzz_openvino_ir(seeds, tmp_path, capsys):
    xml, binary = seeds["xml"].read_text(), seeds["xml"].with_suffix(".bin").read_bytes()
    for i, mutation in _cases("openvino"):
        rng = _rng("openvino", i)
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        target = rng.randrange(3)  # damage the .xml bytes, its contents, or the .bin
        text = _xml_variants(xml, rng) if target == 1 else xml
        (folder / "m.xml").write_bytes(mutate(text.encode(), mutation, rng) if target == 0 else text.encode())
        (folder / "m.bin").write_bytes(mutate(binary, mutation, rng) if target == 2 else binary)
        code, _, err = _profile_predict(folder / "m.xml", capsys)
        check_outcome(code, err, f"openvino case {i} ({mutation}, part {target})", allow_ok=True, name="m.xml")


def test_fuzz_onnx_external_data_and_symlinks(seeds, tmp_path, capsys):
    """External data naming files outside the model folder, and model files that are symlinks to odd places."""
    import onnx

    outside = tmp_path / "secret.bin"
    outside.write_bytes(np.arange(108, dtype=np.float32).tobytes())
    cases = {"relative": "../secret.bin", "absolute": str(outside), "missing": "nope.bin", "dev": "/dev/zero"}
    for name, location in cases.items():
        folder = tmp_path / name
        folder.mkdir()
        model = onnx.load(seeds["onnx"])
        weight = model.graph.initializer[0]
        weight.ClearField("float_data")
        weight.data_location = onnx.TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", "432")):
            entry = weight.external_data.add()
            entry.key, entry.value = key, value
        onnx.save(model, folder / "model.onnx")
        code, _, err = _profile_predict(folder / "model.onnx", capsys)
        check_outcome(code, err, f"onnx external data {name}", allow_ok=name == "missing", name="model.onnx")
    links = {"to-dev-zero": "/dev/zero", "dangling": str(tmp_path / "none"), "to-dir": str(tmp_path)}
    for name, target in links.items():
        link = tmp_path / f"{name}.tflite"
        link.symlink_to(target)
        code, _, err = _profile_predict(link, capsys)
        check_outcome(code, err, f"symlink {name}")


# ---------------------------------------------------------------------------------------------------- .keras files
def _keras_variant(src: Path, dst: Path, mutation: str, rng: random.Random) -> None:
    """Damage the archive bytes, or keep a valid archive with damaged config.json / weights inside."""
    if rng.random() < 0.4:
        dst.write_bytes(mutate(src.read_bytes(), mutation, rng))
        return
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        victim = rng.choice(["config.json", "model.weights.h5", "metadata.json"])
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == victim:
                data = mutate(data, mutation, rng)
            zout.writestr(info.filename, data)


def test_fuzz_keras_files(seeds, tmp_path, capsys):
    for i, mutation in _cases("keras"):
        path = tmp_path / f"case{i}.keras"
        _keras_variant(seeds["keras"], path, mutation, _rng("keras", i))
        args = ["export", str(path), "--format", "tflite", "--out", str(tmp_path / "out"), "--calib", "synthetic"]
        args += ["--calib-size", "2", "--holdout", "1"]
        code, _, err = run_bounded(args, capsys)
        check_outcome(code, err, f"keras case {i} ({mutation})", allow_ok=True)


# ------------------------------------------------------------------------------------------- json / toml / hosts
def _json_variant(obj, rng: random.Random):
    """Valid JSON, absurd contents: wrong types, huge numbers, deep nesting, paths that escape."""
    absurd = [None, -1, 2**70, 1e308, "", "../../../../etc/passwd", "/etc/passwd", [], {}, "x" * 10000, True]
    if isinstance(obj, dict) and obj:
        obj = dict(obj)
        for _ in range(rng.randint(1, 4)):
            key = rng.choice(list(obj))
            obj[key] = rng.choice(absurd) if rng.random() < 0.7 else _json_variant(obj[key], rng)
        return obj
    if isinstance(obj, list) and obj:
        return [_json_variant(v, rng) for v in obj] * rng.randint(1, 3)
    return rng.choice(absurd)


def _text_case(base: str, kind: str, i: int, mutation: str, structured) -> bytes:
    rng = _rng(kind, i)
    if rng.random() < 0.5:
        return mutate(base.encode(), mutation, rng)
    return structured(rng)


def test_fuzz_manifests(seeds, tmp_path, capsys):
    manifest = {
        "model": "seed",
        "format": "tflite",
        "precision": "fp32",
        "files": [{"path": "model.tflite", "bytes": seeds["tflite"].stat().st_size, "sha256": "0" * 64}],
        "build": {"input_size": 16, "alpha": None},
        "fidelity": {"cosine": 1.0},
    }
    base = json.dumps(manifest)
    for i, mutation in _cases("manifest"):
        folder = tmp_path / f"case{i}" / "tflite-fp32"
        folder.mkdir(parents=True)
        shutil.copy(seeds["tflite"], folder / "model.tflite")
        data = _text_case(base, "manifest", i, mutation, lambda r: json.dumps(_json_variant(manifest, r)).encode())
        (folder / "manifest.json").write_bytes(data)
        code, _, err = _profile_predict(folder, capsys)
        check_outcome(code, err, f"manifest case {i} ({mutation})", allow_ok=True)


ABSURD_TOML = ["-1", "1e999", '""', "[]", "{}", "nan", "99999999999999999", "true", '"../../etc"']


def test_fuzz_target_files(seeds, tmp_path, capsys, monkeypatch):
    import tomllib

    base = seeds["toml"].read_text()
    table = tomllib.loads(base)

    def structured(rng: random.Random) -> bytes:
        lines = base.splitlines()
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(lines))
            if "=" in lines[i]:
                key = lines[i].split("=")[0]
                lines[i] = f"{key}= {rng.choice(ABSURD_TOML)}"
        return "\n".join(lines).encode()

    assert table  # the seed itself is valid
    for i, mutation in _cases("toml"):
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        (folder / "rpi4.toml").write_bytes(_text_case(base, "toml", i, mutation, structured))
        monkeypatch.setenv("EDGEKIT_TARGETS_DIR", str(folder))
        code, _, err = run_bounded(["targets", "--json"], capsys)
        check_outcome(code, err, f"target toml case {i} ({mutation})", allow_ok=True)


def test_fuzz_profile_results(tmp_path, capsys):
    from edgekit.results.record import base_result

    result = base_result("host", "m", "onnx", "fp32", "measured")
    result.update(latency_ms={"median": 1.0, "p90": 1.1}, runtime={"name": "onnxruntime", "threads": 1})
    base = json.dumps(result)
    for i, mutation in _cases("profile"):
        root = tmp_path / f"case{i}"
        (root / "host").mkdir(parents=True)
        data = _text_case(base, "profile", i, mutation, lambda r: json.dumps(_json_variant(result, r)).encode())
        (root / "host" / "m__onnx-fp32.json").write_bytes(data)
        code, _, err = run_bounded(["report", "--profiles-dir", str(root), "--json"], capsys)
        check_outcome(code, err, f"profile json case {i} ({mutation})", allow_ok=True)
        assert code == 0  # a bad result file is skipped with a warning, never fatal for the report


def test_fuzz_hosts_files(tmp_path):
    ssh = pytest.importorskip("edgekit.measure.ssh")
    from edgekit.errors import EdgekitError

    base = '[[host]]\nname = "pi"\naddress = "pi@192.0.2.1:22"\ntarget = "rpi4"\n'
    hostile = ["-oProxyCommand=touch /tmp/x", "a;b@c", "u@h\nx", "../../x", "u@$(id)", "u@h:99999", "u@[::1"]

    def structured(rng: random.Random) -> bytes:
        return base.replace("pi@192.0.2.1:22", rng.choice(hostile).replace("\n", "\\n")).encode()

    for i, mutation in _cases("hosts"):
        path = tmp_path / f"hosts{i}.toml"
        path.write_bytes(_text_case(base, "hosts", i, mutation, structured))
        try:
            hosts = ssh.load_hosts(path)
        except EdgekitError as exc:
            assert exc.exit_code in (1, 2) and "\n" not in exc.message, f"[seed {SEED}] hosts case {i}"
            continue
        for host in hosts:  # whatever parsed is a plain address ssh cannot take for an option
            assert not host.address.startswith("-") and not any(c in host.address for c in ";$`\n /")


def test_fuzz_images(seeds, tmp_path):
    from edgekit.data.calibration import from_folder
    from edgekit.errors import EdgekitError
    from edgekit.models.registry import Preprocess

    pre = Preprocess(scale=1 / 127.5, offset=-1.0)
    for i, mutation in _cases("image"):
        rng = _rng("image", i)
        folder = tmp_path / f"case{i}"
        folder.mkdir()
        src = seeds[rng.choice(["png", "jpg"])]
        data = mutate(src.read_bytes(), mutation, rng)
        if rng.random() < 0.25 and src.suffix == ".png":  # a header declaring a 60000 x 60000 image
            data = data[:16] + struct.pack(">II", 60000, 60000) + data[24:]
        (folder / f"img{src.suffix}").write_bytes(data)
        try:
            images = from_folder(folder, 1, 16, pre)
        except EdgekitError as exc:
            assert "\n" not in exc.message and exc.exit_code in (1, 2), f"[seed {SEED}] image case {i}"
            continue
        assert images.images.shape == (1, 16, 16, 3) and np.isfinite(images.images).all()


# ------------------------------------------------------------------------------------- the runtimes (subprocess)
@pytest.mark.parametrize("kind", ["tflite", "onnx"])
def test_fuzz_runtimes_stay_in_their_subprocess(kind, seeds, tmp_path, capsys):
    """A few damaged files run by the real runtime: whatever it does, the CLI gives one line naming the file."""
    data = seeds[kind].read_bytes()
    for i in range(3):
        mutation = ("bitflip", "huge", "truncate")[i]
        path = tmp_path / f"run{i}-{mutation}.{kind}"
        path.write_bytes(mutate(data, mutation, _rng(f"run-{kind}", i)))
        args = ["profile", str(path), "--target", "host", "--runs", "2", "--min-seconds", "0", "--warmup", "0"]
        code, _, err = run_bounded([*args, "--no-save", "--timeout", "40"], capsys)
        check_outcome(code, err, f"{kind} runtime case {i} ({mutation})", allow_ok=True, name=path.name)


def test_case_count_is_at_least_200():
    assert sum(COUNTS.values()) + 4 + 3 + 6 >= 200
