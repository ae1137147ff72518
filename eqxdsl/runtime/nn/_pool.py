"""Pooling over the spatial axes of one ``(C, *spatial)`` input: windowed
(`Pool`, `MaxPool1d/2d/3d`, `AvgPool1d/2d/3d`) and adaptive to a target size
(`AdaptivePool`, `AdaptiveAvgPool1d/2d/3d`, `AdaptiveMaxPool1d/2d/3d`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._module import Module, field
from ._misc import as_padding_pairs, as_tuple, check_shape, spatial_names

PoolPadding = int | Sequence[int] | Sequence[tuple[int, int]]


class Pool(Module):
    """Reduce each window of the spatial axes with ``operation``, channels kept apart.

    Input ``(C, *spatial)``; output ``(C, *spatial_out)`` with
    ``spatial_out = (spatial + pad_lo + pad_hi - kernel) // stride + 1`` (rounded up
    instead of down when ``use_ceil``). Padding cells hold ``init``.
    """

    init: float = field(static=True)
    operation: Callable[[jax.Array, jax.Array], jax.Array] = field(static=True)
    num_spatial_dims: int = field(static=True)
    kernel_size: tuple[int, ...] = field(static=True)
    stride: tuple[int, ...] = field(static=True)
    padding: tuple[tuple[int, int], ...] = field(static=True)
    use_ceil: bool = field(static=True)

    def __init__(
        self,
        init: int | float | jax.Array,
        operation: Callable[[jax.Array, jax.Array], jax.Array],
        num_spatial_dims: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: PoolPadding = 0,
        use_ceil: bool = False,
    ):
        """**Arguments:**

        - ``init``: identity of ``operation`` (``0`` for a sum, ``-inf`` for a max);
          a scalar, stored as a Python number.
        - ``operation``: binary reduction such as ``lax.add`` or ``lax.max``.
        - ``num_spatial_dims``: number of spatial axes.
        - ``kernel_size``, ``stride``: an int or one int per spatial axis. The stride
          defaults to 1 (not to the kernel size).
        - ``padding``: an int, one int per axis, or one ``(lo, hi)`` pair per axis.
        - ``use_ceil``: round the output size up rather than down.
        """
        self.init = np.asarray(init).item()
        self.operation = operation
        self.num_spatial_dims = num_spatial_dims
        self.kernel_size = as_tuple(kernel_size, num_spatial_dims, "kernel_size")
        self.stride = as_tuple(stride, num_spatial_dims, "stride")
        self.padding = as_padding_pairs(padding, num_spatial_dims)
        self.use_ceil = use_ceil

    def _window_padding(self, spatial_shape: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        padding = self.padding
        if self.use_ceil:
            # One more stride on the high side keeps the last, partial window.
            padding = tuple(
                (lo, hi) if (size + lo + hi - k) % s == 0 else (lo, hi + s)
                for size, (lo, hi), k, s in zip(spatial_shape, padding, self.kernel_size, self.stride)
            )
        for (lo, hi), k in zip(padding, self.kernel_size):
            if max(lo, hi) > k:
                raise ValueError(
                    f"{type(self).__name__}: padding {(lo, hi)} is larger than the kernel size {k}"
                )
        return padding

    def _reduce(self, x: jax.Array) -> jax.Array:
        check_shape(
            f"{type(self).__name__}(kernel_size={self.kernel_size})",
            x,
            ("C", *spatial_names(self.num_spatial_dims)),
        )
        padding = self._window_padding(x.shape[1:])
        # A Python scalar, not an array: under jit an array start value is traced,
        # and lax then falls back to a generic reduction it cannot differentiate.
        return lax.reduce_window(
            x,
            self.init,
            self.operation,
            (1,) + self.kernel_size,
            (1,) + self.stride,
            ((0, 0),) + padding,
        )

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Pool one input ``x`` of shape ``(C, *spatial)``; ``key`` is ignored."""
        return self._reduce(x)


class _FixedPool(Pool):
    """A `Pool` whose ``init``, ``operation`` and ``num_spatial_dims`` are fixed by the subclass."""

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: PoolPadding = 0,
        use_ceil: bool = False,
    ):
        """Arguments as for `Pool`, without ``init``, ``operation`` and ``num_spatial_dims``."""
        super().__init__(self._init_value, self._operation, self._spatial_dims, kernel_size, stride, padding, use_ceil)


class _MaxPool(_FixedPool):
    _init_value, _operation = -math.inf, staticmethod(lax.max)


