"""Compile errors as the user sees them: where, what, and how to fix it.

Every stage reports problems as `Diagnostic`s. A stage collects all the
problems of a file, then raises them together as one `CompileError`, so a user
sees every mistake of a spec in one run.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a spec.

    Attributes:
        path: the spec's path as given to the compiler.
        line: 1-based line of the problem.
        column: 1-based column where the problem starts.
        message: what is wrong, in one sentence.
        hint: how to fix it, when the compiler can tell.
        source_line: the text of the offending line (no newline), shown under
            the message with a caret.
        end_column: 1-based column just past the problem on the same line;
            the caret then underlines the whole span.
    """

    path: str
    line: int
    column: int
    message: str
    hint: str | None = None
    source_line: str | None = None
    end_column: int | None = None

    def format(self) -> str:
        """The diagnostic as printed: location and message, source, caret, hint."""
        lines = [f"{self.path}:{self.line}:{self.column}: error: {self.message}"]
        if self.source_line is not None:
            lines.append(self.source_line)
            width = 1
            if self.end_column is not None and self.end_column > self.column:
                width = self.end_column - self.column
            # Keep tabs so the caret lines up with the source as a terminal shows it.
            prefix = "".join(c if c == "\t" else " " for c in self.source_line[: self.column - 1])
            lines.append(prefix + "^" * width)
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


class CompileError(Exception):
    """All the problems found in one or more specs, raised together."""

    def __init__(self, diagnostics: tuple[Diagnostic, ...] | list[Diagnostic]):
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "\n".join(d.format() for d in self.diagnostics)


def source_line_at(source: str, line: int) -> str | None:
    """The text of 1-based `line` of `source` without its newline, or None if out of range."""
    lines = source.splitlines()
    if 1 <= line <= len(lines):
        return lines[line - 1]
    return None


def diagnostic_at(
    source: str,
    path: str,
    line: int,
    column: int,
    message: str,
    *,
    hint: str | None = None,
    end_line: int | None = None,
    end_column: int | None = None,
) -> Diagnostic:
    """A Diagnostic for a position of `source`, with the source line filled in.

    `end_line`/`end_column` describe where the offending span ends (as a syntax
    node's position does); the caret underlines it when it ends on the same line.
    """
    same_line_end = end_column if end_line in (None, line) else None
    return Diagnostic(
        path=path,
        line=line,
        column=column,
        message=message,
        hint=hint,
        source_line=source_line_at(source, line),
        end_column=same_line_end,
    )


def resource_dir(folder: str) -> Path:
    """Locate a data folder shipped with eqxdsl (`"grammar"`, `"templates"`).

    An installed wheel carries it inside the package (`eqxdsl/<folder>/`);
    a source checkout keeps it at the repository root (`<root>/<folder>/`).
    """
    package_dir = Path(__file__).resolve().parent.parent
    for candidate in (package_dir / folder, package_dir.parent / folder):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"eqxdsl data folder {folder!r} is missing from the installation")


def resource_path(folder: str, name: str) -> Path:
    """The data file `name` inside the shipped folder `folder` (see `resource_dir`)."""
    path = resource_dir(folder) / name
    if not path.is_file():
        raise FileNotFoundError(f"eqxdsl data file {folder}/{name} is missing from the installation")
    return path


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a stage allocates many small, long-lived objects.

    Parsing builds tens of thousands of tree nodes that all survive; each
    allocation burst would otherwise trigger collections that scan them all
    again (about 15% of the front end's time on a large spec).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
