"""The compiler's own description of every `eqxdsl.runtime.nn` layer.

The checker needs each layer's constructor signature and the rule that maps its
input types to its output type, but the compiler must never import jax. So the
layers are described here, as data plus two small functions per layer, and a
test holds this table against the runtime's real signatures and shapes.

Argument values, as the checker passes them in `args` mappings: integers are
`Dim`s (constants too), tuples of integers are tuples of `Dim`s, floats, bools
and strings are Python values, functions are their names (`"relu"`), dtypes are
dtype names (`"f32"`), and a `"module"` argument is an object with an
`output(inputs)` method (a `BoundLayer`, or whatever the checker uses for a
model). Inputs are `TensorType`s, or tuples of them (an LSTM's `(h, c)`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from .dims import Dim, TensorType


class _Required:
    """The type of `REQUIRED`, the default of an argument that has none."""

    _instance: _Required | None = None

    def __new__(cls) -> _Required:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of a `LayerArg` that must be given (or inferred).
REQUIRED = _Required()

ARG_KINDS = frozenset({"int", "float", "bool", "str", "fn", "ints", "padding", "shape", "dtype", "module", "any"})

LayerInput = TensorType | tuple
Args = Mapping[str, object]


class LayerShapeError(Exception):
    """A layer cannot take the inputs it is given, or its arguments contradict them.

    Attributes:
        message: what disagrees, naming the layer, the argument or axis and both sizes.
        hint: how to fix it, or None.
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class LayerArg:
    """One constructor argument of a layer, in the runtime's positional order.

    Attributes:
        name: the parameter name.
        kind: what values it takes, one of `ARG_KINDS`: `"int"`, `"float"`,
            `"bool"`, `"str"`, `"fn"` (an activation or reduction, by name),
            `"ints"` (an int or one int per spatial axis), `"padding"` (an int,
            one int or one `(lo, hi)` pair per axis, or `"SAME"`, `"SAME_LOWER"`,
            `"VALID"`), `"shape"` (an int or a tuple of ints), `"dtype"`,
            `"module"` (a layer it wraps), `"any"`.
        default: its default value (in the value representation of the module
            docstring), or `REQUIRED`.
        inferred: whether the compiler fills it in from the input types when
            the spec leaves it out.
        keyword_only: whether it comes after the `*` of the constructor.
        choices: for a `"str"` argument, the strings it accepts; for an
            `"int"` argument, strings accepted in place of an int (`"scalar"`).
    """

    name: str
    kind: str
    default: object = REQUIRED
    inferred: bool = False
    keyword_only: bool = False
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ARG_KINDS:
            raise ValueError(f"unknown argument kind {self.kind!r}")

    @property
    def required(self) -> bool:
        """Whether the argument has no default."""
        return self.default is REQUIRED


InferFn = Callable[[Args, tuple], dict]
OutputFn = Callable[[Args, tuple], "LayerInput"]


@dataclass(frozen=True)
class LayerInfo:
    """What the compiler knows about one runtime layer.

    Attributes:
        name: the class name in `eqxdsl.runtime.nn`.
        args: its constructor arguments, positional order first.
        init_key: whether the constructor takes `key=`.
        stochastic: whether its call takes `key=` and `inference=` and may need a key.
        stateful: whether its call is `(x, state) -> (y, state)`.
        inputs: the names of the array inputs of its `__call__`, in order.
        optional_inputs: further array inputs it may take (attention's `mask`).
        call_inference: whether its call accepts `inference=` (every
            stochastic layer, and BatchNorm and SpectralNorm).
        infer: `infer(args, inputs)` gives values for the inferred arguments
            missing from `args`; an inferred argument it leaves out keeps its
            default (attention's `key_size` when it equals `query_size`).
        output: `output(args, inputs)` gives the output type (a tuple for an
            LSTM cell), or raises `LayerShapeError`. `args` holds the given and
            inferred arguments; defaults are filled in by the layer itself.
    """

    name: str
    args: tuple[LayerArg, ...]
    init_key: bool
    stochastic: bool
    stateful: bool
    inputs: tuple[str, ...]
    optional_inputs: tuple[str, ...]
    infer: InferFn = field(repr=False, compare=False)
    output: OutputFn = field(repr=False, compare=False)
    call_inference: bool = False

    def arg(self, name: str) -> LayerArg:
        """The argument called `name`; KeyError if the layer has none."""
        for arg in self.args:
            if arg.name == name:
                return arg
        raise KeyError(name)

    def with_defaults(self, args: Args) -> dict[str, object]:
        """`args` completed with the default of every argument it leaves out."""
        full = {arg.name: arg.default for arg in self.args if not arg.required}
        full.update(args)
        return full


