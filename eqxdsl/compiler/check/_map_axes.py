"""The axes of `map`, as `jax.vmap`'s `in_axes` and `out_axes` give them.

`map(f, xs..., in_axes=1, out_axes=1)` maps `f` over axis 1 of each array and
puts the mapped axis at 1 of each result. `in_axes` is one axis for every array,
or a tuple with one entry per array, `None` for an array passed whole to every
call; `out_axes` is one axis for every result, or a tuple with one per result.
"""

from __future__ import annotations

from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.values import ShapeError, Static, TupleValue, Value


def _axis(value: Static, what: str) -> int | None:
    if value.kind == "none":
        return None
    if value.kind == "int" and value.value.value is not None:
        return value.value.value
    raise ShapeError(f"{what} must be an int known when the spec is compiled, or None, not {value}", argument=what)


def axes_per_item(value: Value, count: int, what: str) -> list[int | None]:
    """One axis (or None) per mapped array or result, from an `in_axes` or `out_axes` value."""
    if isinstance(value, Static) and value.kind in ("int", "none"):
        return [_axis(value, what)] * count
    if isinstance(value, Static) and value.kind == "ints":
        items = [Static("int", d) for d in value.value]
    elif isinstance(value, Static) and value.kind == "tuple" and value.value is not None:
        items = list(value.value)
    else:
        raise ShapeError(f"{what} must be an int, None, or a tuple of them, not {value}", argument=what)
    if len(items) != count:
        raise ShapeError(f"{what} names {len(items)} axes for {count} {'arrays' if what == 'in_axes' else 'results'}", argument=what)
    return [_axis(item, what) for item in items]


def normalise(axis: int, rank: int, what: str) -> int:
    """`axis` of an array of `rank` as a non-negative index."""
    if not -rank <= axis < rank:
        raise ShapeError(f"{what} {axis} is out of range for an array of rank {rank}", hint=f"the axes of an array of rank {rank} are {-rank} to {rank - 1}", argument=what)
    return axis % rank


def without_axis(array: TensorType, axis: int) -> TensorType:
    """One slice of `array` along `axis`: what the mapped callable sees."""
    return TensorType(array.dtype, array.shape[:axis] + array.shape[axis + 1 :])


def with_axis(value: Value, length: Dim, axes: list[int]) -> Value:
    """The result of a map: each result of the callable with the mapped axis of `length` inserted at its axis.

    Numbers become arrays.
    """
    if isinstance(value, TupleValue):
        return TupleValue(tuple(with_axis(item, length, [axis]) for item, axis in zip(value.items, axes)))
    if isinstance(value, Static) and value.kind in ("int", "float", "bool"):
        value = TensorType({"int": "i32", "float": "f32", "bool": "bool"}[value.kind], ())
    if not isinstance(value, TensorType):
        return value
    at = normalise(axes[0], value.rank + 1, "out_axes")
    return TensorType(value.dtype, value.shape[:at] + (length,) + value.shape[at:])
