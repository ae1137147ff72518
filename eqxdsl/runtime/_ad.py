"""Filtered autodiff: differentiate with respect to the inexact arrays of a PyTree.

`filter_grad`, `filter_value_and_grad`, `filter_jacfwd`, `filter_jacrev` and
`filter_hessian` differentiate with respect to the floating/complex arrays of
the *first* argument; every other leaf of it (integer arrays, functions,
Python numbers) is held fixed and gets `None` in the result. `filter_jvp` and
`filter_vjp` do the same for all primals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu

from ._filters import combine, is_inexact_array, partition
from ._module import _FunctionWrapper, field

__all__ = [
    "filter_grad",
    "filter_value_and_grad",
    "filter_jacfwd",
    "filter_jacrev",
    "filter_hessian",
    "filter_jvp",
    "filter_vjp",
]


class _FirstArgTransform(_FunctionWrapper):
    """`transform(f, **options)` applied to the inexact arrays of `fun`'s first argument.

    A Module, so that a `fun` holding arrays (a bound method, say) stays a PyTree
    under `filter_jit` and friends.
    """

    transform: Callable = field(static=True)
    options: tuple[tuple[str, Any], ...] = field(static=True)

    def __call__(self, x: Any, /, *args: Any, **kwargs: Any) -> Any:
        differentiable, fixed = partition(x, is_inexact_array)

        def with_first_arg(differentiable: Any, fixed: Any, *args: Any, **kwargs: Any) -> Any:
            return self.fun(combine(differentiable, fixed), *args, **kwargs)

        return self.transform(with_first_arg, **dict(self.options))(differentiable, fixed, *args, **kwargs)


def _first_arg_transform(transform: Callable, fun: Callable | None, options: dict[str, Any]) -> Any:
    if fun is None:
        return lambda fun: _FirstArgTransform(fun, transform, tuple(sorted(options.items())))
    if not callable(fun):
        raise TypeError(f"expected a function to differentiate, got {fun!r}")
    return _FirstArgTransform(fun, transform, tuple(sorted(options.items())))


def filter_value_and_grad(fun: Callable | None = None, *, has_aux: bool = False, **gradkwargs: Any) -> Any:
    """Like `jax.value_and_grad`, with respect to the inexact arrays of the first argument.

    Args:
        fun: `fun(x, *args, **kwargs)` returning a scalar (or `(scalar, aux)` with
            `has_aux`). Usable as a decorator, with or without arguments.
        has_aux: whether `fun` returns auxiliary data as well.
        **gradkwargs: other `jax.value_and_grad` options (`holomorphic`, ...).

    Returns:
        A function returning `(value, grads)` (or `((value, aux), grads)`); `grads`
        has the structure of `x` with `None` at every leaf that is not an inexact array.
    """
    return _first_arg_transform(jax.value_and_grad, fun, {"has_aux": has_aux, **gradkwargs})


def filter_grad(fun: Callable | None = None, *, has_aux: bool = False, **gradkwargs: Any) -> Any:
    """Like `jax.grad`, with respect to the inexact arrays of the first argument.

    Returns:
        A function returning `grads` (or `(grads, aux)` with `has_aux`), shaped
        like the first argument with `None` at its non-inexact leaves.
    """
    return _first_arg_transform(jax.grad, fun, {"has_aux": has_aux, **gradkwargs})


def filter_jacfwd(fun: Callable | None = None, *, has_aux: bool = False, **jackwargs: Any) -> Any:
    """Like `jax.jacfwd`, with respect to the inexact arrays of the first argument."""
    return _first_arg_transform(jax.jacfwd, fun, {"has_aux": has_aux, **jackwargs})


def filter_jacrev(fun: Callable | None = None, *, has_aux: bool = False, **jackwargs: Any) -> Any:
    """Like `jax.jacrev`, with respect to the inexact arrays of the first argument."""
    return _first_arg_transform(jax.jacrev, fun, {"has_aux": has_aux, **jackwargs})


def filter_hessian(fun: Callable | None = None, *, has_aux: bool = False) -> Any:
    """Like `jax.hessian`, with respect to the inexact arrays of the first argument."""
    return _first_arg_transform(jax.hessian, fun, {"has_aux": has_aux})


def _split_primals(primals: tuple[Any, ...]) -> tuple[list[Any], Any, list[int]]:
    leaves, treedef = jtu.tree_flatten(primals)
    positions = [i for i, leaf in enumerate(leaves) if is_inexact_array(leaf)]
    return leaves, treedef, positions


def filter_jvp(fn: Callable, primals: tuple[Any, ...], tangents: tuple[Any, ...], **kwargs: Any) -> tuple[Any, Any]:
    """Forward-mode derivative of `fn(*primals, **kwargs)` along `tangents`.

    Args:
        fn: the function.
        primals: a tuple of positional arguments (any PyTrees).
        tangents: like `primals`; an array shaped like each inexact-array primal
            leaf, or `None` (meaning zero); `None` at every other leaf.
        **kwargs: keyword arguments for `fn`, not differentiated.

    Returns:
        `(output, output_tangents)`: `output_tangents` has the structure of the
        output with `None` at every leaf that is not an inexact array.
    """
    if not isinstance(primals, tuple) or not isinstance(tangents, tuple):
        raise TypeError("filter_jvp: `primals` and `tangents` must be tuples of arguments")
    leaves, treedef, positions = _split_primals(primals)
    try:
        # A `None` tangent may stand for a whole subtree of primals.
        tangent_leaves = treedef.flatten_up_to(
            jtu.tree_map(
                lambda tangent, primal: jtu.tree_map(lambda _: None, primal) if tangent is None else tangent,
                tangents,
                primals,
                is_leaf=lambda x: x is None,
            )
        )
    except (ValueError, TypeError) as error:
        raise ValueError(f"filter_jvp: `tangents` does not have the structure of `primals`: {error}") from error
    for index, (leaf, tangent) in enumerate(zip(leaves, tangent_leaves)):
        if tangent is not None and index not in positions:
            raise ValueError(
                f"filter_jvp: a tangent was given for primal leaf {index} ({leaf!r}), which is not "
                "an inexact array; use None there"
            )
    diff_tangents = [
        jnp.zeros_like(leaves[i]) if tangent_leaves[i] is None else tangent_leaves[i] for i in positions
    ]
    static_output: list[Any] = []

    def on_differentiable(*diff: Any) -> Any:
        full = list(leaves)
        for i, value in zip(positions, diff):
            full[i] = value
        out = fn(*treedef.unflatten(full), **kwargs)
        differentiable, rest = partition(out, is_inexact_array)
        static_output.append(rest)
        return differentiable

    out, out_tangents = jax.jvp(on_differentiable, [leaves[i] for i in positions], diff_tangents)
    return combine(out, static_output[-1]), out_tangents


def filter_vjp(fun: Callable, *primals: Any, has_aux: bool = False) -> tuple[Any, ...]:
    """Reverse-mode derivative of `fun(*primals)`.

    Args:
        fun: the function; returns the output (or `(output, aux)` with `has_aux`).
        *primals: its positional arguments (any PyTrees).
        has_aux: whether `fun` also returns auxiliary data.

    Returns:
        `(output, vjp_fn)` or `(output, vjp_fn, aux)`. `vjp_fn(cotangent)` takes a
        cotangent shaped like `output` (`None` at non-inexact leaves) and returns a
        tuple with one cotangent per primal (`None` at non-inexact leaves).
    """
    leaves, treedef, positions = _split_primals(primals)
    static_output: list[Any] = []

    def on_differentiable(diff: list[Any]) -> Any:
        full = list(leaves)
        for i, value in zip(positions, diff):
            full[i] = value
        result = fun(*treedef.unflatten(full))
        out, aux = result if has_aux else (result, None)
        differentiable, rest = partition(out, is_inexact_array)
        static_output.append(rest)
        return (differentiable, aux) if has_aux else differentiable

    if has_aux:
        out, pullback, aux = jax.vjp(on_differentiable, [leaves[i] for i in positions], has_aux=True)
    else:
        out, pullback = jax.vjp(on_differentiable, [leaves[i] for i in positions])
    rest = static_output[-1]

    def vjp_fn(cotangent: Any) -> tuple[Any, ...]:
        differentiable_cotangent, _ = partition(cotangent, is_inexact_array)
        (diff_cotangents,) = pullback(differentiable_cotangent)
        full: list[Any] = [None] * len(leaves)
        for i, value in zip(positions, diff_cotangents):
            full[i] = value
        return treedef.unflatten(full)

    output = combine(out, rest)
    return (output, vjp_fn, aux) if has_aux else (output, vjp_fn)
