"""The layout of a whole spec: one entry per line of code or comment, blank lines, indentation.

The tree is walked in source order; each import, header, docstring, field and
statement becomes an entry rendered from its document. Comments that lie
between entries are placed by line, at the depth of the block they were
written in; blank lines written by the author are kept (at most one in a row),
and sections are separated by exactly one: before every model and around
every method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from eqxdsl.tooling.frontend import syntax as s

from ._doc import INDENT_WIDTH, Doc, RenderedLine, render
from ._printer import Printer, node_key, string_text
from ._source import Comment, SourceMap

# Builds the document of one entry's line with a given printer.
_Build = Callable[[Printer], Doc]


@dataclass
class _Entry:
    """One line of code (possibly broken over several) or one own-line comment.

    `line`/`column` are where it starts in the source (a comment's `order` puts
    comments moved above a line before it); `kind` tells the blank-line rules
    what it is: "model", "method", "opens" (another block header), "clause"
    (`elif`/`else`), "docstring", "code" or "comment".
    """

    depth: int
    line: int
    column: int
    kind: str
    lines: list[RenderedLine] = field(default_factory=list)
    build: _Build | None = None
    comment: Comment | None = None
    order: int = 0
    blank: int = 0

    @property
    def opens_block(self) -> bool:
        return self.kind in ("model", "method", "opens", "clause")


def layout(spec: s.SpecFile, source: SourceMap, width: int) -> str:
    """The formatted text of `spec`, parsed from the text that `source` scanned; lines end in `\\n`."""
    builder = _Builder(source, width)
    for item in sorted((*spec.imports, *spec.models), key=lambda node: (node.pos.line, node.pos.column)):
        builder.top_item(item)
    entries = builder.finish()
    return _join(entries)


class _Builder:
    def __init__(self, source: SourceMap, width: int):
        self._source = source
        self._width = width
        self._entries: list[_Entry] = []
        self._item_of_line: dict[int, tuple[int, int]] = {}
        self._spans: list[tuple[int, int]] = []

    # ---- the walk ----

    def top_item(self, node: s.Node) -> None:
        if isinstance(node, s.Model):
            self._model(node)
        elif isinstance(node, s.SpecImport):
            self._line(node, 0, "code", lambda p: p.spec_import(node))
        else:
            self._line(node, 0, "code", lambda p: p.python_import(node))

    def _model(self, node: s.Model) -> None:
        self._header(node, 0, "model", lambda p: p.model_header(node))
        self._docstring(node, 1)
        self._model_items(node.items, 1)

    def _model_items(self, items: tuple[s.Node, ...], depth: int) -> None:
        for item in items:
            if isinstance(item, s.Method):
                self._header(item, depth, "method", lambda p, item=item: p.method_header(item))
                self._docstring(item, depth + 1)
                self._statements(item.body, depth + 1)
            elif isinstance(item, s.ModelIf):
                self._conditional(item, depth, self._model_items)
            elif isinstance(item, s.AxesBlock):
                self._header(item, depth, "opens", lambda p: "axes:")
                for entry in item.entries:
                    self._line(entry, depth + 1, "code", lambda p, entry=entry: p.axes_entry(entry))
            else:
                self._line(item, depth, "code", lambda p, item=item: p.model_item(item))

    def _statements(self, statements: tuple[s.Stmt, ...], depth: int) -> None:
        for statement in statements:
            if isinstance(statement, s.For):
                self._header(statement, depth, "opens", lambda p, st=statement: p.for_header(st))
                self._statements(statement.body, depth + 1)
            elif isinstance(statement, s.If):
                self._conditional(statement, depth, self._statements)
            else:
                self._line(statement, depth, "code", lambda p, st=statement: p.statement(st))

    def _conditional(
        self, node: s.If | s.ModelIf, depth: int, body: Callable[[tuple, int], None], keyword: str = "if"
    ) -> None:
        """`if`/`elif`/`else` chains; an `else` holding only an `if` is written `elif`."""
        kind = "opens" if keyword == "if" else "clause"
        self._header(node, depth, kind, lambda p: p.condition(keyword, node.test))
        body(node.body, depth + 1)
        if len(node.orelse) == 1 and type(node.orelse[0]) is type(node):
            self._conditional(node.orelse[0], depth, body, "elif")
        elif node.orelse:
            last = node.body[-1]
            else_token = self._source.next_token(self._source.span(last.pos)[1])
            line = self._source.line_of(else_token.start)
            self._add(_Entry(depth, line, self._column(else_token.start), "clause"), (line, line), lambda p: "else:")
            body(node.orelse, depth + 1)

    # ---- entries ----

    def _column(self, offset: int) -> int:
        return offset - self._source.line_starts[self._source.line_of(offset) - 1]

    def _line(self, node: s.Node, depth: int, kind: str, build: _Build) -> None:
        span = (node.pos.line, self._source.last_code_line(self._source.span(node.pos)[1]))
        self._add(_Entry(depth, node.pos.line, node.pos.column - 1, kind), span, build)

    def _header(self, node: s.Node, depth: int, kind: str, build: _Build) -> None:
        colon = self._source.header_colon(self._source.span(node.pos)[0])
        span = (node.pos.line, self._source.line_of(colon.start))
        self._add(_Entry(depth, node.pos.line, node.pos.column - 1, kind), span, build)

    def _docstring(self, node: s.Model | s.Method, depth: int) -> None:
        if node.docstring is None:
            return
        colon = self._source.header_colon(self._source.span(node.pos)[0])
        token = self._source.next_token(colon.end)
        first, last = self._source.line_of(token.start), self._source.line_of(token.end - 1)
        text = _reindented(token.text, depth * INDENT_WIDTH)
        self._add(_Entry(depth, first, self._column(token.start), "docstring"), (first, last), lambda p: text)

    def _add(self, entry: _Entry, span: tuple[int, int], build: _Build) -> None:
        """Record an entry whose source spans the lines `span`; it is rendered in `finish`, once comments are known."""
        for line in range(span[0], span[1] + 1):
            self._item_of_line[line] = span
        entry.build = build
        self._entries.append(entry)
        self._spans.append(span)

    def finish(self) -> list[_Entry]:
        """Render every entry with its comments, place the comments between entries, and set blank lines."""
        inside: dict[tuple[int, int], list[Comment]] = {}
        between: list[Comment] = []
        for comment in self._source.comments:
            span = self._item_of_line.get(comment.line)
            if span is None:
                between.append(comment)
            else:
                inside.setdefault(span, []).append(comment)
        entries: list[_Entry] = []
        for entry, span in zip(self._entries, self._spans):
            hoisted, entry.lines = self._render(entry, span, inside.get(span, []))
            entry.blank = int(self._source.is_blank_line(span[0] - 1))
            for comment in hoisted:
                entries.append(_Entry(entry.depth, entry.line, entry.column, "comment", comment=comment, order=-1))
            if hoisted:
                entries[-len(hoisted)].blank, entry.blank = entry.blank, 0
            entries.append(entry)
        for comment in between:
            entry = _Entry(0, comment.line, comment.column, "comment", comment=comment)
            entry.blank = int(self._source.is_blank_line(comment.line - 1))
            entries.append(entry)
        entries.sort(key=lambda e: (e.line, e.order))
        _place_comments(entries)
        _blank_lines(entries)
        return entries

    def _render(self, entry: _Entry, span: tuple[int, int], comments: list[Comment]) -> tuple[list[Comment], list[RenderedLine]]:
        """The entry's lines, with the comments written inside its span; returns those that move above it too."""
        build = entry.build
        final = next((c for c in comments if c.line == span[1] and not c.own_line), None)
        inner = [c for c in comments if c is not final]
        leading: dict[tuple, list[tuple[Comment, bool]]] = {}
        trailing: dict[tuple, tuple[Comment, bool]] = {}
        hoisted: list[Comment] = []
        if inner:
            elements: list[s.Node] = []
            build(Printer(self._source, record=elements))
            for comment in inner:
                _attach(comment, elements, self._source, leading, trailing, hoisted)
        printer = Printer(self._source, leading, trailing)
        doc = build(printer)
        hoisted += printer.take_hoisted()
        hoisted += [c for group in leading.values() for c, _ in group] + [c for c, _ in trailing.values()]
        lines = render(doc, self._width, entry.depth * INDENT_WIDTH)
        if final is not None:
            last = lines[-1]
            last.comment = final.text if last.comment is None else f"{last.comment}  {final.text}"
        hoisted.sort(key=lambda c: c.offset)
        return hoisted, lines


