"""The leaves of a PyTree as Equinox lays them out, for checkpoints in Equinox's format.

Some hyperparameters are static fields of eqxdsl's layers but PyTree leaves of
Equinox's, and Equinox saves the Python numbers among them: `Dropout.p`, the
`inference` flags, `Pool.init`. A checkpoint in Equinox's format holds a record
for each, in field order (the two libraries declare the fields of these layers
in the same order). `to_equinox_layout` stands a `_Layout` node in for each such
layer, whose children are those fields too; `from_equinox_layout` turns the
nodes back into layers, with the values loaded into them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax.tree_util as jtu

from ._module import Module


def _equinox_leaf_fields(node: Any) -> tuple[str, ...]:
    """The static fields of `node` that Equinox 0.13 stores as leaves; empty for most nodes."""
    from . import nn  # the layers import this package's modules

    if isinstance(node, nn.Dropout):
        return ("p", "inference")
    if isinstance(node, (nn.BatchNorm, nn.SpectralNorm)):
        return ("inference",)
    if isinstance(node, nn.Pool):
        return ("init",)
    return ()


@jtu.register_pytree_with_keys_class
class _Layout:
    """One layer with its children in Equinox's order: its fields, static ones included."""

    def __init__(self, layer: Module, names: tuple[str, ...], values: list[Any]):
        self.layer = layer
        self.names = names
        self.values = values

    def tree_flatten_with_keys(self) -> tuple[list[tuple[Any, Any]], Any]:
        return [(jtu.GetAttrKey(name), value) for name, value in zip(self.names, self.values)], (self.layer, self.names)

    @classmethod
    def tree_unflatten(cls, aux: Any, children: Any) -> _Layout:
        layer, names = aux
        return cls(layer, names, list(children))


def to_equinox_layout(pytree: Any, is_leaf: Callable[[Any], bool] | None) -> Any:
    """`pytree` with each eqxdsl layer that has Equinox-only leaves replaced by a `_Layout`."""

    def is_node_to_replace(node: Any) -> bool:
        return bool(_equinox_leaf_fields(node)) or (is_leaf is not None and is_leaf(node))

    def convert(node: Any) -> Any:
        extra = _equinox_leaf_fields(node)
        if not extra:
            return node
        static = set(type(node)._static_fields)
        names = tuple(f.name for f in dataclasses.fields(node) if f.name not in static or f.name in extra)
        return _Layout(node, names, [to_equinox_layout(getattr(node, name), is_leaf) for name in names])

    return jtu.tree_map(convert, pytree, is_leaf=is_node_to_replace)


def from_equinox_layout(pytree: Any) -> Any:
    """Undo `to_equinox_layout`, putting the (loaded) values of each `_Layout` into its layer."""
    from .nn._misc import replace_attributes

    def convert(node: Any) -> Any:
        if not isinstance(node, _Layout):
            return node
        values = {name: from_equinox_layout(value) for name, value in zip(node.names, node.values)}
        return replace_attributes(node.layer, **values)

    return jtu.tree_map(convert, pytree, is_leaf=lambda node: isinstance(node, _Layout))
