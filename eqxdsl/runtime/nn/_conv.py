"""Convolutions (`Conv`, `Conv1d/2d/3d`) and transposed convolutions
(`ConvTranspose`, `ConvTranspose1d/2d/3d`) over one unbatched ``(C, *spatial)`` input."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .._module import Module, field
from ._misc import (
    as_padding_pairs,
    as_tuple,
    check_shape,
    default_floating_dtype,
    default_init,
    spatial_names,
)

Padding = str | int | Sequence[int] | Sequence[tuple[int, int]]

_PAD_STRINGS = ("SAME", "SAME_LOWER", "VALID")
_PAD_MODES = {"ZEROS": "constant", "REFLECT": "reflect", "REPLICATE": "edge", "CIRCULAR": "wrap"}


def _parse_padding(padding: Padding, num_spatial_dims: int) -> str | tuple[tuple[int, int], ...]:
    if isinstance(padding, str):
        if padding.upper() not in _PAD_STRINGS:
            raise ValueError(f"`padding` string must be one of {_PAD_STRINGS}, got {padding!r}")
        return padding.upper()
    return as_padding_pairs(padding, num_spatial_dims)


def _parse_padding_mode(padding_mode: str) -> str:
    if padding_mode.upper() not in _PAD_MODES:
        raise ValueError(f"`padding_mode` must be one of {tuple(_PAD_MODES)}, got {padding_mode!r}")
    return padding_mode.upper()


def _store_shared_arguments(
    layer: Module,
    num_spatial_dims: int,
    in_channels: int,
    out_channels: int,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int],
    padding: Padding,
    dilation: int | Sequence[int],
    groups: int,
    use_bias: bool,
    padding_mode: str,
) -> None:
    """Normalise the constructor arguments `Conv` and `ConvTranspose` share and
    store them on ``layer``: per-axis tuples, padding pairs or string, upper-case mode."""
    layer.num_spatial_dims = num_spatial_dims
    layer.in_channels = in_channels
    layer.out_channels = out_channels
    layer.kernel_size = as_tuple(kernel_size, num_spatial_dims, "kernel_size")
    layer.stride = as_tuple(stride, num_spatial_dims, "stride")
    layer.dilation = as_tuple(dilation, num_spatial_dims, "dilation")
    layer.padding = _parse_padding(padding, num_spatial_dims)
    layer.padding_mode = _parse_padding_mode(padding_mode)
    layer.groups = groups
    layer.use_bias = use_bias


def _init_kernel(layer: Module, dtype: Any, key: jax.Array) -> tuple[jax.Array, jax.Array | None]:
    """Weight ``(out, in // groups, *kernel)`` and bias ``(out, 1, ..., 1)`` for the
    arguments stored on ``layer``, both ``U(-lim, lim)`` with
    ``lim = 1 / sqrt((in // groups) * prod(kernel))``."""
    in_channels, out_channels, groups = layer.in_channels, layer.out_channels, layer.groups
    if in_channels % groups != 0:
        raise ValueError(f"`in_channels` (={in_channels}) must be divisible by `groups` (={groups})")
    if out_channels % groups != 0:
        raise ValueError(f"`out_channels` (={out_channels}) must be divisible by `groups` (={groups})")
    dtype = default_floating_dtype() if dtype is None else dtype
    weight_key, bias_key = jax.random.split(key, 2)
    grouped_in = in_channels // groups
    lim = 1 / math.sqrt(grouped_in * math.prod(layer.kernel_size))
    weight = default_init(weight_key, (out_channels, grouped_in) + layer.kernel_size, dtype, lim)
    bias_shape = (out_channels,) + (1,) * layer.num_spatial_dims
    bias = default_init(bias_key, bias_shape, dtype, lim) if layer.use_bias else None
    return weight, bias


def _check_input(layer: Module, name: str, x: jax.Array) -> None:
    check_shape(
        f"{name}(in_channels={layer.in_channels})",
        x,
        (layer.in_channels, *spatial_names(layer.num_spatial_dims)),
    )


class Conv(Module):
    """N-dimensional convolution (a cross-correlation, as in ``lax.conv_general_dilated``).

    Input shape ``(in_channels, *spatial)``; output ``(out_channels, *spatial_out)``
    with ``spatial_out = (spatial + pad_lo + pad_hi - dilation * (kernel - 1) - 1) // stride + 1``.
    """

    num_spatial_dims: int = field(static=True)
    weight: jax.Array
    bias: jax.Array | None
    in_channels: int = field(static=True)
    out_channels: int = field(static=True)
    kernel_size: tuple[int, ...] = field(static=True)
    stride: tuple[int, ...] = field(static=True)
    padding: str | tuple[tuple[int, int], ...] = field(static=True)
    dilation: tuple[int, ...] = field(static=True)
    groups: int = field(static=True)
    use_bias: bool = field(static=True)
    padding_mode: str = field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: Padding = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str = "ZEROS",
        dtype: Any = None,
        *,
        key: jax.Array,
    ):
        """**Arguments:**

        - ``num_spatial_dims``: number of spatial axes (1, 2, 3, ...).
        - ``in_channels``, ``out_channels``: channel counts of input and output.
        - ``kernel_size``, ``stride``, ``dilation``: an int or one int per spatial axis.
        - ``padding``: an int, one int per axis, one ``(lo, hi)`` pair per axis, or
          ``"SAME"``, ``"SAME_LOWER"``, ``"VALID"``.
        - ``groups``: number of channel groups; divides both channel counts.
        - ``use_bias``: whether to add a per-channel bias.
        - ``padding_mode``: ``"ZEROS"``, ``"REFLECT"``, ``"REPLICATE"`` or ``"CIRCULAR"``.
        - ``dtype``: parameter dtype (float32, or float64 under x64).
        - ``key``: PRNG key for the initialisation (keyword only).
        """
        _store_shared_arguments(
            self,
            num_spatial_dims,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            use_bias,
            padding_mode,
        )
        self.weight, self.bias = _init_kernel(self, dtype, key)

    def _explicit_pads(self, spatial_shape: tuple[int, ...]) -> list[tuple[int, int]]:
        if isinstance(self.padding, str):
            dilated_kernel = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation))
            return list(lax.padtype_to_pads(spatial_shape, dilated_kernel, self.stride, self.padding))
        return list(self.padding)

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Convolve one input ``x`` of shape ``(in_channels, *spatial)``; ``key`` is ignored."""
        _check_input(self, type(self).__name__, x)
        padding = self.padding
        if self.padding_mode != "ZEROS":
            pads = self._explicit_pads(x.shape[1:])
            x = jnp.pad(x, [(0, 0)] + pads, mode=_PAD_MODES[self.padding_mode])
            padding = "VALID"
        y = lax.conv_general_dilated(
            lhs=x[None],
            rhs=self.weight,
            window_strides=self.stride,
            padding=padding,
            rhs_dilation=self.dilation,
            feature_group_count=self.groups,
        )[0]
        if self.bias is not None:
            y = y + self.bias
        return y


class Conv1d(Conv):
    """`Conv` with one spatial axis: input ``(in_channels, L)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: Padding = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str = "ZEROS",
        dtype: Any = None,
        *,
        key: jax.Array,
    ):
        """Arguments as for `Conv`, without ``num_spatial_dims``."""
        super().__init__(
            1,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            use_bias,
            padding_mode,
            dtype,
            key=key,
        )


