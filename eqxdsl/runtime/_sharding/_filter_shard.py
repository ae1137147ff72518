"""`filter_shard`: place or constrain the array leaves of a PyTree."""

from __future__ import annotations

from typing import Any

import jax
import jax.tree_util as jtu

from .._filters import combine, is_array, partition

__all__ = ["filter_shard"]


def _as_sharding(spec: Any) -> Any:
    if isinstance(spec, jax.Device):
        return jax.sharding.SingleDeviceSharding(spec)
    return spec


def filter_shard(x: Any, device_or_shardings: Any) -> Any:
    """Put the array leaves of `x` on devices; leave every other leaf alone.

    Outside a trace the arrays are moved with `jax.device_put`; inside `jit`
    (traced arrays) a `jax.lax.with_sharding_constraint` is recorded instead.

    Args:
        x: any PyTree.
        device_or_shardings: a `jax.Device` or `jax.sharding.Sharding` for all
            arrays, or a PyTree prefix of `x` with one per subtree.

    Returns:
        `x` with its arrays placed (or constrained) accordingly.
    """
    arrays, rest = partition(x, is_array)
    shardings = jtu.tree_map(_as_sharding, device_or_shardings, is_leaf=lambda s: isinstance(s, (jax.Device, jax.sharding.Sharding)))
    if any(isinstance(leaf, jax.core.Tracer) for leaf in jtu.tree_leaves(arrays)):
        arrays = jax.lax.with_sharding_constraint(arrays, shardings)
    else:
        arrays = jax.device_put(arrays, shardings)
    return combine(arrays, rest)
