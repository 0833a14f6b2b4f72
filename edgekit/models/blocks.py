"""The notes' building blocks as small Keras functions: each takes a Keras tensor and returns one.

Every layer gets an explicit, stable name derived from `name` (e.g. 'fire2_squeeze', 'block3_expand'):
quantization ignore lists and per-layer reports key on these names. Keras is imported inside the functions
so that importing this module stays cheap.
"""

from __future__ import annotations

import functools
from typing import Any

Tensor = Any  # a Keras tensor; typed loosely so this module never imports Keras at load time


def _layers():
    from keras import layers

    return layers


def _channels(x: Tensor) -> int:
    return int(x.shape[-1])


def _bn_act(x: Tensor, batch_norm: bool, activation: str | None, name: str) -> Tensor:
    """The optional BatchNorm + activation tail shared by the conv blocks (layer names <name>_bn, <name>_act)."""
    layers = _layers()
    if batch_norm:
        x = layers.BatchNormalization(epsilon=1e-3, name=f"{name}_bn")(x)
    if activation:
        x = layers.Activation(activation, name=f"{name}_act")(x)
    return x


def conv_bn_act(
    x: Tensor,
    filters: int,
    kernel_size: int = 3,
    strides: int = 1,
    activation: str | None = "relu",
    batch_norm: bool = True,
    padding: str = "same",
    groups: int = 1,
    name: str = "conv",
) -> Tensor:
    """Conv2D, then optional BatchNorm and activation ('{name}', '{name}_bn', '{name}_act')."""
    layers = _layers()
    x = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        groups=groups,
        use_bias=not batch_norm,
        name=name,
    )(x)
    return _bn_act(x, batch_norm, activation, name)


def pointwise_conv(
    x: Tensor,
    filters: int,
    use_bias: bool = False,
    batch_norm: bool = False,
    activation: str | None = None,
    name: str = "pw",
) -> Tensor:
    """1x1 convolution: mixes channels (and changes their number) at a cost of in*out weights."""
    layers = _layers()
    x = layers.Conv2D(filters, 1, use_bias=use_bias, name=name)(x)
    return _bn_act(x, batch_norm, activation, name)


def separable_conv(
    x: Tensor,
    filters: int,
    kernel_size: int = 3,
    strides: int = 1,
    depth_multiplier: int = 1,
    use_bias: bool = False,
    batch_norm: bool = False,
    activation: str | None = None,
    name: str = "sepconv",
) -> Tensor:
    """Depthwise-separable convolution: a k x k filter per channel ('{name}_dw'), then a 1x1 mix ('{name}_pw').

    8 -> 16 channels, 3x3, no bias: 3*3*8 + 8*16 = 200 weights instead of 3*3*8*16 = 1152.
    With batch_norm the activation follows both halves (MobileNet layout); without, only the pointwise one
    (Xception layout: no non-linearity between depthwise and pointwise).
    """
    layers = _layers()
    x = layers.DepthwiseConv2D(
        kernel_size,
        strides=strides,
        padding="same",
        depth_multiplier=depth_multiplier,
        use_bias=use_bias,
        name=f"{name}_dw",
    )(x)
    if batch_norm:
        x = layers.BatchNormalization(epsilon=1e-3, name=f"{name}_dw_bn")(x)
        if activation:
            x = layers.Activation(activation, name=f"{name}_dw_act")(x)
    return pointwise_conv(x, filters, use_bias, batch_norm, activation, name=f"{name}_pw")


def gap_head(
    x: Tensor,
    num_classes: int,
    classifier_activation: str | None = None,
    dropout: float = 0.0,
    conv_classifier: bool = False,
    name: str = "head",
) -> Tensor:
    """Global-average-pooling classifier head (no weights in the pooling itself; position is averaged away).

    conv_classifier=False: '{name}_pool' -> '{name}_dropout' -> Dense 'predictions' (activation inside).
    conv_classifier=True (SqueezeNet): '{name}_dropout' -> 1x1 conv '{name}_conv' to num_classes channels ->
    '{name}_pool' -> Activation 'predictions' (only when classifier_activation is set).
    """
    layers = _layers()
    if conv_classifier:
        if dropout:
            x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
        x = layers.Conv2D(num_classes, 1, name=f"{name}_conv")(x)
        x = layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
        if classifier_activation:
            x = layers.Activation(classifier_activation, name="predictions")(x)
        return x
    x = layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return layers.Dense(num_classes, activation=classifier_activation, name="predictions")(x)


