"""`Module`: a frozen dataclass that is also a PyTree, and `field` to declare its fields.

A `Module` is a parameterised function stored as data. Its dynamic fields are the
children of a PyTree node (so JAX transformations see its arrays); its static
fields live in the node's auxiliary data (so they are hashed as part of the tree
structure). Each subclass gets its own generated flatten/unflatten functions,
because every filtered transformation flattens its Modules on every call.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import inspect
import operator
import types
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.tree_util as jtu
import numpy as np

__all__ = ["Module", "field"]

_STATIC = "static"
_CONVERTER = "converter"

# Instances whose `__init__` is running; only they may assign to their fields.
_initialising: set[int] = set()


def field(
    *,
    static: bool = False,
    converter: Callable[[Any], Any] | None = None,
    **dataclass_kwargs: Any,
) -> Any:
    """Declare a field of a `Module`.

    Args:
        static: if true the value is part of the PyTree structure (hashed, never
            traced) rather than a child. Put hyperparameters and functions here,
            never JAX arrays.
        converter: a one-argument function applied to the value after
            `__init__` has run (also when the value came from a default).
        **dataclass_kwargs: passed on to `dataclasses.field` (`default`,
            `default_factory`, `init`, `repr`, `metadata`, ...).

    Returns:
        A `dataclasses.Field` carrying that information in its metadata.
    """
    metadata = dict(dataclass_kwargs.pop("metadata", None) or {})
    if static:
        metadata[_STATIC] = True
    if converter is not None:
        if not callable(converter):
            raise TypeError(f"field(converter=...) must be callable, got {converter!r}")
        metadata[_CONVERTER] = converter
    return dataclasses.field(metadata=metadata, **dataclass_kwargs)


def _is_magic(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


class _MethodDescriptor:
    """Wraps a function defined on a Module so that `instance.method` is a PyTree.

    Class-level access (`Cls.method`) still returns the plain function.
    """

    def __init__(self, func: types.FunctionType):
        self.__func__ = func
        functools.update_wrapper(self, func)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self.__func__
        # `_bound_method`, inlined: attribute access must stay cheap.
        return _new_partial(_BoundMethod, self.__func__, instance)

    def __set_name__(self, owner: type, name: str) -> None:
        set_name = getattr(self.__func__, "__set_name__", None)
        if set_name is not None:
            set_name(owner, name)


# Key, in a Module's instance `__dict__`, of its flattened form `(children, static
# values)`. Modules are immutable, so it is computed once (at the end of
# construction or by unflatten) and flattening is a C-level attribute read. The
# key is not an identifier, so it can never clash with a field.
_FLAT = "<pytree>"
_read_flat = operator.attrgetter(_FLAT)
# Key, in an instance `__dict__`, of what `filter_jit` caches about the instance
# (see `_jit.py`). Never pickled or copied.
_JIT_ENTRY = "<jit-entry>"
# Every Module subclass, for a fast `type(x) in _module_types` test.
_module_types: set[type] = set()


def _generate_tree_functions(
    cls: type, dynamic: tuple[str, ...], static: tuple[str, ...]
) -> tuple[Callable, Callable, Callable]:
    """Build store-flat, flatten-with-keys and unflatten functions for one Module class.

    They are generated as source so that each is a handful of bytecodes: unflatten
    runs once per Module node whenever a transformation returns a Module.
    """
    keys = {f"_k{i}": jtu.GetAttrKey(name) for i, name in enumerate(dynamic)}
    get_dynamic = "".join(f"d[{name!r}], " for name in dynamic)
    get_static = "".join(f"d[{name!r}], " for name in static)
    keyed = "".join(f"(_k{i}, d[{name!r}]), " for i, name in enumerate(dynamic))
    source = [
        "def store_flat(obj):",
        "    d = obj.__dict__",
        f"    d[{_FLAT!r}] = (({get_dynamic}), ({get_static}))",
        "def flatten_with_keys(obj):",
        "    d = obj.__dict__",
        f"    return ({keyed}), ({get_static})",
        "def unflatten(aux, children):",
        "    obj = _new(_cls)",
        "    d = obj.__dict__",
        "    children = tuple(children)",
    ]
    if dynamic:
        source.append(f"    {get_dynamic}= children")
    if static:
        source.append(f"    {get_static}= aux")
    source += [f"    d[{_FLAT!r}] = (children, aux)", "    return obj"]
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls, **keys}
    exec("\n".join(source), namespace)  # noqa: S102 - source built from field names only
    functions = namespace["store_flat"], namespace["flatten_with_keys"], namespace["unflatten"]
    for function in functions:
        function.__qualname__ = f"{cls.__qualname__}.<pytree {function.__name__}>"
    return functions


def _inherits_dataclass_init(cls: type, namespace: dict[str, Any]) -> bool:
    """Whether `cls` should get a dataclass-generated `__init__`.

    A class that defines `__init__` keeps it. Otherwise it takes the nearest
    base's: generated again if that base's was generated, inherited if custom.
    """
    if "__init__" in namespace:
        return False
    for base in cls.__mro__[1:]:
        if "__init__" in base.__dict__:
            return getattr(base, "_has_dataclass_init", True)
    return True


class _ModuleMeta(abc.ABCMeta):
    def __new__(
        mcs,
        name: str,
        bases: tuple[type, ...],
        namespace: dict[str, Any],
        tree_functions: Callable[[type], tuple[Callable, Callable, Callable]] | None = None,
        **kwargs: Any,
    ):
        """`tree_functions` is for a class that keeps its fields somewhere other
        than its instance `__dict__`: `cls -> (flatten, flatten_with_keys,
        unflatten)`, used instead of the generated ones."""
        annotated = namespace.get("__annotations__", {})
        for key, value in list(namespace.items()):
            if isinstance(value, types.FunctionType) and not _is_magic(key) and key not in annotated:
                namespace[key] = _MethodDescriptor(value)
        cls = super().__new__(mcs, name, bases, namespace, **kwargs)
        has_dataclass_init = _inherits_dataclass_init(cls, namespace)
        cls = dataclasses.dataclass(eq=False, repr=False, init=has_dataclass_init)(cls)
        cls._has_dataclass_init = has_dataclass_init
        fields = dataclasses.fields(cls)
        static = tuple(f.name for f in fields if f.metadata.get(_STATIC, False))
        dynamic = tuple(f.name for f in fields if not f.metadata.get(_STATIC, False))
        cls._static_fields = static
        cls._dynamic_fields = dynamic
        cls._converters = tuple(
            (f.name, f.metadata[_CONVERTER]) for f in fields if _CONVERTER in f.metadata
        )
        cls._defaults = tuple(
            (f.name, f.default, f.default_factory)
            for f in fields
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
        )
        cls._check_inits = tuple(
            klass.__dict__["__check_init__"] for klass in cls.__mro__ if "__check_init__" in klass.__dict__
        )
        if tree_functions is None:
            cls._store_flat, flatten_with_keys, unflatten = _generate_tree_functions(cls, dynamic, static)
            flatten = _read_flat
        else:
            flatten, flatten_with_keys, unflatten = tree_functions(cls)
            # So that reading the flat form works alike for every Module (slower here).
            setattr(cls, _FLAT, property(flatten))
        jtu.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten_func=flatten)
        _module_types.add(cls)
        return cls

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        self = cls.__new__(cls)
        key = id(self)
        _initialising.add(key)
        try:
            self.__init__(*args, **kwargs)
        finally:
            _initialising.discard(key)
        _finish_init(cls, self)
        return self


# Static values that cannot hold an array, skipped by the array-in-static-field check.
_PLAIN_STATIC_TYPES = frozenset({int, float, bool, str, type(None), types.FunctionType})


def _finish_init(cls: Any, self: Any) -> None:
    """Fill defaults, check every field is set, run converters and `__check_init__`."""
    values = self.__dict__
    for name, default, default_factory in cls._defaults:
        if name not in values:
            values[name] = default_factory() if default is dataclasses.MISSING else default
    for name in cls._dynamic_fields + cls._static_fields:
        if name not in values:
            raise TypeError(f"{cls.__name__}: field {name!r} was not initialized by __init__.")
    for name, converter in cls._converters:
        values[name] = converter(values[name])
    for name in cls._static_fields:
        value = values[name]
        if type(value) in _PLAIN_STATIC_TYPES:
            continue
        if any(isinstance(leaf, (jax.Array, np.ndarray)) for leaf in jtu.tree_leaves(value)):
            warnings.warn(
                f"{cls.__name__}.{name} is a static field but holds a JAX or NumPy array; "
                "static values are hashed and never traced, so this is usually a mistake.",
                stacklevel=3,
            )
    cls._store_flat(self)
    for check_init in cls._check_inits:
        check_init(self)


class Module(metaclass=_ModuleMeta):
    """Base class for parameterised functions that are PyTrees.

    Subclasses declare fields with class annotations (optionally `= field(...)`),
    and are built either by the generated dataclass `__init__` or by a custom
    `__init__` that assigns `self.name = value` for every field. After `__init__`:
    defaults fill unset fields, a field still unset raises `TypeError`, converters
    run, then `__check_init__` runs for every class in the MRO that defines one.
    Instances are immutable afterwards; use `tree_at` to make modified copies.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if id(self) in _initialising:
            if type(value) is _BoundMethod and value.__self__ is self:
                raise ValueError(
                    f"{type(self).__name__}.__init__ assigns its own bound method to {name!r}; "
                    "that makes the module refer to itself. Store the function and call it with self."
                )
            object.__setattr__(self, name, value)
            return
        raise dataclasses.FrozenInstanceError(
            f"cannot assign to field {name!r} of {type(self).__name__}: Modules are immutable "
            "after __init__ (use tree_at to build a modified copy)"
        )

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(
            f"cannot delete field {name!r} of {type(self).__name__}: Modules are immutable"
        )

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__
        if _JIT_ENTRY in state:
            state = {key: value for key, value in state.items() if key != _JIT_ENTRY}
        return state

    def __eq__(self, other: object) -> Any:
        from ._tree import tree_equal

        return tree_equal(self, other)

    def __hash__(self) -> int:
        return hash((type(self), tuple(jtu.tree_leaves(self))))

    def __repr__(self) -> str:
        from ._pretty import tree_pformat

        return tree_pformat(self)


