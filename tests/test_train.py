"""`edgekit train` on real labelled images (scikit-learn's digits), export of what it trained, --preprocess, and the
bad-input cases of issue 13. Tiny models at 32 px and 1-3 epochs keep this file to a few minutes on 2 cores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from edgekit.errors import UsageError

SIZE = 32


@pytest.fixture(scope="session")
def digits_folder(tmp_path_factory) -> Path:
    from edgekit.data.labelled import materialise_digits

    return materialise_digits(tmp_path_factory.mktemp("data") / f"digits-{SIZE}px", SIZE)


@pytest.fixture(scope="session")
def digits_small(tmp_path_factory, digits_folder) -> Path:
    """30 digits per class (300 images): enough to learn something in a few seconds."""
    root = tmp_path_factory.mktemp("digits-small")
    for d in sorted(p for p in digits_folder.iterdir() if p.is_dir()):
        (root / d.name).mkdir()
        for f in sorted(d.iterdir())[:30]:
            shutil.copy(f, root / d.name / f.name)
    return root


@pytest.fixture(scope="session")
def trained_digits(tmp_path_factory, digits_folder) -> tuple[dict, list[str]]:
    from edgekit.training.loop import TrainOptions, train

    messages: list[str] = []
    out = tmp_path_factory.mktemp("trained-digits")
    opts = TrainOptions("mobilenetv2", str(digits_folder), epochs=3, input_size=SIZE, alpha=0.35, out=out)
    return train(opts, say=messages.append), messages


def test_builtin_digits_materialised_as_class_folders(digits_folder, monkeypatch, tmp_path):
    classes = sorted(p.name for p in digits_folder.iterdir() if p.is_dir())
    assert classes == [str(i) for i in range(10)]
    assert sum(len(list((digits_folder / c).glob("*.png"))) for c in classes) == 1797
    from PIL import Image

    with Image.open(next((digits_folder / "3").glob("*.png"))) as img:
        assert img.size == (SIZE, SIZE)
        assert np.asarray(img).max() > 200  # ink, rescaled from 0..16
    from edgekit.data.labelled import resolve_data

    monkeypatch.setenv("EDGEKIT_DATA_HOME", str(tmp_path))
    folder, name = resolve_data("builtin:digits", 40)
    assert name == "digits" and folder == tmp_path / "digits-40px" and (folder / "COMPLETE").exists()
    with pytest.raises(UsageError, match="did you mean digits"):
        resolve_data("builtin:digit", 40)


def test_batchnorm_trap_is_designed_out(trained_digits):
    """MobileNetV2 (keras' BatchNorm momentum 0.999) trained for 3 epochs (~135 steps) on 1438 digits: its moving
    averages would still hold the initial weights' statistics; inference-mode validation accuracy must be far above
    chance (10%) and keep up with the training-mode accuracy of the last epoch."""
    record, messages = trained_digits
    # Inference mode keeps up with training mode (the trap: 98% in training, 12% in inference).
    last_train = json.loads(Path(record["manifest"]).read_text())["training"]["history"][-1]["train_accuracy"]
    assert record["val_accuracy"] > 0.3 and record["val_accuracy"] > 0.8 * last_train, (record, last_train)
    assert record["batchnorm"]["momentum"] <= 0.99
    assert record["strategy"] == "scratch"  # no ImageNet weights reachable here: transfer falls back, and says so
    assert any("from scratch" in m for m in messages)
    assert any(m.startswith("strategy: transfer (180 images per class < 1000") for m in messages)
    assert sum(m.startswith("epoch ") for m in messages) == record["epochs_run"]


def test_train_json_contract_and_manifest(trained_digits):
    record, _ = trained_digits
    for key in ("model_path", "strategy", "val_accuracy", "epochs_run", "classes", "train_images", "val_images"):
        assert key in record
    assert record["train_images"] + record["val_images"] == 1797
    assert record["classes"] == [str(i) for i in range(10)]
    path = Path(record["model_path"])
    manifest = json.loads(path.with_name("manifest.json").read_text())
    training = manifest["training"]
    assert training["val_accuracy"] == record["val_accuracy"] and len(training["fingerprint"]) == 64
    assert len(training["split"]["val"]) == record["val_images"]
    # stratified: every class holds its ~20% share of the validation images
    per_class = np.bincount([int(Path(p).parts[0]) for p in training["split"]["val"]], minlength=10)
    assert per_class.min() >= 30 and per_class.max() <= 40
    assert manifest["weights"] == {"requested": "auto", "used": "random", "source": None}
    assert not (path.parent / ".checkpoint").exists()  # a finished run leaves nothing to resume


def test_export_of_trained_model_reports_labelled_accuracy(trained_digits, tmp_path):
    """No --calib: training images calibrate, validation images measure accuracy beside reference_accuracy."""
    from edgekit.exporting.options import ExportOptions
    from edgekit.exporting.pipeline import export

    record, _ = trained_digits
    opts = ExportOptions(record["model_path"], "int8", ("tflite",), out=tmp_path, threads=1, calib_size=64)
    (rec,) = export(opts, on_step=lambda msg: None)
    assert rec["status"] == "ok"
    fid = rec["fidelity"]
    assert fid["n"] == record["val_images"]
    assert abs(fid["reference_accuracy"] - record["val_accuracy"]) < 0.01  # the same images, the same pixels
    assert fid["accuracy"] > fid["reference_accuracy"] - 0.05
    manifest = json.loads(Path(rec["manifest"]).read_text())
    assert manifest["calibration"]["source"].startswith("training-images:")
    assert manifest["calibration"]["count"] == 64 and manifest["calibration"]["labelled"]
    assert manifest["preprocess"]["mode"] == "tf" and manifest["build"]["preprocess"] == "manifest"
    # <model>-<data>: not mixed with the exports of an ImageNet mobilenetv2
    assert Path(rec["path"]).parts[-3] == Path(record["model_path"]).stem == "mobilenetv2-digits-32px"


def test_interrupted_run_resumes_from_its_checkpoint(digits_small, tmp_path):
    """Ctrl-C after epoch 1 (raised where the epoch is reported, after its checkpoint): a new run refuses to start
    over it, --resume continues with epoch 2 and keeps epoch 1's history."""
    from edgekit.training.loop import TrainOptions, train

    opts = TrainOptions("squeezenet", str(digits_small), strategy="scratch", epochs=2, input_size=SIZE, out=tmp_path)

    def interrupt(message: str) -> None:
        if message.startswith("epoch 1/2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(opts, say=interrupt)
    ckpt = tmp_path / f"squeezenet-{digits_small.name}" / "keras" / ".checkpoint"
    state = json.loads((ckpt / "state.json").read_text())
    assert state["epoch"] == 0 and (ckpt / state["last"]).exists()
    with pytest.raises(UsageError, match="interrupted run: pass --resume"):
        train(opts, say=lambda m: None)
    messages: list[str] = []
    opts.resume = True
    record = train(opts, say=messages.append)
    assert messages[0].startswith("resuming squeezenet-") and record["epochs_run"] == 2
    history = json.loads(Path(record["manifest"]).read_text())
    assert [h["epoch"] for h in history["training"]["history"]] == [1, 2]
    assert history["training"]["history"][0] == state["history"][0]


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ({"a": 3}, "one class"),
        ({"a": 3, "b": 0}, "without images: b"),
        ({"a": 3, "b": 1}, "class 'b' has 1 readable image"),
        ({}, "no class subfolders"),
    ],
)
def test_bad_folders_are_one_line_usage_errors(tmp_path, capsys, layout, expected):
    from PIL import Image

    for name, n in layout.items():
        (tmp_path / name).mkdir()
        for i in range(n):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(tmp_path / name / f"{i}.png")
    code, _, err = run_cli(["train", "squeezenet", "--data", str(tmp_path), "--input-size", "32"], capsys)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["mobilenetv2", "--input-size", "16"], "cannot take input size 16"),
        (["squeezenet", "--strategy", "magic"], "--strategy must be one of"),
        (["squeezenet", "--val-split", "1.5"], "--val-split must be between 0 and 1"),
        (["squeezenet", "--alpha", "0.5"], "no width multiplier"),
    ],
)
def test_bad_options_fail_before_tensorflow(tmp_path, capsys, args, expected):
    code, _, err = run_cli(["train", *args, "--data", str(tmp_path)], capsys)
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1, err


