"""Finding things in a syntax tree by position: the nodes under the cursor, the span of a declared name.

Positions here are the syntax tree's: 1-based lines and columns in code points,
end column exclusive. The server converts to and from the editor's units.
"""

from __future__ import annotations

import re

from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse.walk import iter_children


def contains(pos: s.Pos, line: int, column: int) -> bool:
    """Whether the cursor at (`line`, `column`) is on the span `pos`, its end included (a cursor just past a name)."""
    return (pos.line, pos.column) <= (line, column) <= (pos.end_line, pos.end_column)


def path_at(tree: s.Node, line: int, column: int) -> list[s.Node]:
    """The nodes whose spans hold the cursor, outermost first; the last is the innermost."""
    path = [tree]
    node = tree
    while True:
        inner = [child for child in iter_children(node) if contains(child.pos, line, column)]
        if not inner:
            return path
        # Of two adjacent spans sharing the cursor (`a+b` with the cursor on `+`), the later one starts there.
        node = inner[-1]
        path.append(node)


def name_span(lines: list[str], pos: s.Pos, name: str) -> s.Pos:
    """The span of `name` as the node at `pos` declares it: its first whole-word use from the node's start."""
    if 1 <= pos.line <= len(lines):
        text = lines[pos.line - 1]
        found = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)").search(text, pos.column - 1)
        if found is not None:
            return s.Pos(pos.line, found.start() + 1, pos.line, found.end() + 1)
    return pos


def text_of(lines: list[str], pos: s.Pos) -> str:
    """The source text of the span `pos`."""
    if pos.line == pos.end_line:
        return lines[pos.line - 1][pos.column - 1 : pos.end_column - 1] if pos.line <= len(lines) else ""
    first = lines[pos.line - 1][pos.column - 1 :]
    middle = lines[pos.line : pos.end_line - 1]
    last = lines[pos.end_line - 1][: pos.end_column - 1] if pos.end_line <= len(lines) else ""
    return "\n".join([first, *middle, last])


def declared_name(item: s.Node) -> str | None:
    """The name a model item declares (a field, constant, input or method), or None."""
    if isinstance(item, (s.Definition, s.RepeatDef, s.ParamDef, s.FrozenDef, s.InputDecl, s.Method)):
        return item.name
    return None
