"""`Linear`, an affine map of a vector, and `Identity`, a do-nothing placeholder."""

from __future__ import annotations

import math
from typing import Any, Literal

import jax
import jax.numpy as jnp

from .._module import Module, field
from ._misc import check_shape, default_floating_dtype, default_init


class Linear(Module):
    """``y = weight @ x + bias``.

    Input shape ``(in_features,)`` (``()`` when ``in_features="scalar"``); output
    shape ``(out_features,)`` (``()`` when ``out_features="scalar"``).
    """

    weight: jax.Array
    bias: jax.Array | None
    in_features: int | Literal["scalar"] = field(static=True)
    out_features: int | Literal["scalar"] = field(static=True)
    use_bias: bool = field(static=True)

    def __init__(
        self,
        in_features: int | Literal["scalar"],
        out_features: int | Literal["scalar"],
        use_bias: bool = True,
        dtype: Any = None,
        *,
        key: jax.Array,
    ):
        """**Arguments:**

        - ``in_features``: size of the input vector, or ``"scalar"`` for a ``()`` input.
        - ``out_features``: size of the output vector, or ``"scalar"`` for a ``()`` output.
        - ``use_bias``: whether to add a bias.
        - ``dtype``: dtype of the parameters; float32, or float64 under x64, by default.
        - ``key``: PRNG key for the initialisation (keyword only). ``weight`` has shape
          ``(out, in)`` and ``bias`` shape ``(out,)``, both ``U(-1/sqrt(in), 1/sqrt(in))``.
        """
        dtype = default_floating_dtype() if dtype is None else dtype
        weight_key, bias_key = jax.random.split(key, 2)
        n_in = 1 if in_features == "scalar" else in_features
        n_out = 1 if out_features == "scalar" else out_features
        lim = 1.0 if n_in == 0 else 1 / math.sqrt(n_in)
        self.weight = default_init(weight_key, (n_out, n_in), dtype, lim)
        self.bias = default_init(bias_key, (n_out,), dtype, lim) if use_bias else None
        self.in_features = in_features
        self.out_features = out_features
        self.use_bias = use_bias

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Apply the map to one vector ``x``; ``key`` is ignored."""
        scalar_in = self.in_features == "scalar"
        check_shape(
            f"Linear(in_features={self.in_features!r})",
            x,
            () if scalar_in else (self.in_features,),
        )
        if scalar_in:
            x = jnp.broadcast_to(x, (1,))
        y = self.weight @ x
        if self.bias is not None:
            y = y + self.bias
        if self.out_features == "scalar":
            y = jnp.squeeze(y, axis=0)
        return y


class Identity(Module):
    """Returns its input unchanged; any constructor arguments are ignored."""

    def __init__(self, *args: Any, **kwargs: Any):
        """Accepts and ignores any arguments, so it can stand in for another layer."""

    def __call__(self, x: Any, *, key: jax.Array | None = None) -> Any:
        """Return ``x``; ``key`` is ignored."""
        return x
