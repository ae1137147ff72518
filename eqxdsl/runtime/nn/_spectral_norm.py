"""`SpectralNorm`: divide a layer's weight by its largest singular value, estimated
by power iteration (Miyato et al., 2018)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from .._module import field
from .._tree import tree_at
from ._stateful import State, StatefulLayer, StateIndex


def _power_iteration(
    weight: jax.Array, u: jax.Array, v: jax.Array, eps: float
) -> tuple[jax.Array, jax.Array]:
    """One step towards the leading left/right singular vectors of ``weight``."""
    u = weight @ v
    u = u / jnp.maximum(eps, jnp.sqrt(jnp.sum(u**2)))
    v = weight.T @ u
    v = v / jnp.maximum(eps, jnp.sqrt(jnp.sum(v**2)))
    return u, v


class SpectralNorm(StatefulLayer):
    """Wraps ``layer`` so that it uses ``weight / sigma``, with ``sigma`` the
    estimated spectral norm of the weight reshaped to ``(shape[0], -1)``.

    Called as ``sn(x, state, *, key=None, inference=None) -> (y, state)``. The
    singular-vector estimates ``(u, v)`` live in the state; in training each call
    runs ``num_power_iterations`` steps (without gradient) and stores them. Input
    and output shapes are those of ``layer``.
    """

    layer: Any
    weight_name: str = field(static=True)
    uv_index: StateIndex
    num_power_iterations: int = field(static=True)
    eps: float = field(static=True)
    inference: bool = field(static=True)

    def __init__(
        self,
        layer: Any,
        weight_name: str,
        num_power_iterations: int = 1,
        eps: float = 1e-12,
        inference: bool = False,
        *,
        key: jax.Array,
    ):
        """**Arguments:**

        - ``layer``: the layer to wrap.
        - ``weight_name``: name of its weight attribute (at least two-dimensional).
        - ``num_power_iterations``: power-iteration steps per training call.
        - ``eps``: lower bound of the norms divided by, for numerical stability.
        - ``inference``: keep ``(u, v)`` fixed (``inference_mode`` sets it).
        - ``key``: PRNG key for the normal initial ``u``, ``v``, which are then
          refined by 15 power-iteration steps (keyword only).
        """
        weight = getattr(layer, weight_name)
        if weight.ndim < 2:
            raise ValueError(
                f"SpectralNorm: `{weight_name}` must have at least two dimensions, got shape {weight.shape}"
            )
        matrix = jnp.reshape(weight, (weight.shape[0], -1))
        u_key, v_key = jax.random.split(key)
        u = jax.random.normal(u_key, (matrix.shape[0],), matrix.dtype)
        v = jax.random.normal(v_key, (matrix.shape[1],), matrix.dtype)
        for _ in range(15):
            u, v = _power_iteration(matrix, u, v, eps)
        self.layer = layer
        self.weight_name = weight_name
        self.uv_index = StateIndex((u, v))
        self.num_power_iterations = num_power_iterations
        self.eps = eps
        self.inference = inference

    def __call__(
        self,
        x: Any,
        state: State,
        *,
        key: jax.Array | None = None,
        inference: bool | None = None,
    ) -> tuple[Any, State]:
        """Apply the normalised layer to ``x``; ``key`` is ignored."""
        u, v = state.get(self.uv_index)
        weight = getattr(self.layer, self.weight_name)
        matrix = jnp.reshape(weight, (weight.shape[0], -1))
        if inference is None:
            inference = self.inference
        if not inference:
            frozen = lax.stop_gradient(matrix)
            for _ in range(self.num_power_iterations):
                u, v = _power_iteration(frozen, u, v, self.eps)
            state = state.set(self.uv_index, (u, v))
        sigma = jnp.einsum("i,ij,j->", u, matrix, v)
        normalised = jnp.reshape(matrix / sigma, weight.shape)
        layer = tree_at(lambda layer: getattr(layer, self.weight_name), self.layer, normalised)
        return layer(x), state