def _bound_method_tree_functions(cls: type) -> tuple[Callable, Callable, Callable]:
    """Flatten, flatten-with-keys and unflatten of `_BoundMethod`: child the
    instance, static data the function."""
    self_key = jtu.GetAttrKey("__self__")

    def flatten(method: Any) -> tuple[tuple[Any], tuple[Callable]]:
        return (method.args[0],), (method.func,)

    def flatten_with_keys(method: Any) -> tuple[tuple[tuple[Any, Any]], tuple[Callable]]:
        return ((self_key, method.args[0]),), (method.func,)

    def unflatten(aux: tuple[Callable], children: Any) -> Any:
        (instance,) = children
        return _new_partial(cls, aux[0], instance)

    return flatten, flatten_with_keys, unflatten


class _BoundMethod(Module, functools.partial, tree_functions=_bound_method_tree_functions):
    """A method bound to a Module instance, as a PyTree whose child is the instance.

    It is also `functools.partial(__func__, __self__)`: binding is one C call,
    and a call goes from C straight to the function, with no Python frame in
    between (a `filter_jit` method starts its hot path at once). Its fields are
    read from the partial's `func` and `args`.
    """

    __func__: Callable = field(static=True)
    __self__: Module

    def __reduce__(self) -> tuple[Any, ...]:
        return _bound_method, (self.func, self.args[0])

    @property
    def __wrapped__(self) -> Callable:
        return self.func

    @property
    def __signature__(self) -> inspect.Signature:
        # Without it `inspect.signature` would follow `__wrapped__` and keep `self`.
        return inspect.signature(types.MethodType(self.func, self.args[0]))


# Set after the dataclass machinery has seen the fields: both live in the partial.
_BoundMethod.__func__ = property(operator.attrgetter("func"), doc="The function.")
_BoundMethod.__self__ = property(lambda method: method.args[0], doc="The Module instance it is bound to.")
_new_partial = functools.partial.__new__


def _bound_method(func: Callable, instance: Module) -> _BoundMethod:
    # Bypasses `_ModuleMeta.__call__`: attribute access must stay cheap.
    return _new_partial(_BoundMethod, func, instance)


class _FunctionWrapper(Module):
    """Base of the Modules that wrap a function `fun` (the filtered transformations).

    Like a plain function, it binds as a method when stored on a class, and
    `__wrapped__` leads back to `fun`.
    """

    fun: Callable

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        return _bound_method(self, instance)

    @property
    def __wrapped__(self) -> Callable:
        return self.fun
