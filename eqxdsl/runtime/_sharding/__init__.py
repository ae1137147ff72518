"""Sharding: placing arrays on devices, by hand (`filter_shard`) or by logical axis names.

Logical sharding: Modules name the axes of their arrays in `__logical_axes__`
(the contract is in `_annotations.py`), a rules table maps those names to the
axes of a `jax.sharding.Mesh`, and the helpers here turn both into
`PartitionSpec`s and `NamedSharding`s, build models directly sharded, and shard
inputs and activations, checking everything first (`ShardingError`). The
checks that need no devices live in `eqxdsl.sharding_rules`, shared with the
compiler.
"""

from ...sharding_rules import ShardingError, ShardingProblem
from ._context import from_process_local_data, logical_sharding, with_logical_constraint
from ._filter_shard import filter_shard
from ._model import logical_axes, make_sharded, named_shardings, partition_specs
from ._rules import LogicalAxes, Rules, check_sharding

__all__ = [
    "filter_shard",
    "logical_axes",
    "partition_specs",
    "named_shardings",
    "make_sharded",
    "logical_sharding",
    "with_logical_constraint",
    "from_process_local_data",
    "check_sharding",
    "ShardingError",
    "ShardingProblem",
    "LogicalAxes",
    "Rules",
]
