"""Collecting diagnostics, stopping an expression after its error, and poisoned values."""

from __future__ import annotations

import functools
import keyword
from collections.abc import Iterable

from eqxdsl.compiler.diagnostics import Diagnostic, diagnostic_at
from eqxdsl.compiler.library.layers import NOT_LAYERS, suggest
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.reserved import RESERVED_NAMES
from eqxdsl.compiler.values import POISONED, Poisoned

__all__ = ["POISONED", "Abort", "Poisoned", "Reporter", "any_poisoned", "check_identifier", "did_you_mean", "unknown_layer_hint"]


class Reporter:
    def __init__(self, source: str, path: str):
        self.source = source
        self.path = path
        self.diagnostics: list[Diagnostic] = []
        self._seen: set[tuple[int, int, str]] = set()

    @functools.cached_property
    def lines(self) -> list[str]:
        """The source's lines (split once: relations quote the text of their comparison)."""
        return self.source.splitlines()

    def error(self, node: s.Node, message: str, hint: str | None = None) -> None:
        key = (node.pos.line, node.pos.column, message)
        if key in self._seen:
            return
        self._seen.add(key)
        pos = node.pos
        self.diagnostics.append(
            diagnostic_at(
                self.source, self.path, pos.line, pos.column, message, hint=hint,
                end_line=pos.end_line, end_column=pos.end_column,
            )
        )


class Abort(Exception):
    """Stops checking an expression after its error was reported."""


def any_poisoned(values: Iterable[object]) -> bool:
    return any(isinstance(v, Poisoned) for v in values)


def did_you_mean(name: str, candidates) -> str | None:
    match = suggest(name, [c for c in candidates if c != name])
    return f"did you mean {match!r}?" if match else None


def unknown_layer_hint(name: str, candidates) -> str:
    if name in NOT_LAYERS:
        return f"{name} is not declared in a spec: {NOT_LAYERS[name]}"
    return did_you_mean(name, candidates) or "layers are the classes of eqxdsl.runtime.nn, models of this file and imported models"


def check_identifier(reporter: Reporter, node: s.Node, name: str, what: str) -> bool:
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        reporter.error(node, f"{what} {name!r} is a Python keyword", hint="choose another name")
        return False
    if name.startswith("__") and name.endswith("__"):
        reporter.error(node, f"{what} {name!r} is reserved (a double-underscore name)", hint="choose another name")
        return False
    if name in RESERVED_NAMES:
        reporter.error(
            node,
            f"{what} {name!r} would shadow a name the generated code relies on",
            hint="choose another name; reserved: " + ", ".join(sorted(n for n in RESERVED_NAMES if n[0].islower())),
        )
        return False
    return True
