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
_array_base_types = (jax.Array, jax.core.Tracer, np.ndarray, np.generic)
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
    """How to call for one (tree structure, leaf types) combination.

    With no static leaves, `run(*leaves)` is the compiled function itself. With
    static leaves, `run_with_statics(leaves)` looks their values up among the
    compiled functions (compiling on a miss) and passes only the traced leaves.
    """

    __slots__ = ("state", "treedef", "types", "has_kwargs", "static_mask", "donate_argnums",
                 "select_dynamic", "select_static", "by_statics", "run")

    def __init__(self, state: _JitState, treedef: Any, types: tuple[type, ...], has_kwargs: bool):
        self.state = state
        self.treedef = treedef
        self.types = types
        self.has_kwargs = has_kwargs
        self.static_mask = tuple(not _is_traced_type(leaf_type) for leaf_type in types)
        dynamic = [i for i, static in enumerate(self.static_mask) if not static]
        static = [i for i, static in enumerate(self.static_mask) if static]
        self.donate_argnums = state.donated(treedef, dynamic, has_kwargs)
        self.select_dynamic = _selector(dynamic)
        self.select_static = _selector(static) if static else None
        self.by_statics: dict[Any, Callable] = {}
        self.run = None if static else state.compiled_for(self, (), ())

    def run_with_statics(self, leaves: list[Any]) -> Any:
        statics = self.select_static(leaves)
        # Types are part of the key so that `1`, `1.0` and `True` do not share a trace.
        key = (statics, tuple(map(type, statics)))
        try:
            compiled = self.by_statics.get(key)
        except TypeError as error:
            bad = next(value for value in statics if not _hashable(value))
            raise TypeError(
                f"filter_jit({self.state.name}): the non-array argument leaf {bad!r} of type "
                f"{type(bad).__name__} is not hashable; non-array leaves are static and must be "
                "hashable (make it an array or a hashable value)"
            ) from error
        if compiled is None:
            static_leaves = tuple(_DYNAMIC if not static else leaf for static, leaf in zip(self.static_mask, leaves))
            compiled = self.by_statics[key] = self.state.compiled_for(self, key, static_leaves)
        return compiled(*self.select_dynamic(leaves))


