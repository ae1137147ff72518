"""Joining the annotations of nested Modules into the logical axes of every array.

A model's arrays sit at dotted paths (`blocks.attn.query_proj.weight`), and
each Module (or spec model) names some of them, relative to itself. Given every
array's path and shape and every annotation made absolute, `join_annotations`
works out each array's logical axes the way the `__logical_axes__` contract
reads them (see `eqxdsl.runtime._sharding._annotations`): an annotation naming
an array gives its axes; one naming a subtree above it (a scanned stack) gives
its leading axes, outermost first; `*` matches any one segment.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ._problems import ShardingProblem
from ._rules import LogicalAxes, Shape

__all__ = ["Annotation", "JoinedAxes", "Path", "join_annotations", "path_name"]

Path = tuple[str, ...]


def path_name(path: Path) -> str:
    """A path as its dotted name; `<root>` for the tree itself."""
    return ".".join(path) or "<root>"


class Annotation(NamedTuple):
    """One entry of a table of logical axes, made absolute.

    Attributes:
        pattern: the path it names, from the root of the whole tree (`*` for any segment).
        axes: what it gives: a tuple of logical names or None (anything else is reported).
        where: the entry, for messages (`"Block.__logical_axes__['fc.weight']"`).
        source: anything the caller wants back (a spec's node); not read here.
    """

    pattern: Path
    axes: Any
    where: str
    source: Any = None


class JoinedAxes(NamedTuple):
    """The logical axes of one array and the annotations they come from.

    Attributes:
        axes: one logical name (or None) per axis; None when nothing annotates it.
        annotations: the stack annotations above it, outermost first, then its own
            (if any): their names, in this order, are `axes`.
    """

    axes: LogicalAxes | None
    annotations: tuple[Annotation, ...]

    def annotation_of_axis(self, axis: int) -> tuple[Annotation, int] | None:
        """The annotation that names array axis `axis`, and the position of the name in it."""
        start = 0
        for annotation in self.annotations:
            if axis < start + len(annotation.axes):
                return annotation, axis - start
            start += len(annotation.axes)
        return None


def _matches(pattern: Path, path: Path) -> bool:
    return all(want in ("*", have) for want, have in zip(pattern, path))


def _valid_axes(axes: Any) -> bool:
    return isinstance(axes, tuple) and all(name is None or isinstance(name, str) for name in axes)


def join_annotations(
    arrays: Mapping[Path, Shape], annotations: Sequence[Annotation]
) -> tuple[dict[Path, JoinedAxes], list[ShardingProblem]]:
    """The logical axes of every array, and what is wrong with the annotations.

    Args:
        arrays: every array's path -> its shape (sizes may be None).
        annotations: every entry of every table, with absolute patterns.

    Returns:
        `(joined, problems)`: path -> `JoinedAxes` for every array whose
        annotations are sound, in the order of `arrays`; the problems: a value that
        is not a tuple of names, an annotation matching no array (a renamed
        layer), an array annotated twice, and a rank that differs from the array's
        (stack names included).
    """
    problems: list[ShardingProblem] = []
    own: dict[Path, list[Annotation]] = {}
    stacks: dict[Path, list[Annotation]] = {}
    for annotation in annotations:
        if not _valid_axes(annotation.axes):
            problems.append(ShardingProblem(
                annotation.where, f"must be a tuple of logical axis names or None, got {annotation.axes!r}", "malformed"
            ))
            continue
        matched = False
        for path in arrays:
            if len(annotation.pattern) <= len(path) and _matches(annotation.pattern, path):
                (own if len(annotation.pattern) == len(path) else stacks).setdefault(path, []).append(annotation)
                matched = True
        if not matched:
            problems.append(_no_match(annotation, arrays))
    joined: dict[Path, JoinedAxes] = {}
    for path, shape in arrays.items():
        name = path_name(path)
        above = sorted(stacks.get(path, ()), key=lambda annotation: len(annotation.pattern))
        mine = own.get(path, [])
        if not above and not mine:
            joined[path] = JoinedAxes(None, ())
            continue
        twice = mine if len(mine) > 1 else _same_depth(above)
        if twice:
            problems.append(ShardingProblem(name, "annotated twice: by " + " and by ".join(a.where for a in twice), "twice"))
            continue
        leading = tuple(axis for annotation in above for axis in annotation.axes)
        axes = leading + mine[0].axes if mine else leading + (None,) * max(len(shape) - len(leading), 0)
        if len(axes) != len(shape):
            sources = ", ".join(annotation.where for annotation in above + mine)
            problems.append(ShardingProblem(
                name,
                f"{len(axes)} logical axis names {axes!r} for an array of rank {len(shape)} "
                f"(shape {tuple(shape)}), from {sources}",
                "rank",
            ))
            continue
        joined[path] = JoinedAxes(axes, tuple(above + mine))
    return joined, problems


def _same_depth(stacks: list[Annotation]) -> list[Annotation]:
    """Two stack annotations of the same subtree, if any."""
    for first, second in zip(stacks, stacks[1:]):
        if len(first.pattern) == len(second.pattern):
            return [first, second]
    return []


def _no_match(annotation: Annotation, arrays: Mapping[Path, Shape]) -> ShardingProblem:
    wanted = ".".join(annotation.pattern)
    candidates = sorted({".".join(path[: len(annotation.pattern)]) for path in arrays})
    close = difflib.get_close_matches(wanted, candidates, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    return ShardingProblem(annotation.where, f"{wanted!r} matches no array of the model (was it renamed?){hint}", "no_match")
