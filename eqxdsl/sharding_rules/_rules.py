"""Rules from logical axis names to mesh axes, and the check of annotated arrays against them.

Everything here is pure Python on shapes and names: no devices, no arrays. The
compiler checks a spec's literal and default sizes with it (`eqxdsl check
--mesh ... --rules ...`), and the runtime checks a model's real shapes on a real
mesh (`eqx.check_sharding`, `eqx.make_sharded`), so both report the same
problems in the same words.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Union

from ._problems import ShardingProblem, raise_problems

__all__ = [
    "LogicalAxes",
    "MeshAxes",
    "RuleTable",
    "Rules",
    "Shape",
    "format_mesh_axes",
    "parse_rules",
    "resolve_axes",
    "resolve_sharding",
    "unused_rules",
]

LogicalAxes = tuple[Union[str, None], ...]
"""One logical axis name per array axis; `None` for an axis that is never sharded."""

MeshAxes = Union[str, tuple[str, ...], None]
"""What a rule maps a logical name to: a mesh axis, several (sharded over their
product, major to minor), or `None` (replicated). It is also one entry of a
`PartitionSpec`."""

Rules = Union[Sequence[tuple[str, MeshAxes]], Mapping[str, MeshAxes]]
"""`(logical name, mesh axes)` pairs, e.g. `(("batch", "data"), ("embed", None),
("heads", "model"))`, or a dict of them."""

Shape = Sequence[Union[int, None]]
"""An array's shape; `None` for a size not known yet (its divisibility is not checked)."""

RuleTable = dict[str, tuple[str, ...]]
"""Parsed rules: logical name -> the mesh axes it shards over (`()`: replicated)."""


def format_mesh_axes(axes: tuple[str, ...]) -> str:
    """Mesh axes as messages write them: `'model'`, `('data', 'model')`, `None (replicated)`."""
    if not axes:
        return "None (replicated)"
    return repr(axes[0]) if len(axes) == 1 else repr(axes)


def _as_mesh_axes(target: object) -> tuple[str, ...] | None:
    """A rule's target as a tuple of mesh axis names; None when it is malformed."""
    if target is None:
        return ()
    if isinstance(target, str):
        return (target,)
    if isinstance(target, (tuple, list)) and all(isinstance(axis, str) for axis in target):
        return tuple(target)
    return None


def parse_rules(
    rules: Rules, mesh_axis_sizes: Mapping[str, int] | None
) -> tuple[RuleTable, dict[str, int], list[ShardingProblem]]:
    """Validate `rules` (against the mesh's axis names when known).

    Args:
        rules: logical name -> mesh axes (see `Rules`).
        mesh_axis_sizes: mesh axis name -> size, or None when no mesh is known.

    Returns:
        `(table, index, problems)`: logical name -> mesh axes; logical name ->
        position of its rule; what is wrong with the rules (each with its `rule`).
    """
    pairs = list(rules.items()) if isinstance(rules, Mapping) else list(rules)
    table: RuleTable = {}
    index: dict[str, int] = {}
    problems: list[ShardingProblem] = []
    for position, rule in enumerate(pairs):
        where = f"rules[{position}]"
        if not (isinstance(rule, (tuple, list)) and len(rule) == 2 and isinstance(rule[0], str)):
            problems.append(ShardingProblem(where, f"a rule is a pair (logical name, mesh axes), got {rule!r}", "malformed", rule=position))
            continue
        name, target = rule
        axes = _as_mesh_axes(target)
        if axes is None:
            problems.append(ShardingProblem(
                where, f"{name!r} must map to a mesh axis name, a tuple of them or None, got {target!r}", "malformed", rule=position
            ))
            continue
        repeated = sorted({axis for axis in axes if axes.count(axis) > 1})
        if repeated:
            problems.append(ShardingProblem(where, f"{name!r} names mesh axis {repeated[0]!r} twice", "axis_twice", rule=position))
        if mesh_axis_sizes is not None:
            for axis in axes:
                if axis not in mesh_axis_sizes:
                    problems.append(ShardingProblem(
                        where,
                        f"{name!r} maps to mesh axis {axis!r}, which the mesh does not have "
                        f"(its axes: {', '.join(map(repr, mesh_axis_sizes)) or 'none'})",
                        "unknown_mesh_axis",
                        rule=position,
                    ))
        if name in table:
            if table[name] != axes:
                problems.append(ShardingProblem(
                    where,
                    f"conflicting rules for {name!r}: rules[{index[name]}] maps it to "
                    f"{format_mesh_axes(table[name])}, this one to {format_mesh_axes(axes)}",
                    "conflict",
                    rule=position,
                ))
            continue
        table[name] = axes
        index[name] = position
    return table, index, problems


def _divisor_description(mesh_axes: tuple[str, ...], mesh_axis_sizes: Mapping[str, int]) -> str:
    sizes = [mesh_axis_sizes[axis] for axis in mesh_axes]
    if len(mesh_axes) == 1:
        return f"mesh axis {mesh_axes[0]!r} of size {sizes[0]}"
    names = " x ".join(map(repr, mesh_axes))
    return f"mesh axes {names} of sizes {' x '.join(map(str, sizes))} = {math.prod(sizes)}"