class Conv2d(Conv):
    """`Conv` with two spatial axes: input ``(in_channels, H, W)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = (1, 1),
        padding: Padding = (0, 0),
        dilation: int | Sequence[int] = (1, 1),
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str = "ZEROS",
        dtype: Any = None,
        *,
        key: jax.Array,
    ):
        """Arguments as for `Conv`, without ``num_spatial_dims``."""
        super().__init__(
            2,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            use_bias,
            padding_mode,
            dtype,
            key=key,
        )


class Conv3d(Conv):
    """`Conv` with three spatial axes: input ``(in_channels, D, H, W)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = (1, 1, 1),
        padding: Padding = (0, 0, 0),
        dilation: int | Sequence[int] = (1, 1, 1),
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str = "ZEROS",
        dtype: Any = None,
        *,
        key: jax.Array,
    ):
        """Arguments as for `Conv`, without ``num_spatial_dims``."""
        super().__init__(
            3,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            use_bias,
            padding_mode,
            dtype,
            key=key,
        )


class ConvTranspose(Module):
    """N-dimensional transposed convolution: the input is dilated by ``stride`` and
    cross-correlated with ``weight`` (not flipped), as in Equinox.

    Input ``(in_channels, *spatial)``; output ``(out_channels, *spatial_out)`` with
    ``spatial_out = (spatial - 1) * stride - pad_lo - pad_hi + dilation * (kernel - 1)
    + output_padding + 1``. ``"SAME"`` padding gives ``spatial_out = spatial * stride``.
    ``padding_mode`` is ``"ZEROS"``, or ``"CIRCULAR"`` with ``"SAME"``/``"SAME_LOWER"``
    padding and no ``output_padding``.
    """

    num_spatial_dims: int = field(static=True)
    weight: jax.Array
    bias: jax.Array | None
    in_channels: int = field(static=True)
    out_channels: int = field(static=True)
    kernel_size: tuple[int, ...] = field(static=True)
    stride: tuple[int, ...] = field(static=True)
    padding: str | tuple[tuple[int, int], ...] = field(static=True)
    output_padding: tuple[int, ...] = field(static=True)
    dilation: tuple[int, ...] = field(static=True)
    groups: int = field(static=True)
    use_bias: bool = field(static=True)
    padding_mode: str = field(static=True)

    def __init__(
        self,
        num_spatial_dims: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: Padding = 0,
        output_padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str = "ZEROS",
        dtype: Any = None,
        *,
        key: jax.Array,
    ):
        """**Arguments:** as for `Conv`, plus ``output_padding`` (an int or one per
        axis, each smaller than its stride): extra size added to the high end of
        each output axis, to pick among the input sizes that a strided `Conv` maps
        to the same output size."""
        _store_shared_arguments(
            self,
            num_spatial_dims,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            use_bias,
            padding_mode,
        )
        self.output_padding = as_tuple(output_padding, num_spatial_dims, "output_padding")
        if any(o >= s for s, o in zip(self.stride, self.output_padding)):
            raise ValueError(
                f"`output_padding` {self.output_padding} must be smaller than `stride` "
                f"{self.stride} on every axis"
            )
        if self.padding_mode in ("REFLECT", "REPLICATE"):
            raise NotImplementedError(
                f"ConvTranspose supports padding_mode 'ZEROS' and 'CIRCULAR', not {self.padding_mode!r}"
            )
        if self.padding_mode == "CIRCULAR" and (
            self.padding not in ("SAME", "SAME_LOWER") or any(self.output_padding)
        ):
            raise NotImplementedError(
                "ConvTranspose with padding_mode 'CIRCULAR' needs padding 'SAME' or "
                "'SAME_LOWER' and no output_padding"
            )
        self.weight, self.bias = _init_kernel(self, dtype, key)

    def _transposed_pads(self) -> np.ndarray:
        """Padding of the dilated input, shape ``(num_spatial_dims, 2)``.

        A forward convolution with padding ``(p_lo, p_hi)`` is undone by padding the
        stride-dilated input with ``dilation * (kernel - 1) - p`` on each side, plus
        ``output_padding`` on the high side.
        """
        kernel = np.asarray(self.kernel_size)
        stride = np.asarray(self.stride)
        extra = np.asarray(self.output_padding)
        dilation = np.asarray(self.dilation)
        if self.padding == "VALID":
            lo = hi = np.zeros(self.num_spatial_dims, np.int64)
        elif isinstance(self.padding, str):
            total = dilation * (kernel - 1) - stride + extra + 1
            # A negative total means the output would be too short: grow it on the high side.
            extra = np.where(total < 0, -total, 0)
            total = np.maximum(total, 0)
            lo = (total + (1 if self.padding == "SAME_LOWER" else 0)) // 2
            hi = total - lo
        else:
            lo, hi = np.asarray(self.padding).T
        span = dilation * (kernel - 1)
        return np.stack([span - lo, span - hi + extra], axis=1)

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Apply to one input ``x`` of shape ``(in_channels, *spatial)``; ``key`` is ignored."""
        _check_input(self, type(self).__name__, x)
        pads = self._transposed_pads()
        if self.padding_mode == "CIRCULAR":
            # Wrap whole strides of the padding around on the undilated input; the
            # remainder is padded with zeros after dilation.
            stride = np.asarray(self.stride)[:, None]
            x = jnp.pad(x, [(0, 0)] + [tuple(p) for p in (pads // stride).tolist()], mode="wrap")
            pads = pads % stride
        y = lax.conv_general_dilated(
            lhs=x[None],
            rhs=self.weight,
            window_strides=(1,) * self.num_spatial_dims,
            padding=[tuple(p) for p in pads.tolist()],
            lhs_dilation=self.stride,
            rhs_dilation=self.dilation,
            feature_group_count=self.groups,
        )[0]
        if self.bias is not None:
            y = y + self.bias
        return y


class ConvTranspose1d(ConvTranspose):
    """`ConvTranspose` with one spatial axis. Note the positional order:
    ``output_padding`` comes before ``padding`` here, as in Equinox."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        output_padding: int | Sequence[int] = 0,
        padding: Padding = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str = "ZEROS",
        dtype: Any = None,
        *,
        key: jax.Array,
    ):
        """Arguments as for `ConvTranspose`, without ``num_spatial_dims``."""
        super().__init__(
            1,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            output_padding,
            dilation,
            groups,
            use_bias,
            padding_mode,
            dtype,
            key=key,
        )


