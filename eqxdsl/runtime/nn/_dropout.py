"""`Dropout`: zero each element with probability ``p`` during training."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from .._module import Module, field


class Dropout(Module):
    """In training, keep each element with probability ``q = 1 - p`` and scale it by
    ``1 / q``; in inference, return the input. Any input shape; output shape equals it.

    ``p`` is an ordinary (non-static) field, as in Equinox, so it may be a traced
    value; it is never differentiated. ``inference`` is static, so switching it
    (with ``inference_mode``) selects a different compiled function.
    """

    p: float
    inference: bool = field(static=True)

    def __init__(self, p: float = 0.5, inference: bool = False):
        """**Arguments:**

        - ``p``: probability of dropping an element.
        - ``inference``: if true, the layer is the identity (``inference_mode`` sets it).
        """
        self.p = p
        self.inference = inference

    def __call__(
        self, x: jax.Array, *, key: jax.Array | None = None, inference: bool | None = None
    ) -> jax.Array:
        """Apply dropout to ``x``.

        ``key`` is required in training mode; ``inference`` overrides the field.
        """
        if inference is None:
            inference = self.inference
        if isinstance(self.p, (int, float)) and self.p == 0:
            inference = True
        if inference:
            return x
        if key is None:
            raise RuntimeError(
                f"Dropout(p={self.p}) needs a key in training mode: call it with key=..., "
                "or switch it off with inference=True or inference_mode(model)"
            )
        keep = 1 - lax.stop_gradient(self.p)
        mask = jax.random.bernoulli(key, keep, jnp.shape(x))
        return jnp.where(mask, x / keep, 0)
