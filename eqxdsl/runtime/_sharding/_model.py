"""A model's logical axes, PartitionSpecs and NamedShardings, and building it sharded."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

import jax
import jax.tree_util as jtu
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from .._filters import combine, is_array, partition
from .._staged import filter_eval_shape
from ._annotations import annotated_arrays, is_array_leaf, key_path, path_name
from ._context import auto_axes_mesh
from ._rules import Rules, check_sharding

__all__ = ["logical_axes", "make_sharded", "named_shardings", "partition_specs"]

_Model = TypeVar("_Model")


def _map_arrays(tree: Any, values: Mapping[str, Any]) -> Any:
    """`tree` with each array leaf replaced by `values[its path]`, every other leaf by None."""

    def value(keys: tuple[Any, ...], leaf: Any) -> Any:
        return values[path_name(key_path(keys))] if is_array_leaf(leaf) else None

    return jtu.tree_map_with_path(value, tree, is_leaf=is_array_leaf)


def logical_axes(model: Any) -> Any:
    """The logical axis names of every array of `model`, from its `__logical_axes__` tables.

    Args:
        model: a Module or any PyTree of Modules and arrays (or
            `jax.ShapeDtypeStruct`s, e.g. from `filter_eval_shape`).

    Returns:
        A PyTree like `model` with each array replaced by a `PartitionSpec` of
        logical names (one per axis; `PartitionSpec()` for an array nobody
        annotated) and every other leaf by None.

    Raises:
        ShardingError: an annotation matching no array, an array annotated twice,
            or an annotation whose rank differs from its array's.
    """
    specs = {
        path: PartitionSpec() if axes is None else PartitionSpec(*axes)
        for path, (_, axes) in annotated_arrays(model).items()
    }
    return _map_arrays(model, specs)


def _mesh_axis_sizes(mesh: Mesh | Mapping[str, int] | None) -> dict[str, int] | None:
    if mesh is None:
        return None
    return dict(mesh.shape) if isinstance(mesh, Mesh) else dict(mesh)


def partition_specs(
    model: Any,
    rules: Rules,
    mesh: Mesh | Mapping[str, int] | None = None,
    *,
    data_names: Collection[str] = (),
) -> Any:
    """The `PartitionSpec` of every array of `model` under `rules`.

    Args:
        model: a Module or PyTree of them (arrays or `jax.ShapeDtypeStruct`s).
        rules: logical name -> mesh axes, e.g. `(("embed", None), ("heads", "model"))`.
        mesh: a `Mesh` or a dict of mesh axis sizes, to check mesh axis names and
            divisibility too; None skips those two checks.
        data_names: logical names used only for inputs and activations (see
            `check_sharding`).

    Returns:
        A PyTree like `model`: a `PartitionSpec` of mesh axes at each array (one
        entry per axis), None elsewhere.

    Raises:
        ShardingError: every problem of the annotations, rules and sizes at once.
    """
    specs = check_sharding(annotated_arrays(model), rules, _mesh_axis_sizes(mesh), data_names=data_names)
    return _map_arrays(model, specs)


def named_shardings(model: Any, mesh: Mesh, rules: Rules, *, data_names: Collection[str] = ()) -> Any:
    """The `NamedSharding` of every array of `model` on `mesh` under `rules`.

    Args:
        model: a Module or PyTree of them (arrays or `jax.ShapeDtypeStruct`s).
        mesh: a `jax.sharding.Mesh`; the shardings use it with `AxisType.Auto` axes.
        rules: logical name -> mesh axes.
        data_names: logical names used only for inputs and activations.

    Returns:
        A PyTree like `model`: a `NamedSharding` at each array, None elsewhere;
        it can be passed to `filter_shard`.

    Raises:
        ShardingError: every problem of the annotations, rules and sizes at once.
    """
    mesh = auto_axes_mesh(mesh)
    specs = check_sharding(annotated_arrays(model), rules, dict(mesh.shape), data_names=data_names)
    return _map_arrays(model, {path: NamedSharding(mesh, spec) for path, spec in specs.items()})


def make_sharded(
    make: Callable[..., _Model],
    *args: Any,
    mesh: Mesh,
    rules: Rules,
    data_names: Collection[str] = (),
) -> _Model:
    """Build `make(*args)` directly sharded: no device ever holds the whole model.

    The model's structure comes from `filter_eval_shape` (nothing is computed),
    its shardings from `named_shardings`, and the constructor runs under
    `jax.jit` with those `out_shardings`, so each device computes only its own
    shards of the parameters (random initialisers included, with JAX's default
    partitionable threefry).

    Args:
        make: the constructor, e.g. `lambda key: GPT(dim=512, key=key)`.
        *args: its arguments; array leaves (PRNG keys) are traced, other leaves
            are passed as they are.
        mesh: a `jax.sharding.Mesh` (used with `AxisType.Auto` axes).
        rules: logical name -> mesh axes.
        data_names: logical names used only for inputs and activations.

    Returns:
        What `make(*args)` returns, with every array placed by its `NamedSharding`.

    Raises:
        ShardingError: every problem of the annotations, rules and sizes, before
            anything is computed.
    """
    shapes = filter_eval_shape(make, *args)
    shardings = named_shardings(shapes, mesh, rules, data_names=data_names)
    dynamic_args, static_args = partition(args, is_array)

    def build(dynamic: Any) -> Any:
        return partition(make(*combine(dynamic, static_args)), is_array)[0]

    arrays = jax.jit(build, out_shardings=shardings)(dynamic_args)
    return combine(arrays, partition(shapes, is_array_leaf)[1])
