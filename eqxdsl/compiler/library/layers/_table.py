"""The layer table, joined from the rows of each family."""

from __future__ import annotations

from collections.abc import Mapping

from eqxdsl.compiler.library.layers import (
    activations,
    attention,
    conv,
    dropout,
    embedding,
    linear,
    normalisation,
    pool,
    rnn,
    wrappers,
)
from eqxdsl.compiler.library.layers._row import LayerInfo

#: Every layer of `eqxdsl.runtime.nn` that a spec can declare, by class name.
LAYERS: Mapping[str, LayerInfo] = {info.name: info for family in (linear, activations, dropout, conv, pool, normalisation, embedding, rnn, attention, wrappers) for info in family.ROWS}


#: The runtime's other `nn` classes, and why a spec does not declare them directly.
NOT_LAYERS: Mapping[str, str] = {
    "Sequential": "a pipeline `x -> a -> b` says the same",
    "Lambda": "a spec calls functions directly",
    "Shared": "a spec ties parameters by using the same layer or its weight in an expression",
    "StatefulLayer": "an abstract base class, not a layer",
    "State": "the state is threaded by the generated code",
    "StateIndex": "the state is threaded by the generated code",
}
