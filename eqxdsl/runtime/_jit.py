"""`filter_jit`: `jax.jit` over arbitrary PyTrees, tracing only the array leaves.

The call path is built for dispatch speed (it runs on every training step):

1. flatten the function (when it is a PyTree, e.g. a bound method), the
   positional and the keyword arguments in one C++ `tree_flatten`;
2. look up a *plan* keyed on the tree structure and the type of every leaf; a
   leaf's type alone decides whether it is traced (JAX/NumPy arrays) or static;
3. when the plan has static leaves, look their values up in the plan's own
   dict of compiled functions (so they are hashed, and a new value retraces);
4. call a cached `jax.jit` with the array leaves as positional arguments.

Nothing blocks: the compiled function's outputs are returned as JAX returns
them, so asynchronous dispatch is kept. Non-array outputs are carried through
`jax.jit` in the output tree structure (see `_StaticOutput`), so no
per-call work is needed to put outputs back together.
"""

from __future__ import annotations

import functools
import operator
import warnings
import weakref
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.tree_util as jtu
import numpy as np

from ._module import _bound_method

__all__ = ["filter_jit", "clear_caches"]

_DonateMode = Literal["none", "all", "all-except-first", "warn", "warn-except-first"]
_DONATE_MODES = ("none", "all", "all-except-first", "warn", "warn-except-first")
_FORBIDDEN_JIT_KWARGS = (
    "static_argnums",
    "static_argnames",
    "donate_argnums",
    "donate_argnames",
    "in_shardings",
)
_UNUSED_DONATION = "Some donated buffers were not usable*"

_tree_flatten = jtu.tree_flatten
_array_base_types = (jax.Array, np.ndarray, np.generic)
# type -> whether its instances are traced; a cache because `isinstance` against
# `jax.Array` goes through an ABC check.
_traced_type: dict[type, bool] = {}


def _is_traced_type(leaf_type: type) -> bool:
    traced = _traced_type.get(leaf_type)
    if traced is None:
        traced = _traced_type[leaf_type] = issubclass(leaf_type, _array_base_types)
    return traced


class _StaticOutput:
    """A function output with non-array leaves, as it crosses the `jax.jit` boundary.

    Its children are the array leaves; the rest of the output (structure and
    non-array leaves) is its auxiliary data, which JAX keeps in the output tree
    structure of each compiled function. Unflattening rebuilds the user's output
    directly, so callers receive the original object, not a `_StaticOutput`.
    """

    __slots__ = ("arrays", "treedef", "statics")

    def __init__(self, arrays: list[Any], treedef: Any, statics: tuple[Any, ...]):
        self.arrays = arrays
        self.treedef = treedef
        self.statics = statics


def _flatten_static_output(output: _StaticOutput) -> tuple[list[Any], tuple[Any, Any]]:
    return output.arrays, (output.treedef, _HashableStatics(output.statics))


def _unflatten_static_output(aux: tuple[Any, Any], arrays: Any) -> Any:
    treedef, statics = aux
    return treedef.unflatten(_merge(statics.values, arrays))


class _HashableStatics:
    """Non-array output leaves, compared by equality and identity-hashed when needed."""

    __slots__ = ("values",)

    def __init__(self, values: tuple[Any, ...]):
        self.values = values

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _HashableStatics) or len(other.values) != len(self.values):
            return False
        return all(a is b or _safe_equal(a, b) for a, b in zip(self.values, other.values))

    def __hash__(self) -> int:
        return len(self.values)


def _safe_equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # noqa: BLE001 - any failing comparison means "different"
        return False


jtu.register_pytree_node(_StaticOutput, _flatten_static_output, _unflatten_static_output)

_DYNAMIC = object()  # placeholder for a traced leaf among the static ones


def _merge(statics: tuple[Any, ...], arrays: Any) -> list[Any]:
    """Put `arrays` back, in order, where `statics` holds the `_DYNAMIC` placeholder."""
    arrays = iter(arrays)
    return [next(arrays) if value is _DYNAMIC else value for value in statics]


def _split_output(output: Any) -> Any:
    leaves, treedef = _tree_flatten(output)
    if all(isinstance(leaf, _array_base_types) for leaf in leaves):
        return output
    statics = tuple(_DYNAMIC if isinstance(leaf, _array_base_types) else leaf for leaf in leaves)
    arrays = [leaf for leaf in leaves if isinstance(leaf, _array_base_types)]
    return _StaticOutput(arrays, treedef, statics)


def _selector(indices: list[int]) -> Callable[[list[Any]], tuple[Any, ...]]:
    """A fast `leaves -> tuple(leaves[i] for i in indices)`."""
    if not indices:
        return lambda leaves: ()
    if len(indices) == 1:
        (index,) = indices
        return lambda leaves: (leaves[index],)
    return operator.itemgetter(*indices)


