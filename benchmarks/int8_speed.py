"""INT8 vs FP32 speed per runtime, and edgekit's INT8 settings against the alternatives, measured side by side.

    python benchmarks/int8_speed.py [--models mobilenetv2,efficientnetb0,squeezenet] [--size 224] [--rounds 9]
                                    [--calib-size 32] [--batch-seconds 0.5] [--layers auto|always|never]
                                    [--cache /tmp/edgekit-int8-speed] [--rebuild] [--target 2.0] [--tolerance 0.05]
                                    [--results int8-speed]   # -> benchmarks/results/int8-speed.json

What it proves, per model (random weights: speed does not depend on trained values):
  1. speed-up of each runtime's INT8 artifact over its FP32 artifact at ONE thread (ONNX Runtime, OpenVINO, LiteRT),
     against the --target (2x);
  2. that edgekit's INT8 choice is within --tolerance (5 %) of the fastest alternative:
     ONNX Runtime  U8S8 vs S8S8, per-channel vs per-tensor, reduce_range on/off (all QDQ from the same FP32 graph);
     OpenVINO      NNCF preset performance (edgekit) vs mixed (edgekit's other nncf.quantize arguments kept);
     LiteRT        full-integer with int8 I/O (edgekit's default) vs float I/O;
     each with a logits cosine against the float model, so a faster setting that damages the model shows. A "twin"
     (edgekit's settings quantized a second time) gives the noise floor of the comparison;
  3. where INT8 misses the target: which ops hold it back, per op type and per layer (FP32 vs INT8), from ONNX Runtime's
     profiler, OpenVINO's performance counters and LiteRT per-op timing (edgekit.device.runner.profile_ops), plus the
     top layers from edgekit.measure.host.measure_artifact.

How: artifacts are made once (cached under --cache) in a child process with edgekit's export API
(edgekit.exporting.pipeline.export, --calib-size builtin images), plus the alternative quantizations of the same FP32
ONNX / OpenVINO files. Timing then runs in this process without TensorFlow loaded: every artifact is loaded once, and
the rounds interleave all of them (the order rotates each round), each turn timing a short batch of single-threaded
inferences and keeping its median. A variant's latency is the best of those per-round medians; ratios are also given
as the median of per-round ratios (both runs of a pair ran seconds apart under the same load of this shared machine).

If edgekit's export fails for a format (seen: EfficientNet -> ONNX, where tf2onnx leaves the Normalization layer's
constants as graph inputs), the run says so and builds the FP32 ONNX itself (edgekit's keras2onnx, the stray inputs
folded back into constants, checked against Keras) so that runtime is still timed; those rows are flagged.
A full run (3 models, 224 px, cold cache) takes about 9 minutes on the 2-core machine; with a warm cache about 4.

Exit status 0 (a measurement, not a test).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _results import load_now, write_result

MODELS = ("mobilenetv2", "efficientnetb0", "squeezenet")
DEFAULT_CACHE = Path("/tmp/edgekit-int8-speed")

# ONNX Runtime alternatives: (label, activation type, weight type, per_channel, reduce_range).
ONNX_VARIANTS = [
    ("U8S8 per-channel", "QUInt8", "QInt8", True, False),
    ("U8S8 per-channel reduce_range", "QUInt8", "QInt8", True, True),
    ("S8S8 per-channel", "QInt8", "QInt8", True, False),
    ("S8S8 per-channel reduce_range", "QInt8", "QInt8", True, True),
    ("U8S8 per-tensor", "QUInt8", "QInt8", False, False),
    ("S8S8 per-tensor", "QInt8", "QInt8", False, False),
]


def slug(label: str) -> str:
    return label.lower().replace(" ", "-").replace("_", "-")


# ============================================================================================= build (child process)
def build(model: str, size: int, calib_size: int, root: Path, rebuild: bool) -> None:
    """All artifacts of one model under root/<model>-<size>/ (skipped when present, unless rebuild).

    built.json maps each role to its file. An edgekit export that fails for a format is recorded there; for ONNX the
    benchmark then makes the FP32 graph itself (edgekit's keras2onnx, stray graph inputs folded back into constants)
    and derives the ONNX and OpenVINO artifacts from that, so the runtime can still be timed. Such rows are flagged.
    """
    from edgekit.exporting.options import ExportOptions
    from edgekit.exporting.pipeline import export

    base = root / f"{model}-{size}"
    done = base / "built.json"
    if done.exists() and not rebuild and "paths" in json.loads(done.read_text()):
        return
    common = dict(model=model, input_size=size, calib_size=calib_size, holdout=8, layer_report=False, threads=1)
    t0 = time.perf_counter()
    failures: list[str] = []
    for precision in ("fp32", "int8"):  # edgekit's own choices, all three default formats
        failures += failed(export(ExportOptions(precision=precision, out=base / "edgekit", **common)))
    # LiteRT full-integer with float input/output: edgekit's --io float.
    opts = ExportOptions(precision="int8", formats=("tflite",), io="float", out=base / "io-float", **common)
    failures += failed(export(opts))
    ek = base / "edgekit" / model
    paths: dict[str, str | None] = {
        "tflite_fp32": str(ek / "tflite-fp32" / "model.tflite"),
        "tflite_int8": str(ek / "tflite-int8" / "model.tflite"),
        "tflite_int8_float_io": str(base / "io-float" / model / "tflite-int8" / "model.tflite"),
        "onnx_fp32": str(ek / "onnx-fp32" / "model.onnx"),
        "onnx_int8": str(ek / "onnx-int8" / "model.onnx"),
        "openvino_fp32": str(ek / "openvino-fp32" / "model.xml"),
        "openvino_int8": str(ek / "openvino-int8" / "model.xml"),
    }
    for key, value in paths.items():  # a file is usable when it exists and takes the image as its only input
        if value and not usable(Path(value)):
            paths[key] = None
    fixed = None
    if paths["onnx_fp32"] is None:
        fixed = repaired_onnx(model, size, calib_size, base / "repaired")
        paths["onnx_fp32"] = str(fixed / "model.onnx")
        paths["openvino_fp32"] = str(fixed / "model.xml")
    onnx_variants(model, size, calib_size, base, Path(paths["onnx_fp32"]))
    openvino_variants(model, size, calib_size, base, Path(paths["openvino_fp32"]))
    for key in ("onnx_int8", "openvino_int8"):  # edgekit's exported INT8 missing: its own settings, same code
        if paths[key] is None:
            paths[key] = str(base / key.split("_")[0] / ("edgekit.onnx" if key == "onnx_int8" else "edgekit.xml"))
    meta = {"seconds": time.perf_counter() - t0, "calib_size": calib_size, "paths": paths, "failures": failures}
    meta["repaired"] = bool(fixed)
    done.write_text(json.dumps(meta, indent=1))


def failed(records: list[dict[str, Any]]) -> list[str]:
    out = []
    for r in records:
        if r["status"] == "failed":
            out.append(f"edgekit export {r['format']} {r['precision']}: {r.get('error')}")
            print(f"warning: {out[-1]}", file=sys.stderr)
    return out


def usable(path: Path) -> bool:
    if not path.is_file():
        return False
    if path.suffix == ".onnx":
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
        inits = {i.name for i in graph.initializer}
        return len([i for i in graph.input if i.name not in inits]) == 1
    if path.suffix == ".xml":
        from edgekit.device import read_openvino_model

        return len(read_openvino_model(path).inputs) == 1
    return True


def repaired_onnx(model: str, size: int, calib_size: int, out: Path) -> Path:
    """FP32 ONNX (and the OpenVINO IR converted from it) when edgekit's ONNX export fails.

    Seen with EfficientNet: tf2onnx turns the Normalization layer's mean/variance constants into graph inputs
    ('.../normalization_1/Sub/y:0', '.../Sqrt/x:0'), so ONNX Runtime refuses a feed with the image alone. The values
    are Consts in the frozen TensorFlow graph: put them back as initializers.
    """
    import onnx
    import openvino as ov
    import tensorflow as tf
    from onnx import numpy_helper
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    from edgekit.exporting.formats.onnx import keras2onnx
    from edgekit.exporting.pipeline import reestimate_batchnorm
    from edgekit.models.registry import create_model
    from edgekit.quiet import quiet_tf

    out.mkdir(parents=True, exist_ok=True)
    with quiet_tf():
        keras_model = create_model(model, size, 1000, None, "none")
        reestimate_batchnorm(keras_model, calibration(model, size, calib_size).images)
        raw = keras2onnx(keras_model, out / "raw.onnx")
        spec = tf.TensorSpec((1, size, size, 3), tf.float32)
        fn = tf.function(lambda x: keras_model(x, training=False)).get_concrete_function(spec)
        nodes = convert_variables_to_constants_v2(fn).graph.as_graph_def().node
    consts = {n.name: tf.make_ndarray(n.attr["value"].tensor) for n in nodes if n.op == "Const"}
    proto = onnx.load(str(raw))
    graph = proto.graph
    for inp in list(graph.input)[1:]:
        name = inp.name.split(":")[0]
        match = consts.get(name) if name in consts else next(
            (v for k, v in consts.items() if k.split("/", 1)[-1] == name.split("/", 1)[-1]), None
        )  # fmt: skip
        if match is None:
            raise SystemExit(f"cannot repair ONNX input {inp.name}: no such constant in the frozen graph")
        dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
        graph.initializer.append(numpy_helper.from_array(np.asarray(match, np.float32).reshape(dims), inp.name))
        graph.input.remove(inp)
        print(f"repaired: graph input {inp.name} {dims} -> constant", file=sys.stderr)
    onnx.save(proto, str(out / "model.onnx"))
    check_repair(out / "model.onnx", keras_model, calibration(model, size, 2).images)
    ir = ov.convert_model(str(out / "model.onnx"), input=[[1, size, size, 3]])
    ov.save_model(ir, str(out / "model.xml"), compress_to_fp16=False)
    return out


def holdout_images(model: str, size: int, n: int) -> np.ndarray:
    from edgekit.data import calibration as data
    from edgekit.models.registry import get_spec

    return data.builtin(max(n, 1), size, get_spec(model).preprocess, 1).images  # seed 1: not the calibration images


def check_repair(path: Path, keras_model, images: np.ndarray) -> None:
    from edgekit.device import open_model

    sess = open_model(path, runtime="onnxruntime")
    got = np.concatenate([sess.run([np.ascontiguousarray(images[i : i + 1])])[0] for i in range(2)])
    want = np.asarray(keras_model(images[:2], training=False))
    diff = float(np.abs(got - want).max())
    print(f"repaired ONNX vs Keras: max abs diff {diff:.2e}", file=sys.stderr)
    if diff > 1e-3 * max(1.0, float(np.abs(want).max())):
        raise SystemExit(f"repaired ONNX does not match Keras (max abs diff {diff:.3g})")


def calibration(model: str, size: int, calib_size: int):
    """The same images export() calibrates on (builtin, seed 0)."""
    from edgekit.data import calibration as data
    from edgekit.models.registry import get_spec

    return data.builtin(calib_size, size, get_spec(model).preprocess, 0)


def onnx_variants(model: str, size: int, calib_size: int, base: Path, src: Path) -> None:
    """Quantize the FP32 ONNX edgekit exported, once with edgekit's own code and settings, then each alternative."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from edgekit.exporting.formats.onnx import _input_name, int8_settings, quantize_onnx

    out = base / "onnx"
    out.mkdir(parents=True, exist_ok=True)
    calib = calibration(model, size, calib_size)
    settings = int8_settings()
    quantize_onnx(src, out / "edgekit.onnx", calib, out, settings)  # edgekit's path, same float graph as the others
    (out / "edgekit.json").write_text(json.dumps(settings))
    pre = out / "preprocessed.onnx"
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)  # what quantize_onnx does first
    name = _input_name(pre)
    for label, act, wt, per_channel, reduce_range in ONNX_VARIANTS:
        quantize_static(
            str(pre),
            str(out / f"{slug(label)}.onnx"),
            calib.onnx_reader(name),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            reduce_range=reduce_range,
            activation_type=getattr(QuantType, act),
            weight_type=getattr(QuantType, wt),
            calibrate_method=CalibrationMethod.MinMax,
        )