def test_missing_folder_and_unknown_builtin(capsys, tmp_path):
    code, _, err = run_cli(["train", "squeezenet", "--data", str(tmp_path / "nope")], capsys)
    assert code == 2 and "does not exist" in err
    code, _, err = run_cli(["train", "squeezenet", "--data", "builtin:imagenet"], capsys)
    assert code == 2 and "unknown builtin data set 'imagenet'" in err


def test_unreadable_images_are_skipped_and_counted(tmp_path):
    from PIL import Image

    from edgekit.models.registry import PREPROCESS_TF
    from edgekit.training.split import prepare_data

    for c in ("cat", "dog"):
        (tmp_path / c).mkdir()
        for i in range(4):
            Image.new("RGB", (12, 12), (60 * i, 30, 200)).save(tmp_path / c / f"{i}.png")
    (tmp_path / "dog" / "broken.png").write_bytes(b"not a png")
    split = prepare_data(tmp_path, 16, PREPROCESS_TF, 0.25, seed=0)
    assert split.skipped == 1 and len(split.files) == 8 and split.classes == ["cat", "dog"]
    assert sorted(np.bincount(split.labels[split.val])) == [1, 1]


def test_strategy_follows_images_per_class():
    from edgekit.training.loop import choose_strategy

    assert choose_strategy("auto", 180)[0] == "transfer"
    assert choose_strategy("auto", 2500)[0] == "finetune"
    assert choose_strategy("auto", 6000)[0] == "scratch"
    assert choose_strategy("finetune", 10) == ("finetune", "asked for")


