"""`MultiheadAttention` and the scaled dot-product attention it is built on."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .._module import Module, field
from ._dropout import Dropout
from ._linear import Linear
from ._misc import check_shape, default_floating_dtype

ProcessHeads = Callable[[jax.Array, jax.Array, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]


def dot_product_attention_weights(
    query: jax.Array, key: jax.Array, mask: jax.Array | None = None
) -> jax.Array:
    """``softmax(query @ key.T / sqrt(qk_size))`` with masked-out logits set to the
    dtype's minimum.

    ``query`` ``(q_seq, qk_size)``, ``key`` ``(kv_seq, qk_size)``, boolean ``mask``
    ``(q_seq, kv_seq)`` (true = attend); returns ``(q_seq, kv_seq)``. The softmax is
    taken in at least float32.
    """
    query = query / math.sqrt(query.shape[-1])
    logits = jnp.einsum("sd,Sd->sS", query, key)
    if mask is not None:
        if mask.shape != logits.shape:
            raise ValueError(
                f"attention mask must have shape (q_seq, kv_seq) = {logits.shape}, got {mask.shape}"
            )
        logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
    with jax.numpy_dtype_promotion("standard"):
        dtype = jnp.result_type(logits.dtype, jnp.float32)
    return jax.nn.softmax(logits.astype(dtype)).astype(logits.dtype)


def dot_product_attention(
    query: jax.Array,
    key_: jax.Array,
    value: jax.Array,
    mask: jax.Array | None = None,
    dropout: Dropout | None = None,
    *,
    key: jax.Array | None = None,
    inference: bool | None = None,
) -> jax.Array:
    """Attention of one head: ``weights @ value`` with optional dropout on the weights.

    ``query`` ``(q_seq, qk_size)``, ``key_`` ``(kv_seq, qk_size)``, ``value``
    ``(kv_seq, v_size)``; returns ``(q_seq, v_size)``. ``key`` is the PRNG key of
    the dropout.
    """
    weights = dot_product_attention_weights(query, key_, mask)
    if dropout is not None:
        weights = dropout(weights, key=key, inference=inference)
    return jnp.einsum("sS,Sd->sd", weights, value)


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al., 2017).

    ``query`` ``(q_seq, query_size)``, ``key_`` ``(kv_seq, key_size)``, ``value``
    ``(kv_seq, value_size)`` -> ``(q_seq, output_size)``. Each is projected to
    ``num_heads`` heads of ``qk_size`` (queries, keys) or ``vo_size`` (values);
    the heads' attention outputs are concatenated and projected to ``output_size``.
    """

    query_proj: Linear
    key_proj: Linear
    value_proj: Linear
    output_proj: Linear
    dropout: Dropout
    num_heads: int = field(static=True)
    query_size: int = field(static=True)
    key_size: int = field(static=True)
    value_size: int = field(static=True)
    output_size: int = field(static=True)
    qk_size: int = field(static=True)
    vo_size: int = field(static=True)
    use_query_bias: bool = field(static=True)
    use_key_bias: bool = field(static=True)
    use_value_bias: bool = field(static=True)
    use_output_bias: bool = field(static=True)

    def __init__(
        self,
        num_heads: int,
        query_size: int,
        key_size: int | None = None,
        value_size: int | None = None,
        output_size: int | None = None,
        qk_size: int | None = None,
        vo_size: int | None = None,
        use_query_bias: bool = False,
        use_key_bias: bool = False,
        use_value_bias: bool = False,
        use_output_bias: bool = False,
        dropout_p: float = 0.0,
        inference: bool = False,
        dtype: Any = None,
        *,
        key: jax.Array,
    ):
        """**Arguments:**

        - ``num_heads``: number of heads.
        - ``query_size``: feature size of the query input.
        - ``key_size``, ``value_size``: feature sizes of the key and value inputs
          (default ``query_size``).
        - ``output_size``: feature size of the output (default ``query_size``).
        - ``qk_size``, ``vo_size``: per-head size of queries/keys and of values
          (default ``query_size // num_heads``).
        - ``use_query_bias``, ``use_key_bias``, ``use_value_bias``, ``use_output_bias``:
          biases of the four projections (all off by default).
        - ``dropout_p``: dropout probability on the attention weights.
        - ``inference``: switch the attention dropout off.
        - ``dtype``: parameter dtype (float32, or float64 under x64).
        - ``key``: PRNG key, split into the four projections' keys (keyword only).
        """
        dtype = default_floating_dtype() if dtype is None else dtype
        query_key, key_key, value_key, output_key = jax.random.split(key, 4)
        key_size = query_size if key_size is None else key_size
        value_size = query_size if value_size is None else value_size
        qk_size = query_size // num_heads if qk_size is None else qk_size
        vo_size = query_size // num_heads if vo_size is None else vo_size
        output_size = query_size if output_size is None else output_size
        self.query_proj = Linear(query_size, num_heads * qk_size, use_query_bias, dtype, key=query_key)
        self.key_proj = Linear(key_size, num_heads * qk_size, use_key_bias, dtype, key=key_key)
        self.value_proj = Linear(value_size, num_heads * vo_size, use_value_bias, dtype, key=value_key)
        self.output_proj = Linear(num_heads * vo_size, output_size, use_output_bias, dtype, key=output_key)
        self.dropout = Dropout(dropout_p, inference=inference)
        self.num_heads = num_heads
        self.query_size = query_size
        self.key_size = key_size
        self.value_size = value_size
        self.output_size = output_size
        self.qk_size = qk_size
        self.vo_size = vo_size
        self.use_query_bias = use_query_bias
        self.use_key_bias = use_key_bias
        self.use_value_bias = use_value_bias
        self.use_output_bias = use_output_bias

    def _heads(self, projection: Linear, x: jax.Array) -> jax.Array:
        """``(seq, size) -> (seq, num_heads, head_size)``."""
        return jax.vmap(projection)(x).reshape(x.shape[0], self.num_heads, -1)

    def __call__(
        self,
        query: jax.Array,
        key_: jax.Array,
        value: jax.Array,
        mask: jax.Array | None = None,
        *,
        key: jax.Array | None = None,
        inference: bool | None = None,
        process_heads: ProcessHeads | None = None,
    ) -> jax.Array:
        """Attend from ``query`` to ``key_``/``value``.

        - ``mask``: boolean, true where attention is allowed; shape
          ``(q_seq, kv_seq)`` for all heads or ``(num_heads, q_seq, kv_seq)``.
        - ``key``: PRNG key for the attention dropout (keyword only).
        - ``inference``: overrides the dropout's ``inference`` field.
        - ``process_heads``: a function applied to the projected heads
          ``(seq, num_heads, head_size)`` before attention (e.g. a rotary
          embedding); it must keep their shapes.
        """
        name = f"MultiheadAttention(num_heads={self.num_heads})"
        check_shape(name, query, ("q_seq", self.query_size), "a query")
        check_shape(name, key_, ("kv_seq", self.key_size), "a key")
        check_shape(name, value, (key_.shape[0], self.value_size), "a value")
        query_heads = self._heads(self.query_proj, query)
        key_heads = self._heads(self.key_proj, key_)
        value_heads = self._heads(self.value_proj, value)
        if process_heads is not None:
            shapes = (query_heads.shape, key_heads.shape, value_heads.shape)
            query_heads, key_heads, value_heads = process_heads(query_heads, key_heads, value_heads)
            if (query_heads.shape, key_heads.shape, value_heads.shape) != shapes:
                raise ValueError(f"{name}: process_heads must not change the shapes of the heads")
        mask_axis = None
        if mask is not None:
            if mask.ndim == 3:
                check_shape(name, mask, (self.num_heads, query.shape[0], key_.shape[0]), "a mask")
                mask_axis = 0
            else:
                check_shape(name, mask, (query.shape[0], key_.shape[0]), "a mask")
        head_keys = None if key is None else jax.random.split(key, self.num_heads)

        def one_head(q: jax.Array, k: jax.Array, v: jax.Array, m: Any, head_key: Any) -> jax.Array:
            return dot_product_attention(q, k, v, m, self.dropout, key=head_key, inference=inference)

        attention = jax.vmap(one_head, in_axes=(1, 1, 1, mask_axis, 0), out_axes=1)(
            query_heads, key_heads, value_heads, mask, head_keys
        )
        return jax.vmap(self.output_proj)(attention.reshape(query.shape[0], -1))
