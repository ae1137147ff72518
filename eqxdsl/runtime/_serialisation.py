"""Saving and loading the array-like leaves of a PyTree, without pickle.

File format (all integers little-endian):

    b"EQXDSL-LEAVES\\n"                       magic, 14 bytes
    u32 n, n bytes of JSON                   file header: {"version": 1, "count": N}
    N records, each:
        u32 n, n bytes of JSON               {"path", "kind", "dtype", "shape", "nbytes", "crc32"}
        nbytes bytes                         the values, C order, little-endian

`kind` is `"array"` or the Python scalar type (`"bool"`, `"int"`, `"float"`,
`"complex"`). Leaves that are not array-like (functions, strings, ...) are not
stored: they come from `like` when loading. Only the structure of `like` says
where each record goes; the stored paths make error messages precise.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from collections.abc import Callable
from typing import IO, Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np

__all__ = ["tree_serialise_leaves", "tree_deserialise_leaves"]

_MAGIC = b"EQXDSL-LEAVES\n"
_VERSION = 1
_LENGTH = struct.Struct("<I")
_SCALAR_KINDS: dict[type, str] = {bool: "bool", int: "int", float: "float", complex: "complex"}
_SCALAR_DTYPES = {"bool": np.bool_, "int": np.int64, "float": np.float64, "complex": np.complex128}
_SCALAR_TYPES = {kind: scalar_type for scalar_type, kind in _SCALAR_KINDS.items()}


class CheckpointError(ValueError):
    """A leaf file that does not match `like`, or that is truncated or corrupted."""


def _kind(leaf: Any) -> str | None:
    """What a leaf is stored as, or None when it is not stored."""
    if isinstance(leaf, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct)):
        return "array"
    return _SCALAR_KINDS.get(type(leaf))


def _stored_leaves(pytree: Any, is_leaf: Callable[[Any], bool] | None) -> list[tuple[str, Any, str]]:
    """`(path, leaf, kind)` for each leaf that is stored, depth first."""
    with_paths, _ = jtu.tree_flatten_with_path(pytree, is_leaf=is_leaf)
    stored = []
    for path, leaf in with_paths:
        kind = _kind(leaf)
        if kind is not None:
            stored.append((jtu.keystr(path) or "<root>", leaf, kind))
    return stored


def _write_block(file: IO[bytes], payload: bytes) -> None:
    file.write(_LENGTH.pack(len(payload)))
    file.write(payload)


def _write_leaves(file: IO[bytes], stored: list[tuple[str, Any, str]]) -> None:
    file.write(_MAGIC)
    _write_block(file, json.dumps({"version": _VERSION, "count": len(stored)}).encode())
    for path, leaf, kind in stored:
        if isinstance(leaf, jax.ShapeDtypeStruct):
            raise CheckpointError(f"leaf {path} is a ShapeDtypeStruct, which has no values to save")
        values = np.asarray(leaf, dtype=_SCALAR_DTYPES[kind]) if kind != "array" else np.asarray(leaf)
        values = np.ascontiguousarray(values)
        if values.dtype.byteorder == ">":
            values = values.astype(values.dtype.newbyteorder("<"))
        data = values.tobytes()
        header = {
            "path": path,
            "kind": kind,
            "dtype": values.dtype.name,
            "shape": list(values.shape),
            "nbytes": len(data),
            "crc32": zlib.crc32(data),
        }
        _write_block(file, json.dumps(header).encode())
        file.write(data)


def tree_serialise_leaves(path_or_file: str | os.PathLike | IO[bytes], pytree: Any, is_leaf: Callable[[Any], bool] | None = None) -> None:
    """Save the array-like leaves of `pytree` (arrays and Python numbers).

    Args:
        path_or_file: a file path (written atomically: to a temporary file, then
            renamed) or a binary file object open for writing.
        pytree: the PyTree, e.g. a Module.
        is_leaf: passed to the flattening of `pytree`.
    """
    stored = _stored_leaves(pytree, is_leaf)
    if hasattr(path_or_file, "write"):
        _write_leaves(path_or_file, stored)  # type: ignore[arg-type]
        return
    path = os.fspath(path_or_file)
    temporary = f"{path}.partial"
    with open(temporary, "wb") as file:
        _write_leaves(file, stored)
    os.replace(temporary, path)


def _read_exact(file: IO[bytes], size: int, what: str) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise CheckpointError(f"file is truncated: it ends inside {what} (expected {size} bytes, found {len(data)})")
    return data


def _read_json(file: IO[bytes], what: str) -> dict[str, Any]:
    (size,) = _LENGTH.unpack(_read_exact(file, _LENGTH.size, what))
    raw = _read_exact(file, size, what)
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
    if dtype.hasobject:
        # Object arrays hold Python objects, which only unpickling could restore.
        raise CheckpointError(f"{what}: the file claims dtype {dtype_name!r}, which holds Python objects")
    if nbytes != math.prod(shape) * dtype.itemsize:
        raise corrupted(f"gives {nbytes} bytes for {dtype.name}{shape}")
    return stored_path, kind, dtype, tuple(shape), nbytes, checksum


def _describe(kind: str, dtype: Any, shape: Any) -> str:
    if kind != "array":
        return f"a Python {kind}"
    return f"{np.dtype(dtype).name}{list(shape)}"


def _read_leaves(file: IO[bytes], like: Any, is_leaf: Callable[[Any], bool] | None) -> Any:
    magic = file.read(len(_MAGIC))
    if magic != _MAGIC:
        raise CheckpointError("not an eqxdsl leaf file (the header does not start with the expected bytes)")
    header = _read_json(file, "the file header")
    if header.get("version") != _VERSION:
        raise CheckpointError(f"unsupported leaf file version {header.get('version')!r} (this reads version {_VERSION})")
    expected = _stored_leaves(like, is_leaf)
    count = header.get("count")
    if count != len(expected):
        raise CheckpointError(
            f"structure mismatch: the file holds {count} array-like leaves, `like` has {len(expected)}"
        )
    loaded = []
    for index, (path, like_leaf, like_kind) in enumerate(expected):
        record = _read_json(file, f"the header of leaf {index} ({path})")
        stored_path, kind, dtype, shape, nbytes, checksum = _parse_record(record, f"leaf {index} ({path})")
        where = path if stored_path == path else f"{path} (saved as {stored_path})"
        like_dtype = np.dtype(_SCALAR_DTYPES[like_kind]) if like_kind != "array" else np.dtype(like_leaf.dtype)
        like_shape = () if like_kind != "array" else tuple(like_leaf.shape)
        if kind != like_kind or (kind == "array" and (dtype != like_dtype or shape != like_shape)):
            raise CheckpointError(
                f"leaf {where}: the file has {_describe(kind, dtype, shape)}, "
                f"`like` has {_describe(like_kind, like_dtype, like_shape)}"
            )
        data = _read_exact(file, nbytes, f"the values of leaf {where}")
        if zlib.crc32(data) != checksum:
            raise CheckpointError(f"file is corrupted: the values of leaf {where} fail their checksum")
        values = np.frombuffer(data, dtype=dtype).reshape(shape)
        loaded.append(_restore(values, like_leaf, kind))
    if file.read(1):
        raise CheckpointError("file is corrupted: there is data after the last leaf")
    replacements = iter(loaded)
    leaves, treedef = jtu.tree_flatten(like, is_leaf=is_leaf)
    return treedef.unflatten([next(replacements) if _kind(leaf) is not None else leaf for leaf in leaves])


def _restore(values: np.ndarray, like_leaf: Any, kind: str) -> Any:
    if kind != "array":
        return _SCALAR_TYPES[kind](values.item())
    if isinstance(like_leaf, (np.ndarray, np.generic)):
        return values.copy()
    return jnp.asarray(values)


def tree_deserialise_leaves(path_or_file: str | os.PathLike | IO[bytes], like: Any, is_leaf: Callable[[Any], bool] | None = None) -> Any:
    """Load leaves saved by `tree_serialise_leaves` into the structure of `like`.

    Args:
        path_or_file: a file path or a binary file object open for reading.
        like: a PyTree with the saved structure, e.g. a freshly built model or the
            output of `filter_eval_shape` (its arrays may be `jax.ShapeDtypeStruct`s).
            Its non-array-like leaves are kept as they are.
        is_leaf: passed to the flattening of `like`.

    Returns:
        `like` with its array-like leaves replaced by the saved values (JAX
        arrays, NumPy arrays where `like` has NumPy arrays, Python numbers where
        it has Python numbers).

    Raises:
        CheckpointError: the file does not match `like` (the message names the
            leaf and what differs), or it is truncated or corrupted.
    """
    if hasattr(path_or_file, "read"):
        return _read_leaves(path_or_file, like, is_leaf)  # type: ignore[arg-type]
    with open(os.fspath(path_or_file), "rb") as file:
        return _read_leaves(file, like, is_leaf)
