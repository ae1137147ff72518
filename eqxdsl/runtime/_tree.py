"""Tree utilities: out-of-place replacement (`tree_at`), equality, optimiser updates."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np

from ._filters import is_array

__all__ = ["tree_at", "tree_equal", "apply_updates"]

_MISSING = object()


class _Marker:
    """Stands in for one leaf, `None` or empty node of the tree given to `where`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<a leaf of the tree>"


class _Record:
    """One node of the tree: its original value, its stand-in, and how to rebuild it."""

    __slots__ = ("original", "stand_in", "treedef", "children")

    def __init__(self, original: Any, stand_in: Any, treedef: Any, children: list[_Record]):
        self.original = original
        self.stand_in = stand_in
        self.treedef = treedef
        self.children = children


def _one_level(node: Any) -> tuple[list[Any], Any]:
    return jtu.tree_flatten(node, is_leaf=lambda child: child is not node)


def _build_records(node: Any, is_leaf: Callable[[Any], bool] | None, by_id: dict[int, _Record]) -> _Record:
    """Copy the tree so that every node is a distinct object, indexed by `id`."""
    if node is None or (is_leaf is not None and is_leaf(node)) or jtu.treedef_is_leaf(jtu.tree_structure(node)):
        record = _Record(node, _Marker(), None, [])
    else:
        children, treedef = _one_level(node)
        if not children:
            record = _Record(node, _Marker(), None, [])
        else:
            child_records = [_build_records(child, is_leaf, by_id) for child in children]
            stand_in = treedef.unflatten([child.stand_in for child in child_records])
            record = _Record(node, stand_in, treedef, child_records)
    by_id[id(record.stand_in)] = record
    return record


def _rebuild(record: _Record, replacements: dict[int, Any]) -> Any:
    key = id(record.stand_in)
    if key in replacements:
        return replacements[key]
    if record.treedef is None:
        return record.original
    return record.treedef.unflatten([_rebuild(child, replacements) for child in record.children])


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} (of type {type(value).__name__})"


def tree_at(
    where: Callable[[Any], Any],
    pytree: Any,
    replace: Any = _MISSING,
    replace_fn: Callable[[Any], Any] = _MISSING,  # type: ignore[assignment]
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Return a copy of `pytree` with some of its nodes replaced.

    Args:
        where: a function from the tree to the node to replace, or to a tuple/list
            of nodes, e.g. `lambda m: m.layers[0].weight` or
            `lambda m: (m.weight, m.bias)`. It may only select nodes (leaves,
            subtrees, `None`s): attribute access and indexing, no arithmetic.
        pytree: the PyTree to copy.
        replace: the new value, or a sequence of new values (one per node).
        replace_fn: instead of `replace`, a function from old node to new node.
        is_leaf: nodes for which this returns true are treated as leaves.

    Returns:
        A PyTree like `pytree` with the selected nodes replaced. Static fields
        are not nodes and cannot be selected.
    """
    if (replace is _MISSING) == (replace_fn is _MISSING):
        raise ValueError("tree_at needs exactly one of `replace=` and `replace_fn=`")
    by_id: dict[int, _Record] = {}
    root = _build_records(pytree, is_leaf, by_id)
    try:
        selected = where(root.stand_in)
    except Exception as error:
        raise ValueError(
            f"tree_at: `where` failed on the tree ({type(error).__name__}: {error}). `where` may only "
            "select nodes of the PyTree by attribute access and indexing; static fields and values "
            "computed from leaves are not nodes."
        ) from error
    if id(selected) in by_id:
        nodes = [selected]
        single = True
    elif isinstance(selected, (tuple, list)):
        nodes = list(selected)
        single = False
    else:
        raise ValueError(
            f"tree_at: `where` returned {_describe(selected)}, which is not a node of the PyTree. "
            "Static fields and values computed from leaves cannot be replaced with tree_at."
        )
    selected_records = []
    seen: set[int] = set()
    for position, node in enumerate(nodes):
        if id(node) not in by_id:
            raise ValueError(
                f"tree_at: item {position} returned by `where` is {_describe(node)}, which is not "
                "a node of the PyTree. Static fields and values computed from leaves cannot be "
                "replaced with tree_at."
            )
        if id(node) in seen:
            raise ValueError(f"tree_at: `where` selects the same node twice (item {position})")
        seen.add(id(node))
        selected_records.append(by_id[id(node)])
    if replace is not _MISSING:
        if single:
            new_values = [replace]
        else:
            if not isinstance(replace, Sequence) or len(replace) != len(nodes):
                raise ValueError(
                    f"tree_at: `where` selected {len(nodes)} nodes, so `replace` must be a sequence "
                    f"of {len(nodes)} values, got {_describe(replace)}"
                )
            new_values = list(replace)
    else:
        new_values = [replace_fn(record.original) for record in selected_records]
    replacements = {id(record.stand_in): value for record, value in zip(selected_records, new_values)}
    return _rebuild(root, replacements)


def _leaf_equal(x: Any, y: Any, typematch: bool, rtol: float, atol: float) -> Any:
    """A Python bool, or a traced JAX bool when either side is a tracer."""
    if typematch and type(x) is not type(y):
        return False
    x_is_array, y_is_array = is_array(x), is_array(y)
    if x_is_array != y_is_array:
        return False
    if not x_is_array:
        try:
            return bool(x == y)
        except (TypeError, ValueError):
            return x is y
    if x.shape != y.shape or x.dtype != y.dtype:
        return False
    if isinstance(x, jax.core.Tracer) or isinstance(y, jax.core.Tracer):
        if rtol == 0 and atol == 0:
            return jnp.all(x == y)
        return jnp.all(jnp.isclose(x, y, rtol=rtol, atol=atol))
    x_np, y_np = np.asarray(x), np.asarray(y)
    if rtol == 0 and atol == 0:
        return bool(np.array_equal(x_np, y_np))
    return bool(np.allclose(x_np, y_np, rtol=rtol, atol=atol))


def tree_equal(*pytrees: Any, typematch: bool = False, rtol: float = 0.0, atol: float = 0.0) -> Any:
    """Whether all `pytrees` have the same structure and equal leaves.

    Arrays compare by shape, dtype and values (within `rtol`/`atol` when given);
    other leaves with `==`.

    Args:
        *pytrees: the PyTrees to compare.
        typematch: also require each pair of leaves to have the same type.
        rtol, atol: tolerances for inexact arrays, as in `numpy.allclose`.

    Returns:
        A Python bool, or a scalar JAX bool array when some leaf is traced.
    """
    if len(pytrees) < 2:
        return True
    first_leaves, first_treedef = jtu.tree_flatten(pytrees[0])
    result: Any = True
    for other in pytrees[1:]:
        leaves, treedef = jtu.tree_flatten(other)
        if treedef != first_treedef:
            return False
        for x, y in zip(first_leaves, leaves):
            equal = _leaf_equal(x, y, typematch, rtol, atol)
            if equal is False:
                return False
            if equal is not True:
                result = equal if result is True else result & equal
    return result


def apply_updates(model: Any, updates: Any) -> Any:
    """Add optimiser `updates` (e.g. from optax) to the leaves of `model`.

    Args:
        model: a PyTree, e.g. a Module.
        updates: a PyTree with the structure of `model` in which `None` marks a
            leaf to leave unchanged (as produced for filtered-out leaves).

    Returns:
        The updated model.
    """
    return jtu.tree_map(
        lambda update, leaf: leaf if update is None else leaf + update,
        updates,
        model,
        is_leaf=lambda x: x is None,
    )
