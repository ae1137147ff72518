"""debug.get_num_traces and debug.assert_max_traces."""

import jax
import jax.numpy as jnp
import pytest

from eqxdsl.runtime import Module, debug, filter_jit


def test_assert_max_traces_raises_on_retrace():
    @filter_jit
    @debug.assert_max_traces(max_traces=1)
    def f(x):
        return x + 1

    f(jnp.ones(2))
    f(jnp.zeros(2))
    assert debug.get_num_traces(f) == 1
    with pytest.raises(RuntimeError, match="traced 2 times, more than max_traces=1"):
        f(jnp.ones(3))


def test_assert_max_traces_with_plain_jax_jit():
    counted = debug.assert_max_traces(lambda x: x * 2, max_traces=2)
    jitted = jax.jit(counted)
    jitted(jnp.ones(1))
    jitted(jnp.ones(2))
    assert debug.get_num_traces(counted) == 2
    with pytest.raises(RuntimeError, match="max_traces=2"):
        jitted(jnp.ones(3))


def test_count_only_and_through_methods():
    class Model(Module):
        w: jax.Array

        @filter_jit
        @debug.assert_max_traces(max_traces=None)
        def apply(self, x):
            return self.w * x

    model = Model(jnp.ones(2))
    model.apply(jnp.ones(2))
    Model(jnp.zeros(2)).apply(jnp.ones(2))
    assert debug.get_num_traces(model.apply) == 1
    model.apply(jnp.ones(()))
    assert debug.get_num_traces(model.apply) == 2


def test_get_num_traces_rejects_unwatched_functions():
    with pytest.raises(ValueError, match="neither"):
        debug.get_num_traces(lambda x: x)
