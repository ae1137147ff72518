"""Per-example normalisation: `LayerNorm`, `RMSNorm` and `GroupNorm`.

Statistics are computed in at least float32 (so half-precision inputs are
normalised accurately) and the result is cast back to the input dtype. Each layer
also accepts and returns a `State`, so it can sit in a stateful `Sequential`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from .._module import Module, field
from ._misc import check_shape, default_floating_dtype, shape_mismatch, spatial_names
from ._stateful import NO_STATE, State


def _compute_dtype(dtype: Any) -> Any:
    with jax.numpy_dtype_promotion("standard"):
        return jnp.result_type(dtype, jnp.float32)


def _with_state(y: jax.Array, state: State) -> Any:
    return y if state is NO_STATE else (y, state)


def _as_shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    return (shape,) if isinstance(shape, int) else tuple(shape)


def _store_elementwise_affine(
    layer: Module, shape: int | Sequence[int], eps: float, use_weight: bool, use_bias: bool, dtype: Any
) -> None:
    """Store the arguments `LayerNorm` and `RMSNorm` share on ``layer``, with a
    weight of ones and a bias of zeros, both of shape ``shape``, when used."""
    layer.shape = _as_shape(shape)
    layer.eps = eps
    layer.use_weight = use_weight
    layer.use_bias = use_bias
    layer.weight = jnp.ones(layer.shape, dtype) if use_weight else None
    layer.bias = jnp.zeros(layer.shape, dtype) if use_bias else None


def _scale_and_shift(layer: Module, y: jax.Array, dtype: Any) -> jax.Array:
    """``weight * y + bias`` in ``dtype``, skipping whichever of the two ``layer`` lacks."""
    if layer.weight is not None:
        y = layer.weight.astype(dtype) * y
    if layer.bias is not None:
        y = y + layer.bias.astype(dtype)
    return y


class LayerNorm(Module):
    """``(x - mean(x)) / sqrt(var(x) + eps) * weight + bias`` over the whole input.

    Input and output shape: exactly ``shape`` (batch with ``jax.vmap``).
    """

    shape: tuple[int, ...] = field(static=True)
    eps: float = field(static=True)
    use_weight: bool = field(static=True)
    use_bias: bool = field(static=True)
    weight: jax.Array | None
    bias: jax.Array | None

    def __init__(
        self,
        shape: int | Sequence[int],
        eps: float = 1e-5,
        use_weight: bool = True,
        use_bias: bool = True,
        dtype: Any = None,
    ):
        """**Arguments:**

        - ``shape``: shape of the input (an int for a vector).
        - ``eps``: added to the variance for numerical stability.
        - ``use_weight``, ``use_bias``: learnable elementwise scale (ones) and shift (zeros).
        - ``dtype``: parameter dtype (float32, or float64 under x64).
        """
        _store_elementwise_affine(self, shape, eps, use_weight, use_bias, dtype)

    def __call__(self, x: jax.Array, state: State = NO_STATE, *, key: jax.Array | None = None) -> Any:
        """Normalise ``x``; returns ``y``, or ``(y, state)`` when a state is given."""
        check_shape(f"LayerNorm(shape={self.shape})", x, self.shape)
        dtype = _compute_dtype(x.dtype)
        xc = x.astype(dtype)
        mean = jnp.mean(xc, keepdims=True)
        variance = jnp.maximum(0.0, jnp.var(xc, keepdims=True))
        y = (xc - mean) * jax.lax.rsqrt(variance + self.eps)
        return _with_state(_scale_and_shift(self, y, dtype).astype(x.dtype), state)


class RMSNorm(Module):
    """``x / sqrt(mean(x**2) + eps) * weight + bias`` over the whole input.

    Input and output shape: exactly ``shape``.
    """

    shape: tuple[int, ...] = field(static=True)
    eps: float = field(static=True)
    use_weight: bool = field(static=True)
    use_bias: bool = field(static=True)
    weight: jax.Array | None
    bias: jax.Array | None

    def __init__(
        self,
        shape: int | Sequence[int],
        eps: float = 1e-5,
        use_weight: bool = True,
        use_bias: bool = True,
        dtype: Any = None,
    ):
        """**Arguments:** as for `LayerNorm`."""
        dtype = default_floating_dtype() if dtype is None else dtype
        _store_elementwise_affine(self, shape, eps, use_weight, use_bias, dtype)

    def __call__(self, x: jax.Array, state: State = NO_STATE, *, key: jax.Array | None = None) -> Any:
        """Normalise ``x``; returns ``y``, or ``(y, state)`` when a state is given."""
        check_shape(f"RMSNorm(shape={self.shape})", x, self.shape)
        dtype = _compute_dtype(x.dtype)
        xc = x.astype(dtype)
        y = jax.lax.rsqrt(jnp.mean(xc**2) + self.eps) * xc
        return _with_state(_scale_and_shift(self, y, dtype).astype(x.dtype), state)


class GroupNorm(Module):
    """Split the channels into ``groups`` and normalise each group over its channels
    and all spatial positions; then a per-channel scale and shift.

    Input and output shape ``(channels, *spatial)``.
    """

    groups: int = field(static=True)
    channels: int | None = field(static=True)
    eps: float = field(static=True)
    channelwise_affine: bool = field(static=True)
    weight: jax.Array | None
    bias: jax.Array | None

    def __init__(
        self,
        groups: int,
        channels: int | None = None,
        eps: float = 1e-5,
        channelwise_affine: bool = True,
        dtype: Any = None,
    ):
        """**Arguments:**

        - ``groups``: number of groups; must divide the number of channels.
        - ``channels``: number of channels (needed when ``channelwise_affine``).
        - ``eps``: added to the variance for numerical stability.
        - ``channelwise_affine``: learnable per-channel scale (ones) and shift (zeros).
        - ``dtype``: parameter dtype (float32, or float64 under x64).
        """
        if channels is not None and channels % groups != 0:
            raise ValueError(f"GroupNorm: groups (={groups}) must divide channels (={channels})")
        if channels is None and channelwise_affine:
            raise ValueError("GroupNorm: `channels` is needed when channelwise_affine=True")
        self.groups = groups
        self.channels = channels
        self.eps = eps
        self.channelwise_affine = channelwise_affine
        self.weight = jnp.ones(channels, dtype) if channelwise_affine else None
        self.bias = jnp.zeros(channels, dtype) if channelwise_affine else None

    def __call__(self, x: jax.Array, state: State = NO_STATE, *, key: jax.Array | None = None) -> Any:
        """Normalise ``x`` of shape ``(channels, *spatial)``; returns ``y``, or ``(y, state)``."""
        layer = f"GroupNorm(groups={self.groups}, channels={self.channels})"
        if x.ndim == 0:
            raise ValueError(f"{layer} expected an input of shape (channels, ...), got ()")
        if self.channels is not None and x.shape[0] != self.channels:
            raise shape_mismatch(layer, (self.channels, *spatial_names(x.ndim - 1)), x.shape)
        if x.shape[0] % self.groups != 0:
            raise ValueError(f"{layer}: {x.shape[0]} input channels do not split into {self.groups} groups")
        dtype = _compute_dtype(x.dtype)
        xc = x.astype(dtype)
        grouped = xc.reshape(self.groups, x.shape[0] // self.groups, *x.shape[1:])
        within_group = tuple(range(1, grouped.ndim))
        mean = jnp.mean(grouped, axis=within_group, keepdims=True)
        variance = jnp.maximum(0.0, jnp.var(grouped, axis=within_group, keepdims=True))
        y = ((grouped - mean) * jax.lax.rsqrt(variance + self.eps)).reshape(x.shape)
        if self.channelwise_affine:
            per_channel = (-1,) + (1,) * (x.ndim - 1)
            y = self.weight.reshape(per_channel).astype(dtype) * y + self.bias.reshape(per_channel).astype(
                dtype
            )
        return _with_state(y.astype(x.dtype), state)
