"""filter_eval_shape, filter_make_jaxpr, filter_checkpoint."""

import jax
import jax.numpy as jnp
import numpy as np

from eqxdsl.runtime import Module, field, filter_checkpoint, filter_eval_shape, filter_grad, filter_make_jaxpr


class Model(Module):
    weight: jax.Array
    act: object = field(static=True, default=jnp.tanh)

    def __call__(self, x):
        return self.act(self.weight @ x)


def make_model(size):
    return Model(jax.random.normal(jax.random.key(0), (size, size)))


def test_filter_eval_shape_builds_a_skeleton_without_computing():
    skeleton = filter_eval_shape(make_model, 3)
    assert skeleton.weight == jax.ShapeDtypeStruct((3, 3), jnp.float32) and skeleton.act is jnp.tanh
    out = filter_eval_shape(lambda m, x: (m(x), "s"), skeleton, jax.ShapeDtypeStruct((3,), jnp.float32))
    assert out[0].shape == (3,) and out[1] == "s"


def test_filter_make_jaxpr():
    jaxpr, shapes, static = filter_make_jaxpr(lambda m, x, n: (m(x) * n, "tag"))(make_model(2), jnp.ones(2), 3)
    assert "tanh" in str(jaxpr) and len(jaxpr.jaxpr.invars) == 2  # weight and x; n is static
    assert shapes[0] == jax.ShapeDtypeStruct((2,), jnp.float32) and shapes[1] is None
    assert static == (None, "tag")


def test_filter_checkpoint_same_values_and_gradients():
    model, x = make_model(3), jnp.ones(3)
    checkpointed = filter_checkpoint(lambda m, x: (m(x), "s"))
    out, tag = checkpointed(model, x)
    assert tag == "s" and np.allclose(out, model(x))
    grads = filter_grad(lambda m: checkpointed(m, x)[0].sum())(model)
    expected = filter_grad(lambda m: m(x).sum())(model)
    assert np.allclose(grads.weight, expected.weight)
    jaxpr = jax.make_jaxpr(jax.grad(lambda w: checkpointed(Model(w), x)[0].sum()))(model.weight)
    assert "remat" in str(jaxpr) or "checkpoint" in str(jaxpr)
