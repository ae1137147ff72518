"""Leaf predicates and the filter/partition/combine operations built on them.

A *filter spec* says which leaves of a PyTree to keep. It is either one callable
`leaf -> bool` applied to every leaf, or a PyTree that is a prefix of the data
whose leaves are bools (keep/drop the whole subtree) or such callables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np

__all__ = [
    "is_array",
    "is_array_like",
    "is_inexact_array",
    "is_inexact_array_like",
    "filter",
    "partition",
    "combine",
]

_ARRAY_TYPES = (jax.Array, np.ndarray, np.generic)
_SCALAR_TYPES = (bool, int, float, complex)
_INEXACT_SCALAR_TYPES = (float, complex)


def is_array(element: Any) -> bool:
    """True for JAX arrays (tracers included), NumPy arrays and NumPy scalars."""
    return isinstance(element, _ARRAY_TYPES)


def is_array_like(element: Any) -> bool:
    """True for arrays (see `is_array`), Python `bool`/`int`/`float`/`complex`, and
    objects that define `__jax_array__`."""
    return isinstance(element, _ARRAY_TYPES + _SCALAR_TYPES) or hasattr(element, "__jax_array__")


def is_inexact_array(element: Any) -> bool:
    """True for arrays (see `is_array`) with a floating or complex dtype."""
    return isinstance(element, _ARRAY_TYPES) and bool(jnp.issubdtype(element.dtype, jnp.inexact))


def is_inexact_array_like(element: Any) -> bool:
    """True for inexact arrays and Python `float`/`complex` scalars."""
    if isinstance(element, _INEXACT_SCALAR_TYPES):
        return True
    if hasattr(element, "__jax_array__"):
        element = element.__jax_array__()
    return is_inexact_array(element)


def _is_none(x: Any) -> bool:
    return x is None


def _mask_tree(pytree: Any, filter_spec: Any, is_leaf: Callable[[Any], bool] | None) -> Any:
    """A tree shaped like `pytree` (down to its leaves) holding one bool per leaf."""

    def expand(spec: Any, subtree: Any) -> Any:
        if spec is None and not jtu.tree_leaves(subtree, is_leaf=is_leaf):
            # A spec made by mapping over the data keeps its `None`s, which select nothing.
            return subtree
        if isinstance(spec, bool):
            return jtu.tree_map(lambda _: spec, subtree, is_leaf=is_leaf)
        if callable(spec):
            return jtu.tree_map(lambda leaf: _as_bool(spec(leaf), spec, leaf), subtree, is_leaf=is_leaf)
        raise TypeError(
            f"a filter spec leaf must be a bool or a callable `leaf -> bool`, got {spec!r} "
            f"(of type {type(spec).__name__})"
        )

    if callable(filter_spec) and not _is_pytree_node(filter_spec):
        return expand(filter_spec, pytree)
    try:
        return jtu.tree_map(expand, filter_spec, pytree, is_leaf=_is_none)
    except ValueError as error:
        raise ValueError(
            "filter spec is not a PyTree prefix of the data it filters: " + str(error)
        ) from error


def _is_pytree_node(x: Any) -> bool:
    return jtu.treedef_is_leaf(jtu.tree_structure(x)) is False


def _as_bool(value: Any, spec: Callable, leaf: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(
        f"filter function {getattr(spec, '__name__', spec)!r} returned {value!r} for leaf "
        f"{leaf!r}; it must return a Python bool"
    )


def filter(
    pytree: Any,
    filter_spec: Any,
    inverse: bool = False,
    replace: Any = None,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Keep the leaves selected by `filter_spec`; put `replace` in place of the others.

    Args:
        pytree: any PyTree.
        filter_spec: a callable `leaf -> bool`, or a PyTree prefix of `pytree`
            whose leaves are bools or such callables.
        inverse: keep the leaves that are *not* selected instead.
        replace: the value put in place of dropped leaves (default `None`).
        is_leaf: passed to the tree traversal of `pytree`.

    Returns:
        A PyTree with the structure of `pytree` (dropped leaves become `replace`).
    """
    mask = _mask_tree(pytree, filter_spec, is_leaf)
    if inverse:
        return jtu.tree_map(lambda keep, x: replace if keep else x, mask, pytree, is_leaf=is_leaf)
    return jtu.tree_map(lambda keep, x: x if keep else replace, mask, pytree, is_leaf=is_leaf)


def partition(
    pytree: Any,
    filter_spec: Any,
    replace: Any = None,
    is_leaf: Callable[[Any], bool] | None = None,
) -> tuple[Any, Any]:
    """Split `pytree` in two: the selected leaves, and the rest.

    Returns:
        `(selected, rest)`, each with the structure of `pytree` and `replace`
        where the other half has a leaf. `combine(selected, rest)` gives `pytree`
        back (when `replace` is `None`).
    """
    mask = _mask_tree(pytree, filter_spec, is_leaf)
    selected = jtu.tree_map(lambda keep, x: x if keep else replace, mask, pytree, is_leaf=is_leaf)
    rest = jtu.tree_map(lambda keep, x: replace if keep else x, mask, pytree, is_leaf=is_leaf)
    return selected, rest


def _first_not_none(*values: Any) -> Any:
    for value in values:
        if value is not None:
            return value
    return None


def combine(*pytrees: Any, is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """Merge PyTrees of the same structure: at each leaf take the first non-`None` value.

    Args:
        *pytrees: PyTrees with the same structure once `None`s are counted as leaves
            (typically the two halves returned by `partition`).
        is_leaf: extra leaf predicate for the traversal.

    Returns:
        The merged PyTree.
    """
    if not pytrees:
        raise TypeError("combine() needs at least one PyTree")
    if is_leaf is None:
        leaf_test = _is_none
    else:
        leaf_test = lambda x: x is None or is_leaf(x)  # noqa: E731
    return jtu.tree_map(_first_not_none, *pytrees, is_leaf=leaf_test)
