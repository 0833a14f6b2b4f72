"""Tiny TFLite models for the device-runner and emulation tests (conv 3x3 on 32x32x3, GAP, Dense 5).

Built once per test session (TensorFlow is imported here, inside the function) and shared by the test files that
ask for them, so that the ~5 s conversion happens once.
"""

from __future__ import annotations

import warnings
from pathlib import Path

_BUILT: dict[Path, dict[str, Path]] = {}


def tiny_tflite_models(directory: Path) -> dict[str, Path]:
    """{'fp32': path, 'int8': path} of two .tflite files (full-integer INT8 with int8 input and output)."""
    directory = Path(directory)
    if directory in _BUILT:
        return _BUILT[directory]
    import numpy as np
    import tensorflow as tf

    keras = tf.keras
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3), name="image")
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(5, name="logits")(x)
    model = keras.Model(inputs, outputs, name="tiny")

    directory.mkdir(parents=True, exist_ok=True)
    paths = {"fp32": directory / "tiny-fp32.tflite", "int8": directory / "tiny-int8.tflite"}
    paths["fp32"].write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())

    rng = np.random.default_rng(0)
    samples = rng.uniform(-1.0, 1.0, size=(16, 1, 32, 32, 3)).astype(np.float32)

    def representative_dataset():
        for sample in samples:
            yield [sample]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_dataset
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    with warnings.catch_warnings():  # "Statistics for quantized inputs were expected": expected with int8 IO
        warnings.simplefilter("ignore", UserWarning)
        paths["int8"].write_bytes(converter.convert())
    _BUILT[directory] = paths
    return paths


def tiny_onnx_model(directory: Path) -> Path:
    """A tiny ONNX classifier built with onnx.helper (no TensorFlow): conv 3x3 (8) on Nx3x32x32, ReLU, global average
    pool, Gemm to 5 logits; the batch dimension is symbolic ("N"), as exporters write it. Seeded weights."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    path = Path(directory) / "tiny-fp32.onnx"
    if path.is_file():
        return path
    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array(rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32), "conv_w"),
        numpy_helper.from_array(rng.normal(0, 0.1, (8,)).astype(np.float32), "conv_b"),
        numpy_helper.from_array(rng.normal(0, 0.3, (8, 5)).astype(np.float32), "fc_w"),
        numpy_helper.from_array(rng.normal(0, 0.1, (5,)).astype(np.float32), "fc_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["image", "conv_w", "conv_b"], ["conv"], kernel_shape=[3, 3], name="conv"),
        helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
        helper.make_node("GlobalAveragePool", ["relu"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="logits"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 5])],
        initializer=weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="edgekit-tests")
    model.ir_version = 8  # onnxruntime 1.32 reads IR <= 11; 8 keeps older runtimes on boards able to load it
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(model.SerializeToString())
    tmp.replace(path)
    return path


def tiny_openvino_model(onnx_model: Path) -> Path:
    """tiny_onnx_model as OpenVINO IR beside it (.xml + .bin), FP32 weights kept (save_model would store FP16)."""
    import openvino as ov

    xml = Path(onnx_model).with_name(Path(onnx_model).stem + "-ov.xml")
    if not xml.is_file():
        ov.save_model(ov.convert_model(str(onnx_model)), str(xml), compress_to_fp16=False)
    return xml
