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
dispatch is kept. An output holding Modules or non-array leaves travels as its
array leaves plus a layout kept in `jax.jit`'s output tree structure (see
`_OutputLayout`); rebuilding it also gives each output Module its fast-path
entry, so a training loop feeding a step's outputs into the next step stays on
the fast path.
"""

from __future__ import annotations

import functools
import operator
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Literal

import jax
import jax.tree_util as jtu
import numpy as np

from ._module import _FLAT, _JIT_ENTRY, _BoundMethod, _module_types, _read_flat

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


def _fixed_form(node: Any, guards: list[tuple[Any, tuple[Any, ...]]]) -> bool:
    """Whether this subtree always flattens the same way while `guards` hold.

    Modules, tuples, namedtuples, `None` and leaves cannot change; a list or a
    dict can, so each one appends guards: a view of its contents and a snapshot
    of them, compared by identity (see `_guards_hold`). Any other PyTree node
    makes the subtree not cacheable.
    """
    node_type = type(node)
    if node_type in _module_types:
        return all(_fixed_form(child, guards) for child in _read_flat(node)[0])
    if node_type is tuple or node_type in _sequence_types and node_type is not list:
        return all(_fixed_form(child, guards) for child in node)
    if node_type is list:
        guards.append((node, tuple(node)))
        return all(_fixed_form(child, guards) for child in node)
    if node_type is dict:
        guards.append((node, tuple(node)))
        guards.append((node.values(), tuple(node.values())))
        return all(_fixed_form(child, guards) for child in node.values())
    if node is None or jtu.treedef_is_leaf(jtu.tree_structure(node)):
        return True
    if _is_namedtuple_type(node_type) and _is_plain_namedtuple(node):
        _sequence_types.add(node_type)
        return all(_fixed_form(child, guards) for child in node)
    return False


def _guards_hold(guards: tuple[tuple[Any, tuple[Any, ...]], ...]) -> bool:
    """Whether every guarded list or dict still holds exactly the objects it held."""
    for contents, snapshot in guards:
        if len(contents) != len(snapshot) or not all(map(operator.is_, contents, snapshot)):
            return False
    return True


def _module_entry(module: Any) -> Any:
    """`(token, traced leaves, guards)` for a Module, or `_NOT_CACHEABLE`.

    The token stands for its structure, leaf types and static leaf values, so
    equal tokens mean the same compiled function. The entry stays valid while
    its guards hold (see `_fixed_form`); Modules holding other PyTree nodes or
    unhashable static leaves are not cacheable (they take the general path).
    """
    guards: list[tuple[Any, tuple[Any, ...]]] = []
    if not _fixed_form(module, guards):
        return _NOT_CACHEABLE
    leaves, treedef = _tree_flatten(module)
    types = tuple(map(type, leaves))
    statics = tuple(leaf for leaf, leaf_type in zip(leaves, types) if not _is_traced_type(leaf_type))
    try:
        token = _module_tokens.setdefault((treedef, types, statics), object())
    except TypeError:
        return _NOT_CACHEABLE
    arrays = tuple(leaf for leaf, leaf_type in zip(leaves, types) if _is_traced_type(leaf_type))
    return token, arrays, tuple(guards)


_NONE_TOKEN = object()
_UNSEEN = object()
_sequence_types: set[type] = {tuple, list}


def _collect(items: Any, key: list[Any], dynamic: list[Any], create: bool, top_level: bool = False) -> bool:
    """Append the fast key and traced leaves of the sequence `items`; False when some
    part has no fast form. With `create`, Modules get their entry as described in
    `_JitState.register_fast` (again when a guard no longer holds), and new array
    and namedtuple types are learnt. A nested sequence's key starts with its type
    and length; the argument tuple's does not (the hot loop in `_make_jitted`
    builds that part)."""
    if not top_level:
        key.append(type(items))
        key.append(len(items))
    complete = True
    for item in items:
        item_type = type(item)
        if item_type in _fast_array_types:
            key.append(_ARRAY_TOKEN)
            dynamic.append(item)
        elif item_type in _module_types:
            values = item.__dict__
            entry = values.get(_JIT_ENTRY)
            if type(entry) is not tuple or entry[2] and not _guards_hold(entry[2]):
                if not create or entry is _NOT_CACHEABLE:
                    return False
                if entry is None:
                    values[_JIT_ENTRY] = _SEEN_ONCE
                    complete = False
                    continue
                entry = values[_JIT_ENTRY] = _module_entry(item)
                if entry is _NOT_CACHEABLE:
                    return False
            key.append(entry[0])
            dynamic.extend(entry[1])
        elif item is None:
            key.append(_NONE_TOKEN)
        elif item_type in _sequence_types:
            if not _collect(item, key, dynamic, create):
                return False
        elif create and _is_traced_type(item_type):
            _fast_array_types.add(item_type)
            key.append(_ARRAY_TOKEN)
            dynamic.append(item)
        elif create and _is_namedtuple_type(item_type) and _is_plain_namedtuple(item):
            _sequence_types.add(item_type)
            if not _collect(item, key, dynamic, create):
                return False
        else:
            return False
    return complete


def _is_plain_namedtuple(item: Any) -> bool:
    """A namedtuple that JAX flattens as a namedtuple (not a custom registration)."""
    children, treedef = _one_level(item)
    return len(children) == len(item) and all(a is b for a, b in zip(children, item)) and "namedtuple" in str(treedef)


def _one_level(node: Any) -> tuple[list[Any], Any]:
    """The children of `node` and the structure of `node` over them."""
    return _tree_flatten(node, is_leaf=lambda child: child is not node)


class _OutputLayout:
    """How one compiled function's output is rebuilt from its array leaves.

    It is the auxiliary data of the `_PackedOutput` node, so JAX keeps the same
    object in the compiled function's output structure and hands it back on
    every call. On the first call with concrete arrays it writes a *builder*
    for this output (see `_BuilderWriter`): straight-line Python that makes the
    Modules, containers and static leaves at once, and gives every top-level
    Module of the output its `filter_jit` entry (see `_module_entry`), so that
    the model a training step returns takes the fast path on the next step.
    """

    __slots__ = ("treedef", "statics", "all_arrays", "build", "array_type")

    def __init__(self, treedef: Any, statics: tuple[Any, ...]):
        self.treedef = treedef
        self.statics = statics
        self.all_arrays = all(value is _DYNAMIC for value in statics)
        self.build: Callable[[Sequence[Any]], Any] | None = None
        self.array_type: type | None = None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _OutputLayout) or self.treedef != other.treedef:
            return False
        return len(self.statics) == len(other.statics) and all(
            a is b or _safe_equal(a, b) for a, b in zip(self.statics, other.statics)
        )

    def __hash__(self) -> int:
        # Non-array outputs need not be hashable.
        return len(self.statics)

    def rebuild(self, arrays: Sequence[Any]) -> Any:
        """The output, from the compiled function's array outputs (in flattened order)."""
        if self.build is not None and (not arrays or type(arrays[0]) is self.array_type):
            return self.build(arrays)
        output = self.treedef.unflatten(arrays if self.all_arrays else _merge(self.statics, arrays))
        if self.build is None and not any(isinstance(array, jax.core.Tracer) for array in arrays):
            # Called inside another trace, outputs are tracers: no builder, no entries.
            self.array_type = type(arrays[0]) if arrays else None
            self.build = _write_builder(self, output, arrays)
            return self.build(arrays)
        return output


