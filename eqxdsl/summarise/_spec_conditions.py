"""Which conditional fields of a model exist at given sizes (`if stride != 1 or C != out:`)."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping

from ..compiler.parse import syntax as s

_BINARY: dict[str, Callable[[int, int], int]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv, "%": operator.mod,
}
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


class Unknown(Exception):
    """A condition reads a size whose value is not known."""


def evaluate(node: s.Expr, values: Mapping[str, object]) -> object:
    """The value of a build-time condition, its names looked up in `values`; raises `Unknown`."""
    if isinstance(node, s.Constant):
        return node.value
    if isinstance(node, s.Name):
        if values.get(node.id) is None:
            raise Unknown(node.id)
        return values[node.id]
    if isinstance(node, s.BinOp) and node.op in _BINARY:
        return _BINARY[node.op](evaluate(node.left, values), evaluate(node.right, values))  # type: ignore[arg-type]
    if isinstance(node, s.UnaryOp):
        operand = evaluate(node.operand, values)
        return (not operand) if node.op == "not" else -operand  # type: ignore[operator]
    if isinstance(node, s.BoolOp):
        results = [bool(evaluate(value, values)) for value in node.values]
        return all(results) if node.op == "and" else any(results)
    if isinstance(node, s.Compare):
        operands = [evaluate(operand, values) for operand in node.operands]
        return all(_COMPARE[op](a, b) for op, a, b in zip(node.ops, operands, operands[1:]))  # type: ignore[arg-type]
    raise Unknown(type(node).__name__)


def absent_fields(items: tuple[s.Node, ...], values: Mapping[str, object]) -> Iterator[str]:
    """The names defined under a model-level `if` whose branch is not taken at `values`.

    A condition whose value is not known keeps its fields.
    """
    for item in items:
        if not isinstance(item, s.ModelIf):
            continue
        try:
            taken = bool(evaluate(item.test, values))
        except Unknown:
            yield from absent_fields(item.body, values)
            yield from absent_fields(item.orelse, values)
            continue
        yield from _names(item.orelse if taken else item.body)
        yield from absent_fields(item.body if taken else item.orelse, values)


def _names(items: tuple[s.Node, ...]) -> Iterator[str]:
    for item in items:
        if isinstance(item, s.ModelIf):
            yield from _names(item.body)
            yield from _names(item.orelse)
        elif isinstance(getattr(item, "name", None), str):
            yield item.name