class LayerValue(Protocol):
    """A layer given as an argument to a wrapper layer: it maps input types to an output type."""

    def output(self, inputs: tuple) -> LayerInput: ...


@dataclass(frozen=True)
class BoundLayer:
    """A table layer with its (given and inferred) arguments, usable as a `"module"` value."""

    info: LayerInfo
    args: Mapping[str, object]

    def output(self, inputs: tuple) -> LayerInput:
        """The output type for `inputs`; raises `LayerShapeError`."""
        return self.info.output(self.args, inputs)


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to a misspelt `name` ("did you mean ...?"), or None."""
    candidates = list(candidates)
    for candidate in candidates:
        if candidate.lower() == name.lower():
            return candidate
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


# -- shape helpers ------------------------------------------------------------------------


def _call(layer: str, args: Args, shown: Sequence[str]) -> str:
    """`Conv2d(out_channels=16)`: the layer as the messages name it."""
    parts = []
    for name in shown:
        value = args.get(name)
        if value is not None:
            parts.append(f"{name}={_show(value)}")
    return f"{layer}({', '.join(parts)})"


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _tensor(layer: str, value: object, what: str) -> TensorType:
    if not isinstance(value, TensorType):
        raise LayerShapeError(f"{layer} takes an array as {what}, got a tuple of {len(value)} values")
    return value


def _rank_at_least(layer: str, x: TensorType, rank: int, layout: str, what: str = "its input") -> None:
    if x.rank < rank:
        raise LayerShapeError(
            f"{layer} takes {what} of shape {layout}, got {x} with {x.rank} axes",
            hint="map the layer over leading axes, or reshape the input" if x.rank > rank else None,
        )


def _rank_exactly(layer: str, x: TensorType, rank: int, layout: str, what: str = "its input") -> None:
    if x.rank != rank:
        hint = None
        if x.rank == rank + 1:
            hint = f"layers take one unbatched example; use map({layer.split('(')[0].lower()}, x) or vmap"
        elif x.rank > rank:
            hint = "flatten or reshape the input first"
        raise LayerShapeError(
            f"{layer} takes {what} of shape {layout}, got {x} with {x.rank} axes", hint=hint
        )


def _same_size(layer: str, got_what: str, got: Dim, expected_what: str, expected: object) -> None:
    """Require `got == expected`: the size `got_what` (an axis) against `expected_what` (an argument)."""
    expected = Dim.of(expected)
    if got == expected:
        return
    hint = None
    if not got.definitely_differs(expected):
        hint = (
            f"{got} and {expected} may be equal for some values, but the compiler cannot show that "
            "they always are; use the same name or expression for both"
        )
    raise LayerShapeError(f"{layer}: {got_what} is {got}, but {expected_what} is {expected}", hint=hint)


def _is_dim(value: object) -> bool:
    return isinstance(value, Dim)


def _per_axis(layer: str, name: str, value: object, count: int) -> tuple[Dim, ...]:
    """An `"ints"` value as one `Dim` per spatial axis."""
    if _is_dim(value):
        return (value,) * count
    if isinstance(value, int) and not isinstance(value, bool):
        return (Dim.const(value),) * count
    if isinstance(value, tuple) and len(value) == count and all(isinstance(v, (Dim, int)) for v in value):
        return tuple(Dim.of(v) for v in value)
    raise LayerShapeError(f"{layer}: {name} must be an int or {count} ints (one per spatial axis), got {_show(value)}")


def _window_per_axis(layer: str, name: str, value: object, count: int) -> tuple[Dim, ...]:
    """A kernel size, stride or dilation per spatial axis; each must be at least 1."""
    sizes = _per_axis(layer, name, value, count)
    for size in sizes:
        if size.value is not None and size.value < 1:
            raise LayerShapeError(f"{layer}: {name} must be at least 1 on every axis, got {_show(value)}")
    return sizes


def _padding_pairs(layer: str, value: object, count: int) -> str | tuple[tuple[Dim, Dim], ...]:
    """A `"padding"` value as a padding string or one `(lo, hi)` pair per spatial axis."""
    if isinstance(value, str):
        if value.upper() not in ("SAME", "SAME_LOWER", "VALID"):
            raise LayerShapeError(
                f"{layer}: padding {value!r} is not one of 'SAME', 'SAME_LOWER', 'VALID'",
                hint=f"did you mean {suggest(value.upper(), ('SAME', 'SAME_LOWER', 'VALID'))!r}?"
                if suggest(value.upper(), ("SAME", "SAME_LOWER", "VALID"))
                else None,
            )
        return value.upper()
    if isinstance(value, tuple) and len(value) == count and all(isinstance(p, tuple) for p in value):
        if all(len(p) == 2 and all(isinstance(v, (Dim, int)) for v in p) for p in value):
            return tuple((Dim.of(lo), Dim.of(hi)) for lo, hi in value)
    else:
        try:
            return tuple((size, size) for size in _per_axis(layer, "padding", value, count))
        except LayerShapeError:
            pass
    raise LayerShapeError(
        f"{layer}: padding must be an int, {count} ints, {count} (lo, hi) pairs, "
        f"or 'SAME', 'SAME_LOWER', 'VALID'; got {_show(value)}"
    )


def _positive_if_known(layer: str, what: str, size: Dim) -> None:
    if size.value is not None and size.value <= 0:
        raise LayerShapeError(f"{layer}: {what} would be {size.value}; it must be at least 1")


def _result_dtype(layer: str, args: Args, x: TensorType) -> str:
    """The dtype a parameterised layer returns: its `dtype` if given, else the input's if floating.

    A floating input must have the parameters' dtype: JAX's convolutions refuse
    mixed dtypes, and silent promotion elsewhere would hide a mistake.
    """
    dtype = args.get("dtype")
    if isinstance(dtype, str):
        if x.is_floating and x.dtype != dtype:
            raise LayerShapeError(
                f"{layer}: its parameters are {dtype} but its input {x} is {x.dtype}",
                hint=f"convert the input to {dtype}, or give the layer dtype={x.dtype}",
            )
        return dtype
    return x.dtype if x.is_floating or x.dtype == "c64" else "f32"


def _constant(layer: str, name: str, value: object) -> int:
    if isinstance(value, Dim) and value.value is not None:
        return value.value
    raise LayerShapeError(f"{layer}: {name} must be a constant int, got {_show(value)}")


def _check_divides(layer: str, what: str, size: Dim, groups: Dim) -> None:
    remainder = size % groups
    if remainder.value not in (None, 0):
        raise LayerShapeError(f"{layer}: {what} ({size}) is not divisible by groups ({groups})")


def _no_inference(args: Args, inputs: tuple) -> dict:
    return {}


# -- Linear, Identity, MLP, PReLU, Dropout -----------------------------------------------


def _features_in(layer: str, x: TensorType) -> Dim | str:
    if x.rank == 0:
        return "scalar"
    _rank_exactly(layer, x, 1, "[features]")
    return x.shape[0]


def _linear_infer(size_arg: str, layer_name: str) -> InferFn:
    def infer(args: Args, inputs: tuple) -> dict:
        layer = _call(layer_name, args, ())
        return {size_arg: _features_in(layer, _tensor(layer, inputs[0], "its input"))}

    return infer


def _linear_output(in_arg: str, out_arg: str, layer_name: str, shown: tuple[str, ...]) -> OutputFn:
    def output(args: Args, inputs: tuple) -> TensorType:
        layer = _call(layer_name, args, shown)
        x = _tensor(layer, inputs[0], "its input")
        expected_in = args[in_arg]
        if expected_in == "scalar":
            if x.rank != 0:
                raise LayerShapeError(f"{layer} takes a scalar input ({in_arg}='scalar'), got {x}")
        else:
            _rank_exactly(layer, x, 1, f"[{in_arg}]")
            _same_size(layer, f"axis 0 of the input {x}", x.shape[0], in_arg, expected_in)
        out = args[out_arg]
        shape = () if out == "scalar" else (out,)
        return TensorType(_result_dtype(layer, args, x), shape)

    return output


def _same_as_input(layer_name: str) -> OutputFn:
    def output(args: Args, inputs: tuple) -> LayerInput:
        return inputs[0]

    return output


def _prelu_output(args: Args, inputs: tuple) -> TensorType:
    return _tensor("PReLU", inputs[0], "its input")


def _dropout_output(args: Args, inputs: tuple) -> TensorType:
    return _tensor(_call("Dropout", args, ("p",)), inputs[0], "its input")


# -- convolutions -------------------------------------------------------------------------


def _conv_spatial(layer_name: str, args: Args, inputs: tuple, fixed_dims: int | None) -> tuple[str, TensorType, int]:
    layer = _call(layer_name, args, ("in_channels", "out_channels", "kernel_size"))
    dims = fixed_dims if fixed_dims is not None else _constant(layer, "num_spatial_dims", args.get("num_spatial_dims"))
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
        groups = Dim.of(args["groups"])
        _check_divides(layer, "in_channels", args["in_channels"], groups)
        _check_divides(layer, "out_channels", args["out_channels"], groups)
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
    return _layer(
        name, _conv_args(dims, transposed), _channels_infer(name, dims), _conv_output(name, dims, transposed), init_key=True
    )


# -- pooling ------------------------------------------------------------------------------


def _pool_output(layer_name: str, fixed_dims: int | None) -> OutputFn:
    def output(args: Args, inputs: tuple) -> TensorType:
        layer = _call(layer_name, args, ("kernel_size", "stride"))
        dims = fixed_dims if fixed_dims is not None else _constant(layer, "num_spatial_dims", args.get("num_spatial_dims"))
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
            for side in (lo, hi):
                if side.value is not None and kernel[index].value is not None and side.value > kernel[index].value:
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


def _check_ceil_window(layer: str, padded: Dim, hi: Dim, kernel: Dim, stride: Dim) -> None:
    """With `use_ceil`, a partial last window adds `stride` padding on the high side,
    which the runtime allows only up to the kernel size (checked when all are known)."""
    known = [size.value for size in (padded, hi, kernel, stride)]
    if None in known:
        return
    padded_value, hi_value, kernel_value, stride_value = known
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
    return _layer(name, args, _no_inference, _pool_output(name, dims), init_key=False)


def _adaptive_output(layer_name: str, fixed_dims: int | None) -> OutputFn:
    def output(args: Args, inputs: tuple) -> TensorType:
        layer = _call(layer_name, args, ("target_shape",))
        dims = fixed_dims if fixed_dims is not None else _constant(layer, "num_spatial_dims", args.get("num_spatial_dims"))
        x = _tensor(layer, inputs[0], "its input")
        _rank_exactly(layer, x, dims + 1, f"[channels, {dims} spatial axes]")
        target = _per_axis(layer, "target_shape", args["target_shape"], dims)
        for axis, (size, wanted) in enumerate(zip(x.shape[1:], target), start=1):
            if (size - wanted).value is not None and (size - wanted).value < 0:
                raise LayerShapeError(f"{layer}: input axis {axis} ({size}) is smaller than the target size {wanted}")
        return TensorType(x.dtype, (x.shape[0], *target))

    return output


def _adaptive_layer(name: str, dims: int | None) -> LayerInfo:
    args = (LayerArg("target_shape", "ints"),)
    if dims is None:
        args += (LayerArg("num_spatial_dims", "int"), LayerArg("operation", "fn"))
    return _layer(name, args, _no_inference, _adaptive_output(name, dims), init_key=False)


# -- normalisation ------------------------------------------------------------------------


def _as_shape(value: object) -> tuple[Dim, ...]:
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
        layer = _call(layer_name, args, ("shape",))
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
    return _layer(name, args, _norm_infer(name), _norm_output(name), init_key=False)


def _channels_first_infer(layer_name: str, size_arg: str) -> InferFn:
    def infer(args: Args, inputs: tuple) -> dict:
        x = _tensor(layer_name, inputs[0], "its input")
        _rank_at_least(layer_name, x, 1, "[channels, ...]")
        return {size_arg: x.shape[0]}

    return infer


def _group_norm_output(args: Args, inputs: tuple) -> TensorType:
    layer = _call("GroupNorm", args, ("groups", "channels"))
    x = _tensor(layer, inputs[0], "its input")
    _rank_at_least(layer, x, 1, "[channels, ...]")
    if args.get("channels") is not None:
        _same_size(layer, f"axis 0 (channels) of the input {x}", x.shape[0], "channels", args["channels"])
    _check_divides(layer, "the channel count", x.shape[0], Dim.of(args["groups"]))
    return x


def _batch_norm_output(args: Args, inputs: tuple) -> TensorType:
    layer = _call("BatchNorm", args, ("input_size",))
    x = _tensor(layer, inputs[0], "its input")
    _rank_at_least(layer, x, 1, "[channels, ...]")
    _same_size(layer, f"axis 0 of the input {x}", x.shape[0], "input_size", args["input_size"])
    return x


# -- embeddings ---------------------------------------------------------------------------


def _embedding_output(args: Args, inputs: tuple) -> TensorType:
    layer = _call("Embedding", args, ("num_embeddings", "embedding_size"))
    index = _tensor(layer, inputs[0], "its input")
    if index.rank != 0 or not index.is_integer:
        raise LayerShapeError(
            f"{layer} takes one integer index (i32[]), got {index}",
            hint="map the embedding over a sequence of tokens: map(embed, tokens)" if index.rank == 1 else None,
        )
    weight = args.get("weight")
    if isinstance(weight, TensorType) and weight.rank == 2:
        return TensorType(weight.dtype, (weight.shape[1],))
    size = args.get("embedding_size")
    if args.get("num_embeddings") is None or size is None:
        raise LayerShapeError(f"{layer} needs num_embeddings and embedding_size (or a weight of rank 2)")
    dtype = args.get("dtype")
    return TensorType(dtype if isinstance(dtype, str) else "f32", (size,))


def _rotary_output(args: Args, inputs: tuple) -> TensorType:
    layer = _call("RotaryPositionalEmbedding", args, ("embedding_size",))
    x = _tensor(layer, inputs[0], "its input")
    _rank_exactly(layer, x, 2, "[sequence, embedding_size]")
    _same_size(layer, f"axis 1 of the input {x}", x.shape[1], "embedding_size", args["embedding_size"])
    size = Dim.of(args["embedding_size"])
    if (size % 2).value not in (None, 0):
        raise LayerShapeError(f"{layer}: embedding_size must be even, got {size}")
    return x


def _rotary_infer(args: Args, inputs: tuple) -> dict:
    layer = "RotaryPositionalEmbedding"
    x = _tensor(layer, inputs[0], "its input")
    _rank_exactly(layer, x, 2, "[sequence, embedding_size]")
    return {"embedding_size": x.shape[1]}


# -- recurrent cells ----------------------------------------------------------------------


def _cell_infer(layer_name: str) -> InferFn:
    def infer(args: Args, inputs: tuple) -> dict:
        x = _tensor(layer_name, inputs[0], "its input")
        _rank_exactly(layer_name, x, 1, "[input_size]")
        return {"input_size": x.shape[0]}

    return infer


def _cell_output(layer_name: str, pair: bool) -> OutputFn:
    def output(args: Args, inputs: tuple) -> LayerInput:
        layer = _call(layer_name, args, ("input_size", "hidden_size"))
        if len(inputs) != 2:
            raise LayerShapeError(f"{layer} takes an input and a hidden state, got {len(inputs)} values")
        x = _tensor(layer, inputs[0], "its input")
        _rank_exactly(layer, x, 1, "[input_size]")
        _same_size(layer, f"axis 0 of the input {x}", x.shape[0], "input_size", args["input_size"])
        hidden_size = args["hidden_size"]
        if pair:
            hidden = inputs[1]
            if not isinstance(hidden, tuple) or len(hidden) != 2:
                raise LayerShapeError(f"{layer} takes its hidden state as a pair (h, c), got {_show_input(hidden)}")
            states = hidden
        else:
            states = (_tensor(layer, inputs[1], "its hidden state"),)
        for state in states:
            state = _tensor(layer, state, "a hidden state")
            _rank_exactly(layer, state, 1, "[hidden_size]", "a hidden state")
            _same_size(layer, f"axis 0 of the hidden state {state}", state.shape[0], "hidden_size", hidden_size)
        result = TensorType(_result_dtype(layer, args, x), (hidden_size,))
        return (result, result) if pair else result

    return output


def _show_input(value: LayerInput) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_show_input(v) for v in value) + ")"
    return str(value)


def _cell_layer(name: str, pair: bool) -> LayerInfo:
    args = (
        LayerArg("input_size", "int", inferred=True),
        LayerArg("hidden_size", "int"),
        LayerArg("use_bias", "bool", True),
        LayerArg("dtype", "dtype", None),
    )
    return _layer(name, args, _cell_infer(name), _cell_output(name, pair), init_key=True, inputs=("input", "hidden"))


# -- attention ----------------------------------------------------------------------------


def _attention_inputs(args: Args, inputs: tuple) -> tuple[str, TensorType, TensorType, TensorType]:
    layer = _call("MultiheadAttention", args, ("num_heads", "query_size"))
    if len(inputs) not in (3, 4):
        raise LayerShapeError(f"{layer} takes query, key and value (and a mask), got {len(inputs)} values")
    query, key, value = (_tensor(layer, v, what) for v, what in zip(inputs, ("its query", "its key", "its value")))
    for tensor, what, size in ((query, "a query", "query_size"), (key, "a key", "key_size"), (value, "a value", "value_size")):
        _rank_exactly(layer, tensor, 2, f"[sequence, {size}]", what)
    return layer, query, key, value


def _attention_infer(args: Args, inputs: tuple) -> dict:
    _, query, key, value = _attention_inputs(args, inputs)
    query_size = args.get("query_size", query.shape[1])
    inferred: dict[str, object] = {"query_size": query.shape[1]}
    # key_size and value_size default to query_size: pass them only where they differ.
    for name, tensor in (("key_size", key), ("value_size", value)):
        if tensor.shape[1] != query_size:
            inferred[name] = tensor.shape[1]
    return inferred


def _attention_output(args: Args, inputs: tuple) -> TensorType:
    layer, query, key, value = _attention_inputs(args, inputs)
    query_size = Dim.of(args["query_size"])
    key_size = args.get("key_size") if args.get("key_size") is not None else query_size
    value_size = args.get("value_size") if args.get("value_size") is not None else query_size
    output_size = args.get("output_size") if args.get("output_size") is not None else query_size
    _same_size(layer, f"axis 1 of the query {query}", query.shape[1], "query_size", query_size)
    _same_size(layer, f"axis 1 of the key {key}", key.shape[1], "key_size", key_size)
    _same_size(layer, f"axis 1 of the value {value}", value.shape[1], "value_size", value_size)
    _same_size(layer, f"the length of the value {value}", value.shape[0], "the length of the key", key.shape[0])
    if len(inputs) == 4 and inputs[3] is not None:
        mask = _tensor(layer, inputs[3], "its mask")
        if mask.dtype != "bool":
            raise LayerShapeError(f"{layer} takes a boolean mask, got {mask}")
        expected = (query.shape[0], key.shape[0])
        if mask.rank == 3:
            expected = (Dim.of(args["num_heads"]), *expected)
        if mask.rank != len(expected):
            raise LayerShapeError(
                f"{layer} takes a mask of shape [query length, key length] or "
                f"[num_heads, query length, key length], got {mask}"
            )
        names = ("num_heads", "query length", "key length")[-len(expected) :]
        for axis, (got, wanted, name) in enumerate(zip(mask.shape, expected, names)):
            _same_size(layer, f"axis {axis} of the mask {mask}", got, name, wanted)
    return TensorType(_result_dtype(layer, args, query), (query.shape[0], output_size))


# -- wrappers -----------------------------------------------------------------------------


def _wrapped_output(layer_name: str) -> OutputFn:
    def output(args: Args, inputs: tuple) -> LayerInput:
        wrapped = args.get("layer")
        if not hasattr(wrapped, "output"):
            raise LayerShapeError(f"{layer_name} wraps a layer, got {_show(wrapped)}")
        return wrapped.output(inputs)

    return output


# -- the table ----------------------------------------------------------------------------

def _layer(
    name: str,
    args: tuple[LayerArg, ...],
    infer: InferFn,
    output: OutputFn,
    *,
    init_key: bool,
    stochastic: bool = False,
    stateful: bool = False,
    inputs: tuple[str, ...] = ("x",),
    optional_inputs: tuple[str, ...] = (),
    call_inference: bool = False,
) -> LayerInfo:
    """A LayerInfo whose `output` sees every argument: given, inferred or defaulted."""
    defaults = {arg.name: arg.default for arg in args if not arg.required}
    required = [arg.name for arg in args if arg.required and not arg.inferred]

    def infer_missing(given: Args, layer_inputs: tuple) -> dict:
        full = {**defaults, **given}
        return {key: value for key, value in infer(full, layer_inputs).items() if key not in given}

    def complete_output(given: Args, layer_inputs: tuple) -> LayerInput:
        missing = [arg for arg in required if arg not in given]
        if missing:
            raise LayerShapeError(f"{name} needs the argument {missing[0]}")
        full = {**defaults, **given, **infer_missing(given, layer_inputs)}
        return output(full, layer_inputs)

    return LayerInfo(
        name=name,
        args=args,
        init_key=init_key,
        stochastic=stochastic,
        stateful=stateful,
        inputs=inputs,
        optional_inputs=optional_inputs,
        infer=infer_missing,
        output=complete_output,
        call_inference=call_inference,
    )


def _build_table() -> dict[str, LayerInfo]:
    table = [
        _layer(
            "Linear",
            (
                LayerArg("in_features", "int", inferred=True, choices=("scalar",)),
                LayerArg("out_features", "int", choices=("scalar",)),
                LayerArg("use_bias", "bool", True),
                LayerArg("dtype", "dtype", None),
            ),
            _linear_infer("in_features", "Linear"),
            _linear_output("in_features", "out_features", "Linear", ("in_features", "out_features")),
            init_key=True,
        ),
        _layer("Identity", (), _no_inference, _same_as_input("Identity"), init_key=False),
        _layer(
            "MLP",
            (
                LayerArg("in_size", "int", inferred=True, choices=("scalar",)),
                LayerArg("out_size", "int", choices=("scalar",)),
                LayerArg("width_size", "int"),
                LayerArg("depth", "int"),
                LayerArg("activation", "fn", "relu"),
                LayerArg("final_activation", "fn", "identity"),
                LayerArg("use_bias", "bool", True),
                LayerArg("use_final_bias", "bool", True),
                LayerArg("dtype", "dtype", None),
                LayerArg("scan", "bool", False, keyword_only=True),
            ),
            _linear_infer("in_size", "MLP"),
            _linear_output("in_size", "out_size", "MLP", ("in_size", "out_size", "width_size", "depth")),
            init_key=True,
        ),
        _layer("PReLU", (LayerArg("init_alpha", "float", 0.25),), _no_inference, _prelu_output, init_key=False),
        _layer(
            "Dropout",
            (LayerArg("p", "float", 0.5), LayerArg("inference", "bool", False)),
            _no_inference,
            _dropout_output,
            stochastic=True,
            call_inference=True,
            init_key=False,
        ),
        _conv_layer("Conv", None, transposed=False),
        *(_conv_layer(f"Conv{n}d", n, transposed=False) for n in (1, 2, 3)),
        _conv_layer("ConvTranspose", None, transposed=True),
        *(_conv_layer(f"ConvTranspose{n}d", n, transposed=True) for n in (1, 2, 3)),
        _pool_layer("Pool", None),
        *(_pool_layer(f"{kind}Pool{n}d", n) for kind in ("Max", "Avg") for n in (1, 2, 3)),
        _adaptive_layer("AdaptivePool", None),
        *(_adaptive_layer(f"Adaptive{kind}Pool{n}d", n) for kind in ("Avg", "Max") for n in (1, 2, 3)),
        _norm_layer("LayerNorm"),
        _norm_layer("RMSNorm"),
        _layer(
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
        ),
        _layer(
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
        _layer(
            "Embedding",
            (
                LayerArg("num_embeddings", "int", None),
                LayerArg("embedding_size", "int", None),
                LayerArg("weight", "any", None),
                LayerArg("dtype", "dtype", None),
            ),
            _no_inference,
            _embedding_output,
            init_key=True,
        ),
        _layer(
            "RotaryPositionalEmbedding",
            (
                LayerArg("embedding_size", "int", inferred=True),
                LayerArg("theta", "float", 10_000.0),
                LayerArg("dtype", "dtype", None),
            ),
            _rotary_infer,
            _rotary_output,
            init_key=False,
        ),
        _cell_layer("GRUCell", pair=False),
        _cell_layer("LSTMCell", pair=True),
        _layer(
            "MultiheadAttention",
            (
                LayerArg("num_heads", "int"),
                LayerArg("query_size", "int", inferred=True),
                LayerArg("key_size", "int", None, inferred=True),
                LayerArg("value_size", "int", None, inferred=True),
                LayerArg("output_size", "int", None),
                LayerArg("qk_size", "int", None),
                LayerArg("vo_size", "int", None),
                LayerArg("use_query_bias", "bool", False),
                LayerArg("use_key_bias", "bool", False),
                LayerArg("use_value_bias", "bool", False),
                LayerArg("use_output_bias", "bool", False),
                LayerArg("dropout_p", "float", 0.0),
                LayerArg("inference", "bool", False),
                LayerArg("dtype", "dtype", None),
            ),
            _attention_infer,
            _attention_output,
            stochastic=True,
            call_inference=True,
            inputs=("query", "key_", "value"),
            optional_inputs=("mask",),
            init_key=True,
        ),
        _layer(
            "WeightNorm",
            (
                LayerArg("layer", "module"),
                LayerArg("weight_name", "str", "weight"),
                LayerArg("axis", "int", Dim.const(0)),
            ),
            _no_inference,
            _wrapped_output("WeightNorm"),
            init_key=False,
        ),
        _layer(
            "SpectralNorm",
            (
                LayerArg("layer", "module"),
                LayerArg("weight_name", "str"),
                LayerArg("num_power_iterations", "int", Dim.const(1)),
                LayerArg("eps", "float", 1e-12),
                LayerArg("inference", "bool", False),
            ),
            _no_inference,
            _wrapped_output("SpectralNorm"),
            stateful=True,
            call_inference=True,
            init_key=True,
        ),
    ]
    return {info.name: info for info in table}


#: Every layer of `eqxdsl.runtime.nn` that a spec can declare, by class name.
LAYERS: Mapping[str, LayerInfo] = _build_table()

#: The runtime's other `nn` classes, and why a spec does not declare them directly.
NOT_LAYERS: Mapping[str, str] = {
    "Sequential": "a pipeline `x -> a -> b` says the same",
    "Lambda": "a spec calls functions directly",
    "Shared": "a spec ties parameters by using the same layer or its weight in an expression",
    "StatefulLayer": "an abstract base class, not a layer",
    "State": "the state is threaded by the generated code",
    "StateIndex": "the state is threaded by the generated code",
}
