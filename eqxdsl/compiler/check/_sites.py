"""Recording the calls a method makes (`checked.CallSite`), for the tools that read a checked spec."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eqxdsl.compiler.check.checked import CallSite

if TYPE_CHECKING:
    from eqxdsl.compiler.check._declarations import ModelChecker


def record(checker: ModelChecker, site: CallSite) -> None:
    """Add `site` to the calls of the method being checked (none while checking declarations)."""
    if checker.current is not None:
        checker.current.sites.append(site)


def sites_mark(checker: ModelChecker) -> int:
    """How many calls the method being checked has recorded so far."""
    return len(checker.current.sites) if checker.current is not None else 0


def forget_sites(checker: ModelChecker, mark: int) -> None:
    """Drop the calls recorded since `mark`: a check whose result is thrown away and done again."""
    if checker.current is not None:
        del checker.current.sites[mark:]
