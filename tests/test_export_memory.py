"""Issue 16: export memory stays bounded, and running out of it is one clean line that keeps what finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgekit.exporting import offload as side

TINY_ARGS = ["--alpha", "0.35", "--input-size", "32", "--num-classes", "10", "--calib-size", "16", "--holdout", "8"]


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _stage_of(pid: int) -> str:
    """The side process's current stage, read from the file its environment names (as the parent reads it)."""
    try:
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        path = next(e.split(b"=", 1)[1].decode() for e in env if e.startswith(side.STAGE_ENV.encode() + b"="))
        return Path(path).read_text()
    except (OSError, StopIteration):
        return ""


def test_killed_converter_is_one_line_and_keeps_the_formats_that_finished(tmp_path):
    """The kernel's OOM killer sends SIGKILL; so does this test, to the real side process once it is converting
    OpenVINO. TFLite and ONNX must be kept, OpenVINO reported in one line with stage, peak and knobs, and the
    killed writer's temporary folder removed."""
    cmd = [sys.executable, "-c", "import sys; from edgekit.cli.app import main; main(sys.argv[1:])"]
    cmd += ["export", "mobilenetv2", "--int8", "--format", "tflite,onnx,openvino", "--out", str(tmp_path), *TINY_ARGS]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed_at, deadline = "", time.time() + 600
    while proc.poll() is None and not killed_at and time.time() < deadline:
        for child in _children(proc.pid):
            stage = _stage_of(child)
            if stage.startswith("openvino"):
                os.kill(child, signal.SIGKILL)
                killed_at = stage
        time.sleep(0.01)
    out, err = proc.communicate(timeout=600)
    assert killed_at, f"the side process never reached OpenVINO: {err[-500:]}"
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    flat = " ".join(err.split())  # rich wraps long lines on narrow terminals
    assert "openvino: out of memory in " in flat
    assert "of the openvino int8 export (converter process killed by SIGKILL, peak " in flat
    assert "--calib-size" in flat and "--format openvino" in flat
    model_dir = tmp_path / "mobilenetv2"
    for fmt in ("tflite", "onnx"):
        manifest = json.loads((model_dir / f"{fmt}-int8" / "manifest.json").read_text())
        assert manifest["status"] == "ok"
    assert not (model_dir / "openvino-int8").exists()
    assert sorted(p.name for p in model_dir.iterdir()) == ["onnx-int8", "tflite-int8"], "a partial artifact was left"


def test_memory_error_names_format_stage_peak_and_knobs(tmp_path):
    """A converter raising MemoryError (stood in for here: a real one would need the machine's memory exhausted)."""
    import numpy as np

    from edgekit.exporting.formats import formats
    from edgekit.exporting.options import ExportOptions
    from edgekit.exporting.pipeline import SharedInputs, export_one
    from edgekit.models.registry import PREPROCESS_TF

    def exhausted(job):
        side.stage("onnx int8: quantize_static (calibration on 200 images)")
        raise MemoryError()

    fmt = replace(formats()["onnx"], convert=exhausted)
    opts = ExportOptions(model="mobilenetv2", precision="int8")
    shared = SharedInputs("mobilenetv2", PREPROCESS_TF, 32, {}, opts, None, None, np.zeros(1), tmp_path, tmp_path, 0)
    record = export_one(fmt, None, shared)
    assert record["status"] == "failed"
    assert record["error"].startswith(
        "out of memory in quantize_static (calibration on 200 images) of the onnx int8 export (MemoryError, peak "
    )
    assert "--calib-size 50" in record["error"] and "--format onnx" in record["error"]
    assert not (tmp_path / "mobilenetv2").exists() or not any((tmp_path / "mobilenetv2").iterdir())


def test_side_process_overlaps_only_when_both_fit(monkeypatch):
    monkeypatch.setattr(side, "available_bytes", lambda: int(23e9))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    both = ["onnx", "openvino"]
    assert side.plan_side(both, 3, 14_000_000, True) == (both, side.ALONGSIDE)  # MobileNetV2: beside TensorFlow
    assert side.plan_side(both, 3, 575_000_000, True) == (both, side.FIRST)  # VGG19, no quantization: in turn
    # VGG19 INT8: beside TensorFlow's conversion and LiteRT's calibration, not beside its 8 GB quantization step
    assert side.plan_side(both, 3, 575_000_000, True, calibrates=True) == (both, side.UNTIL_QUANTIZE)
    assert side.plan_side(both, 2, 14_000_000, True) == (both, side.FIRST)  # nothing for TensorFlow to do meanwhile
    assert side.plan_side(both, 3, 14_000_000, False) == ([], side.FIRST)  # parallel off: all in this process
    monkeypatch.setattr(side, "available_bytes", lambda: int(4e9))
    assert side.plan_side(both, 3, 14_000_000, True) == (both, side.FIRST)  # a busy machine
    monkeypatch.setattr(side, "available_bytes", lambda: int(16e9))
    assert side.plan_side(both, 3, 575_000_000, True, calibrates=True) == (both, side.FIRST)  # not even for that


