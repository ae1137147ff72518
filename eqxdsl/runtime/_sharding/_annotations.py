"""The `__logical_axes__` contract: how a Module names the axes of its arrays.

A Module class may define the class attribute

    __logical_axes__: ClassVar[dict[str, tuple[str | None, ...]]] = {
        "pos": (None, "embed"),
        "fc.weight": ("mlp", "embed"),
        "hidden.*.weight": ("mlp", "mlp"),
        "blocks": ("layers",),
    }

(a plain, unannotated class attribute works as well; it is looked up on the
class, so a subclass inherits its base's table unless it defines its own).

Keys are dotted paths relative to the Module that declares them. A segment is a
field name, a sequence index (`"hidden.0.weight"`) or a dict key, as
`jax.tree_util` key paths spell them; the segment `*` matches any one segment.
The Module's own dynamic fields and its sub-Modules' arrays can both be named, so
a model can annotate layers that have no table of their own (`"fc.weight"` for
an `nn.Linear`). Nested Modules contribute their own tables, joined by path: a
`Block` at `blocks` whose table names `"attn.query_proj.weight"` annotates the
model's `blocks.attn.query_proj.weight`.

Values name each axis of the array with a logical name, or `None` for an axis
never sharded. A key can name two kinds of thing:

- an array: the value has one name per axis of the array *as its Module
  builds it*;
- a Module (or any subtree of arrays): a *stack annotation*. Its names are the
  leading axes that were added to every array below it, e.g. a stack of layers
  made by `filter_vmap` over a constructor, applied with `lax.scan`:
  `"blocks": ("layers",)`. These names are prepended to the annotation of each
  array below (stacks of stacks prepend outermost first), and an array below
  with no annotation of its own gets `None` for its remaining axes. The inner
  tables (here `Block`'s) stay those of one layer.

An array named by no key (and below no stack annotation) is replicated on every
device. Mistakes are errors, never a silent replication: a key that matches no
array or subtree (a renamed layer), an array annotated by two keys, a value that
is not a tuple of names, and a rank that differs from the array's (stack names
included) are all reported with the path, by `annotated_arrays`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.tree_util as jtu

from ...sharding_rules import Annotation, LogicalAxes, Path, ShardingProblem, join_annotations, path_name, raise_problems
from .._filters import is_array
from .._module import Module

__all__ = ["annotated_arrays", "is_array_leaf", "key_path", "path_name"]


def is_array_leaf(leaf: Any) -> bool:
    """An array, or an array's shape and dtype (`filter_eval_shape` output)."""
    return is_array(leaf) or isinstance(leaf, jax.ShapeDtypeStruct)


def _segment(key: Any) -> str:
    for attribute in ("name", "idx", "key"):
        if hasattr(key, attribute):
            return str(getattr(key, attribute))
    return str(key)


def key_path(keys: tuple[Any, ...]) -> Path:
    """A `jax.tree_util` key path as a tuple of segments."""
    return tuple(_segment(key) for key in keys)


def _is_module(x: Any) -> bool:
    return isinstance(x, Module)


def _tables(tree: Any) -> tuple[list[Annotation], list[ShardingProblem]]:
    """Every entry of every `__logical_axes__` in `tree`, with its absolute pattern,
    and the tables that are not dicts."""
    entries: list[Annotation] = []
    problems: list[ShardingProblem] = []
    pending: list[tuple[Path, Any]] = [((), tree)]
    while pending:
        path, node = pending.pop()
        if isinstance(node, Module):
            cls = type(node)
            table = getattr(cls, "__logical_axes__", None) or {}
            if not isinstance(table, Mapping):
                problems.append(ShardingProblem(
                    f"{cls.__qualname__}.__logical_axes__", f"must be a dict of paths to axes, got {table!r}", "malformed"
                ))
                table = {}
            for key, axes in table.items():
                where = f"{cls.__qualname__}.__logical_axes__[{key!r}]"
                if path:
                    where += f" (the {cls.__qualname__} at {path_name(path)!r})"
                entries.append(Annotation(path + tuple(str(key).split(".")), axes, where))
            children = jtu.tree_flatten_with_path(node, is_leaf=lambda x, n=node: x is not n and _is_module(x))[0]
        else:
            children = jtu.tree_flatten_with_path(node, is_leaf=_is_module)[0]
        pending += [(path + key_path(keys), child) for keys, child in children if _is_module(child)]
    return entries, problems


def annotated_arrays(tree: Any) -> dict[str, tuple[tuple[int, ...], LogicalAxes | None]]:
    """The logical axes of every array of `tree`, from the `__logical_axes__` of its Modules.

    Args:
        tree: a Module or any PyTree of Modules and arrays (arrays may be
            `jax.ShapeDtypeStruct`s).

    Returns:
        Dotted path -> `(shape, logical axes)`, in flattening order; the axes are
        None for an array nobody annotated.

    Raises:
        ShardingError: a key matching no array, an array annotated twice, a
            malformed table or value, or a rank that differs from the array's.
    """
    arrays: dict[Path, tuple[int, ...]] = {
        key_path(keys): tuple(leaf.shape)
        for keys, leaf in jtu.tree_flatten_with_path(tree, is_leaf=is_array_leaf)[0]
        if is_array_leaf(leaf)
    }
    entries, problems = _tables(tree)
    joined, found = join_annotations(arrays, entries)
    raise_problems(problems + found)
    return {path_name(path): (arrays[path], axes.axes) for path, axes in joined.items()}
