"""An optax training loop on a Module, through our filtered transformations and
through plain jax.jit / jax.grad."""

import jax
import jax.numpy as jnp
import optax

from eqxdsl.runtime import Module, apply_updates, debug, field, filter, filter_jit, filter_value_and_grad, is_inexact_array


class Dense(Module):
    weight: jax.Array
    bias: jax.Array

    def __call__(self, x):
        return self.weight @ x + self.bias


class TinyMLP(Module):
    layers: tuple
    activation: object = field(static=True)
    steps_seen: jax.Array  # an integer leaf, carried along untouched

    def __init__(self, key, sizes=(2, 16, 1)):
        keys = jax.random.split(key, len(sizes) - 1)
        self.layers = tuple(
            Dense(jax.random.normal(k, (n_out, n_in)) / jnp.sqrt(n_in), jnp.zeros(n_out))
            for k, n_in, n_out in zip(keys, sizes[:-1], sizes[1:])
        )
        self.activation = jnp.tanh
        self.steps_seen = jnp.array(0)

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)


def data():
    x = jax.random.uniform(jax.random.key(1), (64, 2), minval=-1, maxval=1)
    return x, jnp.sin(2 * x[:, :1]) * x[:, 1:]


def loss_fn(model, x, y):
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


OPTIMISER = optax.adam(3e-2)


def test_training_with_filtered_transformations():
    model, (x, y) = TinyMLP(jax.random.key(0)), data()
    opt_state = OPTIMISER.init(filter(model, is_inexact_array))

    @filter_jit
    def step(model, opt_state, x, y):
        loss, grads = filter_value_and_grad(loss_fn)(model, x, y)
        updates, opt_state = OPTIMISER.update(grads, opt_state, filter(model, is_inexact_array))
        return apply_updates(model, updates), opt_state, loss

    first = loss_fn(model, x, y)
    for _ in range(150):
        model, opt_state, loss = step(model, opt_state, x, y)
    assert loss < 0.2 * first
    assert debug.get_num_traces(step) == 1
    assert model.steps_seen.dtype == jnp.int32 and model.activation is jnp.tanh


def test_training_with_plain_jax_jit_and_grad():
    model, (x, y) = TinyMLP(jax.random.key(0)), data()
    params = filter(model, is_inexact_array)
    opt_state = OPTIMISER.init(params)

    @jax.jit
    def step(model, opt_state, x, y):
        grads = jax.grad(loss_fn, allow_int=True)(model, x, y)
        grads = filter(grads, is_inexact_array)
        updates, opt_state = OPTIMISER.update(grads, opt_state)
        return apply_updates(model, updates), opt_state

    first = loss_fn(model, x, y)
    for _ in range(150):
        model, opt_state = step(model, opt_state, x, y)
    assert loss_fn(model, x, y) < 0.2 * first
    assert isinstance(model, TinyMLP) and model.activation is jnp.tanh
