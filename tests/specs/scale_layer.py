"""A Module class written in Python, imported by composition.eqx (its source is read, never imported by the compiler)."""

import jax
import jax.numpy as jnp

import eqxdsl.runtime as eqx


class Scale(eqx.Module):
    """Multiplies its input elementwise by a learned vector."""

    weight: jax.Array

    def __init__(self, size: int, init: float = 1.0, *, key: jax.Array):
        del key
        self.weight = jnp.full((size,), init)

    def __call__(self, x: jax.Array) -> jax.Array:
        return x * self.weight
