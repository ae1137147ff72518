"""`inference_mode`: switch every layer of a model between training and inference."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import jax.tree_util as jtu

from .._module import Module
from ._misc import replace_attributes

_Tree = TypeVar("_Tree")


def inference_mode(pytree: _Tree, value: bool = True) -> _Tree:
    """A copy of ``pytree`` in which every Module with an ``inference`` field
    (`Dropout`, `BatchNorm`, `SpectralNorm`, the dropout inside
    `MultiheadAttention`, user modules that declare one) has it set to ``value``.

    ``inference`` is a static field, so this reaches nodes at any depth by
    rebuilding the tree one level at a time.
    """

    def visit(node: Any) -> Any:
        children, treedef = jtu.tree_flatten(node, is_leaf=lambda child: child is not node)
        if not jtu.treedef_is_leaf(treedef):
            node = jtu.tree_unflatten(treedef, [visit(child) for child in children])
        if isinstance(node, Module) and any(f.name == "inference" for f in dataclasses.fields(node)):
            node = replace_attributes(node, inference=value)
        return node

    return visit(pytree)