def test_tflite_quantizes_only_after_the_side_has_finished(tmp_path, monkeypatch):
    """UNTIL_QUANTIZE, end to end: when LiteRT's calibrator has taken its last image (TensorFlow's peak comes next,
    in quantization) the side process has exited with both formats done, and the export is whole."""
    from edgekit.exporting.options import ExportOptions
    from edgekit.exporting.pipeline import export

    monkeypatch.setattr(side, "plan_side", lambda names, *a, **k: (names, side.UNTIL_QUANTIZE))
    events, real_wait = [], side.wait_exit

    def spy_wait_exit(s):
        events.append(("calibrated", s.proc.pid))
        real_wait(s)
        alive = Path(f"/proc/{s.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]  # Z: exited, not reaped
        events.append(("side done", sorted(side.read_records(s)), alive))

    monkeypatch.setattr(side, "wait_exit", spy_wait_exit)
    log = tmp_path / "stages.tsv"
    monkeypatch.setenv(side.STAGE_LOG_ENV, str(log))  # both processes append their stages (benchmarks read it)
    opts = ExportOptions(
        model="mobilenetv2", precision="int8", formats=("tflite", "onnx", "openvino"), alpha=0.35, input_size=32,
        num_classes=10, calib_size=16, holdout=8, out=tmp_path,
    )  # fmt: skip
    records = export(opts, on_step=lambda msg: events.append(("step", msg)))
    assert [r["status"] for r in records] == ["ok", "ok", "ok"], records
    waits = [e for e in events if e[0] == "side done"]
    assert waits and waits[0] == ("side done", ["onnx", "openvino"], "Z"), events
    assert any("until TFLite quantizes" in e[1] for e in events if e[0] == "step")
    lines = [line.split("\t") for line in log.read_text().splitlines()]
    order = [(int(pid), text) for _, pid, _, text in lines]
    side_pid = waits and events[[e[0] for e in events].index("calibrated")][1]
    assert {pid for pid, _ in order} == {os.getpid(), side_pid}, order
    assert order.index((side_pid, "side process: exit")) < order.index((os.getpid(), "tflite int8: quantization"))


TF2ONNX_PROBE = textwrap.dedent(
    r"""
    import re, sys
    from pathlib import Path
    import keras, numpy as np, tf2onnx, tf2onnx.utils
    from edgekit.exporting.formats.onnx import OPSET, keras2onnx
    out, lean = Path(sys.argv[1]), sys.argv[2] == "lean"
    inp = keras.Input((8, 8, 64), batch_size=1)
    x = keras.layers.Flatten()(inp)
    for i in range(2):
        x = keras.layers.Dense(2048, activation="relu")(x)
    model = keras.Model(inp, keras.layers.Dense(10)(x))
    weights = model.count_params() * 4
    model(np.zeros((1, 8, 8, 64), np.float32))
    def hwm():  # VmHWM starts afresh at exec; ru_maxrss would carry the forking pytest's own peak
        return int(re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
    before = hwm()
    keras2onnx(model, out / "bounded.onnx", lean=lean)
    grew = hwm() - before
    # the same graph through tf2onnx as shipped (no edgekit workaround): the file must be the same
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    spec = [tf.TensorSpec((1, 8, 8, 64), tf.float32, "input")]
    fn = tf.function(lambda t: model(t, training=False), input_signature=spec)
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function())
    tf2onnx.utils.INTERNAL_NAME = 1
    tf2onnx.convert.from_graph_def(frozen.graph.as_graph_def(), input_names=[t.name for t in frozen.inputs],
        output_names=[t.name for t in frozen.outputs], opset=OPSET, output_path=str(out / "plain.onnx"))
    print(weights, grew)
    """
)


def test_tf2onnx_memory_does_not_grow_with_its_optimizer_passes(tmp_path):
    """Before the fix, each of tf2onnx's ~40 optimizer passes left one more copy of every weight in memory
    (here 39x the weights, ResNet50: 7.2 GB peak for 0.1 GB of them); now 16x (TensorFlow's own passes), and
    the graph and weights are unchanged.

    The lean path (models above 256 MB of weights; VGG19: 12 GB peak -> under 5 GB) freezes without building a
    new function, moves the weights out of the graph and runs Grappler without constant folding: the same
    weights and outputs (Grappler's folding of shapes and zero biases aside), and at least 4 weights' worth less
    memory than the default path (here ~6)."""
    import onnx

    weights, grew = run_tf2onnx_probe(tmp_path / "default", "default")
    assert grew < 25 * weights, f"keras2onnx grew {grew / 1e9:.2f} GB for {weights / 1e9:.2f} GB of weights"
    bounded, plain = (onnx.load(str(tmp_path / "default" / f"{n}.onnx")).graph for n in ("bounded", "plain"))
    assert [n.op_type for n in bounded.node] == [n.op_type for n in plain.node]
    assert sorted(t.raw_data for t in bounded.initializer) == sorted(t.raw_data for t in plain.initializer)

    _, grew_lean = run_tf2onnx_probe(tmp_path / "lean", "lean")
    assert grew_lean < grew - 4 * weights, f"lean path grew {grew_lean / 1e9:.2f} GB, default {grew / 1e9:.2f} GB"
    lean, plain = (onnx.load(str(tmp_path / "lean" / f"{n}.onnx")).graph for n in ("bounded", "plain"))
    big = {t.raw_data for t in plain.initializer if len(t.raw_data) > 1000}  # the weights, bit for bit
    assert len(big) == 3 and big <= {t.raw_data for t in lean.initializer}
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 64)).astype(np.float32)
    ya, yb = (_ort_outputs(tmp_path / "lean" / f"{n}.onnx", x) for n in ("bounded", "plain"))
    np.testing.assert_allclose(ya, yb, rtol=1e-5, atol=1e-6)


