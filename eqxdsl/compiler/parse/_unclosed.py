"""What a syntax error left open: the bracket or the string that is never closed.

The parser notices an unclosed `(` only at the first token that cannot go on
inside it, often lines later, and an unclosed `\"\"\"` a few columns after its
opening (the lexer reads `\"\"` as an empty string first). A light scan of the
text, reading only what the grammar's lexer reads as strings, comments and
brackets, finds the opening instead, so that the error can be reported there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from eqxdsl.compiler.diagnostics import Diagnostic, diagnostic_at

_CLOSING = {"(": ")", "[": "]", "{": "}"}

# The grammar's STRING terminal, one pattern per opening quote.
_STRINGS = {
    '"""': re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""', re.DOTALL),
    "'''": re.compile(r"'''(?:[^'\\]|\\.|'(?!''))*'''", re.DOTALL),
    '"': re.compile(r'"(?:[^"\\\n]|\\.)*"'),
    "'": re.compile(r"'(?:[^'\\\n]|\\.)*'"),
}


@dataclass(frozen=True)
class Opening:
    """A bracket or string quote that is never closed.

    Attributes:
        text: the opening itself: `(`, `[`, `{`, or a quote (`"`, `'`, `\"\"\"`, `'''`).
        offset: its index in the source text.
        line: its line, from 1.
        column: its column, from 1.
    """

    text: str
    offset: int
    line: int
    column: int

    @property
    def closing(self) -> str:
        """What would close it."""
        return _CLOSING.get(self.text, self.text)

    @property
    def is_string(self) -> bool:
        """Whether it opens a string (else a bracket)."""
        return self.text not in _CLOSING


def unclosed_diagnostic(error: UnexpectedInput, source: str, path: str) -> Diagnostic | None:
    """The diagnostic for a syntax error caused by something left open, located at its opening; else None.

    A bracket is blamed when the parser failed on a later line than the one it
    was opened on (on its own line, the token the parser stopped at is the
    better clue); a string that never ends is blamed wherever it starts.
    """
    if isinstance(error, UnexpectedToken):
        token = error.token
        offset = len(source) if token.type == "$END" or token.start_pos is None else token.start_pos
        # A newline or dedent token stands for the next line's text, if any.
        next_text = len(source[offset:]) - len(source[offset:].lstrip()) + offset
        if next_text >= len(source):
            reached, line = None, source.count("\n") + 1
        else:
            reached, line = _reached(token), source.count("\n", 0, next_text) + 1
    elif isinstance(error, UnexpectedCharacters):
        offset, line = error.pos_in_stream, error.line
        assert offset is not None  # Lark sets it on every character error
        reached = repr(source[offset : offset + 1])
    else:
        return None
    opening = unclosed_before(source, offset)
    if opening is None:
        return None
    if opening.is_string:
        quote = opening.text
        if len(quote) == 3:
            hint = f"add the closing {quote}"
        else:
            hint = f"a string is not closed on this line: add the closing {quote} (for text over several lines, use {quote * 3})"
        message = f"unclosed string: the {quote} opened here is never closed"
        return diagnostic_at(source, path, opening.line, opening.column, message, hint=hint, end_column=opening.column + len(quote))
    if opening.line >= line:
        return None
    message = f"'{opening.text}' was never closed"
    where = "the file ends" if reached is None else f"the parser reached {reached} on line {line}"
    hint = f"{where} still inside it: close it with '{opening.closing}'"
    return diagnostic_at(source, path, opening.line, opening.column, message, hint=hint, end_column=opening.column + 1)


def _reached(token) -> str:
    if token.type in ("_NL", "_INDENT", "_DEDENT"):
        return "a new statement"
    return repr(str(token))


def unclosed_before(source: str, offset: int) -> Opening | None:
    """The innermost bracket opened before `offset` and never closed in `source`, or a string
    opened at or before `offset` that never ends; None when there is neither.

    A string that never ends is returned first: what follows it cannot be read.
    """
    stack: list[int] = []
    index = 0
    while index < len(source):
        char = source[index]
        if char == "#":
            end = source.find("\n", index)
            index = len(source) if end < 0 else end
            continue
        if char in "\"'":
            quote = source[index : index + 3] if source.startswith(char * 3, index) else char
            match = _STRINGS[quote].match(source, index)
            if match is None:
                return _opening(source, quote, index) if index <= offset else _innermost(source, stack, offset)
            index = match.end()
            continue
        if char == "\\" and source.startswith("\n", index + 1):
            index += 2
            continue
        if char in _CLOSING:
            stack.append(index)
        elif char in _CLOSING.values() and stack and _CLOSING[source[stack[-1]]] == char:
            stack.pop()
        index += 1
    return _innermost(source, stack, offset)


def _innermost(source: str, stack: list[int], offset: int) -> Opening | None:
    before = [index for index in stack if index < offset]
    return _opening(source, source[before[-1]], before[-1]) if before else None


def _opening(source: str, text: str, offset: int) -> Opening:
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return Opening(text, offset, line, column)
