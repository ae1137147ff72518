"""`format_source`: a spec's text in the canonical layout, proven to mean the same."""

from __future__ import annotations

from collections.abc import Callable

from eqxdsl.tooling.frontend import parse_spec

from ._doc import DEFAULT_LINE_WIDTH
from ._layout import layout
from ._source import SourceMap
from ._verify import first_difference, lost_comments

_BOM = "\ufeff"


class UnsafeFormatError(Exception):
    """The formatter would change a spec's meaning or lose a comment, or is not stable: a bug in eqxdsl.

    Attributes:
        message: what went wrong, with the line of the original it concerns.
        line: that line (1-based), or None.
    """

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line


def format_source(text: str, *, line_width: int = DEFAULT_LINE_WIDTH, path: str = "<string>") -> str:
    """The text of a spec laid out canonically.

    Args:
        text: the `.eqx` source. A byte-order mark and `\\r\\n` line endings
            (judged by the first line) are kept.
        line_width: the column limit lines are wrapped at where they can be.
        path: the name shown in diagnostics.

    Returns:
        The formatted text: the same syntax tree (positions aside) and the
        same comments as `text`, and unchanged when formatted again.

    Raises:
        CompileError: `text` does not parse (one diagnostic, with a caret).
        UnsafeFormatError: the result would not be equivalent or stable.
    """
    original = parse_spec(text, path)
    body, restore = _normalised(text)
    if not body.strip():
        return restore("")
    formatted = restore(layout(original if body == text else parse_spec(body, path), SourceMap(body), line_width))
    try:
        reparsed = parse_spec(formatted, path)
    except Exception as error:  # a CompileError here is the formatter's fault, not the spec's
        raise UnsafeFormatError(f"the formatted spec does not parse: {error}") from None
    where = first_difference(original, reparsed)
    if where is not None:
        raise UnsafeFormatError(
            f"the formatted spec would not mean the same as the original (near line {where.line})", where.line
        )
    lost = lost_comments(_comments(body), _comments(_normalised(formatted)[0]))
    if lost:
        raise UnsafeFormatError(f"the formatted spec would not keep the comment {lost[0]!r}")
    again_body, _ = _normalised(formatted)
    again = layout(reparsed if again_body == formatted else parse_spec(again_body, path), SourceMap(again_body), line_width)
    if restore(again) != formatted:
        raise UnsafeFormatError("formatting the result again changes it (the layout is not stable)")
    return formatted


def _normalised(text: str) -> tuple[str, Callable[[str], str]]:
    """The text as the layout reads it (no byte-order mark, `\n` line ends, a final newline),
    and the function that gives a layout back the mark and line ends of `text`."""
    bom = _BOM if text.startswith(_BOM) else ""
    body = text[len(bom) :]
    newline = "\r\n" if body.split("\n", 1)[0].endswith("\r") and "\n" in body else "\n"
    body = body.replace("\r\n", "\n")
    # The tree's positions count the newline that the parser adds after a last line lacking one.
    if body.strip() and not body.endswith("\n"):
        body += "\n"
    return body, lambda out: bom + out.replace("\n", newline)


def _comments(body: str) -> list[str]:
    return [c.text for c in SourceMap(body).comments]
