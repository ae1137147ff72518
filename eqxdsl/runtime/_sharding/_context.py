"""The active mesh and rules, and sharding inputs and activations by logical names."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import jax
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from ...sharding_rules import Rules, RuleTable, ShardingProblem, parse_rules, raise_problems, resolve_axes

__all__ = ["auto_axes_mesh", "from_process_local_data", "logical_sharding", "with_logical_constraint"]


def auto_axes_mesh(mesh: Mesh) -> Mesh:
    """`mesh` with every axis of type `AxisType.Auto`.

    Logical sharding places parameters and constrains chosen activations; XLA's
    sharding propagation decides everything in between, so layer code needs no
    `out_sharding=` arguments. `jax.make_mesh` makes `Explicit` axes by default,
    under which a matmul contracting two sharded axes is an error instead.
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(f"expected a jax.sharding.Mesh (e.g. from jax.make_mesh), got {type(mesh).__name__}")
    if mesh.are_all_axes_auto:
        return mesh
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(mesh.axis_names))


class _Active(NamedTuple):
    mesh: Mesh
    table: RuleTable


_active: contextvars.ContextVar[_Active | None] = contextvars.ContextVar("eqxdsl_logical_sharding", default=None)


@contextlib.contextmanager
def logical_sharding(mesh: Mesh, rules: Rules) -> Iterator[Mesh]:
    """Make `mesh` and `rules` the ones `with_logical_constraint` and
    `from_process_local_data` resolve logical names against.

    Also enters `jax.set_mesh`, so a function traced under one mesh is traced
    again under another. Rules are read when a function is traced: to run the
    same jitted function under other rules for the same mesh, clear its cache
    (`clear_caches()`) or make a new one.

    Args:
        mesh: a `jax.sharding.Mesh`; its axes are used as `AxisType.Auto`.
        rules: logical name -> mesh axes (see `check_sharding`).

    Yields:
        The mesh in use (with Auto axes).

    Raises:
        ShardingError: malformed or conflicting rules, or a rule naming a mesh
            axis the mesh lacks.
    """
    mesh = auto_axes_mesh(mesh)
    table, _, problems = parse_rules(rules, dict(mesh.shape))
    raise_problems(problems)
    token = _active.set(_Active(mesh, table))
    try:
        with jax.set_mesh(mesh):
            yield mesh
    finally:
        _active.reset(token)


def _sharding_for(where: str, shape: Sequence[int | None], axes: Sequence[str | None], active: _Active) -> NamedSharding:
    entries, problems = resolve_axes(where, shape, axes, active.table, dict(active.mesh.shape))
    raise_problems(problems)
    return NamedSharding(active.mesh, PartitionSpec(*entries))


def with_logical_constraint(x: jax.Array, axes: Sequence[str | None]) -> jax.Array:
    """Shard an activation (or an input) by logical axis names.

    Inside a trace this records `jax.lax.with_sharding_constraint`; outside one
    the array is moved with `jax.device_put`. Under `vmap` the mapped axis is
    left to the compiler, so a per-example model constrains its per-example
    axes only. With no `logical_sharding` active this returns `x` unchanged, so
    a model that constrains its activations still runs unsharded.

    Args:
        x: an array of any shape `(d0, ..., dn)`.
        axes: one logical name (or None) per axis of `x`.

    Returns:
        `x`, sharded accordingly (same shape and values).

    Raises:
        ShardingError: an unknown name, a rank that differs from `x`'s, a mesh
            axis sharding two axes, or a size not divisible by its mesh axes.
    """
    active = _active.get()
    if active is None:
        return x
    sharding = _sharding_for(f"activation of shape {tuple(x.shape)}", x.shape, axes, active)
    if isinstance(x, jax.core.Tracer):
        return jax.lax.with_sharding_constraint(x, sharding)
    return jax.device_put(x, sharding)


def from_process_local_data(
    local_data: Any, axes: Sequence[str | None], global_shape: tuple[int, ...] | None = None
) -> jax.Array:
    """A global array from each process's part of it, sharded by logical axis names.

    `jax.make_array_from_process_local_data` with the sharding that `axes`
    resolves to under the active `logical_sharding`: each process passes the rows
    (of the batch, say) that its own devices hold. With one process `local_data`
    is the whole array.

    Args:
        local_data: this process's part, a NumPy or JAX array.
        axes: one logical name (or None) per axis.
        global_shape: the global array's shape; by default inferred by JAX from
            the local shape and the sharding (uniform sharding assumed).

    Returns:
        A `jax.Array` of shape `global_shape` spanning every process's devices.

    Raises:
        ShardingError: no `logical_sharding` active, an unknown name, a rank
            that differs from the data's, a mesh axis sharding two axes, or (when
            `global_shape` is given) a size not divisible by its mesh axes.
    """
    active = _active.get()
    where = f"input of local shape {tuple(local_data.shape)}"
    if active is None:
        raise_problems([ShardingProblem(where, "no mesh and rules: call it under `with logical_sharding(mesh, rules):`", "no_mesh")])
    shape = global_shape if global_shape is not None else (None,) * len(local_data.shape)
    sharding = _sharding_for(where, shape, axes, active)
    return jax.make_array_from_process_local_data(sharding, local_data, global_shape)