def openvino_variants(model: str, size: int, calib_size: int, base: Path, src: Path) -> None:
    """NNCF on the FP32 IR edgekit exported: edgekit's nncf_quantize, then the same call with each preset.

    The arguments edgekit passes to nncf.quantize (range estimator, model type...) are captured and reused, so the
    alternatives differ from edgekit's choice in the preset only.
    """
    import nncf
    import openvino as ov

    from edgekit.device import read_openvino_model
    from edgekit.exporting.formats.openvino import nncf_quantize

    out = base / "openvino"
    out.mkdir(parents=True, exist_ok=True)
    calib = calibration(model, size, calib_size)
    captured: dict[str, Any] = {}
    original = nncf.quantize

    def capture(model_, dataset, **kwargs):
        captured.update(kwargs)
        return original(model_, dataset, **kwargs)

    nncf.quantize = capture
    try:
        quantized, meta = nncf_quantize(read_openvino_model(src), calib, model)
    finally:
        nncf.quantize = original
    ov.save_model(quantized, str(out / "edgekit.xml"), compress_to_fp16=False)
    meta["nncf_kwargs"] = {k: str(v) for k, v in captured.items()}
    (out / "edgekit.json").write_text(json.dumps(meta, default=str))
    nncf.set_log_level(40)
    for preset in (nncf.QuantizationPreset.PERFORMANCE, nncf.QuantizationPreset.MIXED):
        kwargs = {**captured, "preset": preset}
        q = nncf.quantize(read_openvino_model(src), calib.nncf_dataset(), **kwargs)
        ov.save_model(q, str(out / f"preset-{preset.value}.xml"), compress_to_fp16=False)


