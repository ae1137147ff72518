"""filter_vmap: per-leaf axes, if_array, named axes, ensembles."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqxdsl.runtime import Module, field, filter_vmap, if_array


class Linear(Module):
    weight: jax.Array
    label: str = field(static=True, default="lin")

    def __call__(self, x):
        return self.weight @ x


def make_linear(key):
    return Linear(jax.random.normal(key, (3, 2)))


def test_default_maps_arrays_and_broadcasts_the_rest():
    out = filter_vmap(lambda x, n, s: (x * n, s))(jnp.arange(4.0), 2, "tag")
    assert np.array_equal(out[0], np.arange(4.0) * 2) and out[1] == "tag"


def test_in_axes_prefix_with_none_and_int():
    model = make_linear(jax.random.key(0))
    xs = jnp.ones((5, 2))
    out = filter_vmap(lambda m, x: m(x), in_axes=(None, 0))(model, xs)
    assert out.shape == (5, 3)
    columns = filter_vmap(lambda x: x * 2, in_axes=1)(jnp.ones((2, 4)))
    assert columns.shape == (4, 2)


def test_out_axes():
    out = filter_vmap(lambda x: (x, x.sum()), out_axes=(1, 0))(jnp.ones((4, 2)))
    assert out[0].shape == (2, 4) and out[1].shape == (4,)
    unmapped = filter_vmap(lambda x: (x, jnp.zeros(3)), out_axes=(0, None))(jnp.ones(4))
    assert unmapped[1].shape == (3,)


def test_ensemble_of_models():
    keys = jax.random.split(jax.random.key(1), 4)
    ensemble = filter_vmap(make_linear)(keys)
    assert ensemble.weight.shape == (4, 3, 2) and ensemble.label == "lin"
    outputs = filter_vmap(lambda m, x: m(x), in_axes=(if_array(0), None))(ensemble, jnp.ones(2))
    assert outputs.shape == (4, 3)
    assert np.allclose(outputs[2], make_linear(keys[2])(jnp.ones(2)))


def test_axis_name_and_axis_size():
    total = filter_vmap(lambda x: jax.lax.psum(x, "batch"), axis_name="batch")(jnp.arange(3.0))
    assert np.array_equal(total, [3.0, 3.0, 3.0])
    repeated = filter_vmap(lambda: jnp.ones(2), in_axes=(), axis_size=3)()
    assert repeated.shape == (3, 2)


def test_method_decorator():
    class Batched(Module):
        w: jax.Array

        @filter_vmap(in_axes=(None, 0))
        def apply(self, x):
            return self.w * x

    assert Batched(jnp.array(2.0)).apply(jnp.arange(3.0)).shape == (3,)


def test_errors():
    with pytest.raises(TypeError, match="positional"):
        filter_vmap(lambda x: x)(x=jnp.ones(2))
    with pytest.raises(ValueError, match="not an array"):
        filter_vmap(lambda n: n, in_axes=0)(3)
    with pytest.raises(ValueError, match="entries"):
        filter_vmap(lambda a, b: a, in_axes=(0,))(jnp.ones(2), jnp.ones(2))
