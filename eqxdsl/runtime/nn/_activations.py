"""`PReLU`: a ReLU whose slope for negative inputs is learned."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._module import Module


class PReLU(Module):
    """``x`` where ``x >= 0``, ``negative_slope * x`` elsewhere. Any input shape;
    ``negative_slope`` is a scalar or broadcasts against the input."""

    negative_slope: jax.Array

    def __init__(self, init_alpha: float | jax.Array = 0.25):
        """**Arguments:** ``init_alpha``: initial slope for negative inputs (a scalar,
        or an array that broadcasts against the input, e.g. one per channel)."""
        self.negative_slope = jnp.asarray(init_alpha)

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Apply the activation to ``x``; ``key`` is ignored."""
        with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
            return jnp.where(x >= 0, x, self.negative_slope * x)
