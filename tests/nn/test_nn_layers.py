"""Dense, recurrent, attention, embedding, dropout and pooling layers: shapes,
numerics against NumPy formulas, gradients, jit/vmap and error messages."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from nn_reference import adaptive_pool, attention, pool, sigmoid

import eqxdsl.runtime.nn as nn
from eqxdsl.runtime import tree_at

KEY = jax.random.key(1)
RNG = np.random.default_rng(1)


# Eager construction compiles one sampler per parameter shape, so the layers here
# reuse a few shapes (shared with the parity tests, which then hit the cache).
LAYERS = {
    "linear": nn.Linear(4, 3, key=KEY),
    "linear-scalar": nn.Linear("scalar", 3, key=KEY),
    "mlp": nn.MLP(4, 3, 4, 3, activation=jnp.tanh, final_activation=jax.nn.sigmoid, key=KEY),
    "mlp-scan": nn.MLP(4, 3, 4, 3, activation=jnp.tanh, final_activation=jax.nn.sigmoid, scan=True, key=KEY),
    "gru": nn.GRUCell(3, 4, key=KEY),
    "lstm": nn.LSTMCell(3, 4, key=KEY),
    "attention": nn.MultiheadAttention(
        2, 4, 3, 3, 3, 2, 2, use_query_bias=True, use_output_bias=True, key=KEY
    ),
    "attention-dropout": nn.MultiheadAttention(2, 4, dropout_p=0.5, key=KEY),
    "embedding": nn.Embedding(4, 3, key=KEY),
}


def _np(x):
    return np.asarray(x, np.float64)


def test_linear_and_identity():
    linear = LAYERS["linear"]
    x = RNG.standard_normal(4).astype(np.float32)
    np.testing.assert_allclose(linear(x), _np(linear.weight) @ x + _np(linear.bias), rtol=1e-6)
    lim = 1 / np.sqrt(4)
    assert np.all(np.abs(linear.weight) <= lim) and np.all(np.abs(linear.bias) <= lim)
    scalar = LAYERS["linear-scalar"]
    assert scalar.weight.shape == (3, 1)
    np.testing.assert_allclose(scalar(2.0), 2 * scalar.weight[:, 0] + scalar.bias, rtol=1e-6)
    scalar_out = nn.Linear(4, "scalar", key=KEY)
    assert scalar_out(jnp.ones(4)).shape == ()
    assert nn.Identity(1, 2, flag=True)("anything") == "anything"
    # The bias key is split off even without a bias: same weight either way.
    no_bias = nn.Linear(4, 3, use_bias=False, key=KEY)
    assert no_bias.bias is None
    assert np.array_equal(no_bias.weight, nn.Linear(4, 3, key=KEY).weight)


def test_linear_shape_errors():
    with pytest.raises(
        ValueError,
        match=r"^Linear\(in_features=4\) expected an input of shape \(4,\), got \(2, 4\): use jax.vmap for batches$",
    ):
        LAYERS["linear"](jnp.ones((2, 4)))
    with pytest.raises(ValueError, match=r"expected an input of shape \(4,\), got \(5,\)$"):
        LAYERS["linear"](jnp.ones(5))
    with pytest.raises(
        ValueError,
        match=r"Linear\(in_features='scalar'\) expected an input of shape \(\)",
    ):
        LAYERS["linear-scalar"](jnp.ones(1))
    with pytest.raises(ValueError, match=r"MLP\(in_size=4\) expected an input of shape \(4,\), got \(3,\)"):
        LAYERS["mlp"](jnp.ones(3))


def test_mlp_matches_written_out_forward_and_scan_agrees():
    mlp, scanned = LAYERS["mlp"], LAYERS["mlp-scan"]
    assert len(mlp.layers) == 4 and len(scanned.layers) == 3
    assert scanned.layers[1].weight.shape == (2, 4, 4)
    # The same key gives the same hidden layers, stacked.
    np.testing.assert_array_equal(scanned.layers[1].weight[1], mlp.layers[2].weight)
    x = RNG.standard_normal(4).astype(np.float32)
    h = x.astype(np.float64)
    for layer in mlp.layers[:-1]:
        h = np.tanh(_np(layer.weight) @ h + _np(layer.bias))
    expected = sigmoid(_np(mlp.layers[-1].weight) @ h + _np(mlp.layers[-1].bias))
    outputs = jax.jit(lambda a, b, x: (a(x), b(x)))(mlp, scanned, x)
    np.testing.assert_allclose(outputs[0], expected, rtol=1e-5)
    np.testing.assert_allclose(outputs[1], expected, rtol=1e-5)


def test_mlp_gradients_and_batches():
    mlp = LAYERS["mlp-scan"]
    xs = RNG.standard_normal((8, 4)).astype(np.float32)
    direction = jax.tree_util.tree_map(lambda p: jnp.asarray(RNG.standard_normal(p.shape), p.dtype), mlp)

    def loss(model):
        return jnp.mean(jax.vmap(model)(xs) ** 2)

    @jax.jit
    def check(model, direction):
        grads = jax.grad(loss)(model)
        analytic = sum(
            jnp.vdot(g, d)
            for g, d in zip(jax.tree_util.tree_leaves(grads), jax.tree_util.tree_leaves(direction))
        )
        step = 1e-2
        moved = [jax.tree_util.tree_map(lambda p, d: p + t * d, model, direction) for t in (step, -step)]
        numeric = (loss(moved[0]) - loss(moved[1])) / (2 * step)
        return grads, analytic, numeric

    grads, analytic, numeric = check(mlp, direction)
    assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(mlp)
    np.testing.assert_allclose(analytic, numeric, rtol=2e-2)


def test_sequential_lambda_and_prelu():
    linear = LAYERS["linear"]
    prelu = nn.PReLU(0.1)
    seq = nn.Sequential([linear, jnp.tanh, nn.Lambda(lambda v: v * 2), prelu])
    assert isinstance(seq.layers[1], nn.Lambda)  # plain functions are wrapped
    x = RNG.standard_normal(4).astype(np.float32)
    h = 2 * np.tanh(_np(linear.weight) @ x + _np(linear.bias))
    expected = np.where(h >= 0, h, 0.1 * h)
    np.testing.assert_allclose(jax.jit(lambda s, x: s(x))(seq, x), expected, rtol=1e-5)
    assert len(seq) == 4 and seq[0] is linear and isinstance(seq[1:], nn.Sequential)
    assert [type(layer) for layer in seq] == [nn.Linear, nn.Lambda, nn.Lambda, nn.PReLU]
    grad = jax.grad(lambda p: p(jnp.array([-2.0, 3.0])).sum())(prelu)
    np.testing.assert_allclose(grad.negative_slope, -2.0)


def test_gru_cell_formula():
    cell = LAYERS["gru"]
    x, h = RNG.standard_normal(3), RNG.standard_normal(4)
    wi, wh, b, bn = (_np(p) for p in (cell.weight_ih, cell.weight_hh, cell.bias, cell.bias_n))
    gi, gh = wi @ x + b, wh @ h
    r = sigmoid(gi[:4] + gh[:4])
    z = sigmoid(gi[4:8] + gh[4:8])
    n = np.tanh(gi[8:] + r * (gh[8:] + bn))
    expected = (1 - z) * n + z * h
    np.testing.assert_allclose(
        cell(x.astype(np.float32), h.astype(np.float32)), expected, rtol=1e-5, atol=1e-6
    )


def test_lstm_cell_formula_and_scan():
    cell = LAYERS["lstm"]
    xs = RNG.standard_normal((5, 3)).astype(np.float32)
    h, c = np.zeros(4), np.zeros(4)
    wi, wh, b = (_np(p) for p in (cell.weight_ih, cell.weight_hh, cell.bias))
    for x in xs:
        gates = wi @ x + wh @ h + b
        i, f, g, o = sigmoid(gates[:4]), sigmoid(gates[4:8]), np.tanh(gates[8:12]), sigmoid(gates[12:])
        c = f * c + i * g
        h = o * np.tanh(c)

    @jax.jit
    def run(cell, xs):
        def step(carry, x):
            return cell(x, carry), None

        zeros = jnp.zeros(4)
        return jax.lax.scan(step, (zeros, zeros), xs)[0]

    h_out, c_out = run(cell, xs)
    np.testing.assert_allclose(h_out, h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(c_out, c, rtol=1e-5, atol=1e-6)
    message = r"LSTMCell\(input_size=3, hidden_size=4\) expected a hidden state of shape \(4,\), got \(3,\)"
    with pytest.raises(ValueError, match=message):
        cell(xs[0], (jnp.zeros(3), jnp.zeros(3)))


def test_multihead_attention_against_per_head_formula():
    mha = LAYERS["attention"]
    q, k, v = (RNG.standard_normal(s).astype(np.float32) for s in ((2, 4), (3, 3), (3, 3)))
    mask2 = np.array([[True, False, True], [True, True, False]])
    mask3 = np.stack([mask2, ~mask2 | np.eye(2, 3, dtype=bool)])

    def reference(mask):
        qh = (q @ _np(mha.query_proj.weight).T + _np(mha.query_proj.bias)).reshape(2, 2, 2)
        kh = (k @ _np(mha.key_proj.weight).T).reshape(3, 2, 2)
        vh = (v @ _np(mha.value_proj.weight).T).reshape(3, 2, 2)
        heads = [
            attention(
                qh[:, i],
                kh[:, i],
                vh[:, i],
                None if mask is None else (mask if mask.ndim == 2 else mask[i]),
            )
            for i in range(2)
        ]
        return np.concatenate(heads, axis=1) @ _np(mha.output_proj.weight).T + _np(mha.output_proj.bias)

    run = jax.jit(lambda m, mask: m(q, k, v, mask))
    for mask in (None, mask2, mask3):
        out = run(mha, mask)
        assert out.shape == (2, 3)
        np.testing.assert_allclose(out, reference(mask), rtol=1e-5, atol=1e-6)
    with pytest.raises(
        ValueError,
        match=r"MultiheadAttention\(num_heads=2\) expected a mask of shape \(2, 3\), got \(3, 2\)",
    ):
        mha(q, k, v, mask2.T)
    with pytest.raises(ValueError, match=r"expected a value of shape \(3, 3\), got \(4, 3\)"):
        mha(q, k, np.ones((4, 3), np.float32))


def test_attention_dropout_needs_a_key_and_switches_off():
    mha = LAYERS["attention-dropout"]
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    with pytest.raises(RuntimeError, match="needs a key"):
        jax.eval_shape(lambda: mha(x, x, x))

    @jax.jit
    def run(model, keys):
        return [model(x, x, x, key=key) for key in keys] + [model(x, x, x, inference=True)]

    keys = jax.random.split(jax.random.key(0), 2)
    training = run(mha, keys)
    assert not np.allclose(training[0], training[1])
    inference = run(nn.inference_mode(mha), keys)
    np.testing.assert_array_equal(inference[0], inference[1])
    np.testing.assert_allclose(inference[0], training[2], rtol=1e-6)


def test_dropout():
    dropout = nn.Dropout(0.25)
    x = jnp.ones((4000,))
    y = jax.jit(lambda d, x, key: d(x, key=key))(dropout, x, jax.random.key(3))
    kept = np.asarray(y) != 0
    assert abs(kept.mean() - 0.75) < 0.03
    np.testing.assert_allclose(np.asarray(y)[kept], 1 / 0.75, rtol=1e-6)
    with pytest.raises(RuntimeError, match=r"Dropout\(p=0.25\) needs a key in training mode"):
        dropout(x)
    assert dropout(x, inference=True) is x
    assert nn.inference_mode(dropout)(x) is x
    assert nn.inference_mode(nn.inference_mode(dropout), False).inference is False
    assert nn.Dropout(0.0)(x) is x  # p == 0 needs no key
    # Gradients flow through the kept elements only, scaled by 1/q.
    grad = jax.grad(lambda x: dropout(x, key=jax.random.key(3)).sum())(x[:8])
    assert set(np.unique(np.asarray(grad)).tolist()) <= {0.0, np.float32(1 / 0.75)}


def test_embedding():
    embedding = LAYERS["embedding"]
    np.testing.assert_array_equal(embedding(3), embedding.weight[3])
    np.testing.assert_array_equal(jax.vmap(embedding)(jnp.array([0, 3])), embedding.weight[jnp.array([0, 3])])
    table = jnp.arange(6.0).reshape(3, 2)
    assert nn.Embedding(weight=table).num_embeddings == 3
    with pytest.raises(
        ValueError,
        match=r"Embedding\(num_embeddings=4\) expected an index of shape \(\), got \(2,\): use jax.vmap",
    ):
        embedding(jnp.array([1, 2]))
    with pytest.raises(ValueError, match="num_embeddings=, embedding_size= and key="):
        nn.Embedding(3, 2)
    with pytest.raises(ValueError, match=r"expected \(3, 3\)"):
        nn.Embedding(3, 3, weight=table)


def test_rotary_embedding_rotates_feature_pairs():
    rope = nn.RotaryPositionalEmbedding(4, theta=100.0)
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    y = np.asarray(jax.jit(lambda r, x: r(x))(rope, x))
    for t in range(3):
        for j in range(2):
            angle = t * 100.0 ** (-2 * j / 4)
            a, b = x[t, j], x[t, j + 2]
            np.testing.assert_allclose(
                [y[t, j], y[t, j + 2]],
                [
                    a * np.cos(angle) - b * np.sin(angle),
                    b * np.cos(angle) + a * np.sin(angle),
                ],
                rtol=1e-5,
                atol=1e-6,
            )
    with pytest.raises(ValueError, match="even"):
        nn.RotaryPositionalEmbedding(5)


POOL_CASES = [
    (nn.MaxPool1d(3, 2, padding=1), (2, 9), np.max, -np.inf),
    (
        nn.MaxPool2d((2, 3), stride=(2, 1), padding=((0, 1), (1, 1))),
        (2, 5, 6),
        np.max,
        -np.inf,
    ),
    (nn.AvgPool2d(2, stride=1, padding=1), (1, 3, 4), np.sum, 0.0),
    (nn.AvgPool3d(2, stride=2), (1, 4, 4, 5), np.sum, 0.0),
    (nn.MaxPool3d(2, stride=(1, 2, 2)), (1, 3, 4, 4), np.max, -np.inf),
    (nn.AvgPool1d(2, stride=2, use_ceil=True), (1, 5), np.sum, 0.0),
]


@pytest.mark.parametrize("layer, shape, reduce, fill", POOL_CASES)
def test_pools_match_window_reductions(layer, shape, reduce, fill):
    x = RNG.standard_normal(shape)
    pads = list(layer.padding)
    if layer.use_ceil:  # one more stride at the high end keeps the partial window
        pads = [
            (lo, hi + (0 if (n + lo + hi - k) % s == 0 else s))
            for n, (lo, hi), k, s in zip(shape[1:], pads, layer.kernel_size, layer.stride)
        ]
    expected = pool(x, layer.kernel_size, layer.stride, pads, reduce, fill)
    if reduce is np.sum:  # average over the full window, padding included
        expected = expected / np.prod(layer.kernel_size)
    np.testing.assert_allclose(layer(x.astype(np.float32)), expected, rtol=1e-5, atol=1e-6)


def test_adaptive_pools():
    x = RNG.standard_normal((2, 7, 5, 6))
    for layer, reduce in (
        (nn.AdaptiveAvgPool3d((3, 2, 6)), np.mean),
        (nn.AdaptiveMaxPool3d((3, 5, 4)), np.max),
    ):
        expected = adaptive_pool(x, layer.target_shape, reduce)
        np.testing.assert_allclose(layer(x.astype(np.float32)), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(nn.AdaptiveAvgPool1d(2)(jnp.arange(5.0)[None]), [[1.0, 3.5]])
    with pytest.raises(ValueError, match="at least its target"):
        nn.AdaptiveMaxPool1d(4)(jnp.ones((1, 3)))
    with pytest.raises(
        ValueError,
        match=r"AdaptiveAvgPool2d\(target_shape=\(2, 2\)\) expected an input of shape \(C, H, W\), got \(4,\)",
    ):
        nn.AdaptiveAvgPool2d(2)(jnp.ones(4))


def test_pool_errors_and_gradient():
    with pytest.raises(
        ValueError,
        match=r"MaxPool2d\(kernel_size=\(2, 2\)\) expected an input of shape \(C, H, W\), got \(3, 4\)",
    ):
        nn.MaxPool2d(2)(jnp.ones((3, 4)))
    with pytest.raises(ValueError, match="larger than the kernel size"):
        nn.MaxPool1d(2, padding=3)(jnp.ones((1, 5)))
    x = jnp.array([[1.0, 3.0, 2.0, 0.0]])
    for layer, expected in [(nn.MaxPool1d(2, 2), [[0.0, 1.0, 1.0, 0.0]]), (nn.AvgPool1d(2, 2), [[0.5] * 4])]:
        loss = lambda x: layer(x).sum()
        np.testing.assert_array_equal(jax.grad(loss)(x), expected)
        # Under jit the start value of the window reduction must stay a constant.
        np.testing.assert_array_equal(jax.jit(jax.grad(loss))(x), expected)


def test_replacing_parameters_with_tree_at():
    linear = tree_at(lambda m: (m.weight, m.bias), LAYERS["linear"], (jnp.ones((3, 4)), jnp.zeros(3)))
    np.testing.assert_allclose(linear(jnp.arange(4.0)), [6.0, 6.0, 6.0])
