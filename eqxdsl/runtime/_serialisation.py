"""Saving and loading the array-like leaves of a PyTree, without pickle.

Two file formats are written, and loading tells them apart by their first bytes:

- `"eqxdsl"` (the default), with a header, leaf paths and checksums. All
  integers little-endian:

      b"EQXDSL-LEAVES\\n"                       magic, 14 bytes
      u32 n, n bytes of JSON                   file header: {"version": 1, "count": N}
      N records, each:
          u32 n, n bytes of JSON               {"path", "kind", "dtype", "shape", "nbytes", "crc32"}
          nbytes bytes                         the values, C order, little-endian

  `kind` is `"array"` or the Python scalar type (`"bool"`, `"int"`, `"float"`,
  `"complex"`); `shape` is `[]` for a 0-d array.
- `"equinox"`: Equinox's format, one `.npy` record per leaf (see `_npy_leaves`).

Only the structure of `like` says where each stored leaf goes; the stored paths
make error messages precise.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import zlib
from collections.abc import Callable
from typing import IO, Any, Literal

import jax.numpy as jnp
import numpy as np

from ._checkpoint_leaves import (
    CheckpointError,
    StoredLeaf,
    describe,
    is_storable_dtype,
    matches,
    read_exact,
    restore,
    stored_leaves,
    values_to_store,
    with_loaded_leaves,
)
from ._equinox_layout import from_equinox_layout, to_equinox_layout
from ._npy_leaves import NPY_MAGIC, read_npy_leaves, write_npy_leaves

__all__ = ["tree_serialise_leaves", "tree_deserialise_leaves", "CheckpointError"]

_MAGIC = b"EQXDSL-LEAVES\n"
_VERSION = 1
_LENGTH = struct.Struct("<I")
_FORMATS = ("eqxdsl", "equinox")


def _write_block(file: IO[bytes], payload: bytes) -> None:
    file.write(_LENGTH.pack(len(payload)))
    file.write(payload)


def _write_eqxdsl_leaves(file: IO[bytes], stored: list[StoredLeaf]) -> None:
    file.write(_MAGIC)
    _write_block(file, json.dumps({"version": _VERSION, "count": len(stored)}).encode())
    for leaf in stored:
        values = values_to_store(leaf)
        data = values.astype(values.dtype.newbyteorder("<"), copy=False).tobytes(order="C")
        header = {
            "path": leaf.name,
            "kind": leaf.kind,
            "dtype": values.dtype.name,
            "shape": list(values.shape),
            "nbytes": len(data),
            "crc32": zlib.crc32(data),
        }
        _write_block(file, json.dumps(header).encode())
        file.write(data)


def tree_serialise_leaves(
    path_or_file: str | os.PathLike | IO[bytes],
    pytree: Any,
    is_leaf: Callable[[Any], bool] | None = None,
    *,
    format: Literal["eqxdsl", "equinox"] = "eqxdsl",
) -> None:
    """Save the array-like leaves of `pytree` (arrays of any dtype and shape, Python numbers).

    Args:
        path_or_file: a file path (written atomically: to a temporary file, then
            renamed; used as given, no suffix is added) or a binary file object
            open for writing.
        pytree: the PyTree, e.g. a Module.
        is_leaf: passed to the flattening of `pytree`.
        format: `"eqxdsl"` (leaf paths and checksums) or `"equinox"`, the format of
            `equinox.tree_serialise_leaves`, which `equinox.tree_deserialise_leaves`
            loads.

    Raises:
        CheckpointError: a leaf cannot be stored (a `ShapeDtypeStruct`, a PRNG key
            array, a Python int beyond int64, an array of strings or objects). A path
            is then left as it was.
        ValueError: `format` is not one of the two formats.
    """
    if format not in _FORMATS:
        raise ValueError(f"tree_serialise_leaves: format must be one of {_FORMATS}, got {format!r}")
    if format == "eqxdsl":
        stored, write = stored_leaves(pytree, is_leaf), _write_eqxdsl_leaves
    else:
        stored, write = stored_leaves(to_equinox_layout(pytree, is_leaf), is_leaf), write_npy_leaves
    if hasattr(path_or_file, "write"):
        write(path_or_file, stored)  # type: ignore[arg-type]
        return
    path = os.fspath(path_or_file)
    temporary = f"{path}.partial"
    try:
        with open(temporary, "wb") as file:
            write(file, stored)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def _read_json(file: IO[bytes], what: str) -> dict[str, Any]:
    (size,) = _LENGTH.unpack(read_exact(file, _LENGTH.size, what))
    raw = read_exact(file, size, what)
    try:
        header = json.loads(raw.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"file is corrupted: {what} is not readable ({error})") from error
    if not isinstance(header, dict):
        raise CheckpointError(f"file is corrupted: {what} is not a record header")
    return header


def _parse_record(record: dict[str, Any], what: str) -> tuple[str, str, np.dtype, tuple[int, ...], int, int]:
    """Validate one leaf's header: every field present, of its type, and consistent."""

    def corrupted(detail: str) -> CheckpointError:
        return CheckpointError(f"file is corrupted: the header of {what} {detail}")

    def is_count(value: Any) -> bool:
        return type(value) is int and value >= 0

    try:
        stored_path, kind, dtype_name = record["path"], record["kind"], record["dtype"]
        shape, nbytes, checksum = record["shape"], record["nbytes"], record["crc32"]
    except KeyError as error:
        raise corrupted(f"lacks the field {error.args[0]!r}") from error
    if not (isinstance(stored_path, str) and isinstance(kind, str) and isinstance(dtype_name, str)):
        raise corrupted("has a path, kind or dtype that is not text")
    if not (isinstance(shape, list) and all(map(is_count, shape))):
        raise corrupted(f"has an invalid shape {shape!r}")
    if not (is_count(nbytes) and is_count(checksum)):
        raise corrupted("has an invalid size or checksum")
    try:
        dtype = np.dtype(jnp.dtype(dtype_name))
    except TypeError as error:
        raise corrupted(f"names an unknown dtype {dtype_name!r}") from error
    if not is_storable_dtype(dtype):
        # Object arrays hold Python objects, which only unpickling could restore.
        raise CheckpointError(
            f"{what}: the file claims dtype {dtype_name!r}; checkpoints hold numbers and booleans, "
            "never Python objects or text"
        )
    if nbytes != math.prod(shape) * dtype.itemsize:
        raise corrupted(f"gives {nbytes} bytes for {dtype.name}{shape}")
    return stored_path, kind, dtype, tuple(shape), nbytes, checksum


