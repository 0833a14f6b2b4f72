"""Tiny graphs for the analysis / prediction tests, built once per test session (TensorFlow imported inside).

- convnet: 16x16x3 -> conv 3x3 (8) -> depthwise 3x3 -> conv 1x1 (16) -> GAP -> dense 10, fp32 and int8
  (hand-computed MACs in CONVNET_MACS); also an int8 copy with a dynamic batch dim (Keras' default).
- transpose: int8 with a TRANSPOSE in the middle (not supported by the Edge TPU compiler).
- big: int8 with a 3072 x 3000 dense layer (9.2 MB of int8 weights, beyond the 6.9 MiB parameter cache).
- overflow: int8, dense 3072 x 2048 (6 MiB, fits the cache) then 2048 x 1024 (2 MiB, does not): 8 MiB in all.
- convnet.onnx: the same convnet built by hand with onnx.helper (NCHW); convnet.xml / convnet-dynamic.xml: OpenVINO IR.
"""

from __future__ import annotations

import warnings
from pathlib import Path

# conv 3x3: 16*16*8 outputs x 27; depthwise 3x3: 16*16*8 x 9; pointwise: 16*16*16 x 8; dense: 10 x 16
CONVNET_MACS = 16 * 16 * 8 * 27 + 16 * 16 * 8 * 9 + 16 * 16 * 16 * 8 + 10 * 16
BIG_WEIGHTS = 3072 * 3000

_BUILT: dict[Path, dict[str, Path]] = {}


def _convert(model, int8: bool, shape: tuple[int, ...]) -> bytes:
    import numpy as np
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8:
        rng = np.random.default_rng(0)

        def representative():
            for _ in range(4):
                yield [rng.uniform(-1, 1, (1, *shape)).astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return converter.convert()


def _onnx_convnet(path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def w(name, *shape):
        return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], kernel_shape=[3, 3], group=8),
        helper.make_node("Conv", ["c2", "w3", "b3"], ["c3"], kernel_shape=[1, 1]),
        helper.make_node("GlobalAveragePool", ["c3"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "w4", "b4"], ["y"], transB=1),
    ]
    inits = [w("w1", 8, 3, 3, 3), w("b1", 8), w("w2", 8, 1, 3, 3), w("b2", 8), w("w3", 16, 8, 1, 1), w("b3", 16),
             w("w4", 10, 16), w("b4", 10)]  # fmt: skip
    graph = helper.make_graph(
        nodes, "convnet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))


def _openvino(onnx_path: Path, out: Path, dynamic: bool) -> None:
    import openvino as ov

    model = ov.convert_model(str(onnx_path))
    if dynamic:
        model.reshape({model.inputs[0]: ov.PartialShape([-1, 3, 16, 16])})
    ov.save_model(model, str(out), compress_to_fp16=False)


def build_predict_models(directory: Path) -> dict[str, Path]:
    directory = Path(directory)
    if directory in _BUILT:
        return _BUILT[directory]
    import keras

    keras.utils.set_random_seed(0)
    layers = keras.layers
    directory.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    def convnet(batch):
        inp = keras.Input((16, 16, 3), batch_size=batch)
        x = layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
        x = layers.DepthwiseConv2D(3, padding="same")(x)
        x = layers.Conv2D(16, 1)(x)
        x = layers.GlobalAveragePooling2D()(x)
        return keras.Model(inp, layers.Dense(10)(x))

    model = convnet(1)
    for name, int8 in (("convnet-fp32", False), ("convnet-int8", True)):
        paths[name] = directory / f"{name}.tflite"
        paths[name].write_bytes(_convert(model, int8, (16, 16, 3)))
    paths["convnet-int8-dynbatch"] = directory / "convnet-int8-dynbatch.tflite"
    paths["convnet-int8-dynbatch"].write_bytes(_convert(convnet(None), True, (16, 16, 3)))

    inp = keras.Input((8, 8, 4), batch_size=1)
    x = layers.Conv2D(8, 1, activation="relu")(inp)
    x = layers.Permute((2, 1, 3))(x)  # -> TRANSPOSE
    x = layers.Conv2D(8, 1)(x)
    x = layers.GlobalAveragePooling2D()(x)
    paths["transpose-int8"] = directory / "transpose-int8.tflite"
    paths["transpose-int8"].write_bytes(_convert(keras.Model(inp, layers.Dense(4)(x)), True, (8, 8, 4)))

    inp = keras.Input((32, 32, 3), batch_size=1)
    x = layers.Flatten()(inp)
    x = layers.Dense(3000, activation="relu")(x)
    paths["big-int8"] = directory / "big-int8.tflite"
    paths["big-int8"].write_bytes(_convert(keras.Model(inp, layers.Dense(10)(x)), True, (32, 32, 3)))

    inp = keras.Input((32, 32, 3), batch_size=1)
    x = layers.Dense(2048, activation="relu")(layers.Flatten()(inp))
    x = layers.Dense(1024, activation="relu")(x)
    paths["overflow-int8"] = directory / "overflow-int8.tflite"
    paths["overflow-int8"].write_bytes(_convert(keras.Model(inp, layers.Dense(10)(x)), True, (32, 32, 3)))

    paths["convnet-onnx"] = directory / "convnet.onnx"
    _onnx_convnet(paths["convnet-onnx"])
    paths["convnet-xml"] = directory / "convnet.xml"
    _openvino(paths["convnet-onnx"], paths["convnet-xml"], dynamic=False)
    paths["convnet-dynamic-xml"] = directory / "convnet-dynamic.xml"
    _openvino(paths["convnet-onnx"], paths["convnet-dynamic-xml"], dynamic=True)
    _BUILT[directory] = paths
    return paths
