"""Pooling and adaptive pooling (`eqxdsl.runtime.nn._pool`)."""

from __future__ import annotations

from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.library.layers._row import (
    Args,
    LayerArg,
    LayerInfo,
    LayerShapeError,
    OutputFn,
    layer,
)
from eqxdsl.compiler.library.layers._rules import (
    LayerCall,
    _no_inference,
    _padding_pairs,
    _per_axis,
    _positive_if_known,
    _rank_exactly,
    _spatial_axes,
    _tensor,
    _window_per_axis,
)


def _pool_output(layer_name: str, fixed_dims: int | None) -> OutputFn:
    def output(args: Args, inputs: tuple) -> TensorType:
        layer = LayerCall(layer_name, args, ("kernel_size", "stride"))
        dims = _spatial_axes(layer, fixed_dims, args)
        x = _tensor(layer, inputs[0], "its input")
        _rank_exactly(layer, x, dims + 1, f"[channels, {dims} spatial axes]")
        kernel = _window_per_axis(layer, "kernel_size", args["kernel_size"], dims)
        stride = _window_per_axis(layer, "stride", args["stride"], dims)
        padding = _padding_pairs(layer, args["padding"], dims)
        if isinstance(padding, str):
            raise LayerShapeError(f"{layer}: pooling takes explicit padding, not {padding!r}")
        sizes = []
        for index, size in enumerate(x.shape[1:]):
            lo, hi = padding[index]
            kernel_value = kernel[index].value
            for side in (lo, hi):
                if side.value is not None and kernel_value is not None and side.value > kernel_value:
                    raise LayerShapeError(f"{layer}: padding {side} is larger than the kernel size {kernel[index]}")
            padded = size + lo + hi - kernel[index]
            if args["use_ceil"] is True:
                _check_ceil_window(layer, padded, hi, kernel[index], stride[index])
                padded = padded + stride[index] - 1
            out = padded // stride[index] + 1
            _positive_if_known(layer, f"output axis {index + 1} for input {x}", out)
            sizes.append(out)
        return TensorType(x.dtype, (x.shape[0], *sizes))

    return output


def _check_ceil_window(layer: LayerCall, padded: Dim, hi: Dim, kernel: Dim, stride: Dim) -> None:
    """With `use_ceil`, a partial last window adds `stride` padding on the high side,
    which the runtime allows only up to the kernel size (checked when all are known)."""
    padded_value, hi_value, kernel_value, stride_value = (size.value for size in (padded, hi, kernel, stride))
    if padded_value is None or hi_value is None or kernel_value is None or stride_value is None:
        return
    if padded_value % stride_value and hi_value + stride_value > kernel_value:
        raise LayerShapeError(
            f"{layer}: with use_ceil the last window needs padding {hi_value + stride_value} "
            f"on the high side, more than the kernel size {kernel_value}",
            hint="use a larger kernel, a smaller stride, or use_ceil=False",
        )


def _pool_layer(name: str, dims: int | None) -> LayerInfo:
    head = (
        (LayerArg("init", "any"), LayerArg("operation", "fn"), LayerArg("num_spatial_dims", "int"))
        if dims is None
        else ()
    )
    args = (
        *head,
        LayerArg("kernel_size", "ints"),
        LayerArg("stride", "ints", Dim.const(1)),
        LayerArg("padding", "padding", Dim.const(0)),
        LayerArg("use_ceil", "bool", False),
    )
    return layer(name, args, _no_inference, _pool_output(name, dims), init_key=False)


def _adaptive_output(layer_name: str, fixed_dims: int | None) -> OutputFn:
    def output(args: Args, inputs: tuple) -> TensorType:
        layer = LayerCall(layer_name, args, ("target_shape",))
        dims = _spatial_axes(layer, fixed_dims, args)
        x = _tensor(layer, inputs[0], "its input")
        _rank_exactly(layer, x, dims + 1, f"[channels, {dims} spatial axes]")
        target = _per_axis(layer, "target_shape", args["target_shape"], dims)
        for axis, (size, wanted) in enumerate(zip(x.shape[1:], target), start=1):
            if (size - wanted).value is not None and (size - wanted).value < 0:
                raise LayerShapeError(f"{layer}: input axis {axis} ({size}) is smaller than the target size {wanted}")
        return TensorType(x.dtype, (x.shape[0], *target))

    return output


def _adaptive_layer(name: str, dims: int | None) -> LayerInfo:
    args: tuple[LayerArg, ...] = (LayerArg("target_shape", "ints"),)
    if dims is None:
        args += (LayerArg("num_spatial_dims", "int"), LayerArg("operation", "fn"))
    return layer(name, args, _no_inference, _adaptive_output(name, dims), init_key=False)


#: The rows of this family, in the table's order.
ROWS: tuple[LayerInfo, ...] = (
    _pool_layer("Pool", None),
    *(_pool_layer(f"{kind}Pool{n}d", n) for kind in ("Max", "Avg") for n in (1, 2, 3)),
    _adaptive_layer("AdaptivePool", None),
    *(_adaptive_layer(f"Adaptive{kind}Pool{n}d", n) for kind in ("Avg", "Max") for n in (1, 2, 3)),
)
