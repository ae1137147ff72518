"""`WeightNorm`: reparameterise a layer's weight as a direction times a learned norm."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from .._module import Module, field
from .._tree import tree_at


def _norm_except_axis(v: jax.Array, axis: int | None) -> jax.Array:
    """Euclidean norm over every axis but ``axis`` (over all axes when ``None``),
    with the reduced axes kept as size 1."""
    norm = functools.partial(jnp.linalg.norm, keepdims=True)
    if axis is None:
        return norm(v)
    return jax.vmap(norm, in_axes=axis, out_axes=axis)(v)


class WeightNorm(Module):
    """Wraps ``layer`` so that its weight is ``v * g / ||v||`` (Salimans & Kingma, 2016).

    ``v`` is the wrapped layer's own weight; ``g`` is learned and starts at
    ``||v||``, so the wrapped layer initially computes what ``layer`` computes.
    The norm is over every axis except ``axis``. Input and output shapes are those
    of ``layer``.
    """

    layer: Any
    g: jax.Array
    weight_name: str = field(static=True)
    axis: int | None = field(static=True)

    def __init__(self, layer: Any, weight_name: str = "weight", axis: int | None = 0):
        """**Arguments:**

        - ``layer``: the layer to wrap (for example a `Linear` or a `Conv`).
        - ``weight_name``: name of the weight attribute of ``layer``.
        - ``axis``: the axis that keeps one norm per entry (0: per output
          feature/channel); ``None`` for a single norm of the whole weight.
        """
        self.layer = layer
        self.weight_name = weight_name
        self.axis = axis
        self.g = _norm_except_axis(getattr(layer, weight_name), axis)

    def __call__(self, x: Any, *, key: jax.Array | None = None) -> Any:
        """Apply ``layer`` with the normalised weight; ``key`` is ignored."""
        v = getattr(self.layer, self.weight_name)
        weight = v * self.g / _norm_except_axis(v, self.axis)
        layer = tree_at(lambda layer: getattr(layer, self.weight_name), self.layer, weight)
        return layer(x)
