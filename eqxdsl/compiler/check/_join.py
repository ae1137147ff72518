"""Where two values meet (branches of an `if`, several returns): one type for both, or none."""

from __future__ import annotations

from eqxdsl.compiler.check._report import POISONED, Poisoned
from eqxdsl.compiler.dims import Dim, TensorType, proven_equal
from eqxdsl.compiler.values import Static, TupleValue, UnknownArray, Value, is_array


def same_type(a: Value | None, b: Value | None) -> bool:
    if isinstance(a, Poisoned) or isinstance(b, Poisoned):
        return True
    if isinstance(a, TensorType) and isinstance(b, TensorType):
        return a.dtype == b.dtype and a.shape == b.shape
    return a == b


def compatible(a: Value, b: Value) -> bool:
    return merge(a, b) is not None


def merge(a: Value | None, b: Value | None) -> Value | None:
    """One type for two values that may meet (branches, returns), or None unless their sizes are proven equal."""
    if a is None or b is None:
        return a if b is None else b
    if isinstance(a, Poisoned) or isinstance(b, Poisoned):
        return POISONED
    if isinstance(a, UnknownArray) and is_array(b):
        return b
    if isinstance(b, UnknownArray) and is_array(a):
        return a
    if isinstance(a, TensorType) and isinstance(b, TensorType):
        if a.rank != b.rank:
            return None
        if not all(proven_equal(x, y) for x, y in zip(a.shape, b.shape)):
            return None
        if a.dtype != b.dtype and not (a.is_floating and b.is_floating):
            return None
        return a
    if isinstance(a, TupleValue) and isinstance(b, TupleValue):
        if len(a.items) != len(b.items):
            return None
        items = []
        for x, y in zip(a.items, b.items):
            item = merge(x, y)
            if item is None:
                return None
            items.append(item)
        return TupleValue(tuple(items))
    if isinstance(a, Static) and isinstance(b, Static):
        if a.kind != b.kind:
            if {a.kind, b.kind} <= {"int", "float"}:
                return Static("float", None)
            return None
        return a if a == b else Static(a.kind, None if a.kind != "int" else a.value)
    return None


def stack_value(value: Value, length: Dim) -> Value:
    if isinstance(value, TensorType):
        return TensorType(value.dtype, (length, *value.shape))
    if isinstance(value, TupleValue):
        return TupleValue(tuple(stack_value(v, length) for v in value.items))
    if isinstance(value, Static) and value.kind in ("int", "float", "bool"):
        return TensorType({"int": "i32", "float": "f32", "bool": "bool"}[value.kind], (length,))
    return value
