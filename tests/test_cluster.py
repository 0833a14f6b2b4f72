"""Issue 25, without a cluster: the jobs of a many-model command, what each needs in memory, the local scheduler
that starts none beyond free memory, artifacts received into --out, and the one-line errors."""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

import pytest
from conftest import run_cli

from edgekit.cluster import memory, transfer
from edgekit.cluster.jobs import Job, export_jobs, parse_sizes, separable_formats
from edgekit.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent


def test_peaks_are_the_benchmarks_measurements():
    """edgekit ships the measured peaks (benchmarks are not installed); they must be the benchmark's figures."""
    bench = json.loads((ROOT / "benchmarks/results/export_memory.json").read_text())
    assert json.loads(memory.PEAKS.read_text()) == json.loads(json.dumps(memory.peaks_from_benchmark(bench))), (
        "regenerate edgekit/cluster/export_peaks.json with memory.peaks_from_benchmark"
    )


def test_memory_request_follows_the_measured_peak_and_the_input_size():
    vgg = memory.export_memory_bytes("vgg19", None)
    assert vgg >= 8.55e9  # its measured peak, never less at its own size
    assert memory.export_memory_bytes("vgg19", 160) < vgg  # fewer pixels, less activation memory
    assert memory.export_memory_bytes("vgg19", 160) > 143667240 * 4  # the weights do not shrink with the image
    small = memory.export_memory_bytes("squeezenet11", 32)
    assert memory.FLOOR_GB * 1e9 < small < memory.export_memory_bytes("squeezenet11", None) < vgg
    # a format's own peak: ONNX alone peaks lower than the TFLite conversion for mobilenetv2
    assert memory.export_memory_bytes("mobilenetv2", None, ("onnx",)) < memory.export_memory_bytes("mobilenetv2", None)
    # more calibration images than measured: more memory
    assert memory.export_memory_bytes("resnet50", 224, None, 2000) > memory.export_memory_bytes("resnet50", 224)
    peaks = sorted(r["peak_gb"] for r in memory.measured_peaks().values())
    unknown = memory.export_memory_bytes("my.keras", None)
    assert peaks[0] * 1e9 < unknown < peaks[-1] * 1e9


def test_jobs_of_a_matrix():
    assert parse_sizes("160, 224,160") == [160, 224]
    assert parse_sizes(None) == [None]
    for bad in ("abc", "4", "160,,x"):
        with pytest.raises(UsageError):
            parse_sizes(bad)
    fmts = separable_formats(("tflite", "onnx"), "int8")
    jobs = export_jobs(["mobilenetv2", "squeezenet11"], [96, 128], fmts, {"precision": "int8"}, split=True)
    assert [j.name for j in jobs][:3] == ["mobilenetv2@96:tflite", "mobilenetv2@96:onnx", "mobilenetv2@128:tflite"]
    assert len(jobs) == 8 and all(j.memory_bytes > 0 for j in jobs)
    together = export_jobs(["mobilenetv2"], [None], None, {"precision": "int8"}, split=False)
    assert len(together) == 1 and together[0].formats is None
    assert Job.from_dict(json.loads(json.dumps(jobs[0].to_dict()))) == jobs[0]
    assert "openvino" in separable_formats(None, "int8") and "edgetpu" not in separable_formats(None, "fp32")


def test_many_model_usage_errors_are_one_line(capsys):
    code, _, err = run_cli(["export", "mobilenetv2", "--all"], capsys)
    assert code == 2 and err.strip() == "error: give model names or --all, not both"
    code, _, err = run_cli(["export"], capsys)
    assert code == 2 and "name a model" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["export", "mobilenetv2", "--input-size", "160,x"], capsys)
    assert code == 2 and "--input-size" in err
    code, _, err = run_cli(["export", "a", "b", "--jobs", "2", "--ray", "auto"], capsys)
    assert code == 2 and "--jobs" in err
    code, _, err = run_cli(["export", "a", "b", "--ray-shared", "/tmp"], capsys)
    assert code == 2 and "go with --ray" in err


def test_wrong_ray_address_is_one_line_and_quick(capsys, tmp_path):
    """Nothing answers on port 1: one line, exit 2, in seconds (ray.init alone waits minutes)."""
    t0 = time.time()
    code, out, err = run_cli(["export", "mobilenetv2", "--ray", "127.0.0.1:1", "--out", str(tmp_path)], capsys)
    assert code == 2 and time.time() - t0 < 30
    assert err.strip().splitlines()[-1].startswith("error: --ray: no Ray cluster answers at 127.0.0.1:1")
    code, _, err = run_cli(["export", "mobilenetv2", "--ray", "nowhere", "--out", str(tmp_path)], capsys)
    assert code == 2 and "is not HOST:PORT" in err
    assert not any(tmp_path.iterdir())


