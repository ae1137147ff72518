"""Filtered autodiff: grad, value_and_grad, jac*, hessian, jvp, vjp."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqxdsl.runtime import (
    Module,
    field,
    filter_grad,
    filter_hessian,
    filter_jacfwd,
    filter_jacrev,
    filter_jit,
    filter_jvp,
    filter_value_and_grad,
    filter_vjp,
)


class Model(Module):
    weight: jax.Array
    steps: jax.Array  # integer: not differentiated
    power: float  # Python number: not differentiated
    act: object = field(static=True, default=jnp.tanh)

    def __call__(self, x):
        return jnp.sum(self.act(self.weight * x) ** self.power) * self.steps

    def loss(self, x):
        return self(x)


def make_model():
    return Model(jnp.array([0.5, -1.0]), jnp.array(2), 2.0)


def test_filter_grad_differentiates_inexact_arrays_only():
    model = make_model()
    grads = filter_grad(lambda m, x: m(x))(model, jnp.ones(2))
    assert grads.steps is None and grads.power is None and grads.act is jnp.tanh
    expected = jax.grad(lambda w: jnp.sum(jnp.tanh(w) ** 2) * 2)(model.weight)
    assert np.allclose(grads.weight, expected)


def test_value_and_grad_and_has_aux():
    model = make_model()
    value, grads = filter_value_and_grad(lambda m, x: m(x))(model, jnp.ones(2))
    assert np.isclose(value, model(jnp.ones(2)))
    (value, aux), grads_aux = filter_value_and_grad(lambda m: (m(1.0), "aux"), has_aux=True)(model)
    assert aux == "aux" and np.allclose(grads_aux.weight, grads.weight)
    grads_only, aux = filter_grad(lambda m: (m(1.0), 3), has_aux=True)(model)
    assert aux == 3 and np.allclose(grads_only.weight, grads.weight)


def test_grad_of_a_bound_method_and_as_decorator():
    model = make_model()
    grads = filter_grad(model.loss)  # differentiates the first argument: x
    assert np.allclose(grads(jnp.ones(2)), jax.grad(lambda x: model(x))(jnp.ones(2)))

    @filter_grad
    def loss(m, x):
        return m(x)

    assert loss(model, jnp.ones(2)).weight.shape == (2,)


def test_grad_under_filter_jit_with_pytree_function():
    model = make_model()
    step = filter_jit(filter_value_and_grad(Model.loss))
    value, grads = step(model, jnp.ones(2))
    assert grads.weight.shape == (2,) and value.shape == ()


def test_jacobians_and_hessian():
    f = lambda tree: jnp.stack([tree["a"][0] ** 2, tree["a"][1] * 3.0]) * tree["n"]  # noqa: E731
    tree = {"a": jnp.array([1.0, 2.0]), "n": 2}
    forward = filter_jacfwd(f)(tree)
    reverse = filter_jacrev(f)(tree)
    assert np.allclose(forward["a"], [[4.0, 0.0], [0.0, 6.0]]) and forward["n"] is None
    assert np.allclose(reverse["a"], forward["a"])
    hessian = filter_hessian(lambda tree: jnp.sum(tree["a"] ** 3) * tree["n"])(tree)
    assert np.allclose(hessian["a"]["a"], np.diag([12.0, 24.0]))


def test_filter_jvp():
    model = make_model()
    out, tangent = filter_jvp(lambda m, x: m(x), (model, jnp.ones(2)), (None, jnp.array([1.0, 0.0])))
    expected = jax.jvp(lambda x: model(x), (jnp.ones(2),), (jnp.array([1.0, 0.0]),))
    assert np.allclose(out, expected[0]) and np.allclose(tangent, expected[1])
    out, tangent = filter_jvp(lambda x, s: (x * 2, s), (jnp.ones(1), "tag"), (jnp.ones(1), None))
    assert out[1] == "tag" and tangent[1] is None and np.allclose(tangent[0], 2.0)
    with pytest.raises(ValueError, match="not an inexact array"):
        filter_jvp(lambda n: n, (jnp.array(1),), (jnp.array(1),))


def test_filter_vjp():
    model = make_model()
    out, vjp_fn = filter_vjp(lambda m, x: m(x), model, jnp.ones(2))
    model_ct, x_ct = vjp_fn(jnp.array(1.0))
    assert np.allclose(x_ct, jax.grad(lambda x: model(x))(jnp.ones(2)))
    assert model_ct.steps is None and model_ct.weight.shape == (2,)
    out, vjp_fn, aux = filter_vjp(lambda x: (x * 3.0, "aux"), jnp.ones(2), has_aux=True)
    assert aux == "aux" and np.allclose(vjp_fn(jnp.ones(2))[0], 3.0)
