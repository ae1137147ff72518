"""`filter_jit`: `jax.jit` over arbitrary PyTrees, tracing only the array leaves.

Array leaves (JAX and NumPy arrays) are traced; every other leaf is static:
hashed, and a new value compiles again. The call path is built for dispatch
speed, because it runs on every step of a training or inference loop.

General path (`_JitState.call`):

1. flatten the function (when it is a PyTree, e.g. a bound method), the
   positional and the keyword arguments in one C++ `tree_flatten`;
2. find the *plan* for this tree structure and these leaf types (the last plan
   is compared first, then a dict); a leaf's type alone decides whether it is
   traced;
3. when the plan has static leaves, look their values up in the plan's own
   dict of compiled functions;
4. call a cached `jax.jit` with the array leaves as positional arguments.

Fast path (`_make_jitted`): Modules are immutable, so a Module made only of
Modules, tuples and leaves always flattens the same way. The second time such a
Module is passed, it gets a cached entry (a token for its structure and static
leaves, and its array leaves). A call whose arguments are all such Modules or
arrays is then keyed on their tokens: no flattening and no per-leaf work.

Nothing blocks: outputs are returned as `jax.jit` returns them, so asynchronous
dispatch is kept. Non-array outputs travel through `jax.jit` inside the output
tree structure (see `_StaticOutput`), so putting outputs back together costs
nothing extra per call.
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

from ._module import _FLAT, _JIT_ENTRY, _module_types

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
_default_flatten = jtu.default_registry.flatten
_array_base_types = (jax.Array, jax.core.Tracer, np.ndarray, np.generic)
# type -> whether its instances are traced; a cache because `isinstance` against
# `jax.Array` goes through an ABC check.
_traced_type: dict[type, bool] = {}


def _is_traced_type(leaf_type: type) -> bool:
    traced = _traced_type.get(leaf_type)
    if traced is None:
        traced = _traced_type[leaf_type] = issubclass(leaf_type, _array_base_types)
    return traced


# The fast path (see `_make_jitted`) keys a call on one token per argument.
_ARRAY_TOKEN = object()  # "one traced leaf"
_SEEN_ONCE = object()  # Module entry placeholders: seen once / cannot be cached
_NOT_CACHEABLE = object()
_fast_array_types: set[type] = set()
# (tree structure, leaf types, static leaves) of a Module -> its token.
_module_tokens: dict[tuple[Any, ...], object] = {}


def _deeply_immutable(node: Any) -> bool:
    """Whether nothing in this subtree can change: only Modules, tuples, None and leaves."""
    node_type = type(node)
    if node_type in _module_types:
        return all(map(_deeply_immutable, node.__dict__[_FLAT][0]))
    if node_type is tuple:
        return all(map(_deeply_immutable, node))
    return node is None or jtu.treedef_is_leaf(jtu.tree_structure(node))


def _module_entry(module: Any) -> Any:
    """`(token, traced leaves)` for a Module whose flattened form can never change.

    The token stands for its structure, leaf types and static leaf values, so
    equal tokens mean the same compiled function. Modules holding lists, dicts
    or unhashable static leaves are not cacheable (they take the general path).
    """
    if not _deeply_immutable(module):
        return _NOT_CACHEABLE
    leaves, treedef = _tree_flatten(module)
    types = tuple(map(type, leaves))
    statics = tuple(leaf for leaf, leaf_type in zip(leaves, types) if not _is_traced_type(leaf_type))
    try:
        token = _module_tokens.setdefault((treedef, types, statics), object())
    except TypeError:
        return _NOT_CACHEABLE
    return token, tuple(leaf for leaf, leaf_type in zip(leaves, types) if _is_traced_type(leaf_type))


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
    """Non-array output leaves, compared by equality; hashed by count only, so that
    unhashable leaves (a list inside a custom object, say) can be returned."""

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
    static leaves, `resolve(leaves)` looks their values up among the compiled
    functions (compiling on a miss) and picks out the traced leaves.
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

    def resolve(self, leaves: list[Any]) -> tuple[Callable, Any]:
        """The compiled function for these leaves (compiling on a miss), and its arguments."""
        if self.run is not None:
            return self.run, leaves
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
        return compiled, self.select_dynamic(leaves)


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
        # (structure, leaf types, has keywords) -> plan; the last plan used is
        # checked first.
        self.plans: dict[Any, _Plan] = {}
        self.last_plan: _Plan | None = None
        self.compiled: dict[Any, Callable] = {}
        # Tuple of per-argument tokens -> compiled function (see `register_fast`).
        self.fast: dict[tuple[Any, ...], Callable] = {}

    def tree(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if kwargs:
            return (self.fun, args, kwargs) if self.fun_is_tree else (args, kwargs)
        return (self.fun, args) if self.fun_is_tree else args

    def plan(self, treedef: Any, types: tuple[type, ...], has_kwargs: bool) -> _Plan:
        key = (treedef, types, has_kwargs)
        plan = self.plans.get(key)
        if plan is None:
            plan = self.plans[key] = _Plan(self, treedef, types, has_kwargs)
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
        compiled, dynamic = self.plan(treedef, tuple(map(type, leaves)), bool(kwargs)).resolve(leaves)
        return compiled.lower(*dynamic)

    def call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The general path: flatten everything, find the plan, call; then try to
        make the next call with these arguments take the fast path."""
        leaves, treedef = _default_flatten(self.tree(args, kwargs))
        types = tuple(map(type, leaves))
        # Comparing with the last plan's structure is cheaper than hashing it.
        plan = self.last_plan
        if plan is None or plan.has_kwargs != bool(kwargs) or plan.types != types or plan.treedef != treedef:
            plan = self.plan(treedef, types, bool(kwargs))
            self.last_plan = plan
        compiled, dynamic = plan.resolve(leaves)
        if not kwargs:
            self.register_fast((self.fun, *args) if self.fun_is_tree else args, compiled)
        return compiled(*dynamic)

    def register_fast(self, items: tuple[Any, ...], compiled: Callable) -> None:
        """Remember `compiled` under the fast key of `items`, once every item has one.

        A top-level array gets the shared array token. A Module gets its own entry
        (see `_module_entry`) the second time it is seen here, so that models seen
        only once (one per training step) never pay for building it.
        """
        key = []
        complete = True
        for item in items:
            item_type = type(item)
            if _is_traced_type(item_type):
                _fast_array_types.add(item_type)
                key.append(_ARRAY_TOKEN)
                continue
            if item_type not in _module_types:
                return
            values = item.__dict__
            entry = values.get(_JIT_ENTRY)
            if entry is None:
                values[_JIT_ENTRY] = _SEEN_ONCE
                complete = False
                continue
            if entry is _SEEN_ONCE:
                entry = values[_JIT_ENTRY] = _module_entry(item)
            if entry is _NOT_CACHEABLE:
                return
            key.append(entry[0])
        if complete:
            self.fast[tuple(key)] = compiled

    def clear(self) -> None:
        self.last_plan = None
        self.plans.clear()
        self.compiled.clear()
        self.fast.clear()


