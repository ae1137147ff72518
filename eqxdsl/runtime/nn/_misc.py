"""Helpers shared by the layers: default dtype, the uniform initialiser, argument
parsing and the input-shape checks that produce the library's error messages."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np


def default_floating_dtype() -> Any:
    """float64 when JAX runs in 64-bit mode, float32 otherwise."""
    return jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32


def default_init(key: jax.Array, shape: tuple[int, ...], dtype: Any, lim: float) -> jax.Array:
    """Sample ``U(-lim, lim)`` of the given shape and dtype.

    A complex dtype draws its real and imaginary parts from two keys split from
    ``key``, each in the matching real dtype.
    """
    if jnp.issubdtype(dtype, jnp.complexfloating):
        real_dtype = jnp.finfo(dtype).dtype
        real_key, imag_key = jax.random.split(key, 2)
        real = jax.random.uniform(real_key, shape, real_dtype, minval=-lim, maxval=lim)
        imag = jax.random.uniform(imag_key, shape, real_dtype, minval=-lim, maxval=lim)
        return real.astype(dtype) + 1j * imag.astype(dtype)
    return jax.random.uniform(key, shape, dtype, minval=-lim, maxval=lim)


def as_tuple(value: int | Sequence[int], length: int, name: str) -> tuple[int, ...]:
    """Broadcast an int to a tuple of ``length`` ints, or check a sequence's length."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != length:
            raise ValueError(f"`{name}` must be an int or a sequence of {length} ints, got {value!r}")
        return tuple(int(v) for v in value)
    return (int(value),) * length


def as_padding_pairs(
    padding: int | Sequence[int] | Sequence[tuple[int, int]], num_spatial_dims: int
) -> tuple[tuple[int, int], ...]:
    """Normalise an int, per-axis ints or per-axis ``(lo, hi)`` pairs to pairs."""
    if isinstance(padding, (int, np.integer)):
        return ((int(padding), int(padding)),) * num_spatial_dims
    if isinstance(padding, Sequence) and len(padding) == num_spatial_dims:
        if all(isinstance(p, Sequence) for p in padding):
            if any(len(p) != 2 for p in padding):
                raise ValueError(f"every `(lo, hi)` padding pair must have length 2, got {padding!r}")
            return tuple((int(lo), int(hi)) for lo, hi in padding)
        return tuple((int(p), int(p)) for p in padding)
    raise ValueError(
        f"`padding` must be an int, or a sequence of {num_spatial_dims} ints or "
        f"(lo, hi) pairs, got {padding!r}"
    )


def spatial_names(num_spatial_dims: int) -> tuple[str, ...]:
    """Names for free spatial sizes in error messages: ``L``; ``H, W``; ``D, H, W``; ``S1, ...``."""
    names = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
    return names.get(num_spatial_dims, tuple(f"S{i + 1}" for i in range(num_spatial_dims)))


def format_shape(dims: Sequence[int | str]) -> str:
    """Write a shape whose entries may be symbolic names, e.g. ``(3, H, W)``."""
    inner = ", ".join(str(d) for d in dims)
    return f"({inner},)" if len(dims) == 1 else f"({inner})"


def shape_mismatch(
    layer: str, expected: Sequence[int | str], got: tuple[int, ...], what: str = "an input"
) -> ValueError:
    """The error for an input of the wrong shape.

    ``layer`` names the layer with the arguments that fix the shape, e.g.
    ``Linear(in_features=8)``; ``expected`` may hold names for free dimensions.
    A batch dimension too many gets a hint to use ``jax.vmap``.
    """
    hint = ": use jax.vmap for batches" if len(got) > len(expected) else ""
    return ValueError(f"{layer} expected {what} of shape {format_shape(expected)}, got {tuple(got)}{hint}")


def check_shape(layer: str, x: Any, expected: Sequence[int | str], what: str = "an input") -> None:
    """Raise :func:`shape_mismatch` unless ``x`` has the ``expected`` shape.

    Names in ``expected`` match any size; ints must match exactly.
    """
    got = tuple(jnp.shape(x))
    if len(got) != len(expected) or any(isinstance(e, int) and e != g for e, g in zip(expected, got)):
        raise shape_mismatch(layer, expected, got, what)


def replace_attributes(module: Any, **values: Any) -> Any:
    """A copy of the Module ``module`` with some fields, static ones included, replaced.

    ``tree_at`` can only replace PyTree leaves and nodes; static fields live in
    the tree structure. An unregistered draft holding the new field values is
    flattened by the class's own keyed flatten, which yields the new structure,
    and unflattening rebuilds a proper instance from it.
    """
    unknown = set(values) - {f.name for f in dataclasses.fields(module)}
    if unknown:
        raise AttributeError(f"{type(module).__name__} has no field(s) {sorted(unknown)}")
    draft = object.__new__(type(module))
    for f in dataclasses.fields(module):
        object.__setattr__(draft, f.name, values.get(f.name, getattr(module, f.name)))
    children, treedef = jtu.tree_flatten_with_path(draft, is_leaf=lambda child: child is not draft)
    return jtu.tree_unflatten(treedef, [child for _, child in children])