def test_a_job_beyond_free_memory_is_never_started(capsys, tmp_path, monkeypatch):
    """--jobs: a job whose measured need exceeds the memory free now fails with the figures, unstarted."""
    from edgekit.cluster import local

    monkeypatch.setattr(memory, "export_memory_bytes", lambda *a, **k: 10**15)  # 1 PB
    started = []
    monkeypatch.setattr(local, "start", lambda *a, **k: started.append(a) or pytest.fail("started"))
    args = ["export", "mobilenetv2", "squeezenet11", "--jobs", "2", "--format", "tflite", "--out", str(tmp_path)]
    code, out, err = run_cli([*args, "--json"], capsys)
    assert code == 1 and not started
    records = json.loads(out)
    assert [r["status"] for r in records] == ["failed", "failed"]
    assert records[0]["error"].startswith("needs ~1000000.0 GB, ") and records[0]["error"].endswith(" GB free")
    assert "2 jobs: 0 done, 0 retried (then done), 2 failed" in err
    assert not any(tmp_path.iterdir())


def _fake_export(root: Path, model: str, unit: str) -> dict:
    folder = root / model / unit
    folder.mkdir(parents=True)
    (folder / "model.tflite").write_bytes(b"\x00model bytes " + unit.encode())
    (folder / "manifest.json").write_text(json.dumps({"model": model}))
    return {
        "model": model,
        "status": "ok",
        "path": str(folder / "model.tflite"),
        "manifest": str(folder / "manifest.json"),
    }


def test_received_artifacts_land_in_the_local_layout(tmp_path):
    worker, out = tmp_path / "worker-scratch", tmp_path / "out"
    recs = [_fake_export(worker, "m", "tflite-int8"), _fake_export(worker, "m", "onnx-int8")]
    recs.append({"model": "m", "format": "openvino", "status": "failed", "path": str(worker / "m/openvino-int8")})
    transfer.stamp_made_on(recs, worker, {"node": "n1", "ray_node_id": "abc"})
    data = transfer.pack(worker, transfer.artifact_folders(recs, worker))
    (out / "m" / "tflite-int8").mkdir(parents=True)
    (out / "m" / "tflite-int8" / "old.txt").write_text("an earlier export, replaced whole")
    got = transfer.receive(data, str(worker), None, out, recs)
    assert [r["path"] for r in got] == [
        str(out / "m/tflite-int8/model.tflite"),
        str(out / "m/onnx-int8/model.tflite"),
        str(out / "m/openvino-int8"),
    ]
    assert sorted(p.name for p in (out / "m").iterdir()) == ["onnx-int8", "tflite-int8"]  # nothing hidden left
    assert sorted(p.name for p in (out / "m" / "tflite-int8").iterdir()) == ["manifest.json", "model.tflite"]
    assert json.loads((out / "m/onnx-int8/manifest.json").read_text())["made_on"]["node"] == "n1"
    assert [p.name for p in out.iterdir()] == ["m"]  # the staging folder is gone


def test_a_broken_transfer_leaves_out_untouched(tmp_path):
    worker, out = tmp_path / "w", tmp_path / "out"
    recs = [_fake_export(worker, "m", "tflite-int8")]
    data = transfer.pack(worker, transfer.artifact_folders(recs, worker))
    with pytest.raises(tarfile.ReadError):
        transfer.receive(data[: len(data) // 2], str(worker), None, out, recs)
    assert not any(out.iterdir())


@pytest.fixture(scope="module")
def digits_tiny(tmp_path_factory) -> Path:
    """10 digits per class at 32 px: two one-epoch trials in seconds."""
    import shutil

    from edgekit.data.labelled import materialise_digits

    full = materialise_digits(tmp_path_factory.mktemp("digits") / "digits-32px", 32)
    root = tmp_path_factory.mktemp("digits-tiny")
    for d in sorted(p for p in full.iterdir() if p.is_dir()):
        (root / d.name).mkdir()
        for f in sorted(d.iterdir())[:10]:
            shutil.copy(f, root / d.name / f.name)
    return root


def test_train_several_models_side_by_side(capsys, tmp_path, digits_tiny):
    """One trial per model, in turn: each with the notes' strategy for its data, the best one named."""
    args = ["train", "squeezenet", "mobilenetv2", "--data", str(digits_tiny), "--epochs", "1", "--input-size", "32"]
    code, out, err = run_cli([*args, "--weights", "none", "--out", str(tmp_path), "--json"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert [t["model"] for t in doc["trials"]] == ["squeezenet", "mobilenetv2"]
    for trial in doc["trials"]:
        assert trial["status"] == "done" and trial["strategy"] in ("transfer", "finetune", "scratch")
        assert "images per class" in trial["strategy_reason"] and Path(trial["model_path"]).is_file()
    assert doc["best"] == max(doc["trials"], key=lambda t: t["val_accuracy"])["model"]
    assert "2 jobs: 2 done, 0 retried (then done), 0 failed" in err


def test_artifacts_through_a_shared_path(tmp_path):
    """--ray-shared: the worker wrote into SHARED/<task>; the folders move into out and the task's folder goes."""
    shared, out = tmp_path / "shared", tmp_path / "out"
    recs = [_fake_export(shared / "export-1234", "m", "tflite-int8")]
    got = transfer.receive(None, str(shared / "export-1234"), shared, out, recs)
    assert got[0]["path"] == str(out / "m/tflite-int8/model.tflite") and Path(got[0]["path"]).is_file()
    assert not any(shared.iterdir())
