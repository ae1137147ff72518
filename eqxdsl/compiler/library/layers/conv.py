"""Convolutions and transposed convolutions, in 1 to 3 dimensions (`eqxdsl.runtime.nn._conv`)."""

from __future__ import annotations

from eqxdsl.compiler.dims import Dim, TensorType, proven_at_most
from eqxdsl.compiler.library.layers._row import (
    Args,
    AttributeFn,
    ConstructFn,
    InferFn,
    LayerArg,
    LayerArray,
    LayerInfo,
    LayerShapeError,
    OutputFn,
    layer,
)
from eqxdsl.compiler.library.layers._rules import (
    LayerCall,
    _attribute_dtype,
    _check_divides,
    _padding_pairs,
    _per_axis,
    _positive_if_known,
    _rank_exactly,
    _result_dtype,
    _same_size,
    _size,
    _spatial_axes,
    _tensor,
    _window_per_axis,
)
from eqxdsl.compiler.values import UnknownArray


def _conv_spatial(layer_name: str, args: Args, inputs: tuple, fixed_dims: int | None) -> tuple[LayerCall, TensorType, int]:
    layer = LayerCall(layer_name, args, ("in_channels", "out_channels", "kernel_size"))
    dims = _spatial_axes(layer, fixed_dims, args)
    x = _tensor(layer, inputs[0], "its input")
    names = {1: "L", 2: "H, W", 3: "D, H, W"}.get(dims, f"{dims} spatial axes")
    _rank_exactly(layer, x, dims + 1, f"[channels, {names}]")
    return layer, x, dims


def _channels_infer(layer_name: str, fixed_dims: int | None) -> InferFn:
    def infer(args: Args, inputs: tuple) -> dict:
        _, x, _ = _conv_spatial(layer_name, args, inputs, fixed_dims)
        return {"in_channels": x.shape[0]}

    return infer


def _conv_output(layer_name: str, fixed_dims: int | None, transposed: bool) -> OutputFn:
    def output(args: Args, inputs: tuple) -> TensorType:
        layer, x, dims = _conv_spatial(layer_name, args, inputs, fixed_dims)
        _same_size(layer, f"axis 0 (channels) of the input {x}", x.shape[0], "in_channels", args["in_channels"])
        kernel = _window_per_axis(layer, "kernel_size", args["kernel_size"], dims)
        stride = _window_per_axis(layer, "stride", args["stride"], dims)
        dilation = _window_per_axis(layer, "dilation", args["dilation"], dims)
        padding = _padding_pairs(layer, args["padding"], dims)
        if transposed:
            extra = _per_axis(layer, "output_padding", args["output_padding"], dims)
            sizes = _transposed_sizes(x.shape[1:], kernel, stride, dilation, padding, extra)
        else:
            sizes = _conv_sizes(x.shape[1:], kernel, stride, dilation, padding)
        for axis, size in enumerate(sizes, start=1):
            _positive_if_known(layer, f"output axis {axis} for input {x}", size)
        return TensorType(_result_dtype(layer, args, x), (args["out_channels"], *sizes))

    return output


def _conv_construct(layer_name: str, fixed_dims: int | None, transposed: bool) -> ConstructFn:
    """What the runtime's constructor refuses: channels that `groups` does not divide and, for a
    transposed convolution, a padding it cannot undo and an `output_padding` not below the stride."""

    def construct(args: Args) -> None:
        layer = LayerCall(layer_name, args, ("in_channels", "out_channels", "kernel_size"))
        groups = Dim.of(args["groups"])
        for name in ("in_channels", "out_channels"):
            channels = _size(args, name)
            if channels is not None:
                _check_divides(layer, name, channels, groups)
        if not transposed:
            return
        dims = _spatial_axes(layer, fixed_dims, args)
        mode = args["padding_mode"]
        if mode in ("REFLECT", "REPLICATE"):
            raise LayerShapeError(
                f"{layer}: a transposed convolution pads with 'ZEROS' or 'CIRCULAR', not {mode!r}", argument="padding_mode"
            )
        stride = _window_per_axis(layer, "stride", args["stride"], dims)
        extra = _per_axis(layer, "output_padding", args["output_padding"], dims)
        for padding, step in zip(extra, stride):
            if not proven_at_most(padding + 1, step):
                if padding.value is not None and step.value is not None:
                    problem, hint = "must be smaller than", None
                else:
                    problem, hint = "is not proven smaller than", f"state it in the model: assert {padding.python()} < {step.python()}"
                raise LayerShapeError(
                    f"{layer}: output_padding ({padding}) {problem} the stride ({step}) on every axis", hint=hint, argument="output_padding"
                )
        if mode == "CIRCULAR" and (
            _padding_pairs(layer, args["padding"], dims) not in ("SAME", "SAME_LOWER") or any(e.value != 0 for e in extra)
        ):
            raise LayerShapeError(
                f"{layer}: padding_mode 'CIRCULAR' needs padding 'SAME' or 'SAME_LOWER' and no output_padding",
                argument="padding_mode",
            )

    return construct


