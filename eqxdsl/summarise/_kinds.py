"""What counts as a layer, a `State` and a `StateIndex`: ours, and Equinox's when it is in use.

Equinox is never imported here: a model built with it has imported it already.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


@dataclasses.dataclass(frozen=True)
class Kinds:
    """The classes of one or more Module libraries.

    Attributes:
        modules: the Module base classes.
        states: the `State` classes.
        state_indices: the `StateIndex` classes.
    """

    modules: tuple[type, ...]
    states: tuple[type, ...]
    state_indices: tuple[type, ...]

    def is_layer(self, x: Any) -> bool:
        """Whether `x` is a Module that gets a row (a `StateIndex` does not)."""
        return isinstance(x, self.modules) and not isinstance(x, self.state_indices)

    def is_state(self, x: Any) -> bool:
        return isinstance(x, self.states)

    def is_state_index(self, x: Any) -> bool:
        return isinstance(x, self.state_indices)


def current_kinds() -> Kinds:
    """Our runtime's classes, and Equinox's if Equinox has been imported."""
    from ..runtime import Module
    from ..runtime.nn import State, StateIndex

    modules, states, indices = [Module], [State], [StateIndex]
    equinox = sys.modules.get("equinox")
    if equinox is not None:
        modules.append(equinox.Module)
        states.append(equinox.nn.State)
        indices.append(equinox.nn.StateIndex)
    return Kinds(tuple(modules), tuple(states), tuple(indices))


def is_array_or_struct(x: Any) -> bool:
    """Whether `x` is an array (JAX or NumPy, tracers included) or a `jax.ShapeDtypeStruct`."""
    return isinstance(x, (jax.Array, np.ndarray, np.generic, jax.ShapeDtypeStruct))


def is_inexact(x: Any) -> bool:
    """Whether `x` is a floating-point or complex array or `jax.ShapeDtypeStruct`."""
    return is_array_or_struct(x) and bool(jnp.issubdtype(x.dtype, jnp.inexact))


def nbytes(x: Any) -> int:
    """Bytes of the array or `jax.ShapeDtypeStruct` `x`."""
    return int(np.prod(x.shape, dtype=np.int64)) * np.dtype(x.dtype).itemsize
