"""How the summary counts: trainable, frozen and buffer elements, abstract models,
layers built during the call, and the multiply-add rules against XLA."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqxdsl.runtime as eqx
from eqxdsl.summarise import report

from .cases import xla_macs

KEY = jax.random.key(0)


class Tagged(eqx.Module):
    """A Linear next to an integer table and a fixed projection, to count each kind of leaf."""

    linear: eqx.nn.Linear
    table: jax.Array
    projection: jax.Array

    def __init__(self, key: jax.Array):
        self.linear = eqx.nn.Linear(4, 3, key=key)
        self.table = jnp.arange(6, dtype=jnp.int32)
        self.projection = jnp.ones((3, 2))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.linear(x) @ self.projection + self.table[0]


def test_trainable_filter_splits_trainable_and_frozen() -> None:
    model = Tagged(KEY)
    frozen_projection = jax.tree_util.tree_map(lambda _: eqx.is_inexact_array, model)
    frozen_projection = eqx.tree_at(lambda m: m.projection, frozen_projection, False)
    summary = report(model, jnp.ones(4), trainable=frozen_projection)
    assert (summary.totals.trainable, summary.totals.frozen, summary.totals.buffers) == (15, 6, 6)
    assert summary.totals.param_bytes == 4 * 21 and summary.totals.buffer_bytes == 4 * 6
    linear = summary.rows[1]
    assert (linear.path, linear.counts.trainable, linear.counts.frozen) == ("linear", 15, 0)
    assert summary.totals.macs == 3 * 4 + 3 * 2
    everything = report(model, jnp.ones(4))
    assert (everything.totals.trainable, everything.totals.frozen) == (21, 0)


def test_abstract_model_and_inputs_allocate_nothing() -> None:
    """A model made by `filter_eval_shape` has no arrays at all, and still gets its summary."""
    model = eqx.filter_eval_shape(lambda: eqx.nn.MLP(30, 10, 40, 2, key=KEY))
    assert not jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array))
    abstract = report(model, jax.ShapeDtypeStruct((30,), jnp.float32))
    concrete = report(eqx.nn.MLP(30, 10, 40, 2, key=KEY), jnp.ones(30))
    assert abstract == concrete
    assert abstract.totals.params == 30 * 40 + 40 + 40 * 40 + 40 + 40 * 10 + 10


def test_missing_state_is_noted() -> None:
    layer, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(3, "batch")
    with_state = report(
        layer, jnp.ones((2, 3)), state, call=lambda m, x, s: jax.vmap(m, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, s)
    )
    assert with_state.totals.buffers == 1 + 3 + 3 and not with_state.notes
    unmade = eqx.nn.BatchNorm(3, "batch")  # its StateIndexes still hold their initial values
    assert report(unmade, jnp.ones(3), call=lambda m, x: m.weight * x).totals.buffers == 7
    moved = eqx.nn.delete_init_state(unmade)
    notes = report(moved, jnp.ones(3), call=lambda m, x: m.weight * x).notes
    assert notes == ("2 StateIndex value(s) not counted as buffers: pass the model's State among the inputs",)


class BuildsAtCallTime(eqx.Module):
    """Builds a Linear from its own weight on every call: a layer not in the tree.

    Its class is in the tree (`head`), so its calls are seen; its structure
    differs from `head`'s, so they are not taken for calls of `head`.
    """

    weight: jax.Array
    head: eqx.nn.Linear

    def __call__(self, x: jax.Array) -> jax.Array:
        inner = eqx.nn.Linear(3, 3, use_bias=False, key=KEY)
        inner = eqx.tree_at(lambda layer: layer.weight, inner, self.weight)
        return self.head(inner(inner(x)))


def test_layers_built_during_the_call_get_rows_of_their_own() -> None:
    model = BuildsAtCallTime(jnp.ones((3, 3)), eqx.nn.Linear(3, 2, key=KEY))
    summary = report(model, jnp.ones(3))
    rows = {row.path: row for row in summary.rows}
    assert list(rows) == ["", "head", "<Linear>"]
    assert (rows["<Linear>"].calls, rows["<Linear>"].depth, rows["<Linear>"].counts.macs) == (2, 1, 18)
    assert rows["<Linear>"].counts.params == 0  # its weight is the model's, counted there
    assert rows[""].counts.params == 9 + 8 and rows[""].counts.macs == 18 + 6


def test_cond_and_while_are_noted() -> None:
    linear = eqx.nn.Linear(4, 4, key=KEY)

    def call(model: eqx.nn.Linear, x: jax.Array) -> jax.Array:
        x = jax.lax.cond(x[0] > 0, lambda x: model(x), lambda x: x, x)
        return jax.lax.while_loop(lambda x: x[0] < 10, lambda x: model(x), x)

    summary = report(linear, jnp.ones(4), call=call)
    assert summary.totals.macs == 2 * 16
    assert summary.rows[0].calls == 2
    assert any("cond" in note for note in summary.notes)
    assert any("while loop" in note for note in summary.notes)


CONVOLUTIONS = {
    "padded": dict(window_strides=(1, 1), padding=((1, 1), (1, 1))),
    "strided": dict(window_strides=(2, 2), padding=((1, 0), (2, 1))),
    "dilated": dict(window_strides=(1, 1), padding=((2, 2), (2, 2)), rhs_dilation=(2, 2)),
    "transposed": dict(window_strides=(1, 1), padding=((2, 2), (2, 2)), lhs_dilation=(2, 2)),
    "grouped": dict(window_strides=(1, 1), padding=((1, 1), (1, 1)), feature_group_count=2),
}


@pytest.mark.parametrize("name", CONVOLUTIONS)
def test_convolution_multiply_adds_equal_xla(name: str) -> None:
    """Exactly XLA's count: taps that land on padding or on inserted zeros do not count."""
    options = CONVOLUTIONS[name]
    groups = options.get("feature_group_count", 1)
    kernel = jnp.ones((8, 6 // groups, 3, 3))

    def conv(kernel: jax.Array, x: jax.Array) -> jax.Array:
        return jax.lax.conv_general_dilated(x[None], kernel, **options)

    x = jnp.ones((6, 9, 7))
    expected = xla_macs(conv, kernel, x)
    assert report(jax.tree_util.Partial(conv), kernel, x).totals.macs == expected > 0


def test_batched_contraction_multiply_adds_equal_xla() -> None:
    def contract(a: jax.Array, b: jax.Array) -> jax.Array:
        return jnp.einsum("hqd,hkd->hqk", a, b)

    a, b = jnp.ones((3, 5, 4)), jnp.ones((3, 7, 4))
    assert report(jax.tree_util.Partial(contract), a, b).totals.macs == xla_macs(contract, a, b) == 3 * 5 * 7 * 4
    assert np.isclose(report(jax.tree_util.Partial(jnp.tanh), a).totals.macs, 0)