def resolve_axes(
    where: str,
    shape: Shape,
    axes: Sequence[str | None],
    table: RuleTable,
    mesh_axis_sizes: Mapping[str, int] | None,
) -> tuple[tuple[MeshAxes, ...], list[ShardingProblem]]:
    """The mesh axes of each axis of one array, from its logical axes, and what is wrong with them.

    Args:
        where: the array's path, for the problems.
        shape: its shape (sizes may be None when unknown).
        axes: one logical name (or None) per axis.
        table: the parsed rules.
        mesh_axis_sizes: mesh axis -> size, or None to skip divisibility.

    Returns:
        `(entries, problems)`: one `PartitionSpec` entry per axis (empty when the
        axes are malformed or of the wrong rank); the problems of one axis carry
        its index.
    """
    if not isinstance(axes, (tuple, list)) or not all(name is None or isinstance(name, str) for name in axes):
        return (), [ShardingProblem(where, f"logical axes must be a tuple of names or None, got {axes!r}", "malformed")]
    if len(axes) != len(shape):
        return (), [ShardingProblem(
            where,
            f"{len(axes)} logical axis names {tuple(axes)!r} for an array of rank {len(shape)} "
            f"(shape {tuple(shape)})",
            "rank",
        )]
    problems: list[ShardingProblem] = []
    entries: list[MeshAxes] = []
    sharded_by: dict[str, tuple[int, str]] = {}
    for dim, (name, size) in enumerate(zip(axes, shape)):
        mesh_axes = () if name is None else table.get(name)
        if mesh_axes is None:
            known = ", ".join(map(repr, sorted(table))) or "nothing"
            problems.append(ShardingProblem(
                where, f"unknown logical axis name {name!r} (axis {dim}); the rules name {known}", "unknown_name", axis=dim
            ))
            mesh_axes = ()
        for axis in mesh_axes:
            if axis in sharded_by:
                first_dim, first_name = sharded_by[axis]
                problems.append(ShardingProblem(
                    where,
                    f"mesh axis {axis!r} would shard two axes: axis {first_dim} ({first_name!r}) "
                    f"and axis {dim} ({name!r})",
                    "axis_twice",
                    axis=dim,
                ))
            else:
                sharded_by[axis] = (dim, name)
        if mesh_axes and size is not None and mesh_axis_sizes is not None and all(a in mesh_axis_sizes for a in mesh_axes):
            parts = math.prod(mesh_axis_sizes[axis] for axis in mesh_axes)
            if size % parts:
                problems.append(ShardingProblem(
                    where,
                    f"axis {dim} ({name!r}) has size {size}, which is not divisible by "
                    f"{_divisor_description(mesh_axes, mesh_axis_sizes)}",
                    "not_divisible",
                    axis=dim,
                ))
        entries.append(None if not mesh_axes else mesh_axes[0] if len(mesh_axes) == 1 else mesh_axes)
    return tuple(entries), problems


_UNUSED_ADVICE = (
    "fix the annotation meant to use it, remove the rule, or list it in data_names= if it names an input "
    "or activation axis"
)


def unused_rules(
    table: RuleTable, index: Mapping[str, int], used: Iterable[str], advice: str = _UNUSED_ADVICE
) -> list[ShardingProblem]:
    """A problem for each rule whose logical name is not in `used`.

    Args:
        table: the parsed rules.
        index: logical name -> position of its rule (from `parse_rules`).
        used: every logical name the annotations, inputs and activations use.
        advice: how to fix it, in the caller's terms (its end of the message).
    """
    used = set(used)
    return [
        ShardingProblem(
            f"rules[{position}]",
            f"the rule {name!r} -> {format_mesh_axes(table[name])} matches no annotation: no parameter "
            f"has an axis named {name!r} ({advice})",
            "unused_rule",
            rule=position,
        )
        for name, position in index.items()
        if name not in used
    ]


def resolve_sharding(
    arrays: Mapping[str, tuple[Shape, Sequence[str | None] | None]],
    rules: Rules,
    mesh_axis_sizes: Mapping[str, int] | None = None,
    *,
    data_names: Collection[str] = (),
) -> dict[str, tuple[MeshAxes, ...]]:
    """Check annotated arrays against rules and mesh sizes; needs no devices.

    Args:
        arrays: parameter path -> `(shape, logical axes)`; logical axes None for
            an array nobody annotated (it is replicated). Sizes in a shape may be
            None when not known yet.
        rules: logical name -> mesh axes (see `Rules`).
        mesh_axis_sizes: mesh axis name -> size (`mesh.shape` of a `jax.sharding.Mesh`,
            or a plain dict); None checks everything except mesh axis names and
            divisibility.
        data_names: logical names used only by inputs and activations (e.g.
            `"batch"`): they must have a rule, and their rules do not count as
            unused.

    Returns:
        Parameter path -> one `PartitionSpec` entry per axis (`()` for an array
        nobody annotated).

    Raises:
        ShardingError: listing every problem: malformed or conflicting rules, a
            rule naming a mesh axis the mesh lacks, an unknown logical name, an
            annotation whose rank differs from the array's, a mesh axis sharding
            two axes of one array, a size not divisible by its mesh axes, and a
            rule that no annotation (nor `data_names`) uses.
    """
    table, index, problems = parse_rules(rules, mesh_axis_sizes)
    specs: dict[str, tuple[MeshAxes, ...]] = {}
    used: set[str] = set(data_names)
    for path, (shape, axes) in arrays.items():
        if axes is None:
            specs[path] = ()
            continue
        specs[path], found = resolve_axes(path, shape, axes, table, mesh_axis_sizes)
        problems += found
        if isinstance(axes, (tuple, list)):
            used.update(name for name in axes if isinstance(name, str))
    problems += [ShardingProblem("data_names", f"{name!r} has no rule", "unknown_name") for name in data_names if name not in table]
    problems += unused_rules(table, index, used)
    raise_problems(problems)
    return specs
