"""Binding a method's input sizes from the arrays it is called with: `x: f32[T, dim]` called on
`f32[8, 64]` binds `T` to 8, and holds `dim` to 64."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from eqxdsl.compiler.dims import Dim, TensorType, proven_equal


def bind_axes(
    declared: TensorType, actual: TensorType, input_dims: Collection[str], known: Mapping[str, Dim], bound: dict[str, Dim]
) -> tuple[int, Dim, Dim] | None:
    """Bind the sizes of `actual` to the declared type's input sizes, and check the other axes.

    Args:
        declared: the input's declared type, over hyperparameters and input sizes.
        actual: the type of the array given, of the same rank.
        input_dims: the input sizes an axis may bind (an axis that is one such name alone).
        known: sizes already fixed (hyperparameters' values); a name here is checked, not bound.
        bound: the input sizes bound so far, by earlier inputs and axes; extended in place.

    Returns:
        None when every axis fits, else the first that does not: (axis, declared size with
        what is known put in, size given).
    """
    for axis, (want, got) in enumerate(zip(declared.shape, actual.shape)):
        symbol = want.as_name()
        if symbol is not None and symbol in input_dims and symbol not in known and symbol not in bound:
            bound[symbol] = got
            continue
        expected = want.substitute({**known, **bound})
        if not proven_equal(expected, got):
            return axis, expected, got
    return None
