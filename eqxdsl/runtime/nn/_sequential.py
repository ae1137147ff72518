"""`Sequential` (layers applied one after another, state threaded through the
stateful ones) and `Lambda` (a plain function wrapped as a layer)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax

from .._module import Module, field
from ._stateful import NO_STATE, State, StatefulLayer


class Lambda(Module):
    """Wraps a function of one argument as a layer: ``Lambda(fn)(x) == fn(x)``.

    ``fn`` is a static field, so it must not hold parameters; input and output
    shapes are those of ``fn``.
    """

    fn: Callable[[Any], Any] = field(static=True)

    def __init__(self, fn: Callable[[Any], Any]):
        """**Arguments:** ``fn``: the function to apply."""
        self.fn = fn

    def __call__(self, x: Any, *, key: jax.Array | None = None) -> Any:
        """Return ``fn(x)``; ``key`` is ignored."""
        return self.fn(x)


class Sequential(StatefulLayer):
    """Applies ``layers`` in order.

    Called as ``seq(x, *, key=None)`` or, in a model with state,
    ``seq(x, state, *, key=None) -> (y, state)``: every `StatefulLayer` among the
    layers gets the state and returns it updated. A ``key`` is split into one key
    per layer. Plain functions (not modules) are wrapped in `Lambda` so that the
    whole model stays a PyTree of arrays.
    """

    layers: tuple[Any, ...]

    def __init__(self, layers: Sequence[Callable[..., Any]]):
        """**Arguments:** ``layers``: the layers (or functions) to apply, first to last."""
        self.layers = tuple(layer if isinstance(layer, Module) else Lambda(layer) for layer in layers)

    def is_stateful(self) -> bool:
        """Whether any of the layers is stateful."""
        return any(isinstance(layer, StatefulLayer) and layer.is_stateful() for layer in self.layers)

    def __call__(self, x: Any, state: State = NO_STATE, *, key: jax.Array | None = None) -> Any:
        """Apply every layer; returns ``y``, or ``(y, state)`` when a state was given."""
        keys = [None] * len(self.layers) if key is None else jax.random.split(key, len(self.layers))
        for layer, layer_key in zip(self.layers, keys):
            if isinstance(layer, StatefulLayer) and layer.is_stateful():
                if state is NO_STATE:
                    raise ValueError(
                        f"Sequential: layer {type(layer).__name__} is stateful, so call "
                        "the Sequential as seq(x, state) with the state from make_with_state"
                    )
                x, state = layer(x, state, key=layer_key)
            else:
                x = layer(x, key=layer_key)
        return x if state is NO_STATE else (x, state)

    def __getitem__(self, index: int | slice) -> Any:
        """One layer, or a `Sequential` of a slice of the layers."""
        if isinstance(index, slice):
            return Sequential(self.layers[index])
        return self.layers[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)