class _Plan:
    """What to do with one (tree structure, leaf types) combination.

    `select_dynamic` picks the traced leaves (None: all leaves are traced);
    `select_static` picks the static ones (None: there are none, and `compiled`
    is the one compiled function; otherwise `compiled` maps static values to
    compiled functions).
    """

    __slots__ = ("select_dynamic", "select_static", "compiled", "static_mask", "donate_argnums")

    def __init__(self, select_dynamic: Any, select_static: Any, compiled: Any, static_mask: tuple[bool, ...], donate_argnums: tuple[int, ...]):
        self.select_dynamic = select_dynamic
        self.select_static = select_static
        self.compiled = compiled
        self.static_mask = static_mask
        self.donate_argnums = donate_argnums


class _JitWrapper:
    """The callable returned by `filter_jit`."""

    def __init__(self, fun: Callable, donate: _DonateMode, jitkwargs: dict[str, Any]):
        self._fun = fun
        # A PyTree function (bound method, Partial, Module) is flattened with the
        # arguments so that its arrays are traced rather than baked in.
        self._fun_is_tree = not jtu.treedef_is_leaf(jtu.tree_structure(fun))
        self._donate = donate
        self._jitkwargs = jitkwargs
        self._plans: dict[Any, _Plan] = {}
        self._plans_with_kwargs: dict[Any, _Plan] = {}
        self._num_traces = 0
        functools.update_wrapper(self, fun, updated=())
        _all_wrappers.add(self)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        # Used as a method decorator: bind as a PyTree so `self` is traced too.
        if instance is None:
            return self
        return _bound_method(self, instance)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            tree = (self._fun, args, kwargs) if self._fun_is_tree else (args, kwargs)
            plans = self._plans_with_kwargs
        else:
            tree = (self._fun, args) if self._fun_is_tree else args
            plans = self._plans
        leaves, treedef = _tree_flatten(tree)
        plan = plans.get((treedef, tuple(map(type, leaves))))
        if plan is None:
            plan = self._new_plan(plans, treedef, leaves, bool(kwargs))
        compiled = plan.compiled
        if plan.select_static is not None:
            compiled = compiled.get(plan.select_static(leaves))
            if compiled is None:
                compiled = self._compile(plan, treedef, leaves, bool(kwargs))
        if plan.select_dynamic is not None:
            leaves = plan.select_dynamic(leaves)
        if plan.donate_argnums and self._donate in ("all", "all-except-first"):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_UNUSED_DONATION)
                return compiled(*leaves)
        return compiled(*leaves)

    def _new_plan(self, plans: dict[Any, _Plan], treedef: Any, leaves: list[Any], has_kwargs: bool) -> _Plan:
        static_mask = tuple(not _is_traced_type(type(leaf)) for leaf in leaves)
        dynamic_indices = [i for i, static in enumerate(static_mask) if not static]
        static_indices = [i for i, static in enumerate(static_mask) if static]
        select_dynamic = None if not static_indices else _selector(dynamic_indices)
        select_static = None if not static_indices else _selector(static_indices)
        plan = _Plan(select_dynamic, select_static, {} if static_indices else None, static_mask, self._donated(treedef, dynamic_indices, has_kwargs))
        if not static_indices:
            plan.compiled = self._jit(treedef, static_mask, (), plan.donate_argnums, has_kwargs)
        plans[(treedef, tuple(map(type, leaves)))] = plan
        return plan

    def _donated(self, treedef: Any, dynamic_indices: list[int], has_kwargs: bool) -> tuple[int, ...]:
        """Positions, among the traced leaves, of the buffers to donate."""
        if self._donate == "none":
            return ()
        if self._donate in ("all", "warn"):
            return tuple(range(len(dynamic_indices)))
        # Except first: leaves are ordered fun, args[0], other args, kwargs.
        parts = treedef.children()
        fun_count = parts[0].num_leaves if self._fun_is_tree else 0
        args_def = parts[1] if (self._fun_is_tree or has_kwargs) else treedef
        arg_defs = args_def.children()
        first_count = arg_defs[0].num_leaves if arg_defs else 0
        first = range(fun_count, fun_count + first_count)
        return tuple(position for position, index in enumerate(dynamic_indices) if index not in first)

    def _compile(self, plan: _Plan, treedef: Any, leaves: list[Any], has_kwargs: bool) -> Any:
        statics = plan.select_static(leaves)
        try:
            hash(statics)
        except TypeError as error:
            bad = next(value for value in statics if not _hashable(value))
            raise TypeError(
                f"filter_jit({getattr(self._fun, '__name__', self._fun)!r}): a non-array argument leaf "
                f"{bad!r} of type {type(bad).__name__} is not hashable; non-array leaves are static "
                "and must be hashable (make it an array or a hashable value)"
            ) from error
        static_leaves = tuple(_DYNAMIC if not static else leaf for static, leaf in zip(plan.static_mask, leaves))
        compiled = self._jit(treedef, plan.static_mask, static_leaves, plan.donate_argnums, has_kwargs)
        plan.compiled[statics] = compiled
        return compiled

    def _jit(self, treedef: Any, static_mask: tuple[bool, ...], static_leaves: tuple[Any, ...], donate_argnums: tuple[int, ...], has_kwargs: bool) -> Any:
        fun_is_tree = self._fun_is_tree
        fun = self._fun
        all_dynamic = not any(static_mask)

        def traced(*arrays: Any) -> Any:
            self._num_traces += 1
            leaves = list(arrays) if all_dynamic else _merge(static_leaves, arrays)
            tree = treedef.unflatten(leaves)
            if has_kwargs:
                if fun_is_tree:
                    call, args, kwargs = tree
                else:
                    (args, kwargs), call = tree, fun
            else:
                (call, args), kwargs = (tree if fun_is_tree else (fun, tree)), {}
            return _split_output(call(*args, **kwargs))

        traced.__name__ = getattr(fun, "__name__", "filter_jit_function")
        traced.__qualname__ = getattr(fun, "__qualname__", traced.__name__)
        return jax.jit(traced, donate_argnums=donate_argnums, **self._jitkwargs)

    def lower(self, *args: Any, **kwargs: Any) -> Any:
        """Lower for the given arguments without running (as `jax.jit(...).lower`)."""
        if kwargs:
            tree = (self._fun, args, kwargs) if self._fun_is_tree else (args, kwargs)
            plans = self._plans_with_kwargs
        else:
            tree = (self._fun, args) if self._fun_is_tree else args
            plans = self._plans
        leaves, treedef = _tree_flatten(tree)
        plan = plans.get((treedef, tuple(map(type, leaves)))) or self._new_plan(plans, treedef, leaves, bool(kwargs))
        compiled = plan.compiled
        if plan.select_static is not None:
            compiled = compiled.get(plan.select_static(leaves)) or self._compile(plan, treedef, leaves, bool(kwargs))
            leaves = plan.select_dynamic(leaves)
        return compiled.lower(*leaves)

    def clear_cache(self) -> None:
        """Forget every compiled function (the trace count is kept)."""
        self._plans.clear()
        self._plans_with_kwargs.clear()


