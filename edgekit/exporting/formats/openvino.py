"""-> OpenVINO IR: FP32 (uncompressed weights), FP16 (compressed), INT8 through NNCF post-training quantization."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgekit.analyze.readers import openvino as openvino_reader
from edgekit.exporting.base import ExportFormat, ExportJob, LoadedArtifact, open_artifact
from edgekit.quiet import quiet_tf


def ov_from_keras(job: ExportJob):
    """Convert from the ONNX file when another format already made one (no second TensorFlow trace), else Keras."""
    import openvino as ov

    from edgekit.exporting.stagelog import stage

    onnx_path = job.work_dir / "model-fp32.onnx"
    shape = job.input_shape
    stage(f"openvino {job.precision}: convert_model")
    if onnx_path.exists():
        job.extra["converter"] = "openvino.convert_model(ONNX)"
        return ov.convert_model(str(onnx_path), input=[shape])
    job.extra["converter"] = "openvino.convert_model(keras.Model)"
    with quiet_tf():
        return ov.convert_model(job.model, input=[shape])


def target_settings(target, precision: str) -> dict[str, Any] | None:
    """NNCF's target_device for the device the target's OpenVINO runs on: the NPU's quantization scheme (what its
    compiler accepts, per-tensor where it requires it) differs from the CPU's."""
    if precision != "int8":
        return None
    device = str(target.runtime.device).upper()
    device = device if device in ("CPU", "GPU", "NPU") else "CPU"
    reason = f"OpenVINO on the {device}: NNCF quantizes with target_device={device} (the scheme that device compiles)"
    return {"key": device.lower(), "target_device": device, "reason": reason}


def nncf_quantize(
    ov_model,
    calib,
    model_name: str,
    keep_float: dict[str, Any] | None = None,
    onnx_path=None,
    target_device: str | None = None,
):
    import nncf
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    model_type = nncf.ModelType.TRANSFORMER if model_name.startswith("vit") else None
    extra = {"model_type": model_type} if model_type else {}
    # Global min/max activation ranges, as TFLite's and ONNX Runtime's calibrators use. NNCF's default (the mean
    # of per-image min/max) clips the tails: on the tests' trained MobileNetV2 it gave cosine 0.92 / SQNR 6.3 dB
    # against 0.95 / 10.6 dB with MINMAX, on the same 24 calibration images.
    advanced = AdvancedQuantizationParameters(activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX)
    if keep_float:  # --keep-float: NNCF inserts no FakeQuantize for these ops (their inputs and weights stay float)
        from edgekit.exporting.keepfloat import openvino_nodes

        extra["ignored_scope"] = nncf.IgnoredScope(names=openvino_nodes(ov_model, keep_float, onnx_path))
    if target_device:
        extra["target_device"] = nncf.TargetDevice[target_device]
    nncf.set_log_level(40)  # errors only
    from edgekit.exporting.stagelog import stage

    stage(f"openvino int8: nncf.quantize (calibration on {len(calib)} images)")
    quantized = nncf.quantize(
        ov_model, calib.nncf_dataset(), subset_size=len(calib), advanced_parameters=advanced, **extra
    )
    kept = {"kept_float_ops": len(extra["ignored_scope"].names)} if keep_float else {}
    return quantized, {
        **kept,
        "tool": "nncf.quantize",
        "preset": "performance (symmetric)",
        "activation_ranges": "min/max over the calibration set",
        "subset_size": len(calib),
        "model_type": "transformer" if model_type else "cnn",
        "target_device": target_device or "ANY",
    }


def convert(job: ExportJob) -> list[Path]:
    import openvino as ov

    model = ov_from_keras(job)
    if job.precision == "int8":
        onnx_path = job.work_dir / "model-fp32.onnx"  # what the model was converted from, if it exists
        onnx_path = onnx_path if onnx_path.exists() else None
        device = (job.settings or {}).get("target_device")
        model, job.extra["quantization"] = nncf_quantize(
            model, job.calib, job.model_name, job.keep_float, onnx_path, device
        )
    xml = job.out_dir / "model.xml"
    record_node_layers(job)
    from edgekit.exporting.stagelog import stage

    stage(f"openvino {job.precision}: save_model")
    ov.save_model(model, str(xml), compress_to_fp16=job.precision == "fp16")
    return [xml, xml.with_suffix(".bin")]


# Above this the ONNX graph is not read a second time for names: export memory stays bounded (VGG19, ViT-B).
NODE_LAYERS_MAX_BYTES = 256 * 2**20


def record_node_layers(job: ExportJob) -> None:
    """The manifest's node -> Keras layer map (edgekit.analyze.layernames.unnamed_node_layers) from the ONNX file the
    IR was converted from; names never fail an export: what kept them out is recorded instead."""
    onnx_path = job.work_dir / "model-fp32.onnx"
    if not (onnx_path.exists() and job.layer_scopes):
        return
    if onnx_path.stat().st_size > NODE_LAYERS_MAX_BYTES:
        job.extra["node_layers_note"] = "not recorded: the ONNX graph is over 256 MB (export memory stays bounded)"
        return
    from edgekit.analyze.layernames import unnamed_node_layers

    try:
        job.extra["node_layers"] = unnamed_node_layers(onnx_path, job.layer_scopes)
    except Exception as exc:  # a graph the analyzer cannot read: the IR is still good
        job.extra["node_layers_note"] = f"not recorded: {type(exc).__name__}: {str(exc)[:200]}"


def compile_cpu(path: Path, precision: str | None, threads: int = 1):
    """The IR compiled on the CPU by edgekit.device's OpenVINO backend (LATENCY hint, one stream, `threads`); an FP32
    IR runs in true f32 (this CPU would silently use bfloat16 otherwise). One-line errors."""
    return open_artifact(path, "openvino", threads, precision)


class OpenVINOArtifact(LoadedArtifact):
    def __init__(self, path: Path, precision: str, threads: int = 1):
        self.model = compile_cpu(path, precision, threads)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.model.run([np.ascontiguousarray(x, np.float32)])[0], np.float32)


def io_details(path: Path) -> dict[str, Any]:
    model = compile_cpu(path, None)
    return {"input": model.input_specs()[0], "output": model.output_specs()[0]}


FORMAT = ExportFormat(
    name="openvino",
    order=30,
    suffix=".xml",
    precisions=("fp32", "fp16", "int8"),
    extra="openvino",
    convert=convert,
    load=lambda path, manifest, threads=1: OpenVINOArtifact(path, manifest.get("precision", "fp32"), threads),
    io_details=io_details,
    read_graph=openvino_reader.read_graph,
    timing="openvino",
    companions=(".bin",),
    side=True,
    any_batch=True,
    target_settings=target_settings,
    recorded_setting=lambda manifest: str((manifest.get("quantization") or {}).get("target_device", "any")).lower(),
)