def test_lean_tf2onnx_matches_keras_with_batchnorm_and_depthwise(tmp_path):
    """BatchNorm's arithmetic on constants is folded by tf2onnx from the real values (Grappler's folding is off
    in the lean path, it would see zero-filled weights): outputs match Keras and the default path."""
    import keras

    from edgekit.exporting.formats.onnx import keras2onnx

    keras.utils.set_random_seed(3)
    inp = keras.Input((16, 16, 3), batch_size=1)
    x = keras.layers.Conv2D(32, 3, padding="same")(inp)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(20)(x))
    for layer in model.layers:  # non-trivial moving statistics, so that folding them wrongly shows
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            rng = np.random.default_rng(len(gamma))
            layer.set_weights([gamma * 1.5, beta + 0.1, rng.normal(0, 0.5, mean.shape), rng.uniform(0.5, 2, var.shape)])
    x = np.random.default_rng(1).standard_normal((1, 16, 16, 3)).astype(np.float32)
    want = model(x, training=False).numpy()
    keras2onnx(model, tmp_path / "lean.onnx", lean=True)
    keras2onnx(model, tmp_path / "default.onnx", lean=False)
    for name in ("lean", "default"):
        np.testing.assert_allclose(_ort_outputs(tmp_path / f"{name}.onnx", x), want, rtol=1e-4, atol=1e-5)


