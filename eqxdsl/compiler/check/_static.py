"""Arithmetic and comparison on values fixed at build time."""

from __future__ import annotations

from eqxdsl.compiler.check._report import Abort, Reporter
from eqxdsl.compiler.dims import DTYPES, Dim, active_facts
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
        # Only the operator asked for: a zero divisor is an error of `//` and `%` alone.
        return Static("int", _INT_OPERATORS[op](a, b))
    numeric = {"int", "float"}
    if left.kind in numeric and right.kind in numeric and op in ("+", "-", "*", "/", "**", "//", "%"):
        a = _number(left)
        b = _number(right)
        if left.kind == "int" and right.kind == "int" and op == "**":
            # As in Python, an int to a non-negative int power is an int (a size,
            # even when the base is symbolic); to a negative power, a float.
            if isinstance(b, int) and b >= 0:
                if a is None and b > _MAX_SYMBOLIC_EXPONENT:
                    reporter.error(node, f"a size that depends on hyperparameters or inputs can be raised to a power of at most {_MAX_SYMBOLIC_EXPONENT}, not {b}", hint="make the result a hyperparameter of its own")
                    raise Abort
                return Static("int", _power(left.value, b))
            if a is not None and b is not None:
                return Static("float", float(a) ** b) if a != 0 else _zero_power(reporter, node)
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


# A power of a symbolic size is expanded into a polynomial, whose size grows
# quickly with the exponent: beyond this, checking would take minutes.
_MAX_SYMBOLIC_EXPONENT = 32


def _power(base: Dim, exponent: int) -> Dim:
    """`base ** exponent` by repeated squaring (a polynomial when `base` is symbolic)."""
    result = Dim.const(1)
    while exponent:
        if exponent & 1:
            result = result * base
        exponent >>= 1
        if exponent:
            base = base * base
    return result


def _zero_power(reporter: Reporter, node: s.Node) -> Static:
    reporter.error(node, "0 cannot be raised to a negative power (division by zero)")
    raise Abort


_INT_OPERATORS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "//": lambda a, b: a // b,
    "%": lambda a, b: a % b,
}


def _number(value: Static) -> float | int | None:
    if value.kind == "int":
        return value.value.value if isinstance(value.value, Dim) else None
    return value.value


def static_compare(op: str, left: Static, right: Static) -> bool | None:
    if left.kind == "int" and right.kind == "int":
        difference = left.value - right.value
        if difference.value is not None:
            d = difference.value
            return {"==": d == 0, "!=": d != 0, "<": d < 0, "<=": d <= 0, ">": d > 0, ">=": d >= 0}[op]
        # Only what the model asserts: an int hyperparameter tested here may be a flag, not a size.
        if op in ("==", "!=") and active_facts().equal(left.value, right.value):
            return op == "=="
        return None
    a, b = left.value, right.value
    if left.known and right.known and op in ("==", "!="):
        return (a == b) == (op == "==")
    x, y = _number(left), _number(right)
    if x is not None and y is not None and left.kind in ("int", "float") and right.kind in ("int", "float"):
        return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}.get(op)
    return None
