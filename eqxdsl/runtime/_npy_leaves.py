"""Equinox's checkpoint format: one NumPy `.npy` record per array-like leaf, back to back.

This is what `equinox.tree_serialise_leaves` writes (through `numpy.save`): no
file header, no leaf names, no checksums. Records are read here with NumPy's
header parser only (never `numpy.load`), so a record of Python objects is
refused instead of unpickled. NumPy stores the `ml_dtypes` types (bfloat16,
float8, ...) as raw void data of their size; such a record takes the dtype of
the `like` leaf it fills.
"""

from __future__ import annotations

import math
from typing import IO

import numpy as np

from ._checkpoint_leaves import (
    CheckpointError,
    StoredLeaf,
    describe,
    is_storable_dtype,
    matches,
    read_exact,
    values_to_store,
)

NPY_MAGIC = b"\x93NUMPY"
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _names_itself(dtype: np.dtype) -> bool:
    """Whether the `.npy` header string of `dtype` reads back as `dtype`."""
    try:
        return np.dtype(dtype.str) == dtype
    except TypeError:
        return False


def write_npy_leaves(file: IO[bytes], stored: list[StoredLeaf]) -> None:
    """Write one `.npy` record per leaf, as `numpy.save` does, except that every
    `ml_dtypes` type is written as raw void data, as NumPy writes bfloat16 (NumPy
    cannot read back the header it writes for float8)."""
    for leaf in stored:
        values = values_to_store(leaf)
        if not _names_itself(values.dtype):
            values = values.view(f"V{values.dtype.itemsize}")
        np.lib.format.write_array(file, values, allow_pickle=False)


def _read_header(file: IO[bytes], where: str) -> tuple[np.dtype, tuple[int, ...], bool]:
    """`(dtype, shape, fortran_order)` of the record whose magic string was just read."""
    version = tuple(read_exact(file, 2, f"the .npy header of leaf {where}"))
    reader = _HEADER_READERS.get(version)
    if reader is None:
        raise CheckpointError(f"leaf {where}: unsupported .npy format version {version[0]}.{version[1]}")
    try:
        shape, fortran_order, dtype = reader(file)
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"file is corrupted or truncated: the .npy header of leaf {where} is unreadable ({error})") from error
    if not is_storable_dtype(dtype) and not (dtype.type is np.void and dtype.fields is None):
        # Object records would need unpickling; strings, dates and records are not leaves we store.
        raise CheckpointError(
            f"leaf {where}: the file holds an array of dtype {dtype}; checkpoints hold numbers and booleans, "
            "never Python objects or text"
        )
    return dtype, shape, fortran_order


def _as_like_dtype(dtype: np.dtype, leaf: StoredLeaf) -> np.dtype:
    """The record's dtype in native byte order; raw void data of the right size takes the
    `ml_dtypes` dtype of `leaf`."""
    if (
        dtype.type is np.void
        and leaf.kind == "array"
        and not _names_itself(leaf.dtype)
        and dtype.itemsize == leaf.dtype.itemsize
    ):
        return leaf.dtype
    return dtype.newbyteorder("=")


def read_npy_leaves(file: IO[bytes], expected: list[StoredLeaf], first_magic: bytes) -> list[np.ndarray]:
    """Read one record per expected leaf, checking each against its leaf.

    Args:
        file: positioned just after the magic string of the first record.
        expected: the array-like leaves of `like`, in order.
        first_magic: the magic string already read from `file`.

    Returns:
        The values of each leaf, as NumPy arrays of the leaf's dtype and shape.
    """
    loaded = []
    magic = first_magic
    for index, leaf in enumerate(expected):
        if index:
            magic = file.read(len(NPY_MAGIC))
        if not magic:
            raise CheckpointError(
                f"structure mismatch or truncated file: the file ends after {index} leaves, "
                f"`like` has {len(expected)} array-like leaves (the next is {leaf.name})"
            )
        if magic != NPY_MAGIC:
            raise CheckpointError(f"file is corrupted or truncated: leaf {index} ({leaf.name}) does not start a .npy record")
        stored_dtype, shape, fortran_order = _read_header(file, leaf.name)
        dtype = _as_like_dtype(stored_dtype, leaf)
        if not matches(leaf, dtype, shape):
            raise CheckpointError(f"leaf {leaf.name}: the file has {describe(dtype, shape)}, `like` has {leaf.describe()}")
        data = read_exact(file, math.prod(shape) * dtype.itemsize, f"the values of leaf {leaf.name}")
        raw = np.frombuffer(data, dtype=dtype if stored_dtype.type is np.void else stored_dtype)
        values = raw.reshape(shape, order="F" if fortran_order else "C").astype(dtype, copy=False)
        loaded.append(values)
    if file.read(1):
        raise CheckpointError(
            f"structure mismatch: the file holds more than the {len(expected)} array-like leaves of `like`"
        )
    return loaded
