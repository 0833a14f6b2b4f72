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
