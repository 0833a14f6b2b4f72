"""Keras -> TFLite (LiteRT): FP32, FP16, dynamic-range INT8 and full-integer INT8 with int8 or float I/O."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekit.analyze.readers import tflite as tflite_reader
from edgekit.exporting.base import ExportFormat, ExportJob, LoadedArtifact, open_artifact
from edgekit.ioutil import write_bytes_atomic
from edgekit.quiet import quiet_tf


def make_converter(model, precision: str, calib=None, io: str = "int8"):
    import tensorflow as tf

    # A static batch of 1: edge runtimes want static shapes, and with Keras' dynamic batch the converter wraps
    # Flatten/Reshape in SHAPE/PACK ops that the Edge TPU cannot run (it would cut the model in two there).
    conv = tf.lite.TFLiteConverter.from_keras_model(with_batch_one(model))
    if precision == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif precision == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif precision == "int8":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = staged(calib.representative_dataset())
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if io == "int8":
            conv.inference_input_type = tf.int8
            conv.inference_output_type = tf.int8
    return conv


def staged(dataset):
    """The calibration images, marking where LiteRT's calibrator starts and where its quantization starts."""
    from edgekit.exporting.stagelog import stage

    def gen():
        stage("tflite int8: calibration")
        yield from dataset()
        stage("tflite int8: quantization")

    return gen


def with_batch_one(model):
    """The same layers and weights behind an input of static batch 1."""
    import keras

    if model.inputs[0].shape[0] == 1:
        return model
    inp = keras.Input(shape=tuple(model.inputs[0].shape[1:]), batch_size=1, name="input")
    return keras.Model(inp, model(inp), name=model.name)


def keras2tflite(model, precision: str, calib=None, io: str = "int8", keep_float: dict | None = None) -> bytes:

    with quiet_tf():
        if keep_float and precision == "int8":
            return mixed_int8(model, calib, io, keep_float)
        return make_converter(model, precision, calib, io).convert()


def mixed_int8(model, calib, io: str, keep_float: dict) -> bytes:
    """Full-integer INT8 except the ops of the --keep-float layers (LiteRT's selective quantization: calibrate,
    then quantize with those ops denylisted; the MLIR quantizer puts DEQUANTIZE/QUANTIZE around them). The model's
    input and output stay int8 with --io int8."""
    import tensorflow as tf
    from tensorflow.lite.python import convert as tfl_convert

    from edgekit.exporting.keepfloat import tflite_nodes

    conv = make_converter(model, "int8", calib, io)
    conv.experimental_mlir_quantizer = True
    conv._experimental_calibrate_only = True  # noqa: SLF001 - what tf.lite.experimental.QuantizationDebugger does
    calibrated = conv.convert()
    io_type = tf.int8 if io == "int8" else tf.float32
    return tfl_convert.mlir_quantize(
        calibrated,
        fully_quantize=io == "int8",
        input_data_type=io_type,
        output_data_type=io_type,
        denylisted_nodes=tflite_nodes(calibrated, keep_float),
    )


def convert(job: ExportJob) -> list[Path]:
    # The edgetpu format compiles the same int8 model: convert once per run, share it through work_dir.
    cached = job.work_dir / f"tflite-{job.precision}-{job.io}.tflite"
    if cached.exists():
        data = cached.read_bytes()
    else:
        data = keras2tflite(job.model, job.precision, job.calib, job.io, job.keep_float)
        cached.write_bytes(data)
    path = job.out_dir / "model.tflite"
    write_bytes_atomic(path, data)
    job.extra["converter"] = "tf.lite.TFLiteConverter.from_keras_model (batch 1)"
    if job.precision == "int8":
        job.extra["quantization"] = {
            "scheme": "full-integer",
            "weights": "int8 per-channel (conv), per-tensor (dense)",
            "activations": "int8 per-tensor",
            "io": job.io,
        }
        if job.keep_float:
            job.extra["quantization"]["kept_float"] = "ops of the --keep-float layers (DEQUANTIZE/QUANTIZE around)"
    elif job.precision == "dynamic":
        job.extra["quantization"] = {"scheme": "dynamic-range", "weights": "int8", "activations": "float32"}
    return [path]


class TFLiteArtifact(LoadedArtifact):
    def __init__(self, path: Path, threads: int = 1):
        self.model = open_artifact(path, "litert", threads)
        self.inp = self.model.input_specs()[0]
        self.out = self.model.output_specs()[0]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        inp, out = self.inp, self.out
        dtype = np.dtype(inp["dtype"])
        if dtype in (np.int8, np.uint8):
            scale, zp = inp["quantization"]["scale"], inp["quantization"]["zero_point"]
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zp), info.min, info.max)
        y = self.model.run([np.ascontiguousarray(x.astype(dtype, copy=False))])[0]
        if np.dtype(out["dtype"]) in (np.int8, np.uint8):
            scale, zp = out["quantization"]["scale"], out["quantization"]["zero_point"]
            y = (y.astype(np.float32) - zp) * scale
        return y.astype(np.float32)


def io_details(path: Path) -> dict[str, Any]:
    """Input/output name, shape, dtype and quantization as the manifest records them."""
    model = open_artifact(path, "litert")
    return {"input": model.input_specs()[0], "output": model.output_specs()[0]}


def layer_error_report(model, calib, debug_images, io: str, top: int = 10) -> list[dict[str, Any]]:
    """TFLite's quantization debugger: per-layer error of the int8 model against its float twin, worst first.

    The error is normalised by the layer's quantization scale (RMSE / scale), so layers can be compared: a value
    well above ~0.3 quantization steps means the range is too wide for int8 (the EfficientNet swish/SE symptom).
    """
    import io as _io

    import tensorflow as tf

    conv = make_converter(model, "int8", calib, io)

    def debug_dataset():
        for i in range(len(debug_images)):
            yield [debug_images[i : i + 1]]

    with quiet_tf():
        dbg = tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=debug_dataset)
        dbg.run()
    buf = _io.StringIO()
    dbg.layer_statistics_dump(buf)
    return rank_layer_errors(buf.getvalue(), top)


def rank_layer_errors(csv_text: str, top: int = 10) -> list[dict[str, Any]]:
    import csv

    rows = []
    for r in csv.DictReader(csv_text.splitlines()):
        scale = float(r["scale"] or 0) or 1.0
        mse = float(r["mean_squared_error"])
        rows.append(
            {
                "op": r["op_name"],
                "tensor": r["tensor_name"].split(";")[0],
                "names": r["tensor_name"],  # every layer fused into the op (conv;bias;activation)
                "rmse": float(np.sqrt(mse)),
                "max_abs_error": float(r["max_abs_error"]),
                "scale": scale,
                "rmse_in_steps": float(np.sqrt(mse) / scale),
            }
        )
    rows.sort(key=lambda r: r["rmse_in_steps"], reverse=True)
    return rows[:top]


def target_settings(target, precision: str) -> dict[str, Any] | None:
    """LiteRT runs the same model on every CPU (XNNPACK picks its kernels at run time): one artifact for all."""
    return {"key": "", "reason": "LiteRT (XNNPACK) picks its kernels on the device: one model serves every CPU"}


FORMAT = ExportFormat(
    name="tflite",
    order=10,
    suffix=".tflite",
    precisions=("fp32", "fp16", "dynamic", "int8"),
    extra="tf",
    convert=convert,
    load=lambda path, manifest, threads=1: TFLiteArtifact(path, threads),
    io_details=io_details,
    read_graph=tflite_reader.read_graph,
    timing="litert",
    precision_of=tflite_reader.tflite_precision,
    target_settings=target_settings,
)
