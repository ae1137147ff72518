"""Lookup tables and positions: `Embedding` (index -> vector) and
`RotaryPositionalEmbedding` (rotary position encoding of a sequence)."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

from .._module import Module, field
from ._misc import check_shape, default_floating_dtype


class Embedding(Module):
    """``Embedding(i) == weight[i]``: a scalar integer index in, a vector of shape
    ``(embedding_size,)`` out."""

    num_embeddings: int = field(static=True)
    embedding_size: int = field(static=True)
    weight: jax.Array

    def __init__(
        self,
        num_embeddings: int | None = None,
        embedding_size: int | None = None,
        weight: jax.Array | None = None,
        dtype: Any = None,
        *,
        key: jax.Array | None = None,
    ):
        """**Arguments:** either

        - ``num_embeddings``, ``embedding_size`` and ``key`` (keyword only): the
          table, of shape ``(num_embeddings, embedding_size)``, is drawn from a
          standard normal distribution in ``dtype`` (float32, or float64 under x64); or
        - ``weight``: the table itself (the sizes, if given, must match it).
        """
        if weight is None:
            if num_embeddings is None or embedding_size is None or key is None:
                raise ValueError("Embedding needs num_embeddings=, embedding_size= and key=, or weight=")
            if num_embeddings < 0 or embedding_size < 0:
                raise ValueError(
                    f"Embedding sizes must not be negative, got ({num_embeddings}, {embedding_size})"
                )
            dtype = default_floating_dtype() if dtype is None else dtype
            weight = jax.random.normal(key, (num_embeddings, embedding_size), dtype)
        else:
            if weight.ndim != 2:
                raise ValueError(
                    f"Embedding weight must have shape (num_embeddings, embedding_size), got {weight.shape}"
                )
            num_embeddings = weight.shape[0] if num_embeddings is None else num_embeddings
            embedding_size = weight.shape[1] if embedding_size is None else embedding_size
            if weight.shape != (num_embeddings, embedding_size):
                raise ValueError(
                    f"Embedding weight has shape {weight.shape}, expected "
                    f"({num_embeddings}, {embedding_size})"
                )
        self.num_embeddings = num_embeddings
        self.embedding_size = embedding_size
        self.weight = weight

    def __call__(self, x: jax.Array | int, *, key: jax.Array | None = None) -> jax.Array:
        """Look up the scalar integer index ``x``; ``key`` is ignored."""
        check_shape(f"Embedding(num_embeddings={self.num_embeddings})", x, (), "an index")
        if not jnp.issubdtype(jnp.result_type(x), jnp.integer):
            raise TypeError(f"Embedding expects an integer index, got dtype {jnp.result_type(x)}")
        return self.weight[x]


@functools.lru_cache(maxsize=64)
def _rotary_tables(embedding_size: int, length: int, theta: float, dtype: Any) -> tuple[jax.Array, jax.Array]:
    """cos and sin of ``position * theta ** (-2i / embedding_size)``, shape
    ``(length, embedding_size)`` with the frequencies repeated for both halves."""
    with jax.ensure_compile_time_eval():
        frequencies = 1.0 / theta ** (jnp.arange(0.0, embedding_size, 2)[None, :] / embedding_size)
        angles = jnp.outer(jnp.arange(float(length)), frequencies)
        cos = jnp.tile(jnp.cos(angles).astype(dtype), (1, 2))
        sin = jnp.tile(jnp.sin(angles).astype(dtype), (1, 2))
    return cos, sin


class RotaryPositionalEmbedding(Module):
    """Rotary positional embedding (RoPE), in the "rotate half" layout.

    Input ``(seq_length, embedding_size)``; output the same shape: feature pair
    ``(j, j + embedding_size/2)`` at position ``t`` is rotated by the angle
    ``t * theta ** (-2j / embedding_size)``.
    """

    embedding_size: int = field(static=True)
    theta: float = field(static=True)
    dtype: Any = field(static=True)

    def __init__(self, embedding_size: int, theta: float = 10_000.0, dtype: Any = None):
        """**Arguments:**

        - ``embedding_size``: feature size; non-negative and even.
        - ``theta``: base of the frequencies; larger values rotate more slowly.
        - ``dtype``: dtype of the precomputed rotation tables (float32, or float64 under x64).
        """
        if embedding_size < 0 or embedding_size % 2 != 0:
            raise ValueError(
                f"RotaryPositionalEmbedding: embedding_size must be even and non-negative, got {embedding_size}"
            )
        self.embedding_size = embedding_size
        self.theta = theta
        self.dtype = default_floating_dtype() if dtype is None else dtype

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Rotate one sequence ``x`` of shape ``(seq_length, embedding_size)``; ``key`` is ignored."""
        check_shape(
            f"RotaryPositionalEmbedding(embedding_size={self.embedding_size})",
            x,
            ("seq_length", self.embedding_size),
        )
        cos, sin = _rotary_tables(self.embedding_size, x.shape[0], self.theta, jnp.dtype(self.dtype))
        half = self.embedding_size // 2
        rotated = jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)
        return (x * cos + rotated * sin).astype(x.dtype)