# --- a model trained elsewhere: --preprocess and the near-chance warning ---------------------------------------
def test_preprocess_spellings():
    from edgekit.data.labelled import parse_preprocess, preprocess_name
    from edgekit.models.registry import PREPROCESS_CAFFE, PREPROCESS_RAW

    assert parse_preprocess("raw") == PREPROCESS_RAW and parse_preprocess("CAFFE") == PREPROCESS_CAFFE
    torch_like = parse_preprocess("mean=0.485,0.456,0.406:std=0.229,0.224,0.225")
    assert torch_like.scale == pytest.approx(1 / 255) and preprocess_name(torch_like) == "torch"
    mmcv = parse_preprocess("mean=123.675,116.28,103.53:std=58.395,57.12,57.375")
    assert mmcv.scale == 1.0 and preprocess_name(mmcv).startswith("mean=123.675")
    for bad in ("imagenet", "mean=1,2:std=1,1,1", "mean=1,2,3", "mean=a,b,c:std=1,1,1", "mean=0,0,0:std=0,1,1"):
        with pytest.raises(UsageError):
            parse_preprocess(bad)


@pytest.fixture(scope="session")
def rescaling_model(tmp_path_factory, digits_small) -> Path:
    """What a user trains in plain Keras: a Rescaling(1/255) first layer that takes 0-255 pixels, no manifest."""
    import keras

    from edgekit.data import calibration as data
    from edgekit.models.registry import PREPROCESS_RAW

    keras.utils.set_random_seed(0)
    images = data.from_folder(digits_small, 0, SIZE, PREPROCESS_RAW)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(16, 3, activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(10)(x))  # functional: edgekit's safe loader refuses Sequential
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images.images, images.labels, epochs=25, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("plain-keras") / "digits.keras"
    # Saved without its compile config: export's safe loader (edgekit/safety.py) refuses keras.optimizers.* today.
    plain = keras.Model.from_config(model.get_config())
    plain.set_weights(model.get_weights())
    plain.save(path)
    return path


