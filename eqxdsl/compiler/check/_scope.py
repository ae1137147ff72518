"""A method's variables while it is checked, and the fingerprint of a condition."""

from __future__ import annotations

from dataclasses import dataclass, field

from eqxdsl.compiler.dims import TensorType
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.values import Poisoned, Value


@dataclass
class Scope:
    """A method's variables while it is checked."""

    variables: dict[str, Value]
    present: frozenset[str] = frozenset()
    conditions: frozenset[str] = frozenset()
    stack_vars: dict[str, tuple[str, int]] = field(default_factory=dict)
    # In the body of a loop over an array: what each `outputs.append(value)` appends, by list.
    appends: dict[str, TensorType | Poisoned] | None = None

    def copy(self) -> Scope:
        return Scope(dict(self.variables), self.present, self.conditions, dict(self.stack_vars), self.appends)


def condition_key(expr: s.Expr) -> str:
    """A position-free fingerprint of a condition, to match `if use_norm:` in a method with the model's."""
    return _strip_positions(expr)


def _strip_positions(node: object) -> str:
    if isinstance(node, s.Node):
        fields = [f"{k}={_strip_positions(v)}" for k, v in vars(node).items() if k != "pos"]
        return f"{type(node).__name__}({', '.join(fields)})"
    if isinstance(node, tuple):
        return "(" + ", ".join(_strip_positions(n) for n in node) + ")"
    return repr(node)
