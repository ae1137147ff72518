"""Arithmetic and comparison on values fixed at build time."""

from __future__ import annotations

from eqxdsl.compiler.check._report import Abort, Reporter
from eqxdsl.compiler.dims import DTYPES, Dim
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.values import Static, describe, static_int


def static_of(value: object) -> Static:
    if value is None:
        return Static("none", None)
    if isinstance(value, bool):
        return Static("bool", value)
    if isinstance(value, int):
        return static_int(value)
    if isinstance(value, float):
        return Static("float", value)
    return Static("dtype" if value in DTYPES else "str", value)


def static_binary(reporter: Reporter, node: s.Node, op: str, left: Static, right: Static) -> Static:
    if left.kind == "int" and right.kind == "int" and op in ("+", "-", "*", "//", "%"):
        a, b = left.value, right.value
        if op in ("//", "%") and b.value == 0:
            reporter.error(node, "division by zero")
            raise Abort
        return Static("int", {"+": a + b, "-": a - b, "*": a * b, "//": a // b, "%": a % b}[op])
    numeric = {"int", "float"}
    if left.kind in numeric and right.kind in numeric and op in ("+", "-", "*", "/", "**", "//", "%"):
        a = _number(left)
        b = _number(right)
        if left.kind == "int" and right.kind == "int" and op == "**":
            if a is not None and b is not None:
                return static_int(int(a ** b))
            return Static("float", None)
        if a is None or b is None:
            return Static("float", None)
        try:
            result = {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "**": a ** b, "//": a // b, "%": a % b}[op]
        except ZeroDivisionError:
            reporter.error(node, "division by zero")
            raise Abort from None
        return Static("float", float(result))
    if op == "+" and left.kind == "str" and right.kind == "str":
        return Static("str", left.value + right.value if left.known and right.known else None)
    if op == "+" and left.kind == "ints" and right.kind == "ints" and left.value is not None and right.value is not None:
        return Static("ints", left.value + right.value)
    reporter.error(node, f"cannot apply {op} to {describe(left)} and {describe(right)}")
    raise Abort


def _number(value: Static) -> float | int | None:
    if value.kind == "int":
        return value.value.value if isinstance(value.value, Dim) else None
    return value.value  # type: ignore[return-value]


def static_compare(op: str, left: Static, right: Static) -> bool | None:
    if left.kind == "int" and right.kind == "int":
        difference = left.value - right.value
        if difference.value is not None:
            d = difference.value
            return {"==": d == 0, "!=": d != 0, "<": d < 0, "<=": d <= 0, ">": d > 0, ">=": d >= 0}[op]
        if op in ("==", "!=") and difference.definitely_differs(0):
            return op == "!="
        return None
    a, b = left.value, right.value
    if left.known and right.known and op in ("==", "!="):
        return (a == b) == (op == "==")
    if left.known and right.known and left.kind in ("int", "float") and right.kind in ("int", "float"):
        x, y = _number(left), _number(right)
        return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}.get(op)
    return None
