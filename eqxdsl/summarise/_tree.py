"""The layers of a model and what they hold, read off its PyTree.

A layer's path is the chain of attribute and index accesses that reaches it
from the model (`blocks.attn.query_proj`). Every array leaf belongs to its
nearest enclosing layer, and is counted there and in every layer above.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax.tree_util as jtu

from ..runtime import filter as filter_tree
from ._kinds import Kinds, is_array_or_struct, is_inexact, nbytes

KeyPath = tuple[Any, ...]


def path_str(keys: KeyPath) -> str:
    """The keys of a PyTree path written as Python accesses, without a leading dot."""
    parts = []
    for key in keys:
        if isinstance(key, jtu.GetAttrKey):
            parts.append(f".{key.name}")
        elif isinstance(key, jtu.SequenceKey):
            parts.append(f"[{key.idx}]")
        elif isinstance(key, jtu.DictKey):
            parts.append(f"[{key.key!r}]")
        elif isinstance(key, jtu.FlattenedIndexKey):
            parts.append(f"[{key.key}]")
        else:
            parts.append(f"[{key}]")
    return "".join(parts).removeprefix(".")


def join_path(parent: str, child: str) -> str:
    """The path `child` (relative, as `path_str` writes it) below the layer at `parent`."""
    if not parent or not child:
        return parent + child
    return parent + child if child.startswith("[") else f"{parent}.{child}"


def sublayers(module: Any, kinds: Kinds) -> Iterator[tuple[KeyPath, Any]]:
    """Every layer strictly inside `module`, parents first, with its key path from `module`.

    `StateIndex`es and what they hold are not entered.
    """

    def stop(x: Any) -> bool:
        return x is not module and (kinds.is_layer(x) or kinds.is_state_index(x))

    for keys, leaf in jtu.tree_flatten_with_path(module, is_leaf=stop)[0]:
        if kinds.is_layer(leaf) and leaf is not module:
            yield tuple(keys), leaf
            for inner_keys, inner in sublayers(leaf, kinds):
                yield tuple(keys) + inner_keys, inner


@dataclasses.dataclass
class Tally:
    """What one layer holds, its sub-layers included; the fields of `Counts` that come from the tree."""

    trainable: int = 0
    frozen: int = 0
    buffers: int = 0
    param_bytes: int = 0
    buffer_bytes: int = 0

    def add_parameter(self, leaf: Any, trainable: bool) -> None:
        size = int(_size(leaf))
        if trainable:
            self.trainable += size
        else:
            self.frozen += size
        self.param_bytes += nbytes(leaf)

    def add_buffer(self, leaf: Any) -> None:
        self.buffers += int(_size(leaf))
        self.buffer_bytes += nbytes(leaf)


def _size(leaf: Any) -> int:
    size = 1
    for dim in leaf.shape:
        size *= dim
    return size


@dataclasses.dataclass(frozen=True)
class Layer:
    """A layer found in the model's tree.

    Attributes:
        path: its path (`""` for the model).
        module: the layer itself.
        depth: how many layers enclose it.
        parent: the path of the nearest enclosing layer (`None` for the model).
    """

    path: str
    module: Any
    depth: int
    parent: str | None


@dataclasses.dataclass(frozen=True)
class ModelTree:
    """The layers of a model in tree order, and what each holds.

    Attributes:
        layers: every layer by path, the model (path `""`) first, parents
            before children.
        tallies: by path, what each layer and its sub-layers hold.
        stateful: the paths of the layers holding a `StateIndex`, and of
            every layer above them.
        missing_state: how many `StateIndex`es had no value in any `State`
            passed to the model and no initial value of their own.
    """

    layers: dict[str, Layer]
    tallies: dict[str, Tally]
    stateful: frozenset[str]
    missing_state: int


def _owner(keys: KeyPath, layer_keys: dict[KeyPath, str]) -> str:
    """The path of the innermost layer whose key path is a prefix of `keys`."""
    for end in range(len(keys), -1, -1):
        owner = layer_keys.get(keys[:end])
        if owner is not None:
            return owner
    raise AssertionError("the model itself encloses every leaf")


def _state_value(index: Any, states: Sequence[Any]) -> Any:
    """The value of `index` in the first of `states` that holds it, else `None`."""
    for state in states:
        try:
            return state.get(index)
        except (KeyError, TypeError, ValueError):
            continue
    return None


def read_tree(model: Any, kinds: Kinds, states: Sequence[Any], trainable: Any) -> ModelTree:
    """Find the layers of `model` and count what they hold.

    Args:
        model: the model, any PyTree (normally a Module).
        kinds: which classes are layers, `State`s and `StateIndex`es.
        states: the `State`s passed to the model; a `StateIndex`'s value is
            looked up in them first, then in its own initial value.
        trainable: a filter spec (as `eqxdsl.runtime.filter` takes) selecting
            the trainable leaves; the other inexact array leaves are frozen.
    """
    layers = {"": Layer("", model, 0, None)}
    layer_keys: dict[KeyPath, str] = {(): ""}
    for keys, module in sublayers(model, kinds):
        path = path_str(keys)
        parent = _owner(keys[:-1], layer_keys)
        layers[path] = Layer(path, module, layers[parent].depth + 1, parent)
        layer_keys[keys] = path
    tallies = {path: Tally() for path in layers}

    def ancestors(path: str) -> Iterator[str]:
        current: str | None = path
        while current is not None:
            yield current
            current = layers[current].parent

    indices = {
        tuple(keys): leaf
        for keys, leaf in jtu.tree_flatten_with_path(model, is_leaf=kinds.is_state_index)[0]
        if kinds.is_state_index(leaf)
    }
    stateful: set[str] = set()
    missing_state = 0
    for keys, index in indices.items():
        owner = _owner(keys, layer_keys)
        stateful.update(ancestors(owner))
        value = _state_value(index, states)
        if value is None:
            value = index.init
        arrays = [leaf for leaf in jtu.tree_leaves(value) if is_array_or_struct(leaf)]
        missing_state += not arrays
        for path in ancestors(owner):
            for leaf in arrays:
                tallies[path].add_buffer(leaf)

    selected = _selected_leaves(model, trainable)
    for (keys, leaf), chosen in zip(jtu.tree_flatten_with_path(model)[0], selected):
        keys = tuple(keys)
        if not is_array_or_struct(leaf) or any(keys[:end] in indices for end in range(len(keys))):
            continue
        for path in ancestors(_owner(keys, layer_keys)):
            if is_inexact(leaf):
                tallies[path].add_parameter(leaf, trainable=chosen)
            else:
                tallies[path].add_buffer(leaf)
    return ModelTree(layers, tallies, frozenset(stateful), missing_state)


class _Unselected:
    """Stands in for the leaves the trainable filter drops."""


def _selected_leaves(model: Any, trainable: Any | Callable[[Any], bool]) -> list[bool]:
    """For every leaf of `model`, in flattening order, whether `trainable` selects it."""
    dropped = _Unselected()
    kept = jtu.tree_leaves(filter_tree(model, trainable, replace=dropped))
    return [leaf is not dropped for leaf in kept]