def test_leading_rescaling_means_raw_pixels(rescaling_model, digits_small, tmp_path, capsys):
    code, out, err = run_cli(
        ["export", str(rescaling_model), "--fp32", "--format", "tflite", "--calib", str(digits_small)]
        + ["--calib-size", "16", "--holdout", "120", "--out", str(tmp_path), "--json"],
        capsys,
    )
    assert code == 0, err
    (rec,) = json.loads(out)
    manifest = json.loads(Path(rec["manifest"]).read_text())
    assert manifest["preprocess"]["mode"] == "raw" and "Rescaling" in manifest["build"]["preprocess"]
    assert rec["fidelity"]["reference_accuracy"] > 0.5 and "near chance" not in err


def test_wrong_preprocess_warns_near_chance(rescaling_model, digits_small, tmp_path, capsys):
    code, out, err = run_cli(
        ["export", str(rescaling_model), "--fp32", "--format", "tflite", "--calib", str(digits_small)]
        + ["--calib-size", "16", "--holdout", "120", "--out", str(tmp_path), "--preprocess", "tf", "--json"],
        capsys,
    )
    assert code == 0, err
    (rec,) = json.loads(out)
    assert rec["fidelity"]["reference_accuracy"] < 0.2
    assert "near chance" in err and "--preprocess" in err
    code, _, err = run_cli(["export", str(rescaling_model), "--preprocess", "imagenet"], capsys)
    assert code == 2 and "--preprocess must be" in err


def test_weights_auto_falls_back_with_one_warning_and_records_it(tmp_path, capsys):
    """SqueezeNet's ImageNet weights are torchvision's, unreachable here (conftest points EDGEKIT_WEIGHTS_URL at a
    closed local port): auto (the default) says so once and records 'random'; imagenet fails in one line."""
    code, out, err = run_cli(
        ["build", "squeezenet11", "--input-size", "32", "--num-classes", "3", "--out", str(tmp_path), "--json"], capsys
    )
    assert code == 0, err
    warnings = [line for line in err.splitlines() if "no ImageNet weights" in line]
    assert len(warnings) == 1 and "random weights" in warnings[0], err
    assert json.loads(out)["build"]["weights_used"] == "random"
    code, _, err = run_cli(["build", "squeezenet11", "--weights", "imagenet", "--out", str(tmp_path)], capsys)
    assert code == 1 and "could not download ImageNet weights for squeezenet11" in err and "no network" in err


def test_readme_accuracy_table_matches_its_json():
    """docs/evidence.md's accuracy table is generated from benchmarks/results/accuracy.json, never typed by hand."""
    import importlib.util

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("accuracy_benchmark", root / "benchmarks" / "accuracy.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    report = json.loads(bench.RESULTS.read_text())
    table = (root / "docs" / "evidence.md").read_text().split(bench.README_BEGIN, 1)[1].split(bench.README_END, 1)[0]
    assert table.strip() == bench.markdown_table(report).strip()
    assert all(row["fp32_val_accuracy"] > 0.5 for row in report["rows"])


def test_seed_option_sets_the_split_and_is_recorded(digits_small, tmp_path, capsys):
    """`train --seed N` reaches the run: the manifest records it, and the validation split is the seed's own
    (another seed draws another stratified split of the same folder)."""
    from edgekit.models.registry import PREPROCESS_TF
    from edgekit.training.split import prepare_data

    args = ["train", "squeezenet", "--data", str(digits_small), "--strategy", "scratch", "--epochs", "1"]
    args += ["--input-size", str(SIZE), "--seed", "3", "--out", str(tmp_path), "--json"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    manifest = json.loads(Path(json.loads(out)["manifest"]).read_text())
    split = manifest["training"]["split"]
    assert split["seed"] == 3
    seeded = {s: prepare_data(digits_small, SIZE, PREPROCESS_TF, 0.2, seed=s) for s in (0, 3)}
    val = {s: sorted(str(Path(sp.files[i]).relative_to(digits_small)) for i in sp.val) for s, sp in seeded.items()}
    assert sorted(split["val"]) == val[3] != val[0]