class _JitState:
    """Everything behind one `filter_jit` function except its hot path."""

    def __init__(self, fun: Callable, donate: _DonateMode, jitkwargs: dict[str, Any]):
        self.fun = fun
        self.name = getattr(fun, "__qualname__", None) or getattr(fun, "__name__", None) or repr(fun)
        # A PyTree function (bound method, Partial, Module) is flattened with the
        # arguments so that its arrays are traced rather than baked in.
        self.fun_is_tree = not jtu.treedef_is_leaf(jtu.tree_structure(fun))
        self.donate = donate
        self.jitkwargs = jitkwargs
        self.num_traces = 0
        # tree structure -> the plan used last for it; (structure, types) -> plan.
        self.latest_positional: dict[Any, _Plan] = {}
        self.latest_keyword: dict[Any, _Plan] = {}
        self.plans: dict[Any, _Plan] = {}
        self.compiled: dict[Any, Callable] = {}

    def tree(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if kwargs:
            return (self.fun, args, kwargs) if self.fun_is_tree else (args, kwargs)
        return (self.fun, args) if self.fun_is_tree else args

    def plan(self, treedef: Any, types: tuple[type, ...], has_kwargs: bool) -> _Plan:
        key = (treedef, types, has_kwargs)
        plan = self.plans.get(key)
        if plan is None:
            plan = self.plans[key] = _Plan(self, treedef, types, has_kwargs)
        (self.latest_keyword if has_kwargs else self.latest_positional)[treedef] = plan
        return plan

    def donated(self, treedef: Any, dynamic_indices: list[int], has_kwargs: bool) -> tuple[int, ...]:
        """Positions, among the traced leaves, of the buffers to donate."""
        if self.donate == "none":
            return ()
        if self.donate in ("all", "warn"):
            return tuple(range(len(dynamic_indices)))
        # Except first: leaves are ordered fun, args[0], other args, kwargs.
        parts = treedef.children()
        fun_count = parts[0].num_leaves if self.fun_is_tree else 0
        args_def = parts[1] if (self.fun_is_tree or has_kwargs) else treedef
        arg_defs = args_def.children()
        first_count = arg_defs[0].num_leaves if arg_defs else 0
        first = range(fun_count, fun_count + first_count)
        return tuple(position for position, index in enumerate(dynamic_indices) if index not in first)

    def compiled_for(self, plan: _Plan, statics_key: Any, static_leaves: tuple[Any, ...]) -> Callable:
        """The compiled function for `plan` and these static values, shared by plans that
        differ only in the types of traced leaves (NumPy vs JAX arrays, say)."""
        key = (plan.treedef, plan.static_mask, plan.has_kwargs, statics_key)
        compiled = self.compiled.get(key)
        if compiled is None:
            compiled = self.compiled[key] = self.compile(plan, static_leaves)
        return compiled

    def compile(self, plan: _Plan, static_leaves: tuple[Any, ...]) -> Callable:
        """A `jax.jit` of the function with the traced leaves as positional arguments."""
        treedef, has_kwargs, fun_is_tree, fun = plan.treedef, plan.has_kwargs, self.fun_is_tree, self.fun
        all_dynamic = not static_leaves

        def traced(*arrays: Any) -> Any:
            self.num_traces += 1
            tree = treedef.unflatten(list(arrays) if all_dynamic else _merge(static_leaves, arrays))
            if has_kwargs:
                call, args, kwargs = tree if fun_is_tree else (fun, *tree)
            else:
                (call, args), kwargs = (tree if fun_is_tree else (fun, tree)), {}
            return _split_output(call(*args, **kwargs))

        traced.__name__ = getattr(fun, "__name__", "filter_jit_function")
        traced.__qualname__ = self.name
        compiled = jax.jit(traced, donate_argnums=plan.donate_argnums, **self.jitkwargs)
        if not plan.donate_argnums or self.donate.startswith("warn"):
            return compiled

        def quietly_donating(*arrays: Any) -> Any:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_UNUSED_DONATION)
                return compiled(*arrays)

        quietly_donating.lower = compiled.lower  # type: ignore[attr-defined]
        return quietly_donating

    def lower(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        leaves, treedef = _tree_flatten(self.tree(args, kwargs))
        plan = self.plan(treedef, tuple(map(type, leaves)), bool(kwargs))
        compiled = plan.run
        if plan.select_static is not None:
            plan.run_with_statics(leaves)  # compiles on a miss
            statics = plan.select_static(leaves)
            compiled = plan.by_statics[(statics, tuple(map(type, statics)))]
        return compiled.lower(*plan.select_dynamic(leaves))

    def clear(self) -> None:
        self.latest_positional.clear()
        self.latest_keyword.clear()
        self.plans.clear()
        self.compiled.clear()


def _make_jitted(state: _JitState) -> Callable:
    """The function `filter_jit` returns: the hot path, as a closure for speed."""
    flatten = jtu.default_registry.flatten
    fun, fun_is_tree = state.fun, state.fun_is_tree
    latest_positional, latest_keyword = state.latest_positional, state.latest_keyword

    def jitted(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            leaves, treedef = flatten((fun, args, kwargs) if fun_is_tree else (args, kwargs))
            plan = latest_keyword.get(treedef)
        else:
            leaves, treedef = flatten((fun, args) if fun_is_tree else args)
            plan = latest_positional.get(treedef)
        types = tuple(map(type, leaves))
        if plan is None or plan.types != types:
            plan = state.plan(treedef, types, bool(kwargs))
        if plan.run is not None:
            return plan.run(*leaves)
        return plan.run_with_statics(leaves)

    jitted.lower = lambda *args, **kwargs: state.lower(args, kwargs)  # type: ignore[attr-defined]
    jitted._jit_state = state  # type: ignore[attr-defined]
    functools.update_wrapper(jitted, fun, updated=())
    return jitted


_all_states: weakref.WeakSet[_JitState] = weakref.WeakSet()


def clear_caches() -> None:
    """Drop every compiled function: those of all `filter_jit` functions and JAX's own."""
    for state in list(_all_states):
        state.clear()
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
    state = _JitState(fun, donate, jitkwargs)
    _all_states.add(state)
    return _make_jitted(state)