# ================================================================================================ timing (this process)
@dataclass
class Variant:
    runtime: str  # onnxruntime | openvino | litert
    label: str
    path: Path
    role: str  # fp32 | int8 (the exported INT8 artifact) | alt (a settings alternative) | context
    chosen: bool = False  # edgekit's setting among the alternatives
    precision: str = "int8"  # OpenVINO: fp32 compiles with INFERENCE_PRECISION_HINT=f32
    hint: str | None = None  # OpenVINO inference precision override for context rows
    run: Callable[[], Any] | None = field(default=None, repr=False)
    batch: int = 10
    medians: list[float] = field(default_factory=list)
    cosine: float | None = None  # logits vs the runtime's FP32 artifact on held-out images
    twin: bool = False  # same settings as edgekit's choice, quantized separately: shows the noise floor


def variants_of(model: str, size: int, root: Path) -> tuple[list[Variant], dict[str, Any]]:
    base = root / f"{model}-{size}"
    meta = json.loads((base / "built.json").read_text())
    p = {k: Path(v) for k, v in meta["paths"].items()}
    onnx_choice = json.loads((base / "onnx" / "edgekit.json").read_text())
    # model.* = edgekit's exported artifact; edgekit.* = edgekit's own quantizer run here (the export failed)
    ek_onnx = "INT8 (edgekit export)" if p["onnx_int8"].name == "model.onnx" else "INT8 (edgekit quantize_onnx)"
    ek_ov = "INT8 (edgekit export)" if p["openvino_int8"].name == "model.xml" else "INT8 (edgekit nncf_quantize)"
    fixed = " [repaired FP32 ONNX]" if meta.get("repaired") else ""
    out = [
        Variant("onnxruntime", "FP32" + fixed, p["onnx_fp32"], "fp32", precision="fp32"),
        Variant("onnxruntime", ek_onnx, p["onnx_int8"], "int8"),
        Variant("onnxruntime", f"edgekit: {describe_onnx(onnx_choice)}", base / "onnx" / "edgekit.onnx", "alt", True),
    ]
    for label, *_ in ONNX_VARIANTS:
        twin = label == describe_onnx(onnx_choice)
        out.append(Variant("onnxruntime", label, base / "onnx" / f"{slug(label)}.onnx", "alt", twin=twin))
    out += [
        Variant("openvino", "FP32 (f32 hint)" + fixed, p["openvino_fp32"], "fp32", precision="fp32"),
        Variant("openvino", "FP32 IR, default hint (bf16)", p["openvino_fp32"], "context", hint="bf16"),
        Variant("openvino", ek_ov, p["openvino_int8"], "int8"),
        Variant("openvino", "edgekit: nncf_quantize", base / "openvino" / "edgekit.xml", "alt", True),
        Variant("openvino", "preset performance", base / "openvino" / "preset-performance.xml", "alt", twin=True),
        Variant("openvino", "preset mixed", base / "openvino" / "preset-mixed.xml", "alt"),
        Variant("litert", "FP32", p["tflite_fp32"], "fp32", precision="fp32"),
        # The exported INT8 TFLite is edgekit's choice and one of the alternatives at once.
        Variant("litert", "INT8 int8 I/O (edgekit default)", p["tflite_int8"], "int8+alt", True),
        Variant("litert", "INT8 float I/O (--io float)", p["tflite_int8_float_io"], "alt"),
    ]
    return out, meta