class _BuilderWriter:
    """Writes the source of an output layout's builder, from one concrete output.

    The builder takes the array outputs and returns what `treedef.unflatten`
    would (the same Modules, containers and static leaves, made the way JAX's
    unflatten makes them), plus the fast-path entries of the top-level Modules.
    Walking the output in flattening order, every leaf is checked to be the
    array or static value at its position, so a builder cannot rebuild a
    different tree.
    """

    def __init__(self, layout: _OutputLayout, arrays: Sequence[Any]):
        self.statics = layout.statics
        self.arrays = arrays
        self.leaves_seen = 0
        self.arrays_seen = 0
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {"_new": object.__new__}

    def constant(self, value: Any) -> str:
        name = f"_c{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def temporary(self, expression: str) -> str:
        name = f"_t{len(self.lines)}"
        self.lines.append(f"{name} = {expression}")
        return name

    def leaf(self, node: Any) -> str:
        position = self.leaves_seen
        self.leaves_seen += 1
        if self.statics[position] is not _DYNAMIC:
            if self.statics[position] is not node:
                raise _Unbuildable
            return self.constant(node)
        index = self.arrays_seen
        self.arrays_seen += 1
        if self.arrays[index] is not node:
            raise _Unbuildable
        return f"v{index}"

    def node(self, node: Any, top_level: bool, guards: list[str]) -> str:
        """The name of `node` in the builder, after the lines that make it.

        `guards` receives the guards (see `_fixed_form`) of the lists and dicts
        made for it; `top_level` marks nodes outside any Module.
        """
        node_type = type(node)
        if node is None:
            return "None"
        if node_type in _module_types and node_type is not _BoundMethod:
            return self.module(node, top_level, guards)
        # Any other node; also a bound method, a partial that only its unflatten makes.
        children, treedef = _one_level(node)
        if jtu.treedef_is_leaf(treedef) and children and children[0] is node:
            return self.leaf(node)
        inner = top_level and (node_type in (tuple, list) or _is_namedtuple_type(node_type))
        if node_type is dict:
            keys = treedef.node_data()[1]
            names = dict(zip(keys, (self.node(child, False, guards) for child in children)))
            key_names = {key: self.constant(key) for key in node}
            made = self.temporary("{" + ", ".join(f"{key_names[key]}: {names[key]}" for key in node) + "}")
            guards.append(f"({made}, ({''.join(name + ', ' for name in key_names.values())}))")
            guards.append(f"({made}.values(), ({''.join(names[key] + ', ' for key in node)}))")
            return made
        names = [self.node(child, inner, guards) for child in children]
        listed = "".join(name + ", " for name in names)
        if node_type is tuple:
            return self.temporary(f"({listed})") if names else "()"
        if node_type is list:
            made = self.temporary(f"[{listed}]")
            guards.append(f"({made}, ({listed}))")
            return made
        if _is_namedtuple_type(node_type) and _is_plain_namedtuple(node):
            return self.temporary(f"{self.constant(node_type)}({listed})")
        return self.temporary(f"{self.constant(treedef)}.unflatten([{listed}])")

    def module(self, module: Any, top_level: bool, guards: list[str]) -> str:
        cls = type(module)
        first_array = self.arrays_seen
        children, aux = _read_flat(module)
        own_guards: list[str] = []
        names = [self.node(child, False, own_guards) for child in children]
        guards += own_guards
        made = self.temporary(f"_new({self.constant(cls)})")
        self.lines.append(f"_d = {made}.__dict__")
        self.lines += [f"_d[{field!r}] = {name}" for field, name in zip(cls._dynamic_fields, names)]
        self.lines += [f"_d[{field!r}] = {self.constant(value)}" for field, value in zip(cls._static_fields, aux)]
        aux_name = self.constant(aux) if aux else "()"
        self.lines.append(f"_d[{_FLAT!r}] = (({''.join(name + ', ' for name in names)}), {aux_name})")
        entry = _module_entry(module) if top_level else _NOT_CACHEABLE
        if entry is not _NOT_CACHEABLE:
            token, module_arrays, module_guards = entry
            own_arrays = self.arrays[first_array : self.arrays_seen]
            if len(module_arrays) != len(own_arrays) or not all(map(operator.is_, module_arrays, own_arrays)):
                raise _Unbuildable
            if len(module_guards) != len(own_guards):
                raise _Unbuildable
            self.lines.append(
                f"_d[{_JIT_ENTRY!r}] = ({self.constant(token)}, a[{first_array}:{self.arrays_seen}], "
                f"({''.join(guard + ', ' for guard in own_guards)}))"
            )
        return made

    def source(self, root: str) -> str:
        unpack = "".join(f"v{i}, " for i in range(len(self.arrays)))
        body = ([f"{unpack}= a"] if unpack else []) + self.lines + [f"return {root}"]
        return "def build(a):\n" + "".join(f"    {line}\n" for line in body)