def _attach(comment: Comment, elements: list[s.Node], source: SourceMap, leading: dict, trailing: dict, hoisted: list) -> None:
    """Attach a comment written inside a multi-line construct to the element it follows or precedes.

    An element's span is taken with its grouping parentheses, unless the
    comment lies inside them: then the comment stays inside them too (the
    `inside` flag stored with it).
    """
    candidates = []
    for element in elements:
        inner = source.span(element.pos)
        candidates.append((element, inner, source.parenthesized_span(element.pos) or inner))
    if not comment.own_line:
        ending = []
        for element, inner, outer in candidates:
            for (start, end), inside in ((outer, False), (inner, True)):
                if end <= comment.offset and source.line_of(end - 1) == comment.line:
                    ending.append(((end, -start), element, inside))
                    break
        if ending:
            _, element, inside = max(ending, key=lambda item: item[0])
            trailing[node_key(element)] = (comment, inside)
            return
    following = []
    for element, inner, outer in candidates:
        for (start, end), inside in ((outer, False), (inner, True)):
            if start > comment.offset:
                following.append(((start, -end), element, inside))
                break
    if following:
        _, element, inside = min(following, key=lambda item: item[0])
        leading.setdefault(node_key(element), []).append((comment, inside))
        return
    hoisted.append(comment)


