"""Equinox's own layers get the summary our layers get: same rows, shapes and counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox
import jax
import jax.numpy as jnp
import pytest

import eqxdsl.runtime as eqx
from eqxdsl.summarise import report

from .cases import batch_norm_call

KEY = jax.random.key(0)


def _scanned_mlps(lib: Any) -> tuple[Any, tuple[Any, ...], Callable[..., Any]]:
    """Three MLPs with stacked parameters, applied in turn with `lax.scan`."""
    stack = lib.filter_vmap(lambda key: lib.nn.MLP(6, 6, 12, 1, key=key))(jax.random.split(KEY, 3))

    def call(stack: Any, x: jax.Array) -> jax.Array:
        params, static = lib.partition(stack, lib.is_array)

        def step(x: jax.Array, layer_params: Any) -> tuple[jax.Array, None]:
            return lib.combine(layer_params, static)(x), None

        return jax.lax.scan(step, x, params)[0]

    return stack, (jnp.ones(6),), call


def _plain(make: Callable[[Any], Any], *inputs: Any) -> Callable[[Any], tuple[Any, tuple[Any, ...], Any]]:
    return lambda lib: (make(lib), inputs, None)


def _batch_norm(lib: Any) -> tuple[Any, tuple[Any, ...], Any]:
    layer, state = lib.nn.make_with_state(lib.nn.BatchNorm)(5, "batch", mode="batch")
    return layer, (jnp.ones((3, 5, 4)), state), batch_norm_call


SEQUENCE = jnp.ones((7, 8))
LAYERS = {
    "linear": _plain(lambda lib: lib.nn.Linear(5, 3, key=KEY), jnp.ones(5)),
    "mlp": _plain(lambda lib: lib.nn.MLP(5, 3, 16, 2, key=KEY), jnp.ones(5)),
    "conv2d": _plain(lambda lib: lib.nn.Conv2d(3, 8, 3, stride=2, padding=1, key=KEY), jnp.ones((3, 9, 9))),
    "conv_transpose": _plain(lambda lib: lib.nn.ConvTranspose1d(4, 2, 3, stride=2, key=KEY), jnp.ones((4, 6))),
    "attention": _plain(lambda lib: lib.nn.MultiheadAttention(2, 8, key=KEY), SEQUENCE, SEQUENCE, SEQUENCE),
    "layer_norm": _plain(lambda lib: lib.nn.LayerNorm(8), jnp.ones(8)),
    "gru": _plain(lambda lib: lib.nn.GRUCell(4, 6, key=KEY), jnp.ones(4), jnp.ones(6)),
    "lstm": _plain(lambda lib: lib.nn.LSTMCell(4, 6, key=KEY), jnp.ones(4), (jnp.ones(6), jnp.ones(6))),
    "embedding": _plain(lambda lib: lib.nn.Embedding(10, 4, key=KEY), jnp.array(3)),
    "sequential": _plain(
        lambda lib: lib.nn.Sequential([lib.nn.Linear(4, 8, key=KEY), lib.nn.Lambda(jax.nn.relu), lib.nn.Linear(8, 2, key=KEY)]),
        jnp.ones(4),
    ),
    "batch_norm": _batch_norm,
    "scanned_mlps": _scanned_mlps,
}


def _shape(lib: Any, name: str) -> list[tuple[Any, ...]]:
    layer, inputs, call = LAYERS[name](lib)
    summary = report(layer, *inputs, call=call)
    return [(row.path, row.depth, row.type, row.outputs, row.calls, row.stateful, row.counts) for row in summary.rows]


@pytest.mark.parametrize("name", LAYERS)
def test_equinox_layers_summarise_as_ours(name: str) -> None:
    ours = _shape(eqx, name)
    assert ours == _shape(equinox, name)
    assert ours[0][6].params > 0 or name == "batch_norm" and ours[0][6].buffers > 0


def test_scanned_stack_is_one_row_counting_every_step() -> None:
    rows = {row[0]: row for row in _shape(equinox, "scanned_mlps")}
    assert set(rows) == {"", "layers[0]", "layers[1]"}
    assert rows["layers[0]"][6].macs == 3 * 6 * 12
    assert rows["layers[1]"][3][0].shape == (6,)
