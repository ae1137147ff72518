"""`Dropout`: zero each element with probability ``p`` during training."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._module import Module, field


class Dropout(Module):
    """In training, keep each element with probability ``q = 1 - p`` and scale it by
    ``1 / q``; in inference, return the input. Any input shape; output shape equals it.

    ``p`` and ``inference`` are static fields (in Equinox both are PyTree leaves).
    Under a plain ``jax.jit`` over a model, a leaf would become a tracer, and the
    layer could no longer decide at trace time whether it is the identity: a
    ``MultiheadAttention`` with the default ``dropout_p=0`` would demand a key.
    Static, they also stay out of optimiser states and gradients; changing
    either selects a different compiled function.
    """

    p: float = field(static=True)
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
        if inference or self.p == 0:
            return x
        if key is None:
            raise RuntimeError(
                f"Dropout(p={self.p}) needs a key in training mode: call it with key=..., "
                "or switch it off with inference=True or inference_mode(model)"
            )
        keep = 1 - self.p
        mask = jax.random.bernoulli(key, keep, jnp.shape(x))
        return jnp.where(mask, x / keep, 0)
