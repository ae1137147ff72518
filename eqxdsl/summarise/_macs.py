"""Multiply-adds of a jaxpr, attributed to the layer call each equation ran in.

Only matrix products (`dot_general`, which `@`, `einsum` and every `Linear`
lower to) and convolutions count; elementwise operations, reductions and
gathers do not. A `lax.scan` body counts once per step, a `lax.cond` as its
costliest branch, and a `while_loop` body once (its trip count is not known
when tracing), each noted.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

__all__ = ["count_macs", "MacCount"]


@dataclasses.dataclass
class MacCount:
    """The multiply-adds of a jaxpr.

    Attributes:
        by_scope: multiply-adds by the token of the innermost layer call they
            ran in (`None` outside every layer call).
        notes: where a count had to assume something.
    """

    by_scope: Counter = dataclasses.field(default_factory=Counter)
    notes: list[str] = dataclasses.field(default_factory=list)

    def add(self, other: MacCount, times: int = 1) -> None:
        for scope, macs in other.by_scope.items():
            self.by_scope[scope] += times * macs
        self.notes.extend(note for note in other.notes if note not in self.notes)


def _dot_general(eqn: Any) -> int:
    """Output elements times the size of the contracted axes."""
    (lhs_contracting, _), _ = eqn.params["dimension_numbers"]
    lhs_shape = eqn.invars[0].aval.shape
    out_size = int(np.prod(eqn.outvars[0].aval.shape, dtype=np.int64))
    return out_size * int(np.prod([lhs_shape[d] for d in lhs_contracting], dtype=np.int64))


def _valid_taps(size: int, dilation: int, low: int, kernel: int, kernel_dilation: int, stride: int, out: int) -> int:
    """How many (output position, kernel tap) pairs of one spatial axis land on an input element.

    Taps on padding, and on the zeros that input dilation (a transposed
    convolution) inserts, multiply nothing; XLA does not count them either.
    """
    position = np.arange(out)[:, None] * stride + np.arange(kernel)[None, :] * kernel_dilation - low
    valid = (position >= 0) & (position <= (size - 1) * dilation) & (position % dilation == 0)
    return int(valid.sum())


def _conv_general_dilated(eqn: Any) -> int:
    """Output batch × output features × input features per group × valid taps per axis."""
    params = eqn.params
    lhs_spec, rhs_spec, out_spec = params["dimension_numbers"]
    lhs_shape, rhs_shape = eqn.invars[0].aval.shape, eqn.invars[1].aval.shape
    out_shape = eqn.outvars[0].aval.shape
    macs = out_shape[out_spec[0]] * out_shape[out_spec[1]] * rhs_shape[rhs_spec[1]]
    for axis, (low, _) in enumerate(params["padding"]):
        macs *= _valid_taps(
            lhs_shape[lhs_spec[2 + axis]],
            params["lhs_dilation"][axis],
            low,
            rhs_shape[rhs_spec[2 + axis]],
            params["rhs_dilation"][axis],
            params["window_strides"][axis],
            out_shape[out_spec[2 + axis]],
        )
    return int(macs)


_RULES: dict[str, Callable[[Any], int]] = {
    "dot_general": _dot_general,
    "conv_general_dilated": _conv_general_dilated,
}


def _inner_jaxprs(value: Any) -> Iterator[Any]:
    """The jaxprs held by an equation parameter (a jaxpr, a closed jaxpr, or a tuple of them)."""
    if hasattr(value, "eqns"):
        yield value
    elif hasattr(value, "jaxpr") and hasattr(value, "consts"):
        yield value.jaxpr
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _inner_jaxprs(item)


def count_macs(jaxpr: Any, scope_of: Callable[[str], int | None], scope: int | None = None) -> MacCount:
    """Count the multiply-adds of `jaxpr`.

    Args:
        jaxpr: a `Jaxpr` or `ClosedJaxpr`.
        scope_of: the layer-call token an equation's name stack (as a string)
            names innermost, or `None` if it names none.
        scope: the token inherited from the enclosing equation; the name
            stacks of an inner jaxpr's equations are relative to it.
    """
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    count = MacCount()
    for eqn in jaxpr.eqns:
        named = scope_of(str(eqn.source_info.name_stack))
        eqn_scope = scope if named is None else named
        name = eqn.primitive.name
        rule = _RULES.get(name)
        if rule is not None:
            count.by_scope[eqn_scope] += rule(eqn)
        elif name == "scan":
            count.add(count_macs(eqn.params["jaxpr"], scope_of, eqn_scope), times=eqn.params["length"])
        elif name == "cond":
            branches = [count_macs(branch, scope_of, eqn_scope) for branch in eqn.params["branches"]]
            costliest = max(branches, key=lambda branch: sum(branch.by_scope.values()))
            if len({sum(branch.by_scope.values()) for branch in branches}) > 1:
                costliest.notes.append("a lax.cond counts as its costliest branch")
            count.add(costliest)
        elif name == "while":
            count.add(count_macs(eqn.params["cond_jaxpr"], scope_of, eqn_scope))
            body = count_macs(eqn.params["body_jaxpr"], scope_of, eqn_scope)
            if sum(body.by_scope.values()):
                body.notes.append("a while loop counts one iteration (its trip count is unknown when tracing)")
            count.add(body)
        else:
            for value in eqn.params.values():
                for inner in _inner_jaxprs(value):
                    count.add(count_macs(inner, scope_of, eqn_scope))
    return count