class _Unbuildable(Exception):
    """The output does not match its layout as the builder walks it."""


def _write_builder(layout: _OutputLayout, output: Any, arrays: Sequence[Any]) -> Callable[[Sequence[Any]], Any]:
    """The builder of `layout` (see `_BuilderWriter`), or its generic unflatten when
    the output cannot be written as one."""
    writer = _BuilderWriter(layout, arrays)
    try:
        root = writer.node(output, True, [])
        if writer.leaves_seen != len(layout.statics) or writer.arrays_seen != len(arrays):
            raise _Unbuildable
    except _Unbuildable:
        return lambda arrays: layout.treedef.unflatten(arrays if layout.all_arrays else _merge(layout.statics, arrays))
    exec(writer.source(root), writer.namespace)  # noqa: S102 - names and constants only
    return writer.namespace["build"]


class _PackedOutput:
    """An output that holds Modules or non-array leaves, as it crosses `jax.jit`.

    Children: the array leaves. Auxiliary data: an `_OutputLayout`.
    Unflattening gives an `_Unpacked`, which the caller rebuilds.
    """

    __slots__ = ("arrays", "layout")

    def __init__(self, arrays: list[Any], layout: _OutputLayout):
        self.arrays = arrays
        self.layout = layout


class _Unpacked:
    """What a compiled function returns for a `_PackedOutput`.

    It is a PyTree node too: JAX re-flattens outputs to decide whether later
    calls may take its C++ fast path, which needs every leaf to be an array.
    """

    __slots__ = ("arrays", "layout")

    def __init__(self, layout: _OutputLayout, arrays: Any):
        self.layout = layout
        self.arrays = arrays


