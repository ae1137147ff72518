"""LayerNorm, RMSNorm, GroupNorm and BatchNorm (`eqxdsl.runtime.nn._normalisation`, `_batch_norm`)."""

from __future__ import annotations

from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.library.layers._row import (
    Args,
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
    _rank_at_least,
    _same_size,
    _size,
    _tensor,
)


def _as_shape(value: Dim | int | tuple[Dim | int, ...]) -> tuple[Dim, ...]:
    if isinstance(value, tuple):
        return tuple(Dim.of(v) for v in value)
    return (Dim.of(value),)


def _norm_infer(layer_name: str) -> InferFn:
    def infer(args: Args, inputs: tuple) -> dict:
        x = _tensor(layer_name, inputs[0], "its input")
        return {"shape": x.shape[0] if x.rank == 1 else x.shape}

    return infer


def _norm_output(layer_name: str) -> OutputFn:
    def output(args: Args, inputs: tuple) -> TensorType:
        layer = LayerCall(layer_name, args, ("shape",))
        x = _tensor(layer, inputs[0], "its input")
        shape = _as_shape(args["shape"])
        if x.rank != len(shape):
            raise LayerShapeError(
                f"{layer} normalises inputs of shape [{', '.join(map(str, shape))}], got {x}",
                hint="give the norm the input's whole shape, or map it over the leading axes",
            )
        for axis, (got, expected) in enumerate(zip(x.shape, shape)):
            _same_size(layer, f"axis {axis} of the input {x}", got, f"axis {axis} of its shape", expected)
        return x

    return output


def _norm_layer(name: str) -> LayerInfo:
    args = (
        LayerArg("shape", "shape", inferred=True),
        LayerArg("eps", "float", 1e-5),
        LayerArg("use_weight", "bool", True),
        LayerArg("use_bias", "bool", True),
        LayerArg("dtype", "dtype", None),
    )
    return layer(name, args, _norm_infer(name), _norm_output(name), init_key=False, attributes=_norm_attributes)


def _channels_first_infer(layer_name: str, size_arg: str) -> InferFn:
    def infer(args: Args, inputs: tuple) -> dict:
        x = _tensor(layer_name, inputs[0], "its input")
        _rank_at_least(layer_name, x, 1, "[channels, ...]")
        return {size_arg: x.shape[0]}

    return infer


def _group_norm_output(args: Args, inputs: tuple) -> TensorType:
    layer = LayerCall("GroupNorm", args, ("groups", "channels"))
    x = _tensor(layer, inputs[0], "its input")
    _rank_at_least(layer, x, 1, "[channels, ...]")
    if args.get("channels") is not None:
        _same_size(layer, f"axis 0 (channels) of the input {x}", x.shape[0], "channels", args["channels"])
    return x


def _group_norm_construct(args: Args) -> None:
    """As the runtime's constructor: `groups` divides `channels`, which `channelwise_affine` needs."""
    layer = LayerCall("GroupNorm", args, ("groups", "channels"))
    channels = _size(args, "channels")
    if channels is not None:
        _check_divides(layer, "channels", channels, Dim.of(args["groups"]))
    elif args["channelwise_affine"] is not False:
        raise LayerShapeError(
            f"{layer}: channelwise_affine needs the channel count, which is not given or inferred from a call",
            hint="give channels=..., call the layer, or give channelwise_affine=False",
        )


def _batch_norm_output(args: Args, inputs: tuple) -> TensorType:
    layer = LayerCall("BatchNorm", args, ("input_size",))
    x = _tensor(layer, inputs[0], "its input")
    _rank_at_least(layer, x, 1, "[channels, ...]")
    _same_size(layer, f"axis 0 of the input {x}", x.shape[0], "input_size", args["input_size"])
    return x


def _norm_attributes(args: Args) -> dict[str, LayerArray]:
    """`weight` with `use_weight` and `bias` with `use_bias`, each of the normalised shape."""
    shape = args.get("shape")
    shape = (shape,) if isinstance(shape, Dim) else shape
    if not isinstance(shape, tuple):
        return {}
    dtype = _attribute_dtype(args)
    flags = {"weight": args["use_weight"], "bias": args["use_bias"]}
    return {name: TensorType(dtype, shape) for name, flag in flags.items() if flag is not False}


#: The rows of this family, in the table's order.
ROWS: tuple[LayerInfo, ...] = (
    _norm_layer("LayerNorm"),
    _norm_layer("RMSNorm"),
    layer(
        "GroupNorm",
        (
            LayerArg("groups", "int"),
            LayerArg("channels", "int", None, inferred=True),
            LayerArg("eps", "float", 1e-5),
            LayerArg("channelwise_affine", "bool", True),
            LayerArg("dtype", "dtype", None),
        ),
        _channels_first_infer("GroupNorm", "channels"),
        _group_norm_output,
        init_key=False,
        construct=_group_norm_construct,
    ),
    layer(
        "BatchNorm",
        (
            LayerArg("input_size", "int", inferred=True),
            LayerArg("axis_name", "any"),
            LayerArg("eps", "float", 1e-5),
            LayerArg("channelwise_affine", "bool", True),
            LayerArg("momentum", "float", 0.99),
            LayerArg("inference", "bool", False),
            LayerArg("dtype", "dtype", None),
            LayerArg("mode", "str", "batch", choices=("batch", "ema", "legacy")),
        ),
        _channels_first_infer("BatchNorm", "input_size"),
        _batch_norm_output,
        stateful=True,
        call_inference=True,
        init_key=False,
    ),
)
