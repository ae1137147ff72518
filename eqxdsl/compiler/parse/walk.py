"""One way to walk syntax: the nodes under a node, and dispatch on a node's class.

Every stage that reads syntax walks it with these:

- `iter_children(node)`: the nodes directly under `node`, in field order (the
  order of the source for every node class).
- `walk(root)`: every node under `root`, pre-order.
- `iter_statements(body)` and `iter_model_items(items)`: a method's statements
  and a model's items, blocks (`for`, `if`, a model-level `if`) flattened in.
- `handler(owner, prefix, node_class)`: the method of `owner` that handles a
  node class, by the convention `<prefix><ClassName>` (`_eval_Call`,
  `_expr_BinOp`), looked up once per pair of classes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from eqxdsl.compiler.parse.syntax import For, If, ModelIf, Node

__all__ = ["handler", "iter_children", "iter_model_items", "iter_statements", "walk"]


# Caches by class; plain dictionaries, as `functools.cache` would be typed to want hashable instances.
_FIELDS: dict[type[Node], tuple[str, ...]] = {}
_HANDLERS: dict[tuple[type, str, type[Node]], Callable[..., Any] | None] = {}


def _syntax_fields(node_class: type[Node]) -> tuple[str, ...]:
    """The fields of a node class that may hold nodes: all but its position, in declaration order."""
    fields = _FIELDS.get(node_class)
    if fields is None:
        fields = _FIELDS[node_class] = tuple(f.name for f in dataclasses.fields(node_class) if f.name != "pos")
    return fields


def _nodes_in(value: object) -> Iterator[Node]:
    """`value` itself when it is a node, else the nodes of a (possibly nested) tuple, in order."""
    if isinstance(value, Node):
        yield value
    elif isinstance(value, tuple):
        for item in value:
            yield from _nodes_in(item)


def iter_children(node: Node) -> Iterator[Node]:
    """The nodes directly under `node`, in field order; tuples of nodes (keyword pairs too) are flattened."""
    for name in _syntax_fields(type(node)):
        yield from _nodes_in(getattr(node, name))


def walk(root: Node | tuple) -> Iterator[Node]:
    """Every node under `root` (a node, or a tuple of them, as a body is), each before its children."""
    for node in _nodes_in(root):
        yield node
        for child in iter_children(node):
            yield from walk(child)


def iter_statements(body: tuple) -> Iterator[Node]:
    """A method body's statements, each before those nested in it (`for`, `if` and `else` blocks), in source order."""
    for statement in body:
        yield statement
        if isinstance(statement, For):
            yield from iter_statements(statement.body)
        elif isinstance(statement, If):
            yield from iter_statements(statement.body)
            yield from iter_statements(statement.orelse)


def iter_model_items(items: tuple) -> Iterator[Node]:
    """A model's items, each model-level `if` before the items of its blocks, in source order."""
    for item in items:
        yield item
        if isinstance(item, ModelIf):
            yield from iter_model_items(item.body)
            yield from iter_model_items(item.orelse)


def handler(owner: type, prefix: str, node_class: type[Node]) -> Callable[..., Any] | None:
    """The method of class `owner` named `prefix` + the name of `node_class`, or None when it has none.

    Cached per (owner, prefix, node class): dispatch costs one dictionary look-up.
    Call the result with the instance first: `handler(type(self), "_eval_", type(node))(self, node, ...)`.
    """
    key = (owner, prefix, node_class)
    if key not in _HANDLERS:
        _HANDLERS[key] = getattr(owner, prefix + node_class.__name__, None)
    return _HANDLERS[key]