def describe_onnx(s: dict[str, Any]) -> str:
    act = "U8" if s["activation_type"] == "QUInt8" else "S8"
    wt = "U8" if s["weight_type"] == "QUInt8" else "S8"
    return f"{act}{wt} per-channel{' reduce_range' if s['reduce_range'] else ''}"


def random_input(shape, dtype) -> np.ndarray:
    rng = np.random.default_rng(0)
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max + 1, size=shape).astype(dtype)
    return rng.random(size=shape).astype(dtype)


def open_variant(v: Variant) -> Any:
    """The artifact in edgekit.device's backend for its runtime, one thread: the session, OpenVINO configuration
    (f32 inference for an FP32 IR unless the row overrides the hint) and interpreter edgekit measures with."""
    from edgekit.device import open_model

    precision = v.hint or v.precision  # a hint ("bf16") means: not f32, the plugin's default
    return open_model(v.path, runtime=v.runtime, threads=1, precision=precision)


def load(v: Variant) -> Callable[[], Any]:
    """One timed call: only the runtime's own inference call (inputs set once, as the device runner does)."""
    model = open_variant(v)
    inputs = [random_input(d["shape"], d["dtype"]) for d in model.input_specs()]
    return model.inference_call(inputs)


def predict(v: Variant, images: np.ndarray) -> np.ndarray:
    """Float logits for each image (int8 I/O quantized and dequantized the way edgekit's runners do)."""
    if v.runtime == "litert":
        from edgekit.exporting.formats.tflite import TFLiteArtifact

        return TFLiteArtifact(v.path, threads=1).run(images)
    model = open_variant(v)
    return np.concatenate([model.run([np.ascontiguousarray(images[i : i + 1])])[0] for i in range(len(images))])


