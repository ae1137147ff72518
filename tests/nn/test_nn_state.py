"""Normalisation layers, explicit state (BatchNorm, SpectralNorm, State,
make_with_state), inference_mode, the weight wrappers and Shared, and training
a model with optax."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import eqxdsl.runtime.nn as nn
from eqxdsl.runtime import (
    Module,
    apply_updates,
    field,
    filter,
    filter_jit,
    filter_value_and_grad,
    is_array,
    tree_at,
)

KEY = jax.random.key(2)
RNG = np.random.default_rng(2)


def test_layer_norm_and_rms_norm_formulas():
    x = RNG.standard_normal((3, 4))
    layer_norm = tree_at(
        lambda m: (m.weight, m.bias),
        nn.LayerNorm((3, 4)),
        (jnp.full((3, 4), 2.0), jnp.full((3, 4), 0.5)),
    )
    expected = (x - x.mean()) / np.sqrt(x.var() + 1e-5) * 2.0 + 0.5
    np.testing.assert_allclose(layer_norm(x.astype(np.float32)), expected, rtol=1e-5, atol=1e-5)
    rms = nn.RMSNorm(4, eps=1e-3, use_bias=False)
    v = RNG.standard_normal(4)
    np.testing.assert_allclose(rms(v.astype(np.float32)), v / np.sqrt(np.mean(v**2) + 1e-3), rtol=1e-5)
    # Statistics in float32 for half-precision inputs; the result keeps the input dtype.
    assert layer_norm(x.astype(np.float16)).dtype == jnp.float16
    with pytest.raises(
        ValueError,
        match=r"^LayerNorm\(shape=\(3, 4\)\) expected an input of shape \(3, 4\), got \(2, 3, 4\): use jax.vmap for batches$",
    ):
        layer_norm(jnp.ones((2, 3, 4)))
    with pytest.raises(
        ValueError,
        match=r"RMSNorm\(shape=\(4,\)\) expected an input of shape \(4,\), got \(5,\)",
    ):
        rms(jnp.ones(5))


def test_group_norm_formula():
    x = RNG.standard_normal((6, 2, 3))
    norm = tree_at(lambda m: m.weight, nn.GroupNorm(3, 6), jnp.arange(1.0, 7.0))
    groups = x.reshape(3, -1)
    expected = (
        (groups - groups.mean(1, keepdims=True)) / np.sqrt(groups.var(1, keepdims=True) + 1e-5)
    ).reshape(x.shape)
    expected = expected * np.arange(1.0, 7.0)[:, None, None]
    np.testing.assert_allclose(norm(x.astype(np.float32)), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(
        ValueError,
        match=r"GroupNorm\(groups=3, channels=6\) expected an input of shape \(6, H, W\), got \(4, 2, 3\)",
    ):
        norm(jnp.ones((4, 2, 3)))
    with pytest.raises(ValueError, match="must divide"):
        nn.GroupNorm(4, 6)


def test_norms_pass_a_state_through():
    model, state = nn.make_with_state(nn.Sequential)([nn.LayerNorm(3), nn.BatchNorm(3, "batch")])
    x = jnp.ones((2, 3))
    y, new_state = jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)
    assert y.shape == (2, 3) and isinstance(new_state, nn.State)
    y, same = nn.LayerNorm(3)(x[0], new_state)
    assert same is new_state


def _batches(steps: int) -> np.ndarray:
    # Channel c has mean c and standard deviation c + 1.
    scale = np.arange(1.0, 4.0)[None, None, :, None]
    shift = np.arange(0.0, 3.0)[None, None, :, None]
    return (RNG.standard_normal((steps, 8, 3, 5)) * scale + shift).astype(np.float32)


def test_batch_norm_trains_with_state_threaded_through():
    model, state = nn.make_with_state(nn.BatchNorm)(3, "batch", momentum=0.5)
    assert model.mode == "batch"  # the default, see the module docstring

    @jax.jit
    def step(model, state, xs):
        def loss(model):
            ys, state_out = jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(
                xs, state
            )
            return jnp.mean((ys - 1.0) ** 2), state_out

        (value, new_state), grads = jax.value_and_grad(loss, has_aux=True)(model)
        model = jax.tree_util.tree_map(lambda p, g: p - 0.5 * g, model, grads)
        return model, new_state, value

    batches = _batches(6)
    running_mean, running_var = np.zeros(3), np.ones(3)
    losses = []
    for xs in batches:
        model, state, value = step(model, state, xs)
        losses.append(float(value))
        per_channel = xs.transpose(1, 0, 2).reshape(3, -1).astype(np.float64)
        running_mean = 0.5 * running_mean + 0.5 * per_channel.mean(1)
        running_var = 0.5 * running_var + 0.5 * per_channel.var(1)
    assert losses[-1] < 0.5 * losses[0]
    # The bias learns the target mean 1.
    np.testing.assert_allclose(model.bias, 1.0, atol=0.2)
    steps = state.get(model.batch_counter)
    hidden_mean, hidden_var = state.get(model.batch_state_index)
    assert int(steps) == 6
    np.testing.assert_allclose(hidden_mean, running_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(hidden_var, running_var, rtol=1e-4)

    # Inference: the bias-corrected running statistics, and the state is unchanged.
    x = batches[0][0]
    y, state_after = nn.inference_mode(model)(x, state)
    correction = 1 - 0.5**6
    mean, var = running_mean / correction, running_var / correction
    expected = (x - mean[:, None]) / np.sqrt(var[:, None] + 1e-5) * np.asarray(model.weight)[:, None]
    np.testing.assert_allclose(y, expected + np.asarray(model.bias)[:, None], rtol=1e-4, atol=1e-4)
    assert int(state_after.get(model.batch_counter)) == 6
    # Call-time `inference=` overrides the field.
    np.testing.assert_allclose(model(x, state_after, inference=True)[0], y, rtol=1e-6)


def test_batch_norm_ema_mode_blends_statistics():
    model, state = nn.make_with_state(nn.BatchNorm)(
        3, "batch", momentum=0.75, mode="ema", channelwise_affine=False
    )
    run = jax.jit(jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None)))
    first, second = _batches(2)
    stats = lambda xs: (xs.mean(axis=(0, 2)), xs.var(axis=(0, 2)))
    _, state = run(first, state)
    y, state = run(second, state)
    (m1, v1), (m2, v2) = stats(first.astype(np.float64)), stats(second.astype(np.float64))
    mean, var = 0.25 * m2 + 0.75 * m1, 0.25 * v2 + 0.75 * v1
    expected = (second - mean[None, :, None]) / np.sqrt(var[None, :, None] + 1e-5)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_batch_norm_errors():
    model, state = nn.make_with_state(nn.BatchNorm)(3, "batch")
    with pytest.raises(
        ValueError,
        match=r"BatchNorm\(input_size=3\) expected an input of shape \(3, L\), got \(4, 5\)",
    ):
        model(jnp.ones((4, 5)), state)
    with pytest.raises(NameError):  # no vmap with the axis name
        model(jnp.ones((3, 5)), state)
    with pytest.raises(ValueError, match="mode"):
        nn.BatchNorm(3, "batch", mode="running")


def test_state_semantics():
    index = nn.StateIndex(jnp.zeros(2))
    state = nn.State(index)
    np.testing.assert_array_equal(state.get(index), [0.0, 0.0])
    new_state = state.set(index, jnp.ones(2))
    np.testing.assert_array_equal(new_state.get(index), [1.0, 1.0])
    with pytest.raises(ValueError, match="already used"):
        state.get(index)
    with pytest.raises(ValueError, match="keep the old structure, shapes and dtypes"):
        new_state.set(index, jnp.ones(3))
    with pytest.raises(ValueError, match="not a function"):
        nn.StateIndex(lambda: jnp.zeros(2))
    # A state is a PyTree of its arrays, so it passes through jit and is rebuilt.
    doubled = jax.jit(lambda s: jax.tree_util.tree_map(lambda a: 2 * a, s))(new_state)
    np.testing.assert_array_equal(doubled.get(index), [2.0, 2.0])
    # Substates and updates.
    other = nn.StateIndex(jnp.array(5))
    both = nn.State((index, other))
    sub = both.substate(other)
    both = both.update(sub.set(other, jnp.array(6)))
    assert int(both.get(other)) == 6


def test_make_with_state_and_delete_init_state():
    model, state = nn.make_with_state(nn.Sequential)([nn.Linear(2, 3, key=KEY), nn.BatchNorm(3, "b")])
    bn = model.layers[1]
    assert bn.batch_counter.marker == "Sequential.layers[1].batch_counter"
    assert jax.tree_util.tree_leaves(bn.batch_counter) == []  # the initial value moved to the state
    with pytest.raises(ValueError, match="make_with_state"):
        nn.State(model)
    fresh = nn.BatchNorm(3, "b")
    assert jax.tree_util.tree_leaves(nn.delete_init_state(fresh)) == jax.tree_util.tree_leaves(
        filter(fresh, lambda x: x is fresh.weight or x is fresh.bias)
    )
    assert model.is_stateful() and not nn.Sequential([nn.Linear(2, 3, key=KEY)]).is_stateful()
    with pytest.raises(ValueError, match="stateful"):
        model(jnp.ones(2))


def test_inference_mode_reaches_nested_layers():
    model = nn.Sequential(
        [
            nn.Dropout(0.3),
            nn.MultiheadAttention(2, 4, dropout_p=0.1, key=KEY),
            nn.Sequential([nn.BatchNorm(4, "b"), nn.Dropout(0.1)]),
        ]
    )
    flags = lambda m: [
        m.layers[0].inference,
        m.layers[1].dropout.inference,
        m.layers[2].layers[0].inference,
        m.layers[2].layers[1].inference,
    ]
    on = nn.inference_mode(model)
    assert flags(on) == [True] * 4 and flags(model) == [False] * 4
    assert flags(nn.inference_mode(on, value=False)) == [False] * 4
    # Parameters are shared, not copied, and the structure is otherwise unchanged.
    assert on.layers[1].query_proj.weight is model.layers[1].query_proj.weight

    class Custom(Module):
        inner: nn.Dropout
        inference: bool = field(static=True, default=False)

    custom = nn.inference_mode(Custom(nn.Dropout(0.5)))
    assert custom.inference and custom.inner.inference


def test_spectral_norm_divides_by_the_largest_singular_value():
    linear = nn.Linear(5, 4, key=KEY)
    model, state = nn.make_with_state(nn.SpectralNorm)(linear, "weight", num_power_iterations=3, key=KEY)
    x = jnp.asarray(RNG.standard_normal(5), jnp.float32)
    run = jax.jit(lambda m, x, s: m(x, s))
    for _ in range(3):
        y, state = run(model, x, state)
    sigma = np.linalg.svd(np.asarray(linear.weight, np.float64), compute_uv=False)[0]
    expected = np.asarray(linear.weight, np.float64) / sigma @ np.asarray(x) + np.asarray(linear.bias)
    # sigma is a power-iteration estimate: close, not exact.
    np.testing.assert_allclose(y, expected, rtol=2e-3, atol=1e-4)
    # Gradients reach the wrapped weight; the power iteration is not differentiated.
    grads = jax.grad(lambda m: run(m, x, state)[0].sum())(model)
    assert grads.layer.weight.shape == (4, 5) and np.all(np.isfinite(grads.layer.weight))
    with pytest.raises(ValueError, match="two dimensions"):
        nn.SpectralNorm(nn.PReLU(), "negative_slope", key=KEY)


def test_weight_norm():
    linear = nn.Linear(3, 2, key=KEY)
    model = nn.WeightNorm(linear)
    x = jnp.asarray(RNG.standard_normal(3), jnp.float32)
    np.testing.assert_allclose(model(x), linear(x), rtol=1e-5)  # g starts at ||v||
    np.testing.assert_allclose(model.g[:, 0], np.linalg.norm(np.asarray(linear.weight), axis=1), rtol=1e-6)
    doubled = tree_at(lambda m: m.g, model, 2 * model.g)
    np.testing.assert_allclose(doubled(x) - linear.bias, 2 * (linear(x) - linear.bias), rtol=1e-5)
    # Scaling the direction v changes nothing.
    scaled = tree_at(lambda m: m.layer.weight, model, 5 * linear.weight)
    np.testing.assert_allclose(scaled(x), model(x), rtol=1e-5)


def test_shared_ties_weights_and_sums_their_gradients():
    embedding = nn.Embedding(4, 3, key=KEY)
    head = nn.Linear(3, 4, use_bias=False, key=KEY)
    shared = nn.Shared((embedding, head), lambda pair: pair[1].weight, lambda pair: pair[0].weight)
    embedding_out, head_out = shared()
    assert head_out.weight is embedding_out.weight

    def loss(shared):
        embedding, head = shared()
        return jnp.sum(head(embedding(1)))

    grads = jax.jit(jax.grad(loss))(shared)
    # d/dW sum(W @ W[1]) = 1 * W[1] (as the head) plus the column sums (as the embedding row 1).
    weight = np.asarray(embedding.weight)
    expected = np.tile(weight[1], (4, 1))
    expected[1] += weight.sum(axis=0)
    np.testing.assert_allclose(grads.pytree[0].weight, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="same structure"):
        nn.Shared((embedding, head), lambda pair: pair[1].weight, lambda pair: pair[0])


def test_training_a_model_with_optax_and_filtered_transformations():
    model = nn.Sequential(
        [
            nn.Linear(2, 16, key=KEY),
            jax.nn.tanh,
            nn.Dropout(0.1),
            nn.Linear(16, 1, key=jax.random.fold_in(KEY, 1)),
        ]
    )
    optimiser = optax.adam(1e-2)
    opt_state = optimiser.init(filter(model, is_array))
    xs = RNG.standard_normal((32, 2)).astype(np.float32)
    ys = np.sin(xs[:, :1] + xs[:, 1:])

    @filter_jit
    def step(model, opt_state, key):
        def loss(model):
            keys = jax.random.split(key, len(xs))
            return jnp.mean((jax.vmap(lambda x, k: model(x, key=k))(xs, keys) - ys) ** 2)

        value, grads = filter_value_and_grad(loss)(model)
        updates, opt_state = optimiser.update(grads, opt_state)
        return apply_updates(model, updates), opt_state, value

    losses = []
    for i in range(40):
        model, opt_state, value = step(model, opt_state, jax.random.key(i))
        losses.append(float(value))
    assert losses[-1] < 0.5 * losses[0]
    evaluation = jax.jit(lambda m, x: jax.vmap(nn.inference_mode(m))(x))(model, xs)
    assert evaluation.shape == (32, 1)
