"""Recurrent cells, one time step each: `GRUCell` and `LSTMCell`. Run them over a
sequence with ``jax.lax.scan``."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from .._module import Module, field
from ._misc import check_shape, default_floating_dtype, default_init


def _check_step(name: str, cell: Any, x: jax.Array, hidden: jax.Array) -> None:
    layer = f"{name}(input_size={cell.input_size}, hidden_size={cell.hidden_size})"
    check_shape(layer, x, (cell.input_size,))
    check_shape(layer, hidden, (cell.hidden_size,), "a hidden state")


def _uniform_parameters(
    key: jax.Array, hidden_size: int, dtype: Any, shapes: list[tuple[int, ...] | None]
) -> list[jax.Array | None]:
    """One array per entry of ``shapes``, each ``U(-1/sqrt(hidden), 1/sqrt(hidden))``
    from its own key split off ``key``; ``None`` where the shape is ``None`` (an
    unused bias, whose key is split off all the same)."""
    dtype = default_floating_dtype() if dtype is None else dtype
    lim = math.sqrt(1 / hidden_size)
    keys = jax.random.split(key, len(shapes))
    return [None if shape is None else default_init(k, shape, dtype, lim) for k, shape in zip(keys, shapes)]


class GRUCell(Module):
    """One step of a gated recurrent unit.

    ``cell(x, h) -> h'`` with ``x`` of shape ``(input_size,)`` and ``h``, ``h'`` of
    shape ``(hidden_size,)``. Gates in order reset ``r``, update ``z``, new ``n``:
    ``n = tanh(W_in x + b_in + r * (W_hn h + bias_n))``, ``h' = n + z * (h - n)``.
    """

    weight_ih: jax.Array
    weight_hh: jax.Array
    bias: jax.Array | None
    bias_n: jax.Array | None
    input_size: int = field(static=True)
    hidden_size: int = field(static=True)
    use_bias: bool = field(static=True)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        use_bias: bool = True,
        dtype: Any = None,
        *,
        key: jax.Array,
    ):
        """**Arguments:**

        - ``input_size``, ``hidden_size``: sizes of the input and the hidden state.
        - ``use_bias``: whether to use the biases ``bias`` ``(3 * hidden,)`` and
          ``bias_n`` ``(hidden,)``.
        - ``dtype``: parameter dtype (float32, or float64 under x64).
        - ``key``: PRNG key (keyword only); every parameter is
          ``U(-1/sqrt(hidden), 1/sqrt(hidden))``.
        """
        shapes = [(3 * hidden_size, input_size), (3 * hidden_size, hidden_size)]
        shapes += [(3 * hidden_size,), (hidden_size,)] if use_bias else [None, None]
        self.weight_ih, self.weight_hh, self.bias, self.bias_n = _uniform_parameters(key, hidden_size, dtype, shapes)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.use_bias = use_bias

    def __call__(self, input: jax.Array, hidden: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """One step from ``input`` ``(input_size,)`` and ``hidden`` ``(hidden_size,)``;
        returns the new hidden state. ``key`` is ignored."""
        _check_step("GRUCell", self, input, hidden)
        bias = 0 if self.bias is None else self.bias
        bias_n = 0 if self.bias_n is None else self.bias_n
        input_reset, input_update, input_new = jnp.split(self.weight_ih @ input + bias, 3)
        hidden_reset, hidden_update, hidden_new = jnp.split(self.weight_hh @ hidden, 3)
        reset = jax.nn.sigmoid(input_reset + hidden_reset)
        update = jax.nn.sigmoid(input_update + hidden_update)
        new = jnp.tanh(input_new + reset * (hidden_new + bias_n))
        return new + update * (hidden - new)


class LSTMCell(Module):
    """One step of a long short-term memory cell.

    ``cell(x, (h, c)) -> (h', c')`` with ``x`` of shape ``(input_size,)`` and
    ``h``, ``c`` of shape ``(hidden_size,)``. Gates in order input, forget, cell,
    output: ``c' = f * c + i * g``, ``h' = o * tanh(c')``.
    """

    weight_ih: jax.Array
    weight_hh: jax.Array
    bias: jax.Array | None
    input_size: int = field(static=True)
    hidden_size: int = field(static=True)
    use_bias: bool = field(static=True)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        use_bias: bool = True,
        dtype: Any = None,
        *,
        key: jax.Array,
    ):
        """**Arguments:** as for `GRUCell`; the bias has shape ``(4 * hidden,)``."""
        shapes = [(4 * hidden_size, input_size), (4 * hidden_size, hidden_size)]
        shapes += [(4 * hidden_size,)] if use_bias else [None]
        self.weight_ih, self.weight_hh, self.bias = _uniform_parameters(key, hidden_size, dtype, shapes)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.use_bias = use_bias

    def __call__(
        self,
        input: jax.Array,
        hidden: tuple[jax.Array, jax.Array],
        *,
        key: jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """One step from ``input`` and ``hidden = (h, c)``; returns ``(h', c')``.
        ``key`` is ignored."""
        h, c = hidden
        _check_step("LSTMCell", self, input, h)
        check_shape(f"LSTMCell(hidden_size={self.hidden_size})", c, (self.hidden_size,), "a cell state")
        gates = self.weight_ih @ input + self.weight_hh @ h
        if self.bias is not None:
            gates = gates + self.bias
        i, f, g, o = jnp.split(gates, 4)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return h, c
