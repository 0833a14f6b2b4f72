"""The notes' building blocks (edgekit.models.blocks) and the MAC counter (edgekit.models.macs) on tiny tensors."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from edgekit.models import blocks  # noqa: E402
from edgekit.models.macs import count_macs, count_params_macs, layer_macs  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session()


def _model(shape, fn):
    inputs = keras.Input(shape)
    return keras.Model(inputs, fn(inputs))


def _names(model) -> set[str]:
    return {layer.name for layer in model.layers}


def test_separable_conv_weights_match_the_notes():
    # 8 -> 16 channels, 3x3: (3*3)*8 + (1*1*8)*16 = 200 weights against (3*3*8)*16 = 1152.
    sep = _model((12, 12, 8), lambda x: blocks.separable_conv(x, 16, 3, name="sep"))
    full = _model((12, 12, 8), lambda x: keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(x))
    assert sep.count_params() == 200
    assert full.count_params() == 1152
    assert sep.output.shape == full.output.shape == (None, 12, 12, 16)
    assert {"sep_dw", "sep_pw"} <= _names(sep)


def test_separable_conv_depth_multiplier_and_batchnorm():
    m = _model((8, 8, 4), lambda x: blocks.separable_conv(x, 6, 3, 2, depth_multiplier=2, batch_norm=True, name="s"))
    assert m.get_layer("s_dw").output.shape[-1] == 8
    assert m.output.shape == (None, 4, 4, 6)
    assert {"s_dw_bn", "s_pw_bn"} <= _names(m)


def test_two_stacked_3x3_filters_are_cheaper_than_one_5x5():
    def stacked(x):
        x = keras.layers.Conv2D(1, 3, use_bias=False, name="a")(x)
        return keras.layers.Conv2D(1, 3, use_bias=False, name="b")(x)

    two = _model((9, 9, 1), stacked)
    one = _model((9, 9, 1), lambda x: keras.layers.Conv2D(1, 5, use_bias=False)(x))
    assert two.count_params() == 2 * 3 * 3 == 18
    assert one.count_params() == 5 * 5 == 25
    assert two.output.shape == one.output.shape  # same 5x5 receptive field


def test_pointwise_conv_mixes_channels():
    m = _model((5, 5, 3), lambda x: blocks.pointwise_conv(x, 4, name="mix"))
    assert m.count_params() == 3 * 4  # one 1x1x3 filter per output channel
    assert m.output.shape == (None, 5, 5, 4)


@pytest.mark.parametrize("conv_classifier", [False, True])
def test_gap_head(conv_classifier):
    m = _model(
        (6, 6, 8),
        lambda x: blocks.gap_head(x, 5, "softmax", dropout=0.1, conv_classifier=conv_classifier, name="head"),
    )
    assert m.output.shape == (None, 5)
    assert m.get_layer("head_pool").count_params() == 0  # pooling itself has no weights
    assert m.count_params() == 8 * 5 + 5
    y = m(np.random.rand(2, 6, 6, 8).astype("float32")).numpy()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)


def test_fire_module():
    m = _model((16, 16, 96), lambda x: blocks.fire_module(x, 16, 64, name="fire2"))
    assert m.output.shape == (None, 16, 16, 128)
    assert {"fire2_squeeze", "fire2_expand1x1", "fire2_expand3x3", "fire2_concat"} <= _names(m)
    assert m.count_params() == (96 * 16 + 16) + (16 * 64 + 64) + (9 * 16 * 64 + 64)


def test_residual_block_identity_and_projection():
    ident = _model((8, 8, 16), lambda x: blocks.residual_block(x, 16, name="r1"))
    assert ident.output.shape == (None, 8, 8, 16)
    assert "r1_proj" not in _names(ident) and "r1_add" in _names(ident)
    proj = _model((8, 8, 16), lambda x: blocks.residual_block(x, 32, strides=2, name="r2"))
    assert proj.output.shape == (None, 4, 4, 32)
    assert "r2_proj" in _names(proj)
    bott = _model((8, 8, 64), lambda x: blocks.residual_block(x, 16, bottleneck=True, name="r3"))
    assert bott.output.shape == (None, 8, 8, 64) and "r3_proj" not in _names(bott)


def test_dense_block_and_transition():
    def net(x):
        x = blocks.dense_block(x, 3, growth_rate=4, name="dense1")
        return blocks.transition(x, 0.5, name="transition1")

    m = _model((8, 8, 8), net)
    assert m.get_layer("dense1_layer3_concat").output.shape == (None, 8, 8, 8 + 3 * 4)
    assert m.output.shape == (None, 4, 4, 10)


def test_inverted_residual():
    same = _model((8, 8, 16), lambda x: blocks.inverted_residual(x, 16, expansion=6, name="block3"))
    assert same.output.shape == (None, 8, 8, 16)
    assert {"block3_expand", "block3_dwconv", "block3_project", "block3_add"} <= _names(same)
    assert same.get_layer("block3_expand").output.shape[-1] == 96  # few -> many -> few channels
    down = _model(
        (8, 8, 16), lambda x: blocks.inverted_residual(x, 24, strides=2, kernel_size=5, se_ratio=0.25, name="b4")
    )
    assert down.output.shape == (None, 4, 4, 24)
    assert "b4_add" not in _names(down)
    assert down.get_layer("b4_se_reduce").output.shape[-1] == 4  # 16 input channels * 0.25


def test_patch_embedding_and_transformer_block():
    def net(x):
        x = blocks.patch_embedding(x, 16, 12, name="patch_embed")
        return blocks.transformer_encoder_block(x, num_heads=3, mlp_dim=24, name="encoder1")

    m = _model((32, 48, 3), net)
    assert m.get_layer("patch_embed_tokens").output.shape == (None, 6, 12)
    assert m.output.shape == (None, 7, 12)  # 2 x 3 patches + class token
    assert m.get_layer("patch_embed_pos").count_params() == 7 * 12
    y = m(np.random.rand(2, 32, 48, 3).astype("float32"))
    assert y.shape == (2, 7, 12)


def test_custom_objects_are_registered():
    names = set(blocks.custom_objects())
    assert {"edgekit>ClassToken", "edgekit>PositionEmbedding", "edgekit>gelu"} <= names


def test_macs_of_each_layer_kind():
    inputs = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv")(inputs)  # 8*8*8 * 3*3*4
    x = keras.layers.Conv2D(8, 3, padding="same", groups=2, name="grouped")(x)  # 8*8*8 * 3*3*4
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(x)  # 4*4*8 * 9
    x = keras.layers.SeparableConv2D(6, 3, padding="same", name="sep")(x)  # 4*4*8*9 + 4*4*8*6
    x = keras.layers.Reshape((16, 6))(x)
    x = keras.layers.Dense(10, name="dense")(x)  # 16 * 6 * 10
    x = keras.layers.EinsumDense("abc,cd->abd", output_shape=(16, 5), name="einsum")(x)  # 16 * 10 * 5
    x = keras.layers.MultiHeadAttention(2, 3, name="mha")(x, x)
    model = keras.Model(inputs, x)
    expected = {
        "conv": 8 * 8 * 8 * 9 * 4,
        "grouped": 8 * 8 * 8 * 9 * 4,
        "dw": 4 * 4 * 8 * 9,
        "sep": 4 * 4 * 8 * 9 + 4 * 4 * 8 * 6,
        "dense": 16 * 6 * 10,
        "einsum": 16 * 10 * 5,
        # Q, K, V projections (16 tokens, 5 -> 2 heads x 3), QK^T and AV (2 x 16 x 16 x 3), output (2*3 -> 5)
        "mha": 3 * (16 * 5 * 6) + 2 * (2 * 16 * 16 * 3) + 16 * 6 * 5,
    }
    for name, macs in expected.items():
        assert layer_macs(model.get_layer(name)) == macs, name
    assert count_macs(model) == sum(expected.values())
    assert count_params_macs(model) == (model.count_params(), sum(expected.values()))


def test_macs_count_nested_models_and_shared_layers():
    inner_in = keras.Input((4, 4, 3))
    inner = keras.Model(inner_in, keras.layers.Conv2D(2, 1, name="inner_conv")(inner_in), name="inner")
    shared = keras.layers.Dense(3, name="shared")
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Flatten()(inner(inputs))  # 32 features
    y = shared(keras.layers.Dense(32, name="pre")(x))
    y = shared(keras.layers.Dense(32, name="pre2")(keras.layers.Concatenate()([x, y])))
    model = keras.Model(inputs, y)
    conv = 4 * 4 * 2 * 3
    dense = 32 * 32 + 35 * 32 + 2 * 32 * 3
    assert count_macs(model) == conv + dense
