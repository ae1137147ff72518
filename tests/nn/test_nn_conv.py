"""Convolutions and transposed convolutions against direct NumPy loops."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from nn_reference import conv, conv_transpose, same_pads

import eqxdsl.runtime.nn as nn
from eqxdsl.runtime import tree_at

KEY = jax.random.key(0)
RNG = np.random.default_rng(0)
NUMPY_MODES = {"ZEROS": "constant", "REFLECT": "reflect", "REPLICATE": "edge", "CIRCULAR": "wrap"}


# Eager construction compiles one sampler per parameter shape, so the layers here
# reuse a few shapes (shared with the parity tests, which then hit the cache).
LAYERS = {
    "conv1d": nn.Conv1d(3, 4, 3, stride=2, padding=1, key=KEY),
    "conv2d-groups": nn.Conv2d(
        4, 4, (3, 2), stride=(2, 1), padding=((1, 0), (0, 2)), dilation=(1, 2), groups=2, key=KEY
    ),
    "conv2d-reflect": nn.Conv2d(2, 3, 3, padding=(2, 1), padding_mode="REFLECT", use_bias=False, key=KEY),
    "conv2d-replicate": nn.Conv2d(2, 3, 3, padding=1, padding_mode="replicate", key=KEY),
    "conv1d-circular": nn.Conv1d(3, 4, 3, padding=(2,), padding_mode="CIRCULAR", key=KEY),
    "conv3d": nn.Conv3d(2, 3, 2, stride=(1, 2, 1), padding=((0, 1), (1, 0), (0, 0)), key=KEY),
    "transpose1d": nn.ConvTranspose1d(3, 4, 3, stride=2, output_padding=1, padding=1, key=KEY),
    "transpose2d-groups": nn.ConvTranspose2d(
        4, 4, (3, 2), stride=(2, 1), padding=((1, 0), (0, 1)), dilation=(1, 2), groups=2, key=KEY
    ),
    "transpose3d": nn.ConvTranspose3d(2, 3, 2, stride=2, output_padding=(1, 0, 1), use_bias=False, key=KEY),
    "transpose-valid": nn.ConvTranspose(1, 3, 4, 3, 2, "VALID", 1, key=KEY),
    "forward-for-adjoint": nn.Conv2d(2, 3, 3, stride=2, padding=1, use_bias=False, key=KEY),
    "transpose-for-adjoint": nn.ConvTranspose2d(
        3, 2, 3, stride=2, padding=1, output_padding=1, use_bias=False, key=KEY
    ),
    "same": nn.Conv2d(2, 3, 3, padding="SAME", key=KEY),
    "half": nn.Conv1d(3, 4, 3, dtype=jnp.float16, key=KEY),
}
CONV_CASES = [
    ("conv1d", (3, 9)),
    ("conv2d-groups", (4, 7, 6)),
    ("conv2d-reflect", (2, 5, 6)),
    ("conv2d-replicate", (2, 4, 5)),
    ("conv1d-circular", (3, 6)),
    ("conv3d", (2, 3, 4, 3)),
]
TRANSPOSE_CASES = [
    ("transpose1d", (3, 5)),
    ("transpose2d-groups", (4, 3, 4)),
    ("transpose3d", (2, 2, 3, 2)),
    ("transpose-valid", (3, 4)),
]


def _numpy(layer):
    bias = None if layer.bias is None else np.asarray(layer.bias, np.float64)
    return np.asarray(layer.weight, np.float64), bias


@pytest.mark.parametrize("name, shape", CONV_CASES)
def test_conv_matches_direct_loops(name, shape):
    layer = LAYERS[name]
    x = RNG.standard_normal(shape).astype(np.float32)
    weight, bias = _numpy(layer)
    expected = conv(
        x.astype(np.float64),
        weight,
        bias,
        layer.stride,
        layer.padding,
        layer.dilation,
        layer.groups,
        NUMPY_MODES[layer.padding_mode],
    )
    y = layer(x)
    assert y.shape == expected.shape and y.dtype == jnp.float32
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding", ["SAME", "SAME_LOWER", "VALID"])
@pytest.mark.parametrize("mode", ["ZEROS", "CIRCULAR"])
def test_conv_string_padding(padding, mode):
    layer = nn.Conv1d(2, 3, 4, stride=2, dilation=1, padding=padding, padding_mode=mode, key=KEY)
    x = RNG.standard_normal((2, 7)).astype(np.float32)
    pads = [(0, 0)] if padding == "VALID" else [same_pads(7, 4, 2, 1, padding == "SAME_LOWER")]
    weight, bias = _numpy(layer)
    expected = conv(x.astype(np.float64), weight, bias, (2,), pads, (1,), 1, NUMPY_MODES[mode])
    if padding != "VALID":
        assert expected.shape[1] == 4  # ceil(7 / 2)
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name, shape", TRANSPOSE_CASES)
def test_conv_transpose_matches_scatter_definition(name, shape):
    layer = LAYERS[name]
    x = RNG.standard_normal(shape).astype(np.float32)
    weight, bias = _numpy(layer)
    pads = [(0, 0)] * len(shape[1:]) if layer.padding == "VALID" else layer.padding
    expected = conv_transpose(
        x.astype(np.float64),
        weight,
        bias,
        layer.stride,
        pads,
        layer.output_padding,
        layer.dilation,
        layer.groups,
    )
    y = layer(x)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_conv_transpose_same_padding_multiplies_size_by_stride():
    def output_shape(make_layer, shape):
        # Built and called abstractly: shapes without compiling anything.
        return jax.eval_shape(lambda x: make_layer()(x), jnp.ones(shape)).shape

    for padding in ("SAME", "SAME_LOWER"):
        for stride, kernel in ((2, 3), (3, 2), (2, 4)):
            make = lambda: nn.ConvTranspose1d(1, 1, kernel, stride=stride, padding=padding, key=KEY)
            assert output_shape(make, (1, 5)) == (1, 5 * stride)
    make = lambda: nn.ConvTranspose2d(2, 2, 3, stride=2, padding="SAME", padding_mode="CIRCULAR", key=KEY)
    assert output_shape(make, (2, 4, 3)) == (2, 8, 6)


def test_conv_transpose_is_the_adjoint_of_conv():
    # <conv(x), y> == <x, conv_transpose(y)> when both use the same kernel, flipped
    # and with in/out swapped, and no bias.
    forward = LAYERS["forward-for-adjoint"]
    flipped = np.flip(np.swapaxes(forward.weight, 0, 1), axis=(2, 3))
    transpose = tree_at(lambda m: m.weight, LAYERS["transpose-for-adjoint"], jnp.asarray(flipped))
    x = RNG.standard_normal((2, 6, 6)).astype(np.float32)
    y = RNG.standard_normal((3, 3, 3)).astype(np.float32)
    forward_x, transpose_y = jax.jit(lambda: (forward(x), transpose(y)))()
    assert transpose_y.shape == x.shape
    np.testing.assert_allclose(np.vdot(forward_x, y), np.vdot(x, transpose_y), rtol=1e-5)


def test_initialisation_ranges_and_shapes():
    layer = LAYERS["conv2d-groups"]
    lim = 1 / np.sqrt(2 * 3 * 2)
    assert layer.weight.shape == (4, 2, 3, 2) and layer.bias.shape == (4, 1, 1)
    assert np.all(np.abs(layer.weight) <= lim) and np.abs(layer.weight).max() > 0.5 * lim
    assert LAYERS["transpose1d"].weight.shape == (4, 3, 3)
    assert LAYERS["half"].weight.dtype == jnp.float16


def test_gradients_and_vmap_and_jit():
    layer = LAYERS["same"]
    xs = jnp.asarray(RNG.standard_normal((4, 2, 5, 5)), jnp.float32)

    @jax.jit
    def loss(model, xs):
        return jnp.sum(jax.vmap(model)(xs) ** 2)

    grads = jax.grad(loss)(layer, xs)
    assert grads.weight.shape == layer.weight.shape
    # The bias gradient of sum(y**2) is 2 * sum(y) over batch and positions.
    ys = jax.vmap(layer)(xs)
    np.testing.assert_allclose(grads.bias[:, 0, 0], 2 * ys.sum(axis=(0, 2, 3)), rtol=1e-4)
    # Directional derivative against a central difference.
    direction = jnp.asarray(RNG.standard_normal(layer.weight.shape), jnp.float32)
    step = 1e-2

    def shifted(t):
        return loss(tree_at(lambda m: m.weight, layer, layer.weight + t * direction), xs)

    numeric = (shifted(step) - shifted(-step)) / (2 * step)
    np.testing.assert_allclose(jnp.vdot(grads.weight, direction), numeric, rtol=2e-2)


@pytest.mark.parametrize(
    "name, shape, message",
    [
        (
            "conv2d-replicate",
            (8, 2, 5, 5),
            r"Conv2d\(in_channels=2\) expected an input of shape \(2, H, W\), got \(8, 2, 5, 5\): use jax.vmap for batches$",
        ),
        ("conv1d", (4, 5), r"Conv1d\(in_channels=3\) expected an input of shape \(3, L\), got \(4, 5\)$"),
        (
            "transpose2d-groups",
            (4, 5),
            r"ConvTranspose2d\(in_channels=4\) expected .* \(4, H, W\), got \(4, 5\)$",
        ),
    ],
)
def test_wrong_input_shape_is_named(name, shape, message):
    with pytest.raises(ValueError, match=message):
        LAYERS[name](jnp.ones(shape))


def test_bad_arguments():
    with pytest.raises(ValueError, match="divisible by `groups`"):
        nn.Conv2d(3, 4, 3, groups=2, key=KEY)
    with pytest.raises(ValueError, match="padding"):
        nn.Conv2d(3, 4, 3, padding="FULL", key=KEY)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(3, 4, 3, padding_mode="mirror", key=KEY)
    with pytest.raises(ValueError, match="sequence of 2 ints"):
        nn.Conv2d(3, 4, (3, 3, 3), key=KEY)
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose1d(1, 1, 3, stride=2, output_padding=2, key=KEY)
    with pytest.raises(NotImplementedError, match="REFLECT"):
        nn.ConvTranspose1d(1, 1, 3, padding_mode="REFLECT", key=KEY)
