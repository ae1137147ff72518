"""Which methods sample: those that need a key even in inference mode.

A method is stochastic when it takes a key at all. Dropout needs its key only
in training, so a method whose only random parts are such layers may be called
without one in inference mode. A method that draws samples itself (`normal`,
`uniform`, `bernoulli`), or calls a model's method that does, needs a key on
every call: its `key` argument has no default.
"""

from __future__ import annotations

from eqxdsl.compiler.check.checked import CallRef, CheckedModel
from eqxdsl.compiler.library.functions import FUNCTIONS
from eqxdsl.compiler.lower._sites import walk_nodes


def sampling_call(model: CheckedModel, method: str) -> str | None:
    """The name of the first call in `model`'s `method` that samples (directly or through the
    methods and models it calls), as written in the spec; None if it samples nowhere."""
    return _sampling_call(model, method, frozenset())


def _sampling_call(model: CheckedModel, method: str, active: frozenset[tuple[int, str]]) -> str | None:
    info = model.methods.get(method)
    if info is None or not info.stochastic or (id(model), method) in active:
        return None
    active = active | {(id(model), method)}
    for node in walk_nodes(info.node.body):
        ref = model.resolved.get(id(node))
        if isinstance(ref, CallRef) and ref.stochastic and _samples(model, ref, active):
            called = ref.inner if ref.kind == "map" and ref.inner is not None else ref
            return called.target if called.kind != "submethod" else f"{called.target}.{called.method}"
    return None


def _samples(model: CheckedModel, ref: CallRef, active: frozenset[tuple[int, str]]) -> bool:
    if ref.kind == "map" and ref.inner is not None:
        return _samples(model, ref.inner, active)
    if ref.kind == "function":
        return FUNCTIONS[ref.target].stochastic
    if ref.kind == "method":
        return _sampling_call(model, ref.target, active) is not None
    if ref.kind in ("layer", "submethod", "stack"):
        field = model.fields.get(ref.target)
        inner = getattr(getattr(field, "layer", None), "model", None)
        if isinstance(inner, CheckedModel):
            return _sampling_call(inner, ref.method or "forward", active) is not None
    return False
