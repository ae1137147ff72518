"""Pieces that the shape rules of several families share: checks of ranks and sizes, messages."""

from __future__ import annotations

from collections.abc import Sequence

from eqxdsl.compiler.dims import Dim, TensorType, active_facts, proven_equal
from eqxdsl.compiler.library.layers._row import (
    Args,
    LayerInput,
    LayerShapeError,
    OutputFn,
    suggest,
)


class LayerCall:
    """`Conv2d(out_channels=16)`: the layer as the messages name it, written out only when one is.

    Every rule names its layer this way before it knows whether a message
    will need it, so it is cheap to make and formats itself in `str`.
    """

    __slots__ = ("name", "_args", "_shown")

    def __init__(self, name: str, args: Args, shown: Sequence[str]):
        """`name` is the layer's class; `args` its arguments, of which those named in `shown` are written."""
        self.name = name
        self._args = args
        self._shown = shown

    def __str__(self) -> str:
        parts = []
        for name in self._shown:
            value = self._args.get(name)
            if value is not None:
                parts.append(f"{name}={_show(value)}")
        return f"{self.name}({', '.join(parts)})"


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _tensor(layer: str | LayerCall, value: LayerInput, what: str) -> TensorType:
    if not isinstance(value, TensorType):
        raise LayerShapeError(f"{layer} takes an array as {what}, got a tuple of {len(value)} values")
    return value


def _rank_at_least(layer: str | LayerCall, x: TensorType, rank: int, layout: str, what: str = "its input") -> None:
    if x.rank < rank:
        raise LayerShapeError(
            f"{layer} takes {what} of shape {layout}, got {x} with {x.rank} axes",
            hint="map the layer over leading axes, or reshape the input" if x.rank > rank else None,
        )


def _rank_exactly(layer: str | LayerCall, x: TensorType, rank: int, layout: str, what: str = "its input") -> None:
    if x.rank != rank:
        hint = None
        if x.rank == rank + 1:
            hint = f"layers take one unbatched example; use map({str(layer).split('(')[0].lower()}, x) or vmap"
        elif x.rank > rank:
            hint = "flatten or reshape the input first"
        raise LayerShapeError(
            f"{layer} takes {what} of shape {layout}, got {x} with {x.rank} axes", hint=hint
        )


def _same_size(layer: str | LayerCall, got_what: str, got: Dim, expected_what: str, expected: Dim | int) -> None:
    """Require `got == expected`: the size `got_what` (an axis) against `expected_what` (an argument)."""
    expected = Dim.of(expected)
    if proven_equal(got, expected):
        return
    hint = None
    if not got.definitely_differs(expected):
        hint = (
            f"{got} and {expected} may be equal for some values, but the compiler cannot show that "
            "they always are; use the same name or expression for both"
        )
    raise LayerShapeError(f"{layer}: {got_what} is {got}, but {expected_what} is {expected}", hint=hint, sizes=(got, expected))


def _per_axis(layer: str | LayerCall, name: str, value: object, count: int) -> tuple[Dim, ...]:
    """An `"ints"` value as one `Dim` per spatial axis."""
    if isinstance(value, Dim):
        return (value,) * count
    if isinstance(value, int) and not isinstance(value, bool):
        return (Dim.const(value),) * count
    if isinstance(value, tuple) and len(value) == count and all(isinstance(v, (Dim, int)) for v in value):
        return tuple(Dim.of(v) for v in value)
    raise LayerShapeError(f"{layer}: {name} must be an int or {count} ints (one per spatial axis), got {_show(value)}", argument=name)


def _window_per_axis(layer: str | LayerCall, name: str, value: object, count: int) -> tuple[Dim, ...]:
    """A kernel size, stride or dilation per spatial axis; each must be at least 1."""
    sizes = _per_axis(layer, name, value, count)
    for size in sizes:
        if size.value is not None and size.value < 1:
            raise LayerShapeError(f"{layer}: {name} must be at least 1 on every axis, got {_show(value)}", argument=name)
    return sizes


def _padding_pairs(layer: str | LayerCall, value: object, count: int) -> str | tuple[tuple[Dim, Dim], ...]:
    """A `"padding"` value as a padding string or one `(lo, hi)` pair per spatial axis."""
    if isinstance(value, str):
        if value.upper() not in ("SAME", "SAME_LOWER", "VALID"):
            raise LayerShapeError(
                f"{layer}: padding {value!r} is not one of 'SAME', 'SAME_LOWER', 'VALID'",
                hint=f"did you mean {suggest(value.upper(), ('SAME', 'SAME_LOWER', 'VALID'))!r}?"
                if suggest(value.upper(), ("SAME", "SAME_LOWER", "VALID"))
                else None,
                argument="padding",
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
        f"or 'SAME', 'SAME_LOWER', 'VALID'; got {_show(value)}",
        argument="padding",
    )


def _positive_if_known(layer: str | LayerCall, what: str, size: Dim) -> None:
    if size.value is not None and size.value <= 0:
        raise LayerShapeError(f"{layer}: {what} would be {size.value}; it must be at least 1")


def _result_dtype(layer: str | LayerCall, args: Args, x: TensorType) -> str:
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


def _constant(layer: str | LayerCall, name: str, value: object) -> int:
    if isinstance(value, Dim) and value.value is not None:
        return value.value
    raise LayerShapeError(f"{layer}: {name} must be a constant int, got {_show(value)}")


def _spatial_axes(layer: LayerCall, fixed: int | None, args: Args) -> int:
    """How many spatial axes the layer has: `fixed` by its class (`Conv2d`), or its `num_spatial_dims`."""
    return fixed if fixed is not None else _constant(layer, "num_spatial_dims", args.get("num_spatial_dims"))


def _check_divides(layer: str | LayerCall, what: str, size: Dim, groups: Dim) -> None:
    """`size` must split into `groups` equal groups: proven from the model's asserts when either is symbolic."""
    if active_facts().divides(groups, size):
        return
    if (size % groups).value is not None:
        raise LayerShapeError(f"{layer}: {what} ({size}) is not divisible by groups ({groups})", argument="groups")
    raise LayerShapeError(
        f"{layer}: {what} ({size}) is not proven divisible by groups ({groups})",
        hint=f"state it in the model: assert {size.python()} % {groups.python()} == 0",
        argument="groups",
    )


def _no_inference(args: Args, inputs: tuple) -> dict:
    return {}


def _same_as_input(layer_name: str) -> OutputFn:
    def output(args: Args, inputs: tuple) -> LayerInput:
        return inputs[0]

    return output


def _attribute_dtype(args: Args) -> str:
    """The dtype of a layer's parameters: its `dtype` argument, else f32."""
    dtype = args.get("dtype")
    return dtype if isinstance(dtype, str) else "f32"


def _size(args: Args, name: str) -> Dim | None:
    """The argument `name` if it is a size (a `Dim`), else None."""
    value = args.get(name)
    return value if isinstance(value, Dim) else None