def _conv_sizes(spatial, kernel, stride, dilation, padding) -> tuple[Dim, ...]:
    sizes = []
    for index, size in enumerate(spatial):
        span = dilation[index] * (kernel[index] - 1)
        if padding in ("SAME", "SAME_LOWER"):
            sizes.append((size + stride[index] - 1) // stride[index])
        else:
            lo, hi = (Dim.const(0), Dim.const(0)) if padding == "VALID" else padding[index]
            sizes.append((size + lo + hi - span - 1) // stride[index] + 1)
    return tuple(sizes)


def _transposed_sizes(spatial, kernel, stride, dilation, padding, extra) -> tuple[Dim, ...]:
    sizes = []
    for index, size in enumerate(spatial):
        span = dilation[index] * (kernel[index] - 1)
        if padding in ("SAME", "SAME_LOWER"):
            # As in Equinox: output_padding shortens a "SAME" transposed output.
            sizes.append(size * stride[index] - extra[index])
        else:
            lo, hi = (Dim.const(0), Dim.const(0)) if padding == "VALID" else padding[index]
            sizes.append((size - 1) * stride[index] - lo - hi + span + extra[index] + 1)
    return tuple(sizes)


def _conv_args(dims: int | None, transposed: bool) -> tuple[LayerArg, ...]:
    unit = Dim.const(1) if dims in (None, 1) else (Dim.const(1),) * dims
    zero = Dim.const(0) if dims in (None, 1) else (Dim.const(0),) * dims
    head = (LayerArg("num_spatial_dims", "int"),) if dims is None else ()
    padding = (LayerArg("padding", "padding", zero),)
    extra = (LayerArg("output_padding", "ints", zero),) if transposed else ()
    # The generic ConvTranspose puts padding first, the 1d/2d/3d classes output_padding first.
    middle = padding + extra if dims is None else extra + padding
    return (
        *head,
        LayerArg("in_channels", "int", inferred=True),
        LayerArg("out_channels", "int"),
        LayerArg("kernel_size", "ints"),
        LayerArg("stride", "ints", unit),
        *middle,
        LayerArg("dilation", "ints", unit),
        LayerArg("groups", "int", Dim.const(1)),
        LayerArg("use_bias", "bool", True),
        LayerArg("padding_mode", "str", "ZEROS", choices=("ZEROS", "REFLECT", "REPLICATE", "CIRCULAR")),
        LayerArg("dtype", "dtype", None),
    )


def _conv_layer(name: str, dims: int | None, transposed: bool) -> LayerInfo:
    return layer(
        name, _conv_args(dims, transposed), _channels_infer(name, dims), _conv_output(name, dims, transposed), init_key=True,
        construct=_conv_construct(name, dims, transposed), attributes=_conv_attributes(name, dims),
    )


def _conv_attributes(layer_name: str, fixed_dims: int | None) -> AttributeFn:
    def attributes(args: Args) -> dict[str, LayerArray]:
        """`weight` (out_channels, in_channels // groups, *kernel_size) and, with `use_bias`,
        `bias` (out_channels, 1, ..., 1): one size per spatial axis, as the runtime's."""
        in_channels, out_channels = _size(args, "in_channels"), _size(args, "out_channels")
        if in_channels is None or out_channels is None:
            return {}
        layer = LayerCall(layer_name, args, ("in_channels", "out_channels", "kernel_size"))
        try:
            dims = _spatial_axes(layer, fixed_dims, args)
            kernel = _per_axis(layer, "kernel_size", args.get("kernel_size"), dims)
        except LayerShapeError:  # reported by the call's rules; the shapes stay unknown
            shapes = None
        else:
            shapes = {
                "weight": (out_channels, in_channels // Dim.of(args["groups"]), *kernel),
                "bias": (out_channels, *(Dim.const(1),) * dims),
            }
        names = ("weight", "bias") if args["use_bias"] is not False else ("weight",)
        dtype = _attribute_dtype(args)
        return {name: TensorType(dtype, shapes[name]) if shapes else UnknownArray() for name in names}

    return attributes


#: The rows of this family, in the table's order.
ROWS: tuple[LayerInfo, ...] = (
    _conv_layer("Conv", None, transposed=False),
    *(_conv_layer(f"Conv{n}d", n, transposed=False) for n in (1, 2, 3)),
    _conv_layer("ConvTranspose", None, transposed=True),
    *(_conv_layer(f"ConvTranspose{n}d", n, transposed=True) for n in (1, 2, 3)),
)
