"""Comparisons and elementwise logic on arrays: the bool arrays that masks are made of.

`tokens != pad` is `bool[T]`; `&`, `|` and `~` combine and negate bool (or
integer) arrays as in NumPy; on values fixed when the model is built, `and`,
`or` and `not` remain the words for conditions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eqxdsl.compiler.check._relations import error_hint
from eqxdsl.compiler.check._report import Abort
from eqxdsl.compiler.dims import TensorType
from eqxdsl.compiler.library.functions import broadcast
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.values import ShapeError, Static, TupleValue, UnknownArray, Value, describe, is_array

if TYPE_CHECKING:
    from eqxdsl.compiler.check._declarations import ModelChecker

#: The operators of elementwise logic, and the words for conditions fixed at build time.
LOGIC_WORDS = {"&": "and", "|": "or", "~": "not"}


def involves_arrays(values: list[Value]) -> bool:
    """Whether an operation on `values` computes on arrays (so its result is an array too)."""
    return any(is_array(v) or isinstance(v, TupleValue) for v in values)


def _broadcast(checker: ModelChecker, node: s.Node, op: str, left: Value, right: Value) -> TensorType | UnknownArray:
    for side in (left, right):
        if isinstance(side, TupleValue):
            checker.r.error(node, f"cannot apply {op} to a tuple ({describe(side)})", hint="unpack it first: a, b = ...")
            raise Abort
        if isinstance(side, Static) and side.kind not in ("int", "float", "bool"):
            checker.r.error(node, f"cannot apply {op} to {describe(left)} and {describe(right)}")
            raise Abort
    try:
        return broadcast(left, right)
    except ShapeError as error:
        checker.r.error(node, f"{op}: {error.message}", hint=error_hint(checker, error))
        raise Abort from None


def compare_arrays(checker: ModelChecker, node: s.Compare, values: list[Value]) -> Value:
    """`a op b` where a side is an array: a bool array of their broadcast shape."""
    if len(node.ops) > 1:
        checker.r.error(node, "a chain of comparisons cannot compare arrays", hint="compare pairwise and combine: (a < b) & (b < c)")
        raise Abort
    result = _broadcast(checker, node, node.ops[0], values[0], values[1])
    return result if isinstance(result, UnknownArray) else TensorType("bool", result.shape)


def _logical(value: Value) -> bool:
    """Whether `&`, `|` and `~` apply to `value`: bool and integer arrays and numbers, as in NumPy."""
    if isinstance(value, TensorType):
        return value.dtype == "bool" or value.is_integer
    return isinstance(value, UnknownArray) or isinstance(value, Static) and value.kind in ("bool", "int")


def logic_arrays(checker: ModelChecker, node: s.Node, op: str, left: Value, right: Value) -> Value:
    """`a & b` or `a | b`: elementwise logic on bool arrays (bitwise on integer ones)."""
    if not involves_arrays([left, right]):
        if isinstance(left, Static) and isinstance(right, Static) and left.kind == right.kind == "bool":
            both = (left.value, right.value)
            if None in both:
                return Static("bool", None)
            return Static("bool", both[0] and both[1] if op == "&" else both[0] or both[1])
        checker.r.error(node, f"{op} combines bool arrays elementwise, not {describe(left)} and {describe(right)}", hint=f"for conditions fixed when the model is built, write `{LOGIC_WORDS[op]}`")
        raise Abort
    for side in (left, right):
        if not isinstance(side, TupleValue) and not _logical(side):
            checker.r.error(node, f"{op} combines bool (or integer) arrays, not {describe(side)}", hint="compare first to make a mask, as in (x > 0) & mask")
            raise Abort
    return _broadcast(checker, node, op, left, right)


def invert(checker: ModelChecker, node: s.UnaryOp, operand: Value) -> Value:
    """`~mask`: the elementwise negation of a bool array (bitwise on integer ones)."""
    if isinstance(operand, Static) or not _logical(operand):
        hint = "for a condition fixed when the model is built, write `not`" if isinstance(operand, Static) else "compare first to make a mask, as in ~(x > 0)"
        checker.r.error(node, f"~ negates bool (or integer) arrays, not {describe(operand)}", hint=hint)
        raise Abort
    return operand