class ConvTranspose2d(ConvTranspose):
    """`ConvTranspose` with two spatial axes (``output_padding`` before ``padding``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = (1, 1),
        output_padding: int | Sequence[int] = (0, 0),
        padding: Padding = (0, 0),
        dilation: int | Sequence[int] = (1, 1),
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str = "ZEROS",
        dtype: Any = None,
        *,
        key: jax.Array,
    ):
        """Arguments as for `ConvTranspose`, without ``num_spatial_dims``."""
        super().__init__(
            2,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            output_padding,
            dilation,
            groups,
            use_bias,
            padding_mode,
            dtype,
            key=key,
        )


class ConvTranspose3d(ConvTranspose):
    """`ConvTranspose` with three spatial axes (``output_padding`` before ``padding``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = (1, 1, 1),
        output_padding: int | Sequence[int] = (0, 0, 0),
        padding: Padding = (0, 0, 0),
        dilation: int | Sequence[int] = (1, 1, 1),
        groups: int = 1,
        use_bias: bool = True,
        padding_mode: str = "ZEROS",
        dtype: Any = None,
        *,
        key: jax.Array,
    ):
        """Arguments as for `ConvTranspose`, without ``num_spatial_dims``."""
        super().__init__(
            3,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            output_padding,
            dilation,
            groups,
            use_bias,
            padding_mode,
            dtype,
            key=key,
        )
