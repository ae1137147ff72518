"""The eqxdsl runtime: callable PyTrees and filtered transformations.

`Module` makes a parameterised function a PyTree; the filters and the
`filter_*` transformations apply JAX transformations to the array leaves of
arbitrary PyTrees while treating every other leaf as static.
"""

from . import debug, nn
from ._ad import filter_grad, filter_hessian, filter_jacfwd, filter_jacrev, filter_jvp, filter_value_and_grad, filter_vjp
from ._filters import combine, filter, is_array, is_array_like, is_inexact_array, is_inexact_array_like, partition
from ._import_beside import import_beside
from ._jit import clear_caches, filter_jit
from ._module import Module, field
from ._partial import Partial
from ._pretty import tree_pformat, tree_pprint
from ._safetensors import load_safetensors, save_safetensors
from ._serialisation import CheckpointError, tree_deserialise_leaves, tree_serialise_leaves
from ._sharding import (
    ShardingError,
    check_sharding,
    filter_shard,
    from_process_local_data,
    logical_axes,
    logical_sharding,
    make_sharded,
    named_shardings,
    partition_specs,
    with_logical_constraint,
)
from ._staged import filter_checkpoint, filter_eval_shape, filter_make_jaxpr
from ._tree import apply_updates, tree_at, tree_equal
from ._vmap import filter_vmap, if_array

__all__ = [
    "Module",
    "field",
    "Partial",
    "is_array",
    "is_array_like",
    "is_inexact_array",
    "is_inexact_array_like",
    "filter",
    "partition",
    "combine",
    "filter_jit",
    "filter_grad",
    "filter_value_and_grad",
    "filter_jacfwd",
    "filter_jacrev",
    "filter_hessian",
    "filter_jvp",
    "filter_vjp",
    "filter_vmap",
    "if_array",
    "filter_eval_shape",
    "filter_make_jaxpr",
    "filter_checkpoint",
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
    "tree_at",
    "tree_equal",
    "tree_pformat",
    "tree_pprint",
    "apply_updates",
    "tree_serialise_leaves",
    "tree_deserialise_leaves",
    "save_safetensors",
    "load_safetensors",
    "CheckpointError",
    "clear_caches",
    "import_beside",
    "debug",
    "nn",
]