def _make_jitted(state: _JitState) -> Callable:
    """The function `filter_jit` returns: the hot path, as a closure for speed.

    Fast path: when every positional argument (and `fun`, if it is a PyTree) is
    either an array or a Module with a cached entry, the key is the tuple of
    their tokens and the traced leaves are already known: no flattening, no
    per-leaf work. Anything else takes `_JitState.call`.
    """
    fun, fun_is_tree = state.fun, state.fun_is_tree
    fast, general = state.fast, state.call
    array_types, module_types = _fast_array_types, _module_types

    def jitted(*args: Any, **kwargs: Any) -> Any:
        if not kwargs:
            key = []
            dynamic: list[Any] = []
            for item in (fun, *args) if fun_is_tree else args:
                item_type = type(item)
                if item_type in array_types:
                    key.append(_ARRAY_TOKEN)
                    dynamic.append(item)
                elif item_type in module_types:
                    entry = item.__dict__.get(_JIT_ENTRY)
                    if type(entry) is not tuple:
                        break
                    key.append(entry[0])
                    dynamic.extend(entry[1])
                else:
                    break
            else:
                compiled = fast.get(tuple(key))
                if compiled is not None:
                    return compiled(*dynamic)
        return general(args, kwargs)

    jitted.lower = lambda *args, **kwargs: state.lower(args, kwargs)  # type: ignore[attr-defined]
    jitted._jit_state = state  # type: ignore[attr-defined]
    functools.update_wrapper(jitted, fun, updated=())
    return jitted


_all_states: weakref.WeakSet[_JitState] = weakref.WeakSet()


def clear_caches() -> None:
    """Drop every compiled function: those of all `filter_jit` functions and JAX's own."""
    for state in list(_all_states):
        state.clear()
    _module_tokens.clear()
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
