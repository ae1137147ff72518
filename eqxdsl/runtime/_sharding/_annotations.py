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

import difflib
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.tree_util as jtu

from .._filters import is_array
from .._module import Module
from ._errors import ShardingProblem, raise_problems
from ._rules import LogicalAxes

__all__ = ["annotated_arrays", "is_array_leaf", "path_name"]

Path = tuple[str, ...]


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


def path_name(path: Path) -> str:
    """A path as its dotted name; `<root>` for the tree itself."""
    return ".".join(path) or "<root>"


class _Entry(NamedTuple):
    pattern: Path  # from the root of the whole tree
    axes: Any
    where: str


class _Annotation(NamedTuple):
    stacks: list[_Entry]  # entries naming a subtree above the array
    own: list[_Entry]  # entries naming the array itself


def _is_module(x: Any) -> bool:
    return isinstance(x, Module)


def _tables(tree: Any) -> tuple[list[_Entry], list[ShardingProblem]]:
    """Every entry of every `__logical_axes__` in `tree`, with its absolute pattern,
    and the tables that are not dicts."""
    entries: list[_Entry] = []
    problems: list[ShardingProblem] = []
    pending: list[tuple[Path, Any]] = [((), tree)]
    while pending:
        path, node = pending.pop()
        if isinstance(node, Module):
            cls = type(node)
            table = getattr(cls, "__logical_axes__", None) or {}
            if not isinstance(table, Mapping):
                problems.append(ShardingProblem(
                    f"{cls.__qualname__}.__logical_axes__", f"must be a dict of paths to axes, got {table!r}"
                ))
                table = {}
            for key, axes in table.items():
                where = f"{cls.__qualname__}.__logical_axes__[{key!r}]"
                if path:
                    where += f" (the {cls.__qualname__} at {path_name(path)!r})"
                entries.append(_Entry(path + tuple(str(key).split(".")), axes, where))
            children = jtu.tree_flatten_with_path(node, is_leaf=lambda x, n=node: x is not n and _is_module(x))[0]
        else:
            children = jtu.tree_flatten_with_path(node, is_leaf=_is_module)[0]
        pending += [(path + key_path(keys), child) for keys, child in children if _is_module(child)]
    return entries, problems


def _matches(pattern: Path, path: Path) -> bool:
    return all(want in ("*", have) for want, have in zip(pattern, path))


def _valid_axes(axes: Any) -> bool:
    return isinstance(axes, tuple) and all(name is None or isinstance(name, str) for name in axes)


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
    found: dict[Path, _Annotation] = {}
    for entry in entries:
        if not _valid_axes(entry.axes):
            problems.append(ShardingProblem(
                entry.where, f"must be a tuple of logical axis names or None, got {entry.axes!r}"
            ))
            continue
        matched = False
        for path in arrays:
            if len(entry.pattern) <= len(path) and _matches(entry.pattern, path):
                annotation = found.setdefault(path, _Annotation([], []))
                (annotation.own if len(entry.pattern) == len(path) else annotation.stacks).append(entry)
                matched = True
        if not matched:
            problems.append(_no_match(entry, arrays))
    result: dict[str, tuple[tuple[int, ...], LogicalAxes | None]] = {}
    for path, shape in arrays.items():
        name = path_name(path)
        annotation = found.get(path)
        if annotation is None:
            result[name] = (shape, None)
            continue
        stacks = sorted(annotation.stacks, key=lambda entry: len(entry.pattern))
        twice = annotation.own if len(annotation.own) > 1 else _same_depth(stacks)
        if twice:
            problems.append(ShardingProblem(name, "annotated twice: by " + " and by ".join(e.where for e in twice)))
            continue
        leading = tuple(name for entry in stacks for name in entry.axes)
        if annotation.own:
            axes = leading + annotation.own[0].axes
        else:
            axes = leading + (None,) * max(len(shape) - len(leading), 0)
        if len(axes) != len(shape):
            sources = ", ".join(entry.where for entry in stacks + annotation.own)
            problems.append(ShardingProblem(
                name,
                f"{len(axes)} logical axis names {axes!r} for an array of rank {len(shape)} "
                f"(shape {shape}), from {sources}",
            ))
            continue
        result[name] = (shape, axes)
    raise_problems(problems)
    return result


def _same_depth(stacks: list[_Entry]) -> list[_Entry]:
    """Two stack annotations of the same subtree, if any."""
    for first, second in zip(stacks, stacks[1:]):
        if len(first.pattern) == len(second.pattern):
            return [first, second]
    return []


def _no_match(entry: _Entry, arrays: dict[Path, tuple[int, ...]]) -> ShardingProblem:
    wanted = ".".join(entry.pattern)
    candidates = sorted({".".join(path[: len(entry.pattern)]) for path in arrays})
    close = difflib.get_close_matches(wanted, candidates, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    return ShardingProblem(entry.where, f"{wanted!r} matches no array of the model (was it renamed?){hint}")
