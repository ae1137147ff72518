"""A small pretty-printing document algebra and its line-fitting renderer (Wadler's, as Prettier does it).

A document is text (`str`), a sequence of documents (`list`), or one of the
classes below. `Group`s are laid out flat (every `Line` a space or nothing)
when they fit in the remaining width, otherwise broken (every `Line` of that
group a newline), outermost first. Trailing comments are `LineSuffix`es: they
wait for the end of the line and do not count towards its width.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

INDENT_WIDTH = 4
#: The width lines are wrapped at (Rust's choice, and many Python projects'; specs
#: hold long layer calls). Docstrings, long names and imports may exceed it.
DEFAULT_LINE_WIDTH = 100


@dataclass(frozen=True)
class Line:
    """A break: in a flat group a space (`soft`: nothing); in a broken one a newline. `hard`: always a newline."""

    soft: bool = False
    hard: bool = False


@dataclass(frozen=True)
class Group:
    """Contents laid out flat when they fit, broken otherwise; `forced` when they hold a hard break."""

    contents: Doc
    forced: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "forced", _has_hard_break(self.contents))


@dataclass(frozen=True)
class Indent:
    """Contents whose broken lines start one indentation step further in."""

    contents: Doc


@dataclass(frozen=True)
class IfBreak:
    """`broken` when the enclosing group is broken, else `flat`."""

    broken: Doc
    flat: Doc = ""


@dataclass(frozen=True)
class LineSuffix:
    """A trailing comment, printed at the end of the line it falls on."""

    text: str


@dataclass(frozen=True)
class _BreakParent:
    """Forces every enclosing group to break."""


Doc = Union[str, list, Line, Group, Indent, IfBreak, LineSuffix, _BreakParent]

LINE = Line()
SOFTLINE = Line(soft=True)
HARDLINE = Line(hard=True)
BREAK_PARENT = _BreakParent()


def _has_hard_break(doc: Doc) -> bool:
    if isinstance(doc, list):
        return any(_has_hard_break(part) for part in doc)
    if isinstance(doc, Group):
        return doc.forced
    if isinstance(doc, Indent):
        return _has_hard_break(doc.contents)
    if isinstance(doc, IfBreak):
        return _has_hard_break(doc.broken)
    if isinstance(doc, Line):
        return doc.hard
    return isinstance(doc, _BreakParent)


def join(separator: Doc, docs: list[Doc]) -> list[Doc]:
    """`docs` with `separator` between each two."""
    out: list[Doc] = []
    for index, doc in enumerate(docs):
        if index:
            out.append(separator)
        out.append(doc)
    return out


@dataclass
class RenderedLine:
    """One line of output: its code (indentation included) and its trailing comment, if any."""

    code: str
    comment: str | None = None


_FLAT, _BREAK = 0, 1


def render(doc: Doc, width: int, indent: int) -> list[RenderedLine]:
    """Lay out `doc` starting at column `indent` of a fresh line, within `width` columns where it can.

    Returns the lines, the first one indented by `indent` spaces too.
    """
    lines: list[RenderedLine] = []
    parts: list[str] = [" " * indent]
    column = indent
    suffixes: list[str] = []
    stack: list[tuple[int, int, Doc]] = [(indent, _BREAK, doc)]

    def end_line() -> None:
        comment = "  ".join(suffixes) if suffixes else None
        code = "".join(parts)
        # Only a line of indentation alone is trimmed: trailing blanks may be inside a string.
        lines.append(RenderedLine(code if code.strip() else "", comment))
        suffixes.clear()

    while stack:
        level, mode, item = stack.pop()
        if isinstance(item, str):
            if "\n" in item:
                # Multi-line text (a docstring, a triple-quoted string) is kept as written.
                first, *middle, last = item.split("\n")
                parts.append(first)
                end_line()
                lines.extend(RenderedLine(text) for text in middle)
                parts[:] = [last]
                column = len(last)
            else:
                parts.append(item)
                column += len(item)
        elif isinstance(item, list):
            stack.extend((level, mode, part) for part in reversed(item))
        elif isinstance(item, Indent):
            stack.append((level + INDENT_WIDTH, mode, item.contents))
        elif isinstance(item, Group):
            flat = mode == _FLAT or (not item.forced and _fits(item.contents, stack, width - column))
            stack.append((level, _FLAT if flat else _BREAK, item.contents))
        elif isinstance(item, IfBreak):
            stack.append((level, mode, item.broken if mode == _BREAK else item.flat))
        elif isinstance(item, LineSuffix):
            suffixes.append(item.text)
        elif isinstance(item, Line):
            if mode == _FLAT and not item.hard:
                if not item.soft:
                    parts.append(" ")
                    column += 1
            else:
                end_line()
                parts[:] = [" " * level]
                column = level
    end_line()
    return lines


def _fits(contents: Doc, rest: list[tuple[int, int, Doc]], room: int) -> bool:
    """Whether `contents`, laid out flat, and what follows it up to the next line break fit in `room` columns."""
    pending: list[tuple[int, Doc]] = [(_FLAT, contents)]
    rest_index = len(rest)
    while room >= 0:
        if not pending:
            if rest_index == 0:
                return True
            rest_index -= 1
            _, mode, item = rest[rest_index]
            pending.append((mode, item))
            continue
        mode, item = pending.pop()
        if isinstance(item, str):
            if "\n" in item:
                return room - len(item.split("\n", 1)[0]) >= 0
            room -= len(item)
        elif isinstance(item, list):
            pending.extend((mode, part) for part in reversed(item))
        elif isinstance(item, Indent):
            pending.append((mode, item.contents))
        elif isinstance(item, Group):
            pending.append((mode, item.contents))
        elif isinstance(item, IfBreak):
            pending.append((mode, item.broken if mode == _BREAK else item.flat))
        elif isinstance(item, Line):
            if mode == _BREAK or item.hard:
                return True
            room -= 0 if item.soft else 1
    return False
