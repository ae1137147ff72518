"""The base of the checker's roles: each reaches its model's checker through a back-reference."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eqxdsl.compiler.check._declarations import ModelChecker


class Role:
    """One role of a model's checker (statements, expressions, calls, stacks).

    Attributes:
        checker: the `ModelChecker` this role works for; the other roles are reached through it.
        r: the reporter that collects the spec's diagnostics.
        model: the model being checked.
        spec: the spec checker above the model's.
    """

    def __init__(self, checker: ModelChecker):
        self.checker = checker
        self.r = checker.r
        self.model = checker.model
        self.spec = checker.spec