def fire_module(x: Tensor, squeeze: int, expand1x1: int, expand3x3: int | None = None, name: str = "fire") -> Tensor:
    """SqueezeNet fire module: 1x1 squeeze, then parallel 1x1 and 3x3 expands, concatenated on channels."""
    layers = _layers()
    expand3x3 = expand1x1 if expand3x3 is None else expand3x3
    s = layers.Conv2D(squeeze, 1, activation="relu", name=f"{name}_squeeze")(x)
    e1 = layers.Conv2D(expand1x1, 1, activation="relu", name=f"{name}_expand1x1")(s)
    e3 = layers.Conv2D(expand3x3, 3, padding="same", activation="relu", name=f"{name}_expand3x3")(s)
    return layers.Concatenate(axis=-1, name=f"{name}_concat")([e1, e3])


def residual_block(
    x: Tensor,
    filters: int,
    strides: int = 1,
    bottleneck: bool = False,
    expansion: int = 4,
    name: str = "res",
) -> Tensor:
    """ResNet block f(x) = C(x) + x.

    basic: 3x3 -> 3x3 (out = filters); bottleneck: 1x1 -> 3x3 -> 1x1 (out = filters * expansion).
    The shortcut is the identity when shape is kept, else a strided 1x1 projection ('{name}_proj').
    """
    layers = _layers()
    out_channels = filters * expansion if bottleneck else filters
    if strides == 1 and _channels(x) == out_channels:
        shortcut = x
    else:
        shortcut = conv_bn_act(x, out_channels, 1, strides, activation=None, name=f"{name}_proj")
    if bottleneck:
        y = conv_bn_act(x, filters, 1, strides, name=f"{name}_conv1")
        y = conv_bn_act(y, filters, 3, 1, name=f"{name}_conv2")
        y = conv_bn_act(y, out_channels, 1, 1, activation=None, name=f"{name}_conv3")
    else:
        y = conv_bn_act(x, filters, 3, strides, name=f"{name}_conv1")
        y = conv_bn_act(y, filters, 3, 1, activation=None, name=f"{name}_conv2")
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def dense_block(x: Tensor, num_layers: int, growth_rate: int, bottleneck: bool = True, name: str = "dense") -> Tensor:
    """DenseNet block: each layer (BN-ReLU-[1x1]-BN-ReLU-3x3, stride 1) is concatenated onto its input."""
    layers = _layers()
    for i in range(1, num_layers + 1):
        p = f"{name}_layer{i}"
        y = layers.BatchNormalization(epsilon=1.001e-5, name=f"{p}_bn1")(x)
        y = layers.Activation("relu", name=f"{p}_relu1")(y)
        if bottleneck:
            y = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{p}_conv1")(y)
            y = layers.BatchNormalization(epsilon=1.001e-5, name=f"{p}_bn2")(y)
            y = layers.Activation("relu", name=f"{p}_relu2")(y)
        y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{p}_conv2")(y)
        x = layers.Concatenate(axis=-1, name=f"{p}_concat")([x, y])
    return x


