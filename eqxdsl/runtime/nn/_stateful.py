"""Explicit layer state: `StateIndex` marks a slot in a model, `State` holds the
values of all slots, `make_with_state` builds a model together with its initial
state, and `StatefulLayer` is the base of layers called as ``(x, state) -> (y, state)``."""

from __future__ import annotations

import types
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import jax.tree_util as jtu

from .._module import Module, field
from ._misc import replace_attributes

_Model = TypeVar("_Model")


class _NoValue(Module):
    """Stands for an initial value that has been moved out of the model into a `State`."""


_NO_VALUE = _NoValue()


class _NoState:
    def __repr__(self) -> str:
        return "NO_STATE"


NO_STATE: Any = _NoState()
"""Default of the optional ``state`` argument of layers that may sit in a stateful model."""


class StateIndex(Module):
    """A slot of mutable state inside a model.

    ``init`` is the initial value (a PyTree of arrays); `make_with_state` moves it
    into the `State` and leaves the slot with only its ``marker``, the key under
    which the `State` stores the current value.
    """

    marker: Hashable = field(static=True)
    init: Any

    def __init__(self, init: Any):
        """**Arguments:** ``init``: the initial value, a PyTree of arrays."""
        if isinstance(init, types.FunctionType):
            raise ValueError("StateIndex(init) takes the initial value itself, not a function that makes it")
        self.marker = object()
        self.init = init


def _is_index(x: Any) -> bool:
    return isinstance(x, StateIndex)


_REUSED_STATE = (
    "this State was already used: `set` and `update` return a new State and retire the "
    "old one, so thread the returned state through (x, state = layer(x, state)). To keep "
    "an old state on purpose, clone it first with jax.tree_util.tree_map(lambda a: a, state)."
)


def _structure(value: Any) -> tuple[Any, list[tuple[tuple[int, ...], Any]]]:
    leaves, treedef = jtu.tree_flatten(jax.eval_shape(lambda: value))
    return treedef, [(leaf.shape, leaf.dtype) for leaf in leaves]


class State:
    """The current values of every `StateIndex` of a model.

    Build it with `make_with_state`. It is a PyTree whose leaves are the state
    arrays. `set` and `update` return a new `State` and retire this one, so a
    stale state cannot be used by mistake.
    """

    def __init__(self, model: Any):
        """Collect the initial value of every `StateIndex` in ``model``."""
        values = {}
        for leaf in jtu.tree_leaves(model, is_leaf=_is_index):
            if _is_index(leaf):
                if isinstance(leaf.init, _NoValue):
                    raise ValueError(
                        "State(model) needs the StateIndex initial values, which this model "
                        "no longer holds: build it with make_with_state(MakeModel)(...)"
                    )
                values[leaf.marker] = jtu.tree_map(jnp.asarray, leaf.init)
        self._values: dict[Hashable, Any] | None = values

    @classmethod
    def _from_values(cls, values: dict[Hashable, Any]) -> State:
        new = object.__new__(cls)
        new._values = values
        return new

    def _live_values(self) -> dict[Hashable, Any]:
        if self._values is None:
            raise ValueError(_REUSED_STATE)
        return self._values

    def get(self, index: StateIndex) -> Any:
        """The current value of ``index``."""
        values = self._live_values()
        if not _is_index(index):
            raise TypeError(f"State.get takes a StateIndex, got {type(index).__name__}")
        return values[index.marker]

    def set(self, index: StateIndex, value: Any) -> State:
        """A new `State` with ``index`` set to ``value``, which must have the same
        structure, shapes and dtypes as the old value."""
        values = self._live_values()
        if not _is_index(index):
            raise TypeError(f"State.set takes a StateIndex, got {type(index).__name__}")
        value = jtu.tree_map(jnp.asarray, value)
        old, new = _structure(values[index.marker]), _structure(value)
        if old != new:
            raise ValueError(
                f"State.set: the new value must keep the old structure, shapes and dtypes; "
                f"old {old}, new {new}"
            )
        new_values = dict(values)
        new_values[index.marker] = value
        self._values = None
        return State._from_values(new_values)

    def substate(self, pytree: Any) -> State:
        """The part of this state that belongs to the `StateIndex`es in ``pytree``."""
        values = self._live_values()
        markers = [x.marker for x in jtu.tree_leaves(pytree, is_leaf=_is_index) if _is_index(x)]
        return State._from_values({m: values[m] for m in markers})

    def update(self, substate: State) -> State:
        """A new `State` with the values of ``substate`` (from `substate`) written back."""
        values = self._live_values()
        if not isinstance(substate, State):
            raise TypeError(f"State.update takes a State, got {type(substate).__name__}")
        new_values = dict(values)
        for marker, value in substate._live_values().items():
            if marker not in new_values:
                raise ValueError("State.update: the argument is not a substate of this State")
            new_values[marker] = value
        self._values = None
        return State._from_values(new_values)

    def __repr__(self) -> str:
        if self._values is None:
            return "State(<used>)"
        shapes = ", ".join(
            f"{m!r}: {jtu.tree_map(lambda a: f'{a.dtype}{list(a.shape)}', v)}"
            for m, v in self._values.items()
        )
        return f"State({{{shapes}}})"


def _flatten_state(state: State) -> tuple[tuple[Any, ...], tuple[Hashable, ...]]:
    values = state._live_values()
    markers = tuple(values)
    return tuple(values[m] for m in markers), markers


def _unflatten_state(markers: tuple[Hashable, ...], children: tuple[Any, ...]) -> State:
    return State._from_values(dict(zip(markers, children)))


jtu.register_pytree_node(State, _flatten_state, _unflatten_state)


class StatefulLayer(Module):
    """Base class of layers called as ``layer(x, state, *, key=None) -> (y, state)``.

    `Sequential` passes the state to a layer when its ``is_stateful()`` is true.
    """

    def is_stateful(self) -> bool:
        """Whether calls take and return a `State` (true unless a subclass says otherwise)."""
        return True


def delete_init_state(model: _Model) -> _Model:
    """``model`` with the initial values of its `StateIndex`es dropped (they live in the `State`)."""

    def drop(x: Any) -> Any:
        return replace_attributes(x, init=_NO_VALUE) if _is_index(x) else x

    return jtu.tree_map(drop, model, is_leaf=_is_index)


def make_with_state(make_model: Callable[..., _Model]) -> Callable[..., tuple[_Model, State]]:
    """Wrap a model constructor so that it returns ``(model, state)``.

    Each `StateIndex` gets a marker made of the model class name and its path in
    the model (stable across runs, so jit caches and serialised states line up);
    the initial values move into the returned `State`.
    """

    def make(*args: Any, **kwargs: Any) -> tuple[_Model, State]:
        model = make_model(*args, **kwargs)
        paths_and_leaves, treedef = jtu.tree_flatten_with_path(model, is_leaf=_is_index)
        prefix = type(model).__name__
        leaves = [
            replace_attributes(leaf, marker=prefix + jtu.keystr(path)) if _is_index(leaf) else leaf
            for path, leaf in paths_and_leaves
        ]
        model = jtu.tree_unflatten(treedef, leaves)
        return delete_init_state(model), State(model)

    return make
