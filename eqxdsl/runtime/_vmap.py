"""`filter_vmap`: `jax.vmap` whose axes are given per leaf, arrays only by default."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu

from ._filters import combine, is_array, partition
from ._module import Module, _FunctionWrapper, field

__all__ = ["filter_vmap", "if_array"]


class if_array(Module):  # noqa: N801 - named like a function, as in Equinox
    """An axis spec: `axis` for array leaves, `None` (not mapped) for every other leaf."""

    axis: int = field(static=True)

    def __call__(self, leaf: Any) -> int | None:
        return self.axis if is_array(leaf) else None


def _is_none(x: Any) -> bool:
    return x is None


def _resolve_axes(pytree: Any, axes: Any, what: str) -> Any:
    """Expand an axis-spec prefix into one `int | None` per leaf of `pytree`."""

    def expand(spec: Any, subtree: Any) -> Any:
        if spec is None or isinstance(spec, int):
            return jtu.tree_map(lambda _: spec, subtree)
        if callable(spec):
            return jtu.tree_map(spec, subtree)
        raise TypeError(f"filter_vmap: {what} entries must be an int, None or a callable, got {spec!r}")

    try:
        return jtu.tree_map(expand, axes, pytree, is_leaf=lambda x: x is None or callable(x))
    except ValueError as error:
        raise ValueError(f"filter_vmap: {what} is not a PyTree prefix of the values it describes: {error}") from error


class _VmapWrapper(_FunctionWrapper):
    in_axes: Any = field(static=True)
    out_axes: Any = field(static=True)
    axis_name: Hashable = field(static=True)
    axis_size: int | None = field(static=True)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            raise TypeError(
                "functions wrapped with filter_vmap take positional arguments only "
                f"(got keywords {sorted(kwargs)}); in_axes describes the positional arguments"
            )
        in_axes = self.in_axes if isinstance(self.in_axes, tuple) else (self.in_axes,) * len(args)
        if len(in_axes) != len(args):
            raise ValueError(f"filter_vmap: in_axes has {len(in_axes)} entries for {len(args)} arguments")
        axes = _resolve_axes(args, in_axes, "in_axes")
        for leaf, axis in zip(jtu.tree_leaves(args), jtu.tree_leaves(axes, is_leaf=_is_none)):
            if axis is not None and not is_array(leaf):
                raise ValueError(f"filter_vmap: in_axes maps axis {axis} of {leaf!r}, which is not an array")
        unmapped = jtu.tree_map(_is_none, axes, is_leaf=_is_none)
        static_args, mapped_args = partition(args, unmapped)
        static_output: list[Any] = []

        def on_mapped(mapped: Any) -> Any:
            out = self.fun(*combine(mapped, static_args))
            out_axes = _resolve_axes(out, self.out_axes, "out_axes")
            not_mapped = jtu.tree_map(_is_none, out_axes, is_leaf=_is_none)
            unmapped_out, mapped_out = partition(out, not_mapped, is_leaf=_is_none)
            unmapped_arrays, unmapped_static = partition(unmapped_out, is_array)
            static_output.append((unmapped_static, out_axes))
            return mapped_out, unmapped_arrays

        mapped_out, unmapped_arrays = jax.vmap(
            on_mapped,
            in_axes=(axes,),
            out_axes=(0, None),
            axis_name=self.axis_name,
            axis_size=self.axis_size,
        )(mapped_args)
        unmapped_static, out_axes = static_output[-1]
        mapped_out = jtu.tree_map(
            lambda x, axis: x if axis is None else jnp.moveaxis(x, 0, axis),
            mapped_out,
            out_axes,
            is_leaf=_is_none,
        )
        return combine(mapped_out, unmapped_arrays, unmapped_static)


def filter_vmap(
    fun: Callable | None = None,
    *,
    in_axes: Any = if_array(0),
    out_axes: Any = if_array(0),
    axis_name: Hashable = None,
    axis_size: int | None = None,
) -> Any:
    """Vectorise `fun` over axes chosen per leaf.

    Args:
        fun: the function; positional arguments only. Usable as a decorator.
        in_axes: a PyTree prefix of the tuple of positional arguments (or one
            spec for all of them) whose leaves are an int (map that axis), `None`
            (broadcast) or a callable `leaf -> int | None` such as `if_array(0)`
            (the default: map axis 0 of every array, broadcast everything else).
        out_axes: the same for the output. Non-array outputs must get `None`
            and are returned as they are.
        axis_name: a name for collective operations (`jax.lax.psum`, ...).
        axis_size: the mapped size, needed when no input is mapped.

    Returns:
        The vectorised function. `filter_vmap(make_model)(keys)` builds an
        ensemble: one model per key, arrays stacked along axis 0.
    """
    if fun is None:
        return lambda fun: filter_vmap(fun, in_axes=in_axes, out_axes=out_axes, axis_name=axis_name, axis_size=axis_size)
    if not callable(fun):
        raise TypeError(f"filter_vmap needs a callable, got {fun!r}")
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    return _VmapWrapper(fun, in_axes, out_axes, axis_name, axis_size)
