"""Reading a rules file: a JSON object from logical axis names to mesh axes, with where each rule is.

    {
        "batch": "data",
        "embed": null,
        "heads": "model",
        "mlp": ["model"]
    }

A value is a mesh axis name, a list of them (sharded over their product, major
to minor) or `null` (replicated), as the runtime's rules take them. A key may
appear twice: JSON allows it, and the check reports the two rules as
conflicting instead of keeping one of them silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from eqxdsl.compiler.diagnostics import CompileError, Diagnostic, diagnostic_at

__all__ = ["RulesFile", "read_rules_file"]

_WHITESPACE = " \t\r\n"


@dataclass(frozen=True)
class RulesFile:
    """A parsed rules file.

    Attributes:
        path: the file's path as given.
        source: its text.
        rules: `(logical name, mesh axes)` pairs, in the file's order (duplicates kept).
        spans: for each rule, the offsets where its key starts and its value ends.
    """

    path: str
    source: str
    rules: tuple[tuple[str, object], ...]
    spans: tuple[tuple[int, int], ...]

    def diagnostic(self, rule: int | None, message: str, hint: str | None = None) -> Diagnostic:
        """A diagnostic at rule number `rule` (underlining `"key": value`), or at the file's start."""
        start, end = self.spans[rule] if rule is not None else (0, 0)
        line, column = _line_column(self.source, start)
        end_line, end_column = _line_column(self.source, end)
        return diagnostic_at(self.source, self.path, line, column, message, hint=hint, end_line=end_line, end_column=end_column)


def _line_column(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of `offset`."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _skip(text: str, index: int) -> int:
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def read_rules_file(path: str) -> RulesFile:
    """Read and parse the rules file at `path`.

    Raises:
        OSError: the file cannot be read.
        CompileError: it is not JSON, or not a JSON object (located).
    """
    source = Path(path).read_text(encoding="utf-8")
    try:
        json.loads(source)
    except json.JSONDecodeError as error:
        raise CompileError([diagnostic_at(
            source, path, error.lineno, error.colno, f"the rules file is not valid JSON: {error.msg}",
            hint='it is one JSON object, e.g. {"batch": "data", "embed": null, "heads": "model"}',
        )]) from None
    start = _skip(source, 0)
    if source[start] != "{":
        line, column = _line_column(source, start)
        raise CompileError([diagnostic_at(
            source, path, line, column, "the rules file must be a JSON object from logical axis names to mesh axes",
            hint='e.g. {"batch": "data", "embed": null, "heads": "model"}',
        )])
    # Validated above, so the object can be walked token by token to keep each rule's position.
    decoder = json.JSONDecoder()
    rules: list[tuple[str, object]] = []
    spans: list[tuple[int, int]] = []
    index = _skip(source, start + 1)
    while source[index] != "}":
        key, end = decoder.raw_decode(source, index)
        value, value_end = decoder.raw_decode(source, _skip(source, _skip(source, end) + 1))
        rules.append((key, value))
        spans.append((index, value_end))
        index = _skip(source, value_end)
        if source[index] == ",":
            index = _skip(source, index + 1)
    return RulesFile(path, source, tuple(rules), tuple(spans))