jtu.register_pytree_node(_PackedOutput, lambda packed: (packed.arrays, packed.layout), _Unpacked)
jtu.register_pytree_node(_Unpacked, lambda unpacked: (unpacked.arrays, unpacked.layout), _Unpacked)


def _safe_equal(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # noqa: BLE001 - any failing comparison means "different"
        return False


_DYNAMIC = object()  # placeholder for a traced leaf among the static ones


def _merge(statics: tuple[Any, ...], arrays: Any) -> list[Any]:
    """Put `arrays` back, in order, where `statics` holds the `_DYNAMIC` placeholder."""
    arrays = iter(arrays)
    return [next(arrays) if value is _DYNAMIC else value for value in statics]


def _is_module(x: Any) -> bool:
    return type(x) in _module_types


def _pack_output(output: Any) -> Any:
    """What the traced function returns: `output` itself when it is plain arrays in
    containers, else a `_PackedOutput` (see `_OutputLayout`)."""
    leaves, treedef = _tree_flatten(output, is_leaf=_is_module)
    if all(isinstance(leaf, _array_base_types) for leaf in leaves):
        return output
    leaves, treedef = _tree_flatten(output)
    statics = tuple(_DYNAMIC if isinstance(leaf, _array_base_types) else leaf for leaf in leaves)
    arrays = [leaf for leaf in leaves if isinstance(leaf, _array_base_types)]
    return _PackedOutput(arrays, _OutputLayout(treedef, statics))


def _is_namedtuple_type(node_type: type) -> bool:
    return issubclass(node_type, tuple) and hasattr(node_type, "_fields")


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
        # Keyword names as passed -> sorted (the order of their flattened leaves),
        # or None when they are passed in that order.
        self.sorted_names: dict[tuple[str, ...], tuple[str, ...] | None] = {}

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
            return _pack_output(call(*args, **kwargs))

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
        self.register_fast(args, kwargs, compiled)
        result = compiled(*dynamic)
        if type(result) is _Unpacked:
            return result.layout.rebuild(result.arrays)
        return result

    def keyword_items(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        """The keyword names as passed, and the items of a call in the order of its
        flattened leaves: `fun` (when a PyTree), `args`, then keyword values by name."""
        names = tuple(kwargs)
        order = self.sorted_names.get(names, _UNSEEN)
        if order is _UNSEEN:
            order = self.sorted_names[names] = None if list(names) == sorted(names) else tuple(sorted(names))
        values = kwargs.values() if order is None else map(kwargs.__getitem__, order)
        return names, ((self.fun, *args, *values) if self.fun_is_tree else (*args, *values))

    def register_fast(self, args: tuple[Any, ...], kwargs: dict[str, Any], compiled: Callable) -> None:
        """Remember `compiled` under the fast key of this call, once every item has one.

        A Module gets its own entry (see `_module_entry`) the second time it is
        seen here, so that models seen only once never pay for building it
        (the Modules that `filter_jit` returns get theirs as they come out).
        """
        if kwargs:
            names, items = self.keyword_items(args, kwargs)
            key: list[Any] = [names]
        else:
            items, key = ((self.fun, *args) if self.fun_is_tree else args), []
        if _collect(items, key, [], create=True, top_level=True):
            self.fast[tuple(key)] = compiled

    def clear(self) -> None:
        self.last_plan = None
        self.plans.clear()
        self.compiled.clear()
        self.fast.clear()


def _make_jitted(state: _JitState) -> Callable:
    """The function `filter_jit` returns: the hot path, as a closure for speed.

    Fast path: when every argument, positional or keyword (and `fun`, if it is a
    PyTree), is an array, a Module with a valid cached entry, or a
    tuple/list/namedtuple of those (and `None`s), the key is the sequence of
    their tokens (after the keyword names, if any) and the traced leaves are
    already known: no flattening, no per-leaf work. Anything else takes
    `_JitState.call`. The top-level loop is inlined for the common case.
    """
    fun, fun_is_tree = state.fun, state.fun_is_tree
    fast, general, sorted_names = state.fast, state.call, state.sorted_names
    array_types, module_types, sequence_types = _fast_array_types, _module_types, _sequence_types
    collect, guards_hold = _collect, _guards_hold

    def jitted(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            names = tuple(kwargs)
            order = sorted_names.get(names, _UNSEEN)
            if order is _UNSEEN:
                return general(args, kwargs)
            values = kwargs.values() if order is None else map(kwargs.__getitem__, order)
            items = (fun, *args, *values) if fun_is_tree else (*args, *values)
            key: list[Any] = [names]
        else:
            items = (fun, *args) if fun_is_tree else args
            key = []
        dynamic: list[Any] = []
        for item in items:
            item_type = type(item)
            if item_type in array_types:
                key.append(_ARRAY_TOKEN)
                dynamic.append(item)
            elif item_type in module_types:
                entry = item.__dict__.get(_JIT_ENTRY)
                if type(entry) is not tuple or entry[2] and not guards_hold(entry[2]):
                    break
                key.append(entry[0])
                dynamic.extend(entry[1])
            elif not (item_type in sequence_types and collect(item, key, dynamic, False)):
                break
        else:
            compiled = fast.get(tuple(key))
            if compiled is not None:
                result = compiled(*dynamic)
                if type(result) is _Unpacked:
                    return result.layout.rebuild(result.arrays)
                return result
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
