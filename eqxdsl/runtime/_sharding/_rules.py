"""`check_sharding`: the check of annotated arrays against rules and mesh sizes, as `PartitionSpec`s.

The check itself is pure Python, shared with the compiler (`eqxdsl.sharding_rules`);
this module only turns its result into `jax.sharding.PartitionSpec`s.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from jax.sharding import PartitionSpec

from ...sharding_rules import LogicalAxes, Rules, Shape, resolve_sharding

__all__ = ["check_sharding", "LogicalAxes", "Rules"]


def check_sharding(
    arrays: Mapping[str, tuple[Shape, Sequence[str | None] | None]],
    rules: Rules,
    mesh_axis_sizes: Mapping[str, int] | None = None,
    *,
    data_names: Collection[str] = (),
) -> dict[str, PartitionSpec]:
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
        Parameter path -> `jax.sharding.PartitionSpec` (one entry per axis).

    Raises:
        ShardingError: listing every problem: malformed or conflicting rules, a
            rule naming a mesh axis the mesh lacks, an unknown logical name, an
            annotation whose rank differs from the array's, a mesh axis sharding
            two axes of one array, a size not divisible by its mesh axes, and a
            rule that no annotation (nor `data_names`) uses.
    """
    specs = resolve_sharding(arrays, rules, mesh_axis_sizes, data_names=data_names)
    return {path: PartitionSpec(*entries) for path, entries in specs.items()}
