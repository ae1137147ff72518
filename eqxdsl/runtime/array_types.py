"""jaxtyping's array annotations for generated modules, with jaxtyping imported only when one is read.

A generated module annotates its inputs and outputs as `x: Float[Array, "T dim"]`
under `from __future__ import annotations`, so annotations stay strings that
importing the module never evaluates. A run-time checker that does evaluate
them (jaxtyping's `jaxtyped(typechecker=beartype)`) finds these names in the
module: `Float[Array, "T dim"]` here imports jaxtyping and gives its
`Float[Array, "T dim"]`; without jaxtyping it gives plain `jax.Array`, so the
module never needs it. Static checkers read jaxtyping's own names instead (the
module imports them under `TYPE_CHECKING`).
"""

from __future__ import annotations

import functools

import jax

__all__ = ["Array", "Bool", "Complex", "Float", "Integer"]

#: jaxtyping's `Array` is `jax.Array`; nothing needs to stand in for it.
Array = jax.Array


@functools.cache
def _annotation(family: str, array: type, axes: str) -> object:
    try:
        import jaxtyping
    except ImportError:
        return array
    return getattr(jaxtyping, family)[array, axes]


class _DtypeFamily:
    """A stand-in for one of jaxtyping's dtype families (`Float`, `Integer`, ...)."""

    def __init__(self, family: str):
        self._family = family

    def __getitem__(self, item: tuple[type, str]) -> object:
        """`Float[array_type, "axes"]`: jaxtyping's annotation, or `array_type` without jaxtyping."""
        array, axes = item
        return _annotation(self._family, array, axes)

    def __repr__(self) -> str:
        return f"eqxdsl.runtime.array_types.{self._family}"


Float = _DtypeFamily("Float")
Integer = _DtypeFamily("Integer")
Bool = _DtypeFamily("Bool")
Complex = _DtypeFamily("Complex")