class _AvgPool(_FixedPool):
    _init_value, _operation = 0, staticmethod(lax.add)

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Window means of one input ``(C, *spatial)``; padding counts as zeros in the mean."""
        return self._reduce(x) / math.prod(self.kernel_size)


class MaxPool1d(_MaxPool):
    """Max over windows of one spatial axis: input ``(C, L)``."""

    _spatial_dims = 1


class MaxPool2d(_MaxPool):
    """Max over windows of two spatial axes: input ``(C, H, W)``."""

    _spatial_dims = 2


class MaxPool3d(_MaxPool):
    """Max over windows of three spatial axes: input ``(C, D, H, W)``."""

    _spatial_dims = 3


class AvgPool1d(_AvgPool):
    """Mean over windows of one spatial axis (divided by the full kernel size): input ``(C, L)``."""

    _spatial_dims = 1


class AvgPool2d(_AvgPool):
    """Mean over windows of two spatial axes (divided by the full kernel size): input ``(C, H, W)``."""

    _spatial_dims = 2


class AvgPool3d(_AvgPool):
    """Mean over windows of three spatial axes (divided by the full kernel size): input ``(C, D, H, W)``."""

    _spatial_dims = 3


def _adaptive_pool_axis(
    x: jax.Array, axis: int, target: int, operation: Callable[..., jax.Array]
) -> jax.Array:
    """Reduce ``axis`` of size ``n`` to ``target`` contiguous, non-overlapping bins.

    The first ``n % target`` bins take ``n // target + 1`` elements, the others
    ``n // target`` (Equinox's rule; PyTorch's bins may overlap instead).
    """
    x = jnp.moveaxis(x, axis, -1)
    size = x.shape[-1]
    small, num_large = divmod(size, target)
    split = num_large * (small + 1)
    parts = [x[..., :split].reshape(*x.shape[:-1], num_large, small + 1)] if num_large else []
    parts.append(x[..., split:].reshape(*x.shape[:-1], target - num_large, small))
    pooled = jnp.concatenate([operation(part, axis=-1) for part in parts], axis=-1)
    return jnp.moveaxis(pooled, -1, axis)


class AdaptivePool(Module):
    """Pool each spatial axis down to ``target_shape`` with ``operation``.

    Input ``(C, *spatial)`` with every spatial size at least its target; output
    ``(C, *target_shape)``.
    """

    target_shape: tuple[int, ...] = field(static=True)
    operation: Callable[..., jax.Array] = field(static=True)

    def __init__(
        self,
        target_shape: int | Sequence[int],
        num_spatial_dims: int,
        operation: Callable[..., jax.Array],
    ):
        """**Arguments:**

        - ``target_shape``: output spatial size, an int or one per axis.
        - ``num_spatial_dims``: number of spatial axes.
        - ``operation``: a reduction taking ``axis=`` (``jnp.mean``, ``jnp.max``).
        """
        self.target_shape = as_tuple(target_shape, num_spatial_dims, "target_shape")
        self.operation = operation

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Pool one input ``x`` of shape ``(C, *spatial)``; ``key`` is ignored."""
        layer = f"{type(self).__name__}(target_shape={self.target_shape})"
        check_shape(layer, x, ("C", *spatial_names(len(self.target_shape))))
        if any(size < target for size, target in zip(x.shape[1:], self.target_shape)):
            raise ValueError(f"{layer} needs every spatial size to be at least its target, got {x.shape}")
        for axis, target in enumerate(self.target_shape, start=1):
            x = _adaptive_pool_axis(x, axis, target, self.operation)
        return x


class _AdaptiveFixed(AdaptivePool):
    def __init__(self, target_shape: int | Sequence[int]):
        """**Arguments:** ``target_shape``: output spatial size, an int or one per axis."""
        super().__init__(target_shape, self._spatial_dims, self._operation)


class AdaptiveAvgPool1d(_AdaptiveFixed):
    """Mean over adaptive bins of one spatial axis: ``(C, L) -> (C, target)``."""

    _spatial_dims, _operation = 1, staticmethod(jnp.mean)


class AdaptiveAvgPool2d(_AdaptiveFixed):
    """Mean over adaptive bins of two spatial axes: ``(C, H, W) -> (C, *target_shape)``."""

    _spatial_dims, _operation = 2, staticmethod(jnp.mean)


class AdaptiveAvgPool3d(_AdaptiveFixed):
    """Mean over adaptive bins of three spatial axes: ``(C, D, H, W) -> (C, *target_shape)``."""

    _spatial_dims, _operation = 3, staticmethod(jnp.mean)


class AdaptiveMaxPool1d(_AdaptiveFixed):
    """Max over adaptive bins of one spatial axis: ``(C, L) -> (C, target)``."""

    _spatial_dims, _operation = 1, staticmethod(jnp.max)


class AdaptiveMaxPool2d(_AdaptiveFixed):
    """Max over adaptive bins of two spatial axes: ``(C, H, W) -> (C, *target_shape)``."""

    _spatial_dims, _operation = 2, staticmethod(jnp.max)


class AdaptiveMaxPool3d(_AdaptiveFixed):
    """Max over adaptive bins of three spatial axes: ``(C, D, H, W) -> (C, *target_shape)``."""

    _spatial_dims, _operation = 3, staticmethod(jnp.max)
