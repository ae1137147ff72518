"""Safetensors files keyed by PyTree paths, for weights shared with PyTorch and Hugging Face tools.

Each array-like leaf is one tensor, named by its path with `.` between the
parts: `model.blocks[0].attn.query_proj.weight` is stored as
`blocks.0.attn.query_proj.weight`. The `safetensors` package is imported only
when a file is read or written.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping
from typing import Any, Union

import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np

from ._checkpoint_leaves import (
    CheckpointError,
    StoredLeaf,
    describe,
    matches,
    restore,
    stored_leaves,
    values_to_store,
    with_loaded_leaves,
)

__all__ = ["save_safetensors", "load_safetensors"]

Rename = Union[Callable[[str], Union[str, None]], Mapping[str, Union[str, None]]]

# The safetensors dtype codes that its NumPy reader turns back into arrays.
_DTYPE_CODES = {
    "bool": "BOOL",
    "uint8": "U8",
    "int8": "I8",
    "uint16": "U16",
    "int16": "I16",
    "uint32": "U32",
    "int32": "I32",
    "uint64": "U64",
    "int64": "I64",
    "float16": "F16",
    "bfloat16": "BF16",
    "float32": "F32",
    "float64": "F64",
    "complex64": "C64",
}
_CODE_DTYPES = {code: np.dtype(jnp.dtype(name)) for name, code in _DTYPE_CODES.items()}
_LISTED = 20  # names shown per kind of mismatch; the count says how many more there are


def _import_safetensors() -> Any:
    try:
        import safetensors.numpy
    except ImportError as error:
        raise ImportError(
            "safetensors files need the `safetensors` package: pip install 'eqxdsl[safetensors]'"
        ) from error
    return safetensors


def _path_key(path: tuple) -> str:
    """`blocks.0.attn.weight` for the path of `tree.blocks[0].attn.weight`."""
    parts = []
    for entry in path:
        if isinstance(entry, jtu.GetAttrKey):
            parts.append(entry.name)
        elif isinstance(entry, jtu.SequenceKey):
            parts.append(str(entry.idx))
        elif isinstance(entry, (jtu.DictKey, jtu.FlattenedIndexKey)):
            parts.append(str(entry.key))
        else:
            parts.append(str(entry))
    return ".".join(parts)


def _as_function(rename: Rename | None) -> Callable[[str], str | None]:
    if rename is None:
        return lambda name: name
    if isinstance(rename, Mapping):
        return lambda name: rename.get(name, name)
    return rename


def _keyed_leaves(pytree: Any, is_leaf: Callable[[Any], bool] | None) -> dict[str, StoredLeaf]:
    """The array-like leaves of `pytree` by safetensors key; two leaves with one key are an error."""
    keyed: dict[str, StoredLeaf] = {}
    for leaf in stored_leaves(pytree, is_leaf):
        key = _path_key(leaf.path)
        if key in keyed:
            raise CheckpointError(
                f"leaves {keyed[key].name} and {leaf.name} both have the safetensors key {key!r}"
            )
        keyed[key] = leaf
    return keyed


def _listing(title: str, items: list[str]) -> str:
    shown = ", ".join(items[:_LISTED])
    more = f", and {len(items) - _LISTED} more" if len(items) > _LISTED else ""
    return f"\n  {title} ({len(items)}): {shown}{more}"


def save_safetensors(
    path: str | os.PathLike,
    pytree: Any,
    *,
    rename: Rename | None = None,
    metadata: Mapping[str, str] | None = None,
    is_leaf: Callable[[Any], bool] | None = None,
) -> None:
    """Write the array-like leaves of `pytree` to a safetensors file, one tensor per leaf.

    Args:
        path: the file to write (atomically: to a temporary file, then renamed).
        pytree: e.g. a Module. Python numbers are stored as 0-d tensors.
        rename: maps each key (`blocks.0.attn.query_proj.weight`) to the name to
            store it under, e.g. a PyTorch one; a function or a mapping (keys it
            lacks keep their name). `None` leaves the tensor out.
        metadata: text stored in the file's header, e.g. `{"format": "pt"}`.
        is_leaf: passed to the flattening of `pytree`.

    Raises:
        CheckpointError: a leaf has a dtype safetensors does not store (complex128,
            float8, int4...) or no values (a `ShapeDtypeStruct`), or two leaves
            get the same name.
    """
    safetensors = _import_safetensors()
    rename_key = _as_function(rename)
    tensors: dict[str, np.ndarray] = {}
    stored_as: dict[str, str] = {}
    for key, leaf in _keyed_leaves(pytree, is_leaf).items():
        name = rename_key(key)
        if name is None:
            continue
        if name in tensors:
            raise CheckpointError(f"`rename` gives {stored_as[name]} and {leaf.name} the same name {name!r}")
        values = values_to_store(leaf)
        if values.dtype.name not in _DTYPE_CODES:
            raise CheckpointError(
                f"leaf {leaf.name} has dtype {values.dtype.name}, which safetensors files do not "
                f"store here (they store {', '.join(_DTYPE_CODES)}); use tree_serialise_leaves"
            )
        # The writer reads each array's memory as it lies, so it needs C order.
        tensors[name] = values if values.flags.c_contiguous else values.copy(order="C")
        stored_as[name] = leaf.name
    destination = os.fspath(path)
    temporary = f"{destination}.partial"
    try:
        safetensors.numpy.save_file(tensors, temporary, metadata=dict(metadata) if metadata else None)
        os.replace(temporary, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def load_safetensors(
    path: str | os.PathLike,
    like: Any,
    *,
    rename: Rename | None = None,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Load a safetensors file into the structure of `like`, matching tensors to leaves by name.

    Args:
        path: the safetensors file.
        like: a PyTree with the wanted structure, e.g. a freshly built model or the
            output of `filter_eval_shape`. Its non-array-like leaves are kept.
        rename: maps each tensor name of the file to the key of a leaf of `like`
            (`blocks.0.attn.query_proj.weight`); a function or a mapping (names it
            lacks are kept). `None` skips the tensor, e.g. a PyTorch
            `num_batches_tracked` buffer.
        is_leaf: passed to the flattening of `like`.

    Returns:
        `like` with each array-like leaf replaced by its tensor, of the leaf's type
        (JAX array, NumPy array or scalar, Python number).

    Raises:
        CheckpointError: some leaf of `like` has no tensor, some tensor has no
            leaf, or a tensor's shape or dtype differs from its leaf's. One error
            lists all of them. No conversion is ever made.
    """
    safetensors = _import_safetensors()
    rename_key = _as_function(rename)
    expected = _keyed_leaves(like, is_leaf)
    file_name = os.fspath(path)
    try:
        handle = safetensors.safe_open(file_name, framework="np")
    except safetensors.SafetensorError as error:
        raise CheckpointError(f"{file_name}: not a readable safetensors file ({error})") from error
    with handle as file:
        sources: dict[str, str] = {}
        unexpected, mismatched = [], []
        for name in file.keys():
            key = rename_key(name)
            if key is None:
                continue
            shown = name if key == name else f"{name} (renamed {key})"
            if key in sources:
                raise CheckpointError(f"{file_name}: `rename` maps both {sources[key]!r} and {name!r} to {key!r}")
            sources[key] = name
            if key not in expected:
                unexpected.append(shown)
                continue
            tensor = file.get_slice(name)
            code, shape = tensor.get_dtype(), tuple(tensor.get_shape())
            leaf = expected[key]
            dtype = _CODE_DTYPES.get(code)
            if dtype is None or not matches(leaf, dtype, shape):
                stored = describe(dtype, shape) if dtype is not None else f"{code}{list(shape)}"
                mismatched.append(f"{shown}: the file has {stored}, `like` has {leaf.describe()}")
        missing = [key for key in expected if key not in sources]
        if missing or unexpected or mismatched:
            raise CheckpointError(
                f"{file_name} does not match `like`:"
                + (_listing("missing from the file", missing) if missing else "")
                + (_listing("in the file but not in `like`", unexpected) if unexpected else "")
                + (_listing("of another shape or dtype", mismatched) if mismatched else "")
            )
        loaded = [restore(file.get_tensor(sources[key]), leaf) for key, leaf in expected.items()]
    return with_loaded_leaves(like, is_leaf, loaded)

