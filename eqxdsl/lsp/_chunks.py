"""Re-parsing only what an edit changed: a spec parsed as its top-level items, each kept until its text changes.

A spec is a sequence of top-level items (imports and models), each starting
at column 0 of its first line with `from` or `model`. `ChunkedParser` cuts the
text before every such line and parses each chunk on its own, padded with
newlines so that every position stays that of the whole file; a chunk whose
text and first line are unchanged since the last parse is not parsed again.

If any chunk fails to parse (or a cut fell inside a bracket or a string,
which makes the chunks before it fail), the whole text is parsed as one, so
a syntax error is reported exactly as `parse_spec` reports it.
"""

from __future__ import annotations

import re

from eqxdsl.compiler.diagnostics import CompileError
from eqxdsl.compiler.parse import parse_spec
from eqxdsl.compiler.parse import syntax as s

_ITEM_START = re.compile(r"^(?:model|from)\b", re.MULTILINE)

_Items = tuple[tuple[s.SpecImport | s.PythonImport, ...], tuple[s.Model, ...], s.Pos]


def chunks(text: str) -> list[tuple[int, str]]:
    """`text` cut before each line that starts a top-level item: (1-based first line, chunk text) pairs.

    The text before the first item (comments, blank lines) belongs to the first chunk.
    """
    starts = [match.start() for match in _ITEM_START.finditer(text)]
    if not starts or starts[0] != 0:
        starts = [0, *starts[1:]] if starts else [0]
    pieces = []
    line = 1
    for begin, end in zip(starts, [*starts[1:], len(text)]):
        piece = text[begin:end]
        pieces.append((line, piece))
        line += piece.count("\n")
    return pieces


class ChunkedParser:
    """Parses successive versions of one document, re-parsing only the top-level items that changed."""

    def __init__(self) -> None:
        self._kept: dict[tuple[int, str], _Items] = {}

    def parse(self, text: str, path: str) -> s.SpecFile:
        """The syntax tree of `text`, equal to `parse_spec(text, path)`; raises its `CompileError`."""
        pieces = chunks(text)
        if len(pieces) < 2 or text.startswith("\ufeff"):
            self._kept = {}
            return parse_spec(text, path)
        kept: dict[tuple[int, str], _Items] = {}
        try:
            for line, piece in pieces:
                items = self._kept.get((line, piece))
                if items is None:
                    tree = parse_spec("\n" * (line - 1) + piece, path)
                    items = (tree.imports, tree.models, tree.pos)
                kept[(line, piece)] = items
        except CompileError:
            self._kept = {}
            return parse_spec(text, path)
        self._kept = kept
        parts = list(kept.values())
        first, last = parts[0][2], parts[-1][2]
        return s.SpecFile(
            path=path,
            source=text,
            imports=tuple(imp for imports, _, _ in parts for imp in imports),
            models=tuple(model for _, models, _ in parts for model in models),
            pos=s.Pos(first.line, first.column, last.end_line, last.end_column),
        )