_all_wrappers: weakref.WeakSet[_JitWrapper] = weakref.WeakSet()


def clear_caches() -> None:
    """Drop every compiled function: those of all `filter_jit` functions and JAX's own."""
    for wrapper in list(_all_wrappers):
        wrapper.clear_cache()
    jax.clear_caches()


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def filter_jit(
    fun: Callable | None = None,
    *,
    donate: _DonateMode = "none",
    **jitkwargs: Any,
) -> Any:
    """Compile `fun` with `jax.jit`, tracing the array leaves of its arguments.

    Every argument (and `fun` itself, when it is a PyTree such as a bound method
    of a Module) is flattened: JAX and NumPy arrays are traced, every other
    leaf is static (hashed; a new value compiles again). Outputs are returned as
    `fun` returns them; array leaves come back as JAX arrays, other leaves
    unchanged. The call does not wait for the computation to finish.

    Args:
        fun: the function to compile; may also be used as a decorator, with or
            without arguments, including on Module methods.
        donate: which input buffers JAX may reuse for outputs: `'none'`,
            `'all'`, `'all-except-first'` (not the first positional argument's
            arrays); the `'warn'` variants do the same without silencing JAX's
            warning about buffers that could not be used.
        **jitkwargs: other `jax.jit` options (e.g. `compiler_options`).

    Returns:
        The compiled function. `debug.get_num_traces(f)` counts its traces.
    """
    if donate not in _DONATE_MODES:
        raise ValueError(f"filter_jit(donate={donate!r}): donate must be one of {_DONATE_MODES}")
    for name in _FORBIDDEN_JIT_KWARGS:
        if name in jitkwargs:
            raise ValueError(
                f"filter_jit does not take {name!r}: static/traced status comes from each leaf's "
                "type, and donation from `donate=`"
            )
    if fun is None:
        return functools.partial(filter_jit, donate=donate, **jitkwargs)
    if not callable(fun):
        raise TypeError(f"filter_jit needs a callable, got {fun!r}")
    return _JitWrapper(fun, donate, jitkwargs)
