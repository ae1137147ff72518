"""Transformations that trace a function once: `filter_eval_shape`,
`filter_make_jaxpr`, `filter_checkpoint`.

Each splits the function and its arguments into array leaves (handed to the JAX
transformation) and everything else (closed over), and gives non-array
outputs back unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax

from ._filters import combine, is_array, partition
from ._module import _FunctionWrapper, field

__all__ = ["filter_eval_shape", "filter_make_jaxpr", "filter_checkpoint"]


def _is_array_or_struct(x: Any) -> bool:
    return is_array(x) or isinstance(x, jax.ShapeDtypeStruct)


def _on_arrays(
    fun: Callable, args: tuple[Any, ...], kwargs: dict[str, Any], is_input: Callable[[Any], bool] = is_array
) -> tuple[Callable, Any, list[Any]]:
    """Split `fun(*args, **kwargs)` into a function of its leaves selected by `is_input`.

    Returns:
        `(function, arrays, static_output)`: `function(arrays)` returns the
        output's array leaves (in the output's structure, `None` elsewhere), and
        appends the non-array rest of the output to `static_output` when traced.
    """
    arrays, static = partition((fun, args, kwargs), is_input)
    static_output: list[Any] = []

    def function(arrays: Any) -> Any:
        call, call_args, call_kwargs = combine(arrays, static)
        out_arrays, out_static = partition(call(*call_args, **call_kwargs), is_array)
        static_output.append(out_static)
        return out_arrays

    return function, arrays, static_output


def filter_eval_shape(fun: Callable, *args: Any, **kwargs: Any) -> Any:
    """The output of `fun(*args, **kwargs)` without computing it.

    Array leaves of the arguments may be arrays or `jax.ShapeDtypeStruct`s; other
    leaves are passed as they are.

    Returns:
        The output with every array replaced by a `jax.ShapeDtypeStruct` and every
        other leaf as `fun` returned it.
    """
    function, arrays, static_output = _on_arrays(fun, args, kwargs, _is_array_or_struct)
    shapes = jax.eval_shape(function, arrays)
    return combine(shapes, static_output[-1])


def filter_make_jaxpr(fun: Callable) -> Callable[..., tuple[Any, Any, Any]]:
    """Trace `fun` to a jaxpr, treating only array leaves as inputs.

    Returns:
        A function of `fun`'s arguments returning `(closed_jaxpr, out_shapes,
        out_static)`: the jaxpr, the output's arrays as `jax.ShapeDtypeStruct`s
        (`None` elsewhere), and its non-array leaves (`None` at arrays).
    """

    def make_jaxpr(*args: Any, **kwargs: Any) -> tuple[Any, Any, Any]:
        function, arrays, static_output = _on_arrays(fun, args, kwargs)
        jaxpr, shapes = jax.make_jaxpr(function, return_shape=True)(arrays)
        return jaxpr, shapes, static_output[-1]

    return make_jaxpr


class _CheckpointWrapper(_FunctionWrapper):
    prevent_cse: bool = field(static=True)
    policy: Callable | None = field(static=True)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        function, arrays, static_output = _on_arrays(self.fun, args, kwargs)
        out_arrays = jax.checkpoint(function, prevent_cse=self.prevent_cse, policy=self.policy)(arrays)
        return combine(out_arrays, static_output[-1])


def filter_checkpoint(fun: Callable | None = None, *, prevent_cse: bool = True, policy: Callable | None = None) -> Any:
    """`jax.checkpoint` (rematerialisation) over the array leaves of the arguments.

    Args:
        fun: the function whose intermediate values are recomputed in the
            backward pass instead of stored. Usable as a decorator.
        prevent_cse: as in `jax.checkpoint`.
        policy: a `jax.checkpoint_policies` policy saying which values to save.

    Returns:
        The wrapped function; same outputs as `fun`.
    """
    if fun is None:
        return lambda fun: filter_checkpoint(fun, prevent_cse=prevent_cse, policy=policy)
    return _CheckpointWrapper(fun, prevent_cse, policy)
