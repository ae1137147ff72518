"""What every checkpoint format shares: which leaves of a PyTree are stored, as
which NumPy values, and how a stored value is checked against `like` and put back.

A leaf is stored when it is array-like: a JAX or NumPy array, a NumPy scalar, a
`jax.ShapeDtypeStruct` (in `like` only), or a Python `bool`/`int`/`float`/
`complex`. Python numbers are stored as 0-d `bool`/`int64`/`float64`/
`complex128` arrays, as `numpy.save` stores them. Every other leaf (functions,
strings, ...) is left out of the file and comes back from `like`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import IO, Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np

__all__ = ["CheckpointError"]

_SCALAR_KINDS: dict[type, str] = {bool: "bool", int: "int", float: "float", complex: "complex"}
_SCALAR_TYPES = {kind: scalar_type for scalar_type, kind in _SCALAR_KINDS.items()}
_SCALAR_DTYPES = {
    "bool": np.dtype(np.bool_),
    "int": np.dtype(np.int64),
    "float": np.dtype(np.float64),
    "complex": np.dtype(np.complex128),
}
# The NumPy dtype kinds that a stored 0-d array may have to fill a Python number.
_SCALAR_DTYPE_KINDS = {"bool": "b", "int": "iu", "float": "f", "complex": "c"}
_CHUNK_BYTES = 1 << 26


class CheckpointError(ValueError):
    """A checkpoint that does not match `like`, that is truncated or corrupted, or a
    leaf that cannot be stored."""


@dataclasses.dataclass(frozen=True)
class StoredLeaf:
    """One array-like leaf of a PyTree.

    Attributes:
        path: its JAX key path.
        name: the path as text (`jax.tree_util.keystr`), `<root>` for a bare leaf.
        value: the leaf itself.
        kind: `"array"`, or the Python scalar type: `"bool"`, `"int"`, `"float"`, `"complex"`.
    """

    path: tuple
    name: str
    value: Any
    kind: str

    @property
    def dtype(self) -> np.dtype:
        """The dtype a stored value must have (for Python numbers, the one it is saved as)."""
        return _SCALAR_DTYPES[self.kind] if self.kind != "array" else np.dtype(self.value.dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return () if self.kind != "array" else tuple(self.value.shape)

    def describe(self) -> str:
        return f"a Python {self.kind}" if self.kind != "array" else describe(self.dtype, self.shape)


def _kind(leaf: Any) -> str | None:
    """What a leaf is stored as, or None when it is not stored."""
    if isinstance(leaf, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct)):
        return "array"
    return _SCALAR_KINDS.get(type(leaf))


def stored_leaves(pytree: Any, is_leaf: Callable[[Any], bool] | None) -> list[StoredLeaf]:
    """The array-like leaves of `pytree`, depth first, left to right."""
    with_paths, _ = jtu.tree_flatten_with_path(pytree, is_leaf=is_leaf)
    stored = []
    for path, leaf in with_paths:
        kind = _kind(leaf)
        if kind is not None:
            stored.append(StoredLeaf(path, jtu.keystr(path) or "<root>", leaf, kind))
    return stored


def with_loaded_leaves(like: Any, is_leaf: Callable[[Any], bool] | None, loaded: list[Any]) -> Any:
    """`like` with its array-like leaves replaced, in order, by `loaded`."""
    replacements = iter(loaded)
    leaves, treedef = jtu.tree_flatten(like, is_leaf=is_leaf)
    return treedef.unflatten([next(replacements) if _kind(leaf) is not None else leaf for leaf in leaves])


def read_exact(file: IO[bytes], size: int, what: str) -> bytes:
    """Exactly `size` bytes of `file`; `what` names them in the error when the file ends first.

    Reads in bounded chunks, so a forged size costs no more memory than the file holds.
    """
    chunks, remaining = [], size
    while remaining:
        chunk = file.read(min(remaining, _CHUNK_BYTES))
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    data = b"".join(chunks)
    if len(data) != size:
        raise CheckpointError(f"file is truncated: it ends inside {what} (expected {size} bytes, found {len(data)})")
    return data


def describe(dtype: np.dtype, shape: tuple[int, ...]) -> str:
    """E.g. `float32[3, 2]`, or `float32[]` for a 0-d array."""
    return f"{dtype.name}{list(shape)}"


def is_storable_dtype(dtype: np.dtype) -> bool:
    """Numbers and booleans, including the extension types of `ml_dtypes` (bfloat16,
    float8, int4...). Not objects, strings, dates, structured or raw void data."""
    if dtype.kind in "biufc":
        return True
    return dtype.kind == "V" and dtype.type is not np.void and dtype.fields is None


def values_to_store(leaf: StoredLeaf) -> np.ndarray:
    """The values of `leaf` as a native NumPy array (any memory layout, any shape, 0-d included).

    Raises:
        CheckpointError: `leaf` is a `ShapeDtypeStruct` or a PRNG key array, a Python
            int that does not fit in int64, or an array of a dtype that is not a number.
    """
    value = leaf.value
    if isinstance(value, jax.ShapeDtypeStruct):
        raise CheckpointError(f"leaf {leaf.name} is a ShapeDtypeStruct, which has no values to save")
    if leaf.kind != "array":
        try:
            return np.asarray(value, dtype=_SCALAR_DTYPES[leaf.kind])
        except OverflowError as error:
            raise CheckpointError(f"leaf {leaf.name} is the Python int {value}, which does not fit in int64") from error
    if jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
        raise CheckpointError(
            f"leaf {leaf.name} is a PRNG key array, which has no portable values; "
            "store `jax.random.key_data(key)` and rebuild it with `jax.random.wrap_key_data`"
        )
    values = np.asarray(value)
    if not is_storable_dtype(values.dtype):
        raise CheckpointError(
            f"leaf {leaf.name} has dtype {values.dtype}, which checkpoints do not store "
            "(they store numbers and booleans)"
        )
    return values


def matches(leaf: StoredLeaf, dtype: np.dtype, shape: tuple[int, ...]) -> bool:
    """Whether stored values of `dtype` and `shape` can fill `leaf`.

    Arrays need exactly their dtype and shape; a Python number takes any 0-d array of
    its kind (a Python int takes int32 or int64, whichever the writer used).
    """
    if leaf.kind == "array":
        return dtype == leaf.dtype and shape == leaf.shape
    return shape == () and dtype.kind in _SCALAR_DTYPE_KINDS[leaf.kind]


def restore(values: np.ndarray, leaf: StoredLeaf) -> Any:
    """Loaded values, of the type of `leaf`: a Python number, a NumPy scalar or array, or a
    JAX array (placed with the sharding of `leaf` when it has one)."""
    if leaf.kind != "array":
        return _SCALAR_TYPES[leaf.kind](values.item())
    if isinstance(leaf.value, np.generic):
        return values[()]
    if isinstance(leaf.value, np.ndarray):
        return values.copy()
    sharding = None if isinstance(leaf.value, jax.core.Tracer) else getattr(leaf.value, "sharding", None)
    if sharding is not None:
        return jax.device_put(values, sharding)
    return jnp.asarray(values)
