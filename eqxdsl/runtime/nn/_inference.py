"""`inference_mode`: switch every layer of a model between training and inference."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import jax.tree_util as jtu

from .._module import Module
from ._misc import replace_attributes

_Tree = TypeVar("_Tree")


def _is_flag(key: Any) -> bool:
    return isinstance(key, jtu.GetAttrKey) and key.name == "inference"


def _declares_flag(node: Any) -> bool:
    """Whether `node` holds an `inference` value of its own (a field or an instance
    attribute), rather than a property or method of that name."""
    if dataclasses.is_dataclass(node):
        return any(f.name == "inference" for f in dataclasses.fields(node))
    return "inference" in getattr(node, "__dict__", {})


def inference_mode(pytree: _Tree, value: bool = True) -> _Tree:
    """A copy of ``pytree`` in which every node with an ``inference`` flag has it set
    to ``value``: `Dropout`, `BatchNorm`, `SpectralNorm`, the dropout inside
    `MultiheadAttention`, user modules that declare one, at any depth.

    Trees may mix eqxdsl Modules with Equinox's (or other libraries') PyTree
    nodes. A flag that is a leaf of the tree, as in Equinox, is replaced like
    ``equinox.nn.inference_mode`` does; a static field of an eqxdsl Module is set
    by rebuilding the Module.

    Raises:
        TypeError: a node declares an ``inference`` flag that is neither a leaf nor
            a field of an eqxdsl Module (e.g. a static field of an Equinox Module),
            so it cannot be set. The message names the node and its path.
    """

    def visit(node: Any, path: tuple) -> Any:
        with_keys, treedef = jtu.tree_flatten_with_path(node, is_leaf=lambda child: child is not node)
        if jtu.treedef_is_leaf(treedef) and treedef.num_leaves == 1:
            return node  # a leaf; nodes without children (None, Modules of static fields) go on
        flag_is_leaf = any(_is_flag(key) for (key,), _ in with_keys)
        children = [value if _is_flag(key) else visit(child, path + (key,)) for (key,), child in with_keys]
        node = jtu.tree_unflatten(treedef, children)
        if flag_is_leaf or not _declares_flag(node):
            return node
        if isinstance(node, Module):
            return replace_attributes(node, inference=value)
        raise TypeError(
            f"inference_mode: the {type(node).__qualname__} at {jtu.keystr(path) or 'the root'} has an "
            "`inference` flag that is neither a PyTree leaf nor a field of an eqxdsl Module (a static "
            "field of another library's module?), so it cannot be set; pass inference= when calling it"
        )

    return visit(pytree, ())
