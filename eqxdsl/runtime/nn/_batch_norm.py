"""`BatchNorm`: normalisation by statistics over a batch, which is a named
``jax.vmap`` (or ``pmap``) axis since every layer sees one example.

The default ``mode`` is ``"batch"``, unlike Equinox 0.13 whose default is its
legacy ``"ema"`` mode: Equinox itself warns on the default and recommends
``"batch"`` for new code, because normalising with blended running averages
during training makes training unstable (Equinox issue #659). ``"ema"`` (and its
Equinox spelling ``"legacy"``) stays available for models ported from Equinox.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax import lax

from .._module import field
from ._misc import default_floating_dtype, shape_mismatch, spatial_names
from ._stateful import State, StatefulLayer, StateIndex


class BatchNorm(StatefulLayer):
    """Normalise each channel by its mean and variance over the batch axis
    ``axis_name`` (and over the spatial positions), then scale and shift per channel.

    Called as ``bn(x, state, *, key=None, inference=None) -> (y, state)`` inside a
    ``jax.vmap(..., axis_name=axis_name)``. Input and output shape
    ``(input_size, *spatial)``.

    - ``mode="batch"``: training normalises with the batch statistics and updates
      running averages ``r = momentum * r + (1 - momentum) * stat``; inference
      uses the running averages divided by ``1 - momentum ** steps`` (bias
      correction, as in Adam), so they are usable after a few steps.
    - ``mode="ema"``: training normalises with ``(1 - momentum) * batch +
      momentum * running`` (the batch statistics on the first step) and stores
      that as the new running value; inference uses the running value.
    """

    weight: jax.Array | None
    bias: jax.Array | None
    ema_first_time_index: StateIndex | None
    ema_state_index: StateIndex | None
    batch_counter: StateIndex | None
    batch_state_index: StateIndex | None
    axis_name: Hashable | Sequence[Hashable] = field(static=True)
    inference: bool = field(static=True)
    input_size: int = field(static=True)
    eps: float = field(static=True)
    channelwise_affine: bool = field(static=True)
    momentum: float = field(static=True)
    mode: Literal["ema", "batch"] = field(static=True)

    def __init__(
        self,
        input_size: int,
        axis_name: Hashable | Sequence[Hashable],
        eps: float = 1e-5,
        channelwise_affine: bool = True,
        momentum: float = 0.99,
        inference: bool = False,
        dtype: Any = None,
        mode: Literal["ema", "batch", "legacy"] = "batch",
    ):
        """**Arguments:**

        - ``input_size``: number of channels.
        - ``axis_name``: the named batch axis (or axes) to average over.
        - ``eps``: added to the variance for numerical stability.
        - ``channelwise_affine``: learnable per-channel scale (ones) and shift (zeros).
        - ``momentum``: weight of the old running statistics in each update.
        - ``inference``: use the running statistics instead of the batch's
          (``inference_mode`` sets it; ``inference=`` at call time overrides it).
        - ``dtype``: dtype of parameters and statistics (float32, or float64 under x64).
        - ``mode``: ``"batch"`` (default) or ``"ema"``; ``"legacy"`` means ``"ema"``.
        """
        if mode == "legacy":
            mode = "ema"
        if mode not in ("ema", "batch"):
            raise ValueError(f"BatchNorm: mode must be 'batch' or 'ema', got {mode!r}")
        dtype = default_floating_dtype() if dtype is None else dtype
        self.weight = jnp.ones((input_size,), dtype) if channelwise_affine else None
        self.bias = jnp.zeros((input_size,), dtype) if channelwise_affine else None
        if mode == "ema":
            self.ema_first_time_index = StateIndex(jnp.array(True))
            self.ema_state_index = StateIndex(
                (jnp.zeros((input_size,), dtype), jnp.zeros((input_size,), dtype))
            )
            self.batch_counter = None
            self.batch_state_index = None
        else:
            self.ema_first_time_index = None
            self.ema_state_index = None
            self.batch_counter = StateIndex(jnp.array(0))
            self.batch_state_index = StateIndex(
                (jnp.zeros((input_size,), dtype), jnp.ones((input_size,), dtype))
            )
        # A static field must be hashable: a list of axis names becomes a tuple.
        self.axis_name = tuple(axis_name) if isinstance(axis_name, list) else axis_name
        self.inference = inference
        self.input_size = input_size
        self.eps = eps
        self.channelwise_affine = channelwise_affine
        self.momentum = momentum
        self.mode = mode

    def _batch_statistics(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        per_channel = x.reshape(self.input_size, -1)
        mean = lax.pmean(jnp.mean(per_channel, axis=1), self.axis_name)
        centred = per_channel - mean[:, None]
        variance = lax.pmean(jnp.mean(centred * jnp.conj(centred), axis=1), self.axis_name)
        return mean, jnp.maximum(0.0, variance)

    def __call__(
        self,
        x: jax.Array,
        state: State,
        *,
        key: jax.Array | None = None,
        inference: bool | None = None,
    ) -> tuple[jax.Array, State]:
        """Normalise one example ``x`` of shape ``(input_size, *spatial)``; ``key`` is ignored."""
        if x.ndim == 0 or x.shape[0] != self.input_size:
            raise shape_mismatch(
                f"BatchNorm(input_size={self.input_size})",
                (self.input_size, *spatial_names(max(x.ndim - 1, 0))),
                x.shape,
            )
        if inference is None:
            inference = self.inference
        momentum = self.momentum
        if self.mode == "ema":
            if inference:
                mean, variance = state.get(self.ema_state_index)
            else:
                first_time = state.get(self.ema_first_time_index)
                state = state.set(self.ema_first_time_index, jnp.array(False))
                batch_mean, batch_variance = self._batch_statistics(x)
                running_mean, running_variance = state.get(self.ema_state_index)
                mean = lax.select(
                    first_time, batch_mean, (1 - momentum) * batch_mean + momentum * running_mean
                )
                variance = lax.select(
                    first_time,
                    batch_variance,
                    (1 - momentum) * batch_variance + momentum * running_variance,
                )
                state = state.set(self.ema_state_index, (mean, variance))
        else:
            steps = state.get(self.batch_counter)
            running_mean, running_variance = state.get(self.batch_state_index)
            if inference:
                correction = jnp.where(steps == 0, 1, 1 - momentum**steps)
                mean, variance = running_mean / correction, running_variance / correction
            else:
                mean, variance = self._batch_statistics(x)
                state = state.set(self.batch_counter, steps + 1)
                state = state.set(
                    self.batch_state_index,
                    (
                        running_mean * momentum + mean * (1 - momentum),
                        running_variance * momentum + variance * (1 - momentum),
                    ),
                )
        per_channel = (-1,) + (1,) * (x.ndim - 1)
        y = (x - mean.reshape(per_channel)) / jnp.sqrt(variance.reshape(per_channel) + self.eps)
        if self.channelwise_affine:
            y = y * self.weight.reshape(per_channel) + self.bias.reshape(per_channel)
        return y, state