def _reindented(text: str, new_indent: int) -> str:
    """A docstring's text with its continuation lines moved as its first line moves: their common margin becomes `new_indent`."""
    lines = string_text(text).split("\n")
    if len(lines) == 1:
        return lines[0]
    rest = lines[1:]
    margins = [len(line) - len(line.lstrip()) for line in rest if line.strip()]
    margin = min(margins) if margins else 0
    moved = [line if not line.strip() and len(line) <= margin else " " * new_indent + line[margin:] for line in rest]
    return "\n".join([lines[0], *moved])


def _place_comments(entries: list[_Entry]) -> None:
    """Give each comment between entries the depth of the block it was written in.

    A comment takes the depth of the next line, unless it is indented like a
    deeper line before it (the end of a block that closes after it).
    """
    for index, entry in enumerate(entries):
        if entry.kind != "comment" or entry.order == -1:
            continue
        following = next((e for e in entries[index + 1 :] if e.kind != "comment"), None)
        previous = next((e for e in reversed(entries[:index]) if e.kind != "comment"), None)
        low = following.depth if following is not None else 0
        high = low if previous is None else max(low, previous.depth + (1 if previous.opens_block else 0))
        columns: dict[int, int] = {}
        if following is not None:
            columns[following.depth] = following.column
        for earlier in reversed(entries[:index]):
            if earlier.kind == "comment":
                continue
            if earlier.depth < low:
                break
            columns.setdefault(earlier.depth, earlier.column)
        entry.depth = next((d for d in range(high, low - 1, -1) if columns.get(d, entry.column + 1) <= entry.column), low)


def _blank_lines(entries: list[_Entry]) -> None:
    """At most one blank line in a row; none at the start of a file or block or before `elif`/`else`;
    exactly one before a model and around a method (above the comments that lead into it)."""
    for index, entry in enumerate(entries):
        if index == 0 or entries[index - 1].opens_block and entry.depth > entries[index - 1].depth:
            entry.blank = 0
        elif entry.kind in ("clause", "docstring"):
            entry.blank = 0
    method_depth: int | None = None
    for index, entry in enumerate(entries):
        if entry.kind == "comment":
            continue
        after_method = method_depth is not None and entry.depth <= method_depth
        if entry.kind == "model" or entry.kind == "method" or after_method and entry.depth == method_depth:
            _separate(entries, index)
        if after_method:
            method_depth = None
        if entry.kind == "method":
            method_depth = entry.depth


def _separate(entries: list[_Entry], index: int) -> None:
    """One blank line above the entry at `index` and the comments directly above it, unless they open a block."""
    leader = index
    while leader > 0 and entries[leader - 1].kind == "comment" and entries[leader - 1].depth == entries[index].depth and entries[leader].blank == 0:
        leader -= 1
    previous = entries[leader - 1] if leader > 0 else None
    if previous is None or previous.opens_block and previous.depth < entries[leader].depth:
        return
    entries[leader].blank = 1


def _join(entries: list[_Entry]) -> str:
    """The text of the entries, trailing comments of consecutive lines aligned in one column."""
    lines: list[RenderedLine] = []
    for entry in entries:
        lines.extend(RenderedLine("") for _ in range(entry.blank))
        if entry.kind == "comment":
            lines.append(RenderedLine(" " * (entry.depth * INDENT_WIDTH) + entry.comment.text))
        else:
            lines.extend(entry.lines)
    out: list[str] = []
    run: list[RenderedLine] = []

    def flush() -> None:
        column = max(len(line.code) for line in run) + 2 if run else 0
        out.extend(f"{line.code.ljust(column)}{line.comment}" if line.code else line.comment for line in run)
        run.clear()

    for line in lines:
        if line.comment is not None:
            run.append(line)
            continue
        flush()
        out.append(line.code)
    flush()
    return "".join(f"{line}\n" for line in out)
