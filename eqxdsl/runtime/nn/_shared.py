"""`Shared`: tie parts of a PyTree together (weight tying) by storing them once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.tree_util as jtu

from .._filters import is_array
from .._module import Module, field
from .._tree import tree_at


class SharedNode(Module):
    """Placeholder left in ``Shared.pytree`` where a tied node was removed."""


def _structure(tree: Any) -> tuple[Any, list[Any]]:
    """The PyTree structure plus each leaf's shape and dtype (or the leaf itself
    when it is not an array)."""
    leaves, treedef = jtu.tree_flatten(tree)
    return treedef, [
        (jax.ShapeDtypeStruct(leaf.shape, leaf.dtype) if is_array(leaf) else leaf) for leaf in leaves
    ]


class Shared(Module):
    """Holds ``pytree`` with the nodes selected by ``where`` removed; calling it
    rebuilds the full PyTree with those nodes set to the nodes selected by ``get``.

    Gradients then flow into the single stored copy (the ``get`` nodes). For
    example, tying an embedding and an output layer::

        shared = Shared((embedding, linear), where=lambda p: p[1].weight,
                        get=lambda p: p[0].weight)
        embedding, linear = shared()
    """

    pytree: Any
    where: Callable[[Any], Any] = field(static=True)
    get: Callable[[Any], Any] = field(static=True)

    def __init__(self, pytree: Any, where: Callable[[Any], Any], get: Callable[[Any], Any]):
        """**Arguments:**

        - ``pytree``: the PyTree holding the nodes to tie.
        - ``where``: selects the node (or tuple of nodes) to replace, as in ``tree_at``.
        - ``get``: selects the node (or tuple of nodes) whose values are used,
          with the same structure, shapes and dtypes as ``where``'s.
        """
        source, destination = _structure(get(pytree)), _structure(where(pytree))
        if source != destination:
            raise ValueError(
                "Shared: the nodes selected by `where` and by `get` must have the same structure, "
                f"shapes and dtypes; `get` gives {source}, `where` gives {destination}"
            )
        self.pytree = tree_at(where, pytree, replace_fn=lambda _: SharedNode())
        self.where = where
        self.get = get

    def __call__(self) -> Any:
        """The full PyTree, with the tied nodes filled in from ``get``."""
        return tree_at(self.where, self.pytree, self.get(self.pytree))
