"""Indentation: the post-lexer that turns leading whitespace into `_INDENT` and `_DEDENT` tokens,
and the errors of a dedent to no enclosing block and of tabs mixed with spaces."""

from __future__ import annotations

from collections.abc import Iterator

from lark import Token
from lark.indenter import Indenter


class DedentError(Exception):
    """A line dedented to a column that no enclosing block started at."""

    def __init__(self, token: Token, column: int, expected: list[int]):
        super().__init__("inconsistent dedent")
        self.token = token
        self.column = column
        self.expected = expected


class MixedIndentError(Exception):
    """A line whose indentation compares differently with tabs of width 8 and of width 1."""

    def __init__(self, token: Token):
        super().__init__("inconsistent use of tabs and spaces")
        self.token = token


class EqxIndenter(Indenter):
    """Turns leading whitespace into `_INDENT`/`_DEDENT` tokens, as Python does."""

    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR", "LSQB", "LBRACE"]
    CLOSE_PAREN_types = ["RPAR", "RSQB", "RBRACE"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8

    def process(self, stream):
        # Each level's width with a tab counted as one column, to detect
        # tab/space mixes whose meaning depends on the tab width (as Python does).
        self._narrow_levels = [0]
        return super().process(stream)

    def handle_NL(self, token: Token) -> Iterator[Token]:
        # Same as lark's, except that a bad dedent reports where it happened.
        if self.paren_level > 0:
            return
        yield token
        indent_str = token.rsplit("\n", 1)[1]
        indent = indent_str.count(" ") + indent_str.count("\t") * self.tab_len
        narrow = indent_str.count(" ") + indent_str.count("\t")
        if not _same_order(indent, narrow, self.indent_level[-1], self._narrow_levels[-1]):
            raise MixedIndentError(token)
        if indent > self.indent_level[-1]:
            self.indent_level.append(indent)
            self._narrow_levels.append(narrow)
            yield Token.new_borrow_pos(self.INDENT_type, indent_str, token)
            return
        open_blocks = list(self.indent_level)
        while indent < self.indent_level[-1]:
            self.indent_level.pop()
            self._narrow_levels.pop()
            if not _same_order(indent, narrow, self.indent_level[-1], self._narrow_levels[-1]):
                raise MixedIndentError(token)
            yield Token.new_borrow_pos(self.DEDENT_type, indent_str, token)
        if indent != self.indent_level[-1]:
            raise DedentError(token, indent, open_blocks)


def _same_order(wide: int, narrow: int, wide_level: int, narrow_level: int) -> bool:
    """Whether an indentation compares the same to a block's with tabs of width 8 and of width 1."""
    return (wide > wide_level) == (narrow > narrow_level) and (wide == wide_level) == (narrow == narrow_level)
