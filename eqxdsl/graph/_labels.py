"""How values and sizes read on the picture: `f32[T×dim]`, `(f32[T×dim], f32[T])`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..compiler.dims import Dim, TensorType
from ..compiler.values import TupleValue, UnknownArray

#: At most this many distinct values are listed on one edge (an unrolled stack sees one per copy).
_MOST_VALUES = 3


def size_text(size: Dim) -> str:
    """One size as a formula (`4·dim`), in parentheses when it has spaces (`(T - 1)`)."""
    text = size.formula()
    return f"({text})" if " " in text else text


def substitute(value: object, values: Mapping[str, Dim]) -> object:
    """`value` with the sizes named in `values` put in: how a nested model's shapes read in its caller's sizes."""
    if not values:
        return value
    if isinstance(value, TensorType):
        return TensorType(value.dtype, tuple(size.substitute(values) for size in value.shape))
    if isinstance(value, TupleValue):
        return TupleValue(tuple(substitute(item, values) for item in value.items))
    if isinstance(value, Dim):
        return value.substitute(values)
    return value


def value_text(value: object) -> str:
    """An array value as `f32[T×dim]` (a scalar: `f32[]`), a tuple of them in parentheses; other values: empty."""
    if isinstance(value, TensorType):
        return f"{value.dtype}[{'×'.join(size_text(size) for size in value.shape)}]"
    if isinstance(value, UnknownArray):
        return "array"
    if isinstance(value, TupleValue):
        items = [value_text(item) for item in value.items]
        return f"({', '.join(items)})" if all(items) else ""
    return ""


def values_text(values: Sequence[object]) -> str:
    """Several values an expression took (one per copy of an unrolled stack), distinct ones joined by ` | `."""
    texts = list(dict.fromkeys(text for text in map(value_text, values) if text))
    if len(texts) > _MOST_VALUES:
        texts = [*texts[:_MOST_VALUES], "…"]
    return " | ".join(texts)
