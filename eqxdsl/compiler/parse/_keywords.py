"""Recognising a misspelt keyword at the start of a line, such as `retrun h`.

The parser reads `retrun h` as a name followed by a stray second name, which
looks like a missing comma; the real mistake is the spelling of the keyword.
"""

from __future__ import annotations

import difflib

from lark import Token

# The words that begin a line of a spec.
_LINE_KEYWORDS = ("return", "for", "if", "elif", "else", "pass", "def", "model", "input", "from", "assert", "forward")


def misspelt_keyword_hint(source: str, token: Token) -> str | None:
    """A "did you mean 'return'?" hint when `token` follows a lone word starting its line that is not a
    keyword but is spelt like one; None otherwise."""
    if token.start_pos is None or token.type in ("_NL", "_INDENT", "_DEDENT", "$END"):
        return None
    line_start = source.rfind("\n", 0, token.start_pos) + 1
    before = source[line_start : token.start_pos].strip()
    if not before.isidentifier() or before in _LINE_KEYWORDS:
        return None
    matches = difflib.get_close_matches(before, _LINE_KEYWORDS, n=1, cutoff=0.7)
    return f"{before!r} is not a keyword: did you mean {matches[0]!r}?" if matches else None
