"""Lowering a model's `axes:` block: the `__logical_axes__` and `__input_axes__` class attributes.

`__logical_axes__` is the runtime's contract (`eqx.partition_specs`,
`eqx.make_sharded`, ...): dotted path -> one logical name per axis.
`__input_axes__` names the axes of each input of `forward` as the caller holds
it, batch axis first, for `eqx.from_process_local_data(batch, Model.__input_axes__["tokens"])`.
"""

from __future__ import annotations

import ast

from eqxdsl.compiler.check.checked import CheckedModel, LogicalAxesEntry
from eqxdsl.compiler.lower import ir
from eqxdsl.compiler.lower._ast import _code

__all__ = ["axes_attributes"]


def _table(entries: dict[str, LogicalAxesEntry]) -> str:
    keys: list[ast.expr | None] = [ast.Constant(path) for path in entries]
    values: list[ast.expr] = [ast.Tuple([ast.Constant(name) for name in entry.names], ast.Load()) for entry in entries.values()]
    return _code(ast.Dict(keys, values))


def axes_attributes(model: CheckedModel) -> tuple[ir.ClassAttribute, ...]:
    """The class attributes of the model's `axes:` block (none without one)."""
    attributes = []
    if model.logical_axes:
        attributes.append(ir.ClassAttribute("__logical_axes__", _table(model.logical_axes)))
    if model.input_axes:
        attributes.append(ir.ClassAttribute("__input_axes__", _table(model.input_axes)))
    return tuple(attributes)
