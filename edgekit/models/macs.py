"""Count parameters and multiply-accumulates (MACs) of a built Keras model by walking its layers.

Convention (the one published tables use): only multiplications in convolutions, dense layers and attention
matmuls are counted; BatchNorm, activations, pooling, additions and softmax are not. Batch size is 1.
"""

from __future__ import annotations

import math
from typing import Any


def count_params_macs(model: Any) -> tuple[int, int]:
    """(parameters incl. non-trainable ones, MACs for one image) of a built keras.Model."""
    return int(model.count_params()), int(count_macs(model))


def count_macs(model: Any) -> int:
    return sum(layer_macs(layer) for layer in model.layers)


def layer_macs(layer: Any) -> int:
    """MACs of every call of `layer` in its graph (a shared layer counts once per call)."""
    import keras

    if isinstance(layer, keras.Model):  # a nested sub-model: count its own layers
        return count_macs(layer)
    counter = _COUNTERS.get(type(layer).__name__)
    if counter is None:
        return 0
    total = 0
    for node in getattr(layer, "_inbound_nodes", []):
        in_shapes = [tuple(t.shape) for t in node.input_tensors]
        out_shapes = [tuple(t.shape) for t in node.output_tensors]
        total += counter(layer, in_shapes, out_shapes)
    return total


def _prod(dims) -> int:
    """Product of the known dims (None = batch, counted as 1)."""
    return math.prod(int(d) for d in dims if d is not None)


def _conv(layer, ins, outs) -> int:
    kernel = layer.kernel.shape  # (kh, kw, in / groups, out)
    return _prod(outs[0][1:]) * _prod(kernel[:-1])


def _depthwise(layer, ins, outs) -> int:
    kh, kw = layer.kernel_size
    return _prod(outs[0][1:]) * kh * kw


def _separable(layer, ins, outs) -> int:
    kh, kw = layer.kernel_size
    spatial = _prod(outs[0][1:-1])
    mid = int(ins[0][-1]) * layer.depth_multiplier
    return spatial * mid * kh * kw + spatial * mid * int(outs[0][-1])


def _dense(layer, ins, outs) -> int:
    # Dense on (batch, ..., in): every leading position is one matrix-vector product.
    return _prod(ins[0][1:]) * int(outs[0][-1])


def _einsum_dense(layer, ins, outs) -> int:
    return _einsum_macs(layer.equation, ins[0], tuple(layer.kernel.shape), outs[0])


def _einsum_macs(equation: str, in_shape, kernel_shape, out_shape) -> int:
    """Product of the sizes of every index in the equation (output and contracted ones), batch excluded."""
    lhs, out = equation.replace(" ", "").split("->")
    in_eq, kernel_eq = lhs.split(",")
    if "..." in in_eq:  # '...' stands for the leading input dims: give them fresh index letters
        free = "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in equation)
        ell = free[: len(in_shape) - (len(in_eq) - 3)]
        in_eq, out = in_eq.replace("...", ell), out.replace("...", ell)
    sizes: dict[str, int] = {}
    for eq, shape in ((kernel_eq, kernel_shape), (in_eq, in_shape), (out, out_shape)):
        for c, d in zip(eq, shape, strict=False):
            if d is not None and c not in sizes:
                sizes[c] = int(d)
    batch = in_eq[0] if in_shape and in_shape[0] is None else ""
    return math.prod(size for c, size in sizes.items() if c != batch)


def _attention(layer, ins, outs) -> int:
    """Q/K/V/output projections plus the QK^T and AV matmuls of keras MultiHeadAttention."""
    query = ins[0]
    value = ins[1] if len(ins) > 1 else query
    key = ins[2] if len(ins) > 2 else value
    t, s = _prod(query[1:-1]), _prod(key[1:-1])
    heads, dk = layer.num_heads, layer.key_dim
    dv = layer.value_dim or dk
    macs = t * int(query[-1]) * heads * dk  # Q projection
    macs += s * int(key[-1]) * heads * dk  # K projection
    macs += _prod(value[1:-1]) * int(value[-1]) * heads * dv  # V projection
    macs += heads * t * s * dk  # Q K^T
    macs += heads * t * s * dv  # softmax(.) V
    macs += t * heads * dv * int(outs[0][-1])  # output projection
    return macs


_COUNTERS = {
    "Conv1D": _conv,
    "Conv2D": _conv,
    "Conv3D": _conv,
    "Conv2DTranspose": lambda layer, ins, outs: _prod(ins[0][1:-1]) * _prod(layer.kernel.shape),
    "DepthwiseConv2D": _depthwise,
    "SeparableConv2D": _separable,
    "Dense": _dense,
    "EinsumDense": _einsum_dense,
    "MultiHeadAttention": _attention,
}
