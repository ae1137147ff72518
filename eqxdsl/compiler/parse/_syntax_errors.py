"""A Lark syntax error as a located `Diagnostic`: what the parser expected, in words, and a hint where
a common mistake is recognised."""

from __future__ import annotations

from lark import Lark, Token
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from eqxdsl.compiler.diagnostics import (
    Diagnostic,
    diagnostic_at,
)
from eqxdsl.compiler.parse._keywords import misspelt_keyword_hint
from eqxdsl.compiler.parse._unclosed import unclosed_diagnostic

_TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "_NL": "the end of the line",
    "_INDENT": "an indented block",
    "_DEDENT": "the end of the block",
    "$END": "the end of the file",
    "AUG_OP": "'+=', '-=', ...",
    "COMP_OP": "a comparison",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*', '/', '@', ...",
    "UNARY_OP": "'-'",
    "OR_BIT": "'|'",
    "AND_BIT": "'&'",
    "POW_OP": "'**'",
}


# Tokens that can continue an expression; listed one by one they drown the
# useful part of an "expected ..." message, so they read as "an operator".
_OPERATOR_TERMINALS = {"ADD_OP", "MUL_OP", "POW_OP", "COMP_OP", "OR_BIT", "AND_BIT", "LPAR", "LSQB", "DOT", "IF", "AND", "OR"}
_OPERATOR_TEXTS = {"->", "*", "/", "//", "%", "@", "**", "+", "-", "&", "|"}


def _readable_terminals(parser: Lark, names) -> list[str]:
    """Readable words for terminal names, sorted, operators collapsed."""
    by_name = {t.name: t for t in parser.terminals}
    words = set()
    operators = 0
    for name in names:
        terminal = by_name.get(name)
        text = terminal.pattern.value if terminal is not None and terminal.pattern.type == "str" else None
        if name in _OPERATOR_TERMINALS or text in _OPERATOR_TEXTS:
            operators += 1
            words.add(repr(text) if text is not None else _TERMINAL_WORDS[name])
        elif name in _TERMINAL_WORDS:
            words.add(_TERMINAL_WORDS[name])
        elif text is not None:
            words.add(repr(text))
        else:
            words.add(name.lower())
    if operators >= 3:
        words = {w for w in words if not _is_operator_word(w)} | {"an operator"}
    return sorted(words)


def _is_operator_word(word: str) -> bool:
    operator_words = {repr(t) for t in _OPERATOR_TEXTS | {"(", "[", ".", "if", "and", "or"}}
    operator_words |= {_TERMINAL_WORDS[n] for n in _OPERATOR_TERMINALS if n in _TERMINAL_WORDS}
    return word in operator_words


def _join_words(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _token_words(token: Token) -> str:
    if token.type == "_NL":
        return "end of line"
    if token.type == "_INDENT":
        return "indentation"
    if token.type == "_DEDENT":
        return "dedent"
    if token.type == "$END":
        return "end of file"
    return repr(str(token))


def _syntax_hint(token: Token | None, expected: set[str]) -> str | None:
    if token is None:
        return "the file ends in the middle of a construct: is a block or a bracket left open?"
    if token.type == "_INDENT":
        return "this line is indented more than the line before it; indent only after a line ending in ':'"
    if "_INDENT" in expected and token.type != "_INDENT":
        return "a line ending in ':' must be followed by an indented block"
    if token.type == "_NL" and "COLON" in expected:
        return "add ':' at the end of the line"
    if "COMMA" in expected and token.type in ("NAME", "INT", "FLOAT", "STRING"):
        return "a ',' may be missing between two items"
    if token.type == "EQUAL" and "COMP_OP" in expected:
        return "use '==' to compare; '=' assigns only at the start of a line or names a keyword argument"
    if token.type == "_DEDENT" or "_DEDENT" in expected and token.type == "$END":
        return "a block needs at least one item"
    if token.type == "LBRACE" or token.type == "RBRACE":
        return "blocks are marked by indentation, not braces"
    return None


def _acceptable(error: UnexpectedToken) -> set[str]:
    """The terminals that could really come next.

    LALR merges lookaheads, so `error.expected` may list tokens that would fail
    a few reductions later; asking the interactive parser filters them out.
    """
    interactive = error.interactive_parser
    if interactive is not None:
        try:
            accepted = interactive.accepts()
        except UnexpectedInput:
            accepted = set()
        if accepted:
            return set(accepted)
    return set(error.expected)


def syntax_error(error: UnexpectedInput, source: str, path: str, parser: Lark) -> Diagnostic:
    unclosed = unclosed_diagnostic(error, source, path)
    if unclosed is not None:
        return unclosed
    if isinstance(error, UnexpectedToken):
        token = error.token
        expected = _acceptable(error)
        if token.type == "$END":
            line = source.count("\n") + 1
            column = len(source.rsplit("\n", 1)[-1]) + 1
            message = f"unexpected end of file; expected {_join_words(_readable_terminals(parser, expected))}"
            return diagnostic_at(source, path, line, column, message, hint=_syntax_hint(None, expected))
        line, column = token.line, token.column
        if token.type in ("_NL", "_INDENT", "_DEDENT"):
            # Point at the end of the offending line rather than the next one.
            line, column = _end_of_previous_line(source, token)
        words = _readable_terminals(parser, expected)
        message = f"unexpected {_token_words(token)}; expected {_join_words(words)}"
        end = column + len(str(token)) if token.type not in ("_NL", "_INDENT", "_DEDENT") else None
        hint = misspelt_keyword_hint(source, token) or _syntax_hint(token, expected)
        return diagnostic_at(source, path, line, column, message, hint=hint, end_column=end)
    if isinstance(error, UnexpectedCharacters):
        offset = error.pos_in_stream
        assert offset is not None  # Lark sets it on every character error
        char = source[offset] if offset < len(source) else ""
        hint = None
        if char in "{}":
            hint = "blocks are marked by indentation, not braces"
        elif char == ";":
            hint = "put one statement per line, without ';'"
        elif char in "\"'":
            hint = "a string is not closed on this line"
        return diagnostic_at(source, path, error.line, error.column, f"unexpected character {char!r}", hint=hint)
    if isinstance(error, UnexpectedEOF):
        line = source.count("\n") + 1
        return diagnostic_at(source, path, line, 1, "unexpected end of file", hint=_syntax_hint(None, set()))
    return diagnostic_at(source, path, error.line, error.column, str(error))


def _end_of_previous_line(source: str, token: Token) -> tuple[int, int]:
    """Line and column just past the text that a newline-ish token follows."""
    start = token.start_pos
    if token.type == "_NL" or start is None:
        before = source[: start if start is not None else len(source)]
    else:
        before = source[:start]
    before = before.rstrip(" \t\r\n")
    # Drop a trailing comment so the caret lands after the code.
    line = before.count("\n") + 1
    text = before.rsplit("\n", 1)[-1]
    return line, len(text) + 1


#: How deep the parse tree may nest (brackets, calls, operators, blocks): beyond
#: it, the recursive later stages (and Python's own compiler) would overflow.
