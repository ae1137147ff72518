"""What the syntax tree forgets about a spec's text: comments, grouping parentheses, keywords' places.

The grammar drops comments and parentheses, so the formatter scans the text
itself. The scan knows the language's strings (a `#` inside a string starts no
comment), comments and line continuations, and cuts the rest into rough
tokens: enough to match brackets and to find a header's `:` or a docstring.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from eqxdsl.tooling.frontend import syntax as s

# The grammar's STRING terminal, unchanged: a `#` inside it is text.
_STRING = r'''"""(?:[^"\\]|\\.|"(?!""))*"""|\'\'\'(?:[^'\\]|\\.|'(?!''))*\'\'\'|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*\''''
_SCAN = re.compile(
    rf"(?P<string>{_STRING})"
    r"|(?P<comment>#[^\r\n]*)"
    r"|(?P<continuation>\\[ \t\f]*\r?\n)"
    r"|(?P<newline>\r?\n)"
    r"|(?P<space>[ \t\f]+)"
    r"|(?P<number>[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][+-]?[0-9]+)?|\.[0-9][0-9_]*(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>->|\*\*|//|\.\.\.|[=!<>]=|[-+*/@]=|.)",
    re.DOTALL,
)
_OPENING = {"(": ")", "[": "]", "{": "}"}
_CLOSING = frozenset(_OPENING.values())
# Words after which `(` groups rather than calls.
_KEYWORDS = frozenset(
    "if elif else for in return and or not pass model def from import as repeat param buffer frozen input assert".split()
)


@dataclass(frozen=True)
class Token:
    """A piece of code: `kind` is string, number, name or op; `start`/`end` are offsets in the text."""

    kind: str
    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Comment:
    """A `#` comment: its text (trailing blanks removed), 1-based line and 0-based column.

    `own_line` is true when no code precedes it on its line.
    """

    text: str
    line: int
    column: int
    offset: int
    own_line: bool


class SourceMap:
    """The tokens and comments of a spec's text, with the lookups the formatter needs.

    Args:
        text: the spec's text, as the syntax tree's positions count it (no byte-order mark).
    """

    def __init__(self, text: str):
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer(r"\n", text)]
        self.tokens: list[Token] = []
        self.comments: list[Comment] = []
        last_code_line = 0
        for match in _SCAN.finditer(text):
            kind = match.lastgroup
            if kind in ("space", "newline", "continuation"):
                continue
            start = match.start()
            if kind == "comment":
                line = self.line_of(start)
                column = start - self.line_starts[line - 1]
                text_ = match.group().rstrip()
                self.comments.append(Comment(text_, line, column, start, own_line=last_code_line != line))
                continue
            self.tokens.append(Token(kind, match.group(), start, match.end()))
            last_code_line = self.line_of(match.end() - 1) if kind == "string" else self.line_of(start)
        self._starts = [t.start for t in self.tokens]
        self.partner = self._match_brackets()

    # ---- positions ----

    def line_of(self, offset: int) -> int:
        """The 1-based line holding `offset`."""
        return bisect.bisect_right(self.line_starts, offset)

    def offset(self, line: int, column: int) -> int:
        """The offset of a 1-based line and column, as the syntax tree's positions give them."""
        return self.line_starts[line - 1] + column - 1

    def span(self, pos: s.Pos) -> tuple[int, int]:
        """The offsets `[start, end)` of a node's position."""
        return self.offset(pos.line, pos.column), self.offset(pos.end_line, pos.end_column)

    def slice(self, pos: s.Pos) -> str:
        start, end = self.span(pos)
        return self.text[start:end]

    def is_blank_line(self, line: int) -> bool:
        if not 1 <= line <= len(self.line_starts):
            return False
        start = self.line_starts[line - 1]
        end = self.line_starts[line] if line < len(self.line_starts) else len(self.text)
        return not self.text[start:end].strip()

    # ---- tokens ----

    def token_at(self, offset: int) -> int:
        """The index of the first token starting at or after `offset`."""
        return bisect.bisect_left(self._starts, offset)

    def last_code_line(self, end: int) -> int:
        """The line where the last token of code before `end` ends."""
        return self.line_of(self.tokens[self.token_at(end) - 1].end - 1)

    def header_colon(self, start: int) -> Token:
        """The `:` ending the block header that begins at `start` (outside every bracket)."""
        depth = 0
        for token in self.tokens[self.token_at(start) :]:
            if token.text in _OPENING:
                depth += 1
            elif token.text in _CLOSING:
                depth -= 1
            elif token.text == ":" and depth == 0:
                return token
        raise ValueError("a block header without ':'")

    def last_token(self, pos: s.Pos) -> Token:
        """The last token inside a node's span."""
        return self.tokens[self.token_at(self.span(pos)[1]) - 1]

    def next_token(self, offset: int) -> Token:
        """The first token starting at or after `offset`."""
        return self.tokens[self.token_at(offset)]

    def is_parenthesized(self, pos: s.Pos) -> bool:
        """Whether grouping parentheses enclose the node at `pos` exactly: `(a + b)`, not `f(a + b)`."""
        return self.parenthesized_span(pos) is not None

    def parenthesized_span(self, pos: s.Pos) -> tuple[int, int] | None:
        """The offsets `[start, end)` of the grouping parentheses around the node at `pos`, if it has any."""
        start, end = self.span(pos)
        before = self.token_at(start) - 1
        after = self.token_at(end)
        if before < 0 or after >= len(self.tokens):
            return None
        if self.tokens[before].text != "(" or self.partner.get(before) != after:
            return None
        if before > 0:
            previous = self.tokens[before - 1]
            calls = previous.kind in ("string", "number") or previous.text in (")", "]") or (
                previous.kind == "name" and previous.text not in _KEYWORDS
            )
            if calls:
                return None
        return self.tokens[before].start, self.tokens[after].end

    def _match_brackets(self) -> dict[int, int]:
        partner: dict[int, int] = {}
        open_at: list[int] = []
        for index, token in enumerate(self.tokens):
            if token.text in _OPENING:
                open_at.append(index)
            elif token.text in _CLOSING and open_at:
                partner[open_at.pop()] = index
        return partner
