"""Walks over model items and statements that the checker needs."""

from __future__ import annotations

from eqxdsl.compiler.check._scope import condition_key
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse.walk import iter_statements, walk


def model_conditions(items) -> list[s.Expr]:
    """The tests of the model-level `if`s, outer ones first."""
    tests = []
    for item in items:
        if isinstance(item, s.ModelIf):
            tests.append(item.test)
            tests.extend(model_conditions(item.body))
            tests.extend(model_conditions(item.orelse))
    return tests


def names_in(node: s.Node | tuple) -> set[str]:
    """Every name an expression (or a tuple of them) reads."""
    return {found.id for found in walk(node) if isinstance(found, s.Name)}


def items_with_conditions(items, conditions: tuple[str, ...] = ()):
    for item in items:
        if isinstance(item, s.ModelIf):
            key = condition_key(item.test)
            yield from items_with_conditions(item.body, conditions + (key,))
            yield from items_with_conditions(item.orelse, conditions + ("not " + key,))
        else:
            yield item, conditions


def assigned_names(body) -> set[str]:
    names: set[str] = set()
    for stmt in iter_statements(body):
        if isinstance(stmt, s.Assign):
            names.update(t.id for t in stmt.targets)
        elif isinstance(stmt, s.AugAssign):
            names.add(stmt.target.id)
    return names


def always_returns(body) -> bool:
    if not body:
        return False
    last = body[-1]
    if isinstance(last, s.Return):
        return True
    if isinstance(last, s.If):
        return always_returns(last.body) and always_returns(last.orelse)
    return False


def presence_names(node: s.Expr) -> list[str]:
    """Layer names a condition proves present when it holds (`proj`, `proj and norm`)."""
    if isinstance(node, s.Name):
        return [node.id]
    if isinstance(node, s.BoolOp) and node.op == "and":
        return [n for v in node.values for n in presence_names(v)]
    return []