def fidelity(variants: list[Variant], images: np.ndarray) -> None:
    """Logits cosine of each artifact against the float model with the same weights: a fast setting must be usable.

    Artifacts that edgekit exported carry their own fidelity (vs Keras) in manifest.json: that number is used, since
    every export builds its own randomly initialised model. Artifacts quantized here from the FP32 file are compared
    with that FP32 file on held-out images.
    """
    for runtime in {v.runtime for v in variants}:
        vs = [v for v in variants if v.runtime == runtime]
        ref = predict(next(v for v in vs if v.role == "fp32"), images).reshape(len(images), -1)
        for v in vs:
            manifest = v.path.parent / "manifest.json"
            if manifest.is_file() and v.role != "context":
                v.cosine = json.loads(manifest.read_text())["fidelity"]["cosine"]
                v.label += " (m)"
                continue
            y = predict(v, images).reshape(len(images), -1)
            cos = (ref * y).sum(1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(y, axis=1) + 1e-12)
            v.cosine = float(cos.mean())


def time_batch(run: Callable[[], Any], n: int) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        run()
        times.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(times)


def measure_interleaved(variants: list[Variant], rounds: int, batch_seconds: float) -> None:
    for v in variants:
        v.run = load(v)
        v.run()  # first inference: allocations, kernel selection
        one = time_batch(v.run, 3)
        v.batch = int(min(60, max(3, round(batch_seconds * 1000 / max(one, 1e-3)))))
    for r in range(rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        if r % 2:
            order = order[::-1]
        for v in order:
            v.medians.append(time_batch(v.run, v.batch))
        print(f"  round {r + 1}/{rounds} done (load average {os.getloadavg()[0]:.1f})", flush=True)


def best(v: Variant) -> float:
    return min(v.medians)


def paired(a: Variant, b: Variant) -> float:
    """Median over rounds of a/b (each pair measured in the same round)."""
    return statistics.median(x / y for x, y in zip(a.medians, b.medians, strict=True))


# ============================================================================================== per-op breakdowns
def ort_ops(path: Path, runs: int) -> tuple[dict[str, float], dict[str, int], dict[str, float]]:
    """(ms per op type, node count per op type, ms per node) from ONNX Runtime's profiler, mean over runs."""
    from edgekit.device import open_model

    model = open_model(path, runtime="onnxruntime", threads=1)
    rows = model.profile_ops(path, [random_input(d["shape"], d["dtype"]) for d in model.input_specs()], 1, runs)
    return group({r["name"]: r["time_ms"] for r in rows}, {r["name"]: r["op"] for r in rows})


def ov_ops(v: Variant, runs: int) -> tuple[dict[str, float], dict[str, int], dict[str, float]]:
    """Per OpenVINO node type + kernel (exec_type), from PERF_COUNT, mean over runs."""
    model = open_variant(v)
    rows = model.profile_ops(v.path, [random_input(d["shape"], d["dtype"]) for d in model.input_specs()], 1, runs)
    return group({r["name"]: r["time_ms"] for r in rows}, {r["name"]: f"{r['op']} [{r['exec_type']}]" for r in rows})


def litert_ops(path: Path) -> tuple[dict[str, float], dict[str, int], dict[str, float]]:
    """LiteRT has no per-op profiler in Python: edgekit's device runner times each op alone (one-op models)."""
    from edgekit.device import open_model

    model = open_model(path, runtime="litert", threads=1)
    rows = model.profile_ops(path, [random_input(d["shape"], d["dtype"]) for d in model.input_specs()], 1)
    ms = {f"{r['index']}:{r['name']}": r["time_ms"] for r in rows}
    ops = {f"{r['index']}:{r['name']}": r["op"] for r in rows}
    return group(ms, ops)


def group(ms_node: dict[str, float], node_op: dict[str, str]):
    by_op: dict[str, float] = {}
    count: dict[str, int] = {}
    for node, ms in ms_node.items():
        op = node_op.get(node, "?")
        by_op[op] = by_op.get(op, 0.0) + ms
        count[op] = count.get(op, 0) + 1
    return by_op, count, ms_node


def print_breakdown(runtime: str, fp32: Variant, int8: Variant, runs: int, top: int) -> None:
    print(f"\n  -- {runtime}: where the time goes, FP32 vs INT8 (per op type, single thread)")
    if runtime == "onnxruntime":
        f, i = ort_ops(fp32.path, runs), ort_ops(int8.path, runs)
    elif runtime == "openvino":
        f, i = ov_ops(fp32, runs), ov_ops(int8, runs)
    else:
        f, i = litert_ops(fp32.path), litert_ops(int8.path)
    for title, (by_op, count, _) in (("FP32", f), ("INT8", i)):
        total = sum(by_op.values())
        print(f"  {title}: summed op time {total:.2f} ms")
        print(f"    {'op type':<58} {'nodes':>5} {'ms':>8} {'%':>6}")
        for op, ms in sorted(by_op.items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {op[:58]:<58} {count[op]:>5} {ms:>8.3f} {100 * ms / total:>6.1f}")
    print(f"  top layers of the INT8 artifact (edgekit.measure.host.measure_artifact, {int8.path.name}):")
    try:
        from edgekit.measure.host import measure_artifact

        res = measure_artifact(int8.path, threads=1, runs=10, min_seconds=0.3, warmup=2, profile_layers=True)
        res_f = measure_artifact(fp32.path, threads=1, runs=10, min_seconds=0.3, warmup=2, profile_layers=True)
        for tag, r in (("FP32", res_f), ("INT8", res)):
            print(f"    {tag}: median {r['latency_ms']['median']:.2f} ms; {r.get('layers_note') or ''}")
            for layer in (r.get("layers") or [])[:6]:
                extra = f" [{layer['exec_type']}]" if layer.get("exec_type") else ""
                name = layer["name"][-48:]
                print(f"      {layer['time_ms']:>8.3f} ms {layer['percent']:>5.1f}%  {layer['op']}{extra}  {name}")
    except Exception as exc:  # a diagnostic: keep the tables above
        print(f"    measure_artifact failed: {type(exc).__name__}: {str(exc)[:200]}")


# ================================================================================================== report
def report(model: str, variants: list[Variant], target: float, tolerance: float) -> list[dict[str, Any]]:
    rows = []
    print(f"\n== {model}: latency, single thread (best of {len(variants[0].medians)} interleaved rounds)")
    print(
        f"  {'runtime':<12} {'variant':<40} {'role':<8} {'best ms':>8} {'rounds ms (min-max)':>20} {'vs FP32':>8} "
        f"{'cosine':>7}"
    )
    for runtime in ("onnxruntime", "openvino", "litert"):
        vs = [v for v in variants if v.runtime == runtime]
        fp32 = next(v for v in vs if v.role == "fp32")
        for v in vs:
            spread = f"{min(v.medians):.2f}-{max(v.medians):.2f}"
            speed = best(fp32) / best(v)
            mark = " *" if v.chosen else ""
            cos = "-" if v.cosine is None else f"{v.cosine:.4f}"
            print(
                f"  {runtime:<12} {v.label + mark:<40} {v.role:<8} {best(v):>8.2f} {spread:>20} {speed:>7.2f}x {cos:>7}"
            )
    print("  (* = edgekit's choice; vs FP32 = FP32 best / variant best; cosine = mean logits cosine vs the float model")
    print("   with the same weights: (m) = from the export's manifest (vs Keras), else vs the FP32 file on held-out")
    print("   builtin images. Random weights with BatchNorm re-estimated: a relative damage indicator only.)")

    print(f"\n  {'runtime':<12} {'INT8 speed-up (best)':>20} {'(paired median)':>16} {'target':>7} {'verdict':>8}")
    for runtime in ("onnxruntime", "openvino", "litert"):
        vs = [v for v in variants if v.runtime == runtime]
        fp32 = next(v for v in vs if v.role == "fp32")
        int8 = next(v for v in vs if v.role.startswith("int8"))
        s_best, s_pair = best(fp32) / best(int8), paired(fp32, int8)
        ok = "ok" if s_best >= target else "MISS"
        print(f"  {runtime:<12} {s_best:>19.2f}x {s_pair:>15.2f}x {target:>6.1f}x {ok:>8}")
        alts = [v for v in vs if v.role in ("alt", "int8+alt")]
        chosen = next(v for v in alts if v.chosen)
        fastest = min(alts, key=best)
        slower_best = best(chosen) / best(fastest) - 1
        slower_pair = paired(chosen, fastest) - 1
        twin = next((v for v in alts if v.twin), None)
        noise = abs(paired(chosen, twin) - 1) if twin else None
        rows.append(
            {
                "model": model,
                "runtime": runtime,
                "fp32_ms": best(fp32),
                "int8_ms": best(int8),
                "speedup": s_best,
                "speedup_paired": s_pair,
                "chosen": chosen.label,
                "fastest": fastest.label,
                "chosen_slower": slower_best,
                "chosen_slower_paired": slower_pair,
                "noise": noise,
                "fp32": fp32,
                "int8": int8,
            }
        )
    print(
        f"\n  {'runtime':<12} {'edgekit choice':<36} {'fastest alternative':<30} {'slower':>7} {'paired':>7} "
        f"{'noise':>6} verdict"
    )
    for r in rows:
        r["verdict"] = verdict(r["chosen_slower"], r["chosen_slower_paired"], tolerance, r["noise"])
        noise = "-" if r["noise"] is None else f"{100 * r['noise']:.1f}%"
        print(
            f"  {r['runtime']:<12} {r['chosen'][:36]:<36} {r['fastest'][:30]:<30} {100 * r['chosen_slower']:>6.1f}% "
            f"{100 * r['chosen_slower_paired']:>6.1f}% {noise:>6} {r['verdict']}"
        )
    print(
        "  (slower = best-of-N ratio; paired = median of per-round ratios; noise = the same settings quantized\n"
        "   twice and timed as two artifacts. SLOWER only when both estimates exceed the tolerance + noise.)"
    )
    return rows


def verdict(slower_best: float, slower_paired: float, tolerance: float, noise: float | None) -> str:
    """SLOWER only when both estimates exceed the tolerance plus the measured noise floor (twin artifacts)."""
    over = [x > tolerance for x in (slower_best, slower_paired)]
    if not any(over):
        return "ok"
    if all(x > tolerance + (noise or 0.0) for x in (slower_best, slower_paired)):
        return "SLOWER"
    return "ok within noise (rerun with more --rounds to settle it)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated registered model names")
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--rounds", type=int, default=9, help="interleaved timing rounds (best-of-N medians)")
    ap.add_argument("--batch-seconds", type=float, default=0.5, help="seconds per variant per round")
    ap.add_argument("--calib-size", type=int, default=32)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where artifacts are built and reused")
    ap.add_argument("--rebuild", action="store_true", help="rebuild cached artifacts")
    ap.add_argument("--target", type=float, default=2.0, help="INT8 speed-up asked for")
    ap.add_argument("--tolerance", type=float, default=0.05, help="how much slower edgekit's choice may be")
    ap.add_argument("--layers", choices=("auto", "always", "never"), default="auto",
                    help="per-op breakdown: auto = only for runtimes below --target")  # fmt: skip
    ap.add_argument("--profile-runs", type=int, default=10)
    ap.add_argument("--holdout", type=int, default=8, help="held-out images for the cosine column (0: skip)")
    ap.add_argument("--top", type=int, default=8, help="op types listed in breakdowns")
    ap.add_argument("--results", default="int8-speed", help="benchmarks/results/<name>.json ('' = none)")
    ap.add_argument("--phase", choices=("all", "build"), default="all", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]

    if args.phase == "build":
        from edgekit.quiet import quiet_env

        quiet_env()
        for m in models:
            build(m, args.size, args.calib_size, args.cache, args.rebuild)
        return 0

    for m in models:  # build in a child: TensorFlow stays out of the timing process
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--phase", "build", "--models", m, "--size", str(args.size)]
        cmd += ["--calib-size", str(args.calib_size), "--cache", str(args.cache)]
        cmd += ["--rebuild"] if args.rebuild else []
        subprocess.run(cmd, check=True)
        print(f"artifacts for {m} ready in {time.perf_counter() - t0:.0f} s ({args.cache / f'{m}-{args.size}'})")

    from edgekit.exporting.formats.onnx import int8_settings

    print(f"\nedgekit's ONNX Runtime choice on this CPU: {int8_settings()}")
    load_before = load_now()
    all_rows: list[dict[str, Any]] = []
    timings: list[dict[str, Any]] = []
    for m in models:
        variants, meta = variants_of(m, args.size, args.cache)
        for note in meta.get("failures", []):
            print(f"  note: {note}")
        print(f"\ntiming {m} at {args.size} px: {len(variants)} artifacts, {args.rounds} interleaved rounds, 1 thread")
        measure_interleaved(variants, args.rounds, args.batch_seconds)
        if args.holdout > 0:
            fidelity(variants, holdout_images(m, args.size, args.holdout))
        rows = report(m, variants, args.target, args.tolerance)
        all_rows += rows
        timings += [variant_record(m, v) for v in variants]
        for r in rows:
            if args.layers == "always" or (args.layers == "auto" and r["speedup"] < args.target):
                print_breakdown(r["runtime"], r["fp32"], r["int8"], args.profile_runs, args.top)
        for v in variants:
            v.run = None  # free the sessions before the next model

    print(f"\n== summary ({args.size} px, 1 thread, best-of-{args.rounds} medians)")
    print(
        f"  {'model':<15} {'runtime':<12} {'FP32 ms':>8} {'INT8 ms':>8} {'speed-up':>9} {'paired':>7} {'2x?':>5} "
        f"{'choice vs fastest':>18} {'paired':>7}  verdict"
    )
    for r in all_rows:
        hit = "ok" if r["speedup"] >= args.target else "MISS"
        print(
            f"  {r['model']:<15} {r['runtime']:<12} {r['fp32_ms']:>8.2f} {r['int8_ms']:>8.2f} {r['speedup']:>8.2f}x "
            f"{r['speedup_paired']:>6.2f}x {hit:>5} {100 * r['chosen_slower']:>+17.1f}% "
            f"{100 * r['chosen_slower_paired']:>+6.1f}%  {r['verdict']}"
        )
    if args.results:
        figures = {
            "source": "measured", "device": "CPU", "threads": 1, "input": args.size, "rounds": args.rounds,
            "batch_seconds": args.batch_seconds, "calib_size": args.calib_size, "target_speedup": args.target,
            "tolerance": args.tolerance, "onnx_int8_settings": int8_settings(), "load_before": load_before,
            "rows": [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items() if k not in ("fp32", "int8")}
                     for r in all_rows],
            "variants": timings,
        }  # fmt: skip
        write_result(args.results, figures)
    return 0


def variant_record(model: str, v: Variant) -> dict[str, Any]:
    """One timed artifact: every round's median, for the JSON."""
    return {
        "model": model, "runtime": v.runtime, "label": v.label, "role": v.role, "chosen": v.chosen,
        "best_ms": round(best(v), 4), "round_medians_ms": [round(x, 4) for x in v.medians],
        "cosine": None if v.cosine is None else round(v.cosine, 5), "path": str(v.path),
    }  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