def _read_eqxdsl_leaves(file: IO[bytes], expected: list[StoredLeaf]) -> list[np.ndarray]:
    """Read the records of our format (after its magic string), checking each against `expected`."""
    header = _read_json(file, "the file header")
    if header.get("version") != _VERSION:
        raise CheckpointError(f"unsupported leaf file version {header.get('version')!r} (this reads version {_VERSION})")
    count = header.get("count")
    if count != len(expected):
        raise CheckpointError(
            f"structure mismatch: the file holds {count} array-like leaves, `like` has {len(expected)}"
        )
    loaded = []
    for index, leaf in enumerate(expected):
        record = _read_json(file, f"the header of leaf {index} ({leaf.name})")
        stored_path, kind, dtype, shape, nbytes, checksum = _parse_record(record, f"leaf {index} ({leaf.name})")
        where = leaf.name if stored_path == leaf.name else f"{leaf.name} (saved as {stored_path})"
        if kind != leaf.kind or not matches(leaf, dtype, shape):
            stored = f"a Python {kind}" if kind != "array" else describe(dtype, shape)
            raise CheckpointError(f"leaf {where}: the file has {stored}, `like` has {leaf.describe()}")
        data = read_exact(file, nbytes, f"the values of leaf {where}")
        if zlib.crc32(data) != checksum:
            raise CheckpointError(f"file is corrupted: the values of leaf {where} fail their checksum")
        values = np.frombuffer(data, dtype=dtype.newbyteorder("<")).reshape(shape)
        loaded.append(values.astype(dtype, copy=False))
    if file.read(1):
        raise CheckpointError("file is corrupted: there is data after the last leaf")
    return loaded


def _read_leaves(file: IO[bytes], like: Any, is_leaf: Callable[[Any], bool] | None) -> Any:
    head = file.read(len(NPY_MAGIC))
    if head and _MAGIC.startswith(head):
        head += file.read(len(_MAGIC) - len(head))
    if head == _MAGIC:
        expected = stored_leaves(like, is_leaf)
        loaded = _read_eqxdsl_leaves(file, expected)
        return with_loaded_leaves(like, is_leaf, [restore(values, leaf) for values, leaf in zip(loaded, expected)])
    if head and head != NPY_MAGIC:
        if _MAGIC.startswith(head) or NPY_MAGIC.startswith(head):
            raise CheckpointError(f"file is truncated: it ends inside its first header ({head!r})")
        raise CheckpointError(
            f"not a leaf checkpoint: the file starts with {head!r}, which is neither eqxdsl's "
            f"header {_MAGIC!r} nor a NumPy .npy record (Equinox's format)"
        )
    layout = to_equinox_layout(like, is_leaf)
    expected = stored_leaves(layout, is_leaf)
    if not head and expected:
        raise CheckpointError(f"file is truncated: it is empty, `like` has {len(expected)} array-like leaves")
    # An empty file is Equinox's checkpoint of a tree without array-like leaves.
    loaded = read_npy_leaves(file, expected, head) if head else []
    restored = [restore(values, leaf) for values, leaf in zip(loaded, expected)]
    return from_equinox_layout(with_loaded_leaves(layout, is_leaf, restored))


def tree_deserialise_leaves(
    path_or_file: str | os.PathLike | IO[bytes],
    like: Any,
    is_leaf: Callable[[Any], bool] | None = None,
) -> Any:
    """Load leaves saved by `tree_serialise_leaves`, or by `equinox.tree_serialise_leaves`,
    into the structure of `like`. The format is told from the file's first bytes.

    Args:
        path_or_file: a file path or a binary file object open for reading.
        like: a PyTree with the saved structure, e.g. a freshly built model or the
            output of `filter_eval_shape` (its arrays may be `jax.ShapeDtypeStruct`s).
            Its non-array-like leaves are kept as they are.
        is_leaf: passed to the flattening of `like`.

    Returns:
        `like` with its array-like leaves replaced by the saved values (JAX
        arrays, with the sharding of `like`'s leaf when it has one; NumPy arrays
        or scalars where `like` has them; Python numbers where it has Python
        numbers).

    Raises:
        CheckpointError: the file does not match `like` (the message names the
            leaf and what differs), or it is truncated or corrupted. Equinox's
            format has no leaf names or checksums: a file for another structure
            is detected only where a dtype, a shape or the leaf count differs.
    """
    if hasattr(path_or_file, "read"):
        return _read_leaves(path_or_file, like, is_leaf)  # type: ignore[arg-type]
    with open(os.fspath(path_or_file), "rb") as file:
        return _read_leaves(file, like, is_leaf)