def _ort_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def run_tf2onnx_probe(tmp_path: Path, mode: str) -> tuple[int, int]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(
        [sys.executable, "-c", TF2ONNX_PROBE, str(tmp_path), mode],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    weights, grew = (int(v) for v in res.stdout.split()[-2:])
    assert weights > 40e6 and grew > weights, "the probe must see the conversion's own peak"
    return weights, grew


@pytest.mark.parametrize("script", ["import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "raise SystemExit(1)"])
def test_other_side_deaths_fall_back_to_this_process(tmp_path, script):
    """Only a kill reads as out of memory; a crash or an error exit leaves its formats to be exported in-process."""
    from edgekit.exporting.options import ExportOptions
    from edgekit.exporting.pipeline import SharedInputs
    from edgekit.models.registry import PREPROCESS_TF

    opts = ExportOptions(model="mobilenetv2", precision="int8")
    shared = SharedInputs("mobilenetv2", PREPROCESS_TF, 32, {}, opts, None, None, None, tmp_path, tmp_path, 0)
    proc = subprocess.Popen([sys.executable, "-c", script])
    s = side.SideExport(["onnx"], proc, tmp_path / "r.pkl", tmp_path / "stage", tmp_path / "err", side.ALONGSIDE)
    assert side.finish(s, shared) == ({}, ["onnx"])


def test_side_peak_is_its_own_not_the_forking_parents():
    """A child forked from a big process reports that process's peak as its own ru_maxrss (Linux folds it in at
    exec); the out-of-memory message must name the side's own peak, read from its VmHWM while it runs."""
    ballast = b"\x01" * 600_000_000  # this process now holds 600 MB more: the child's ru_maxrss would include it
    script = "import time; x = b'\\x01' * 100_000_000; time.sleep(1.0)"
    proc = subprocess.Popen([sys.executable, "-c", script])
    watcher = side.PeakWatcher(proc.pid, interval_s=0.05)
    watcher.start()
    s = side.SideExport(["onnx"], proc, Path("r"), Path("s"), Path("e"), side.ALONGSIDE, watcher)
    code, peak = side.wait(s)
    assert code == 0 and len(ballast) == 600_000_000
    assert 100e6 < peak < 400e6, f"side peak {peak / 1e6:.0f} MB"


def _bench():
    import importlib.util

    repo = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("export_memory", repo / "benchmarks" / "export_memory.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench, repo


def test_stage_seconds_are_spans_between_a_process_own_stages():
    """The README's "where the wall time went": each stage lasts until that same process's next one."""
    stages = [
        [0.0, "cli", 0.1, "building vgg19"],
        [4.0, "cli", 4.0, "tflite int8: conversion"],
        [4.2, "side", 0.1, "onnx int8: quantize_static (calibration on 200 images)"],
        [30.0, "cli", 29.0, "tflite int8: quantization"],
        [40.0, "side", 35.0, "side process: exit"],
        [50.4, "cli", 49.0, "done in 50.4 s"],
    ]
    line = _bench()[0].stage_line(stages)
    assert line == (
        "CLI: building vgg19 4, tflite int8: conversion 26, tflite int8: quantization 20; "
        "side process: onnx int8: quantize_static 36"
    )


def test_growth_line_compares_the_exports_slope_with_the_converters():
    """Peak memory against float32 weight bytes: the verdict follows the fitted slopes, it is not typed."""
    bench = _bench()[0]

    def doc(export_slope: float) -> dict:
        models = {}
        for i, gb in enumerate((0.1, 0.5, 1.0)):  # float32 weight GB
            bare = {f: {"peak_gb": 1.0 + 10 * gb, "cpu_s": 10.0} for f in bench.FORMATS}
            export = {"exit_code": 0, "peak_tree_gb": 3.0 + export_slope * gb, "cpu_s": 36.0}
            models[f"m{i}"] = {"params": gb * bench.GB / 4, "export": export, "bare": bare}
        return {"models": models}

    slower = " ".join(bench.growth_lines(doc(8.0)))
    assert "3.0 GB + 8.0 x" in slower and "1.0 GB + 10.0 x" in slower and "grows no faster than" in slower
    assert "median 1.20" in slower
    assert "grows FASTER than" in " ".join(bench.growth_lines(doc(14.0)))


def test_readme_table_is_the_one_the_benchmark_generates():
    """docs/evidence.md's export-memory table comes from benchmarks/results/export_memory.json, never typed by hand."""
    bench, repo = _bench()
    readme = (repo / "docs" / "evidence.md").read_text()
    results = repo / "benchmarks" / "results" / "export_memory.json"
    if bench.README_START not in readme or not results.exists():
        pytest.skip("no export-memory table in this checkout")
    block = readme.split(bench.README_START, 1)[1].split(bench.README_END, 1)[0].strip()
    assert block == bench.readme_table(json.loads(results.read_text())).strip()


def test_an_interrupted_export_stops_its_side_process(tmp_path, monkeypatch):
    """^C (or any error) in the parent while the side converts: the side is killed, not left running, and leaves no
    temporary folder behind."""
    from edgekit.exporting import pipeline as core

    monkeypatch.setattr(side, "plan_side", lambda names, *a, **k: (names, side.UNTIL_QUANTIZE))
    started, real_start, real_export_one = [], side.start, core.export_one
    monkeypatch.setattr(side, "start", lambda *a: started.append(real_start(*a)) or started[-1])

    def interrupted(fmt, src, shared, *unit):
        if fmt.name == "tflite":
            raise KeyboardInterrupt
        return real_export_one(fmt, src, shared, *unit)

    monkeypatch.setattr(core, "export_one", interrupted)
    opts = core.ExportOptions(
        model="mobilenetv2", precision="int8", formats=("tflite", "onnx", "openvino"), alpha=0.35, input_size=32,
        num_classes=10, calib_size=16, holdout=8, out=tmp_path,
    )  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        core.export(opts, on_step=lambda msg: None)
    assert started and started[0].proc.returncode == -signal.SIGKILL
    assert not Path(f"/proc/{started[0].proc.pid}").exists()
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