def transition(x: Tensor, reduction: float = 0.5, name: str = "transition") -> Tensor:
    """DenseNet transition between dense blocks: BN-ReLU-1x1 conv (channels * reduction) then 2x2 average pool."""
    layers = _layers()
    x = layers.BatchNormalization(epsilon=1.001e-5, name=f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.Conv2D(int(_channels(x) * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def squeeze_excite(x: Tensor, squeeze_channels: int, activation: str = "relu", name: str = "se") -> Tensor:
    """Squeeze-and-excite: per-channel gates from a pooled 1x1 bottleneck."""
    layers = _layers()
    channels = _channels(x)
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = layers.Conv2D(squeeze_channels, 1, activation=activation, name=f"{name}_reduce")(s)
    s = layers.Conv2D(channels, 1, activation="sigmoid", name=f"{name}_expand")(s)
    return layers.Multiply(name=f"{name}_excite")([x, s])


def inverted_residual(
    x: Tensor,
    filters: int,
    expansion: int = 6,
    strides: int = 1,
    kernel_size: int = 3,
    se_ratio: float = 0.0,
    activation: str = "relu6",
    drop_rate: float = 0.0,
    name: str = "block",
) -> Tensor:
    """MobileNetV2 / EfficientNet block: 1x1 expand -> depthwise -> [SE] -> 1x1 linear project, + x when shapes match.

    Channels go few -> many -> few (the reverse of ResNet's bottleneck). Layer names: '{name}_expand',
    '{name}_dwconv', '{name}_se_*', '{name}_project', '{name}_add'.
    """
    layers = _layers()
    in_channels = _channels(x)
    y = x
    if expansion != 1:
        y = conv_bn_act(y, in_channels * expansion, 1, activation=activation, name=f"{name}_expand")
    y = layers.DepthwiseConv2D(kernel_size, strides=strides, padding="same", use_bias=False, name=f"{name}_dwconv")(y)
    y = layers.BatchNormalization(epsilon=1e-3, name=f"{name}_dwconv_bn")(y)
    y = layers.Activation(activation, name=f"{name}_dwconv_act")(y)
    if se_ratio > 0:
        y = squeeze_excite(y, max(1, int(in_channels * se_ratio)), activation, name=f"{name}_se")
    y = conv_bn_act(y, filters, 1, activation=None, name=f"{name}_project")
    if strides == 1 and in_channels == filters:
        if drop_rate > 0:
            y = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(y)
        y = layers.Add(name=f"{name}_add")([y, x])
    return y


@functools.cache
def _custom_objects() -> dict[str, Any]:
    """ViT's pieces that Keras lacks, registered as serializable (defined lazily: they need keras)."""
    import keras
    from keras import ops

    @keras.saving.register_keras_serializable(package="edgekit")
    def gelu(x):
        # Exact (erf) GELU written out: keras' own 'gelu' lowers to Erfc, which ONNX has no operator for;
        # this form becomes Erf in ONNX and one fused GELU op in TFLite.
        return 0.5 * x * (1.0 + ops.erf(x * 0.7071067811865476))

    @keras.saving.register_keras_serializable(package="edgekit")
    class ClassToken(keras.layers.Layer):
        """Prepends one learned token to the sequence; the head reads it after the encoder."""

        def build(self, input_shape):
            self.token = self.add_weight(name="token", shape=(1, 1, input_shape[-1]), initializer="zeros")

        def call(self, x):
            token = ops.broadcast_to(ops.cast(self.token, x.dtype), (ops.shape(x)[0], 1, ops.shape(x)[-1]))
            return ops.concatenate([token, x], axis=1)

        def compute_output_shape(self, input_shape):
            n = None if input_shape[1] is None else input_shape[1] + 1
            return (input_shape[0], n, input_shape[2])

    @keras.saving.register_keras_serializable(package="edgekit")
    class PositionEmbedding(keras.layers.Layer):
        """Adds a learned embedding per token position (its size fixes the input resolution)."""

        def build(self, input_shape):
            self.embedding = self.add_weight(
                name="embedding",
                shape=(1, input_shape[1], input_shape[2]),
                initializer=keras.initializers.RandomNormal(stddev=0.02),
            )

        def call(self, x):
            return x + ops.cast(self.embedding, x.dtype)

    return {"ClassToken": ClassToken, "PositionEmbedding": PositionEmbedding, "gelu": gelu}


def custom_objects() -> dict[str, Any]:
    """Custom layers/activations of edgekit's hand-built models (pass to keras.saving.load_model for .keras files;
    calling this also registers them)."""
    import keras

    return {keras.saving.get_registered_name(obj): obj for obj in _custom_objects().values()}


def patch_embedding(
    x: Tensor, patch_size: int, dim: int, class_token: bool = True, name: str = "patch_embed"
) -> Tensor:
    """Cut the image into patch_size x patch_size patches, project each to dim ('{name}_conv'), add a class token
    ('{name}_cls') and learned positions ('{name}_pos'). Output: (batch, patches [+1], dim)."""
    layers = _layers()
    custom = _custom_objects()
    x = layers.Conv2D(dim, patch_size, strides=patch_size, padding="valid", name=f"{name}_conv")(x)
    h, w = int(x.shape[1]), int(x.shape[2])
    x = layers.Reshape((h * w, dim), name=f"{name}_tokens")(x)
    if class_token:
        x = custom["ClassToken"](name=f"{name}_cls")(x)
    return custom["PositionEmbedding"](name=f"{name}_pos")(x)


def transformer_encoder_block(
    x: Tensor,
    num_heads: int,
    mlp_dim: int,
    dropout: float = 0.0,
    name: str = "encoder",
) -> Tensor:
    """Pre-norm transformer encoder block: x + MHA(LN(x)), then x + MLP(LN(x)) with a GELU hidden layer."""
    layers = _layers()
    dim = _channels(x)
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln1")(x)
    y = layers.MultiHeadAttention(num_heads, dim // num_heads, dropout=dropout, name=f"{name}_mha")(y, y)
    if dropout:
        y = layers.Dropout(dropout, name=f"{name}_attn_dropout")(y)
    x = layers.Add(name=f"{name}_add1")([x, y])
    y = layers.LayerNormalization(epsilon=1e-6, name=f"{name}_ln2")(x)
    y = layers.Dense(mlp_dim, activation=_custom_objects()["gelu"], name=f"{name}_mlp1")(y)
    if dropout:
        y = layers.Dropout(dropout, name=f"{name}_mlp_dropout")(y)
    y = layers.Dense(dim, name=f"{name}_mlp2")(y)
    return layers.Add(name=f"{name}_add2")([x, y])
