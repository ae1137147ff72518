"""Documents for the lines of a spec: expressions, types, statement and header lines.

Parentheses follow the grammar's precedence: the printer adds those a child
needs in its slot and keeps those the author wrote inside an expression; around
the whole expression of a statement it drops them and adds its own only when
the line must break. Comments inside a construct that spans several lines are
attached to its elements (arguments, items, operands, parameters): a comment
after an element stays after it, a comment on a line of its own goes before
the next element, and anywhere a line cannot break (outside every bracket) the
comment moves above the line instead.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator

from eqxdsl.tooling.frontend import syntax as s

from ._doc import BREAK_PARENT, HARDLINE, LINE, SOFTLINE, Doc, Group, IfBreak, Indent, LineSuffix, join
from ._source import Comment, SourceMap

# Precedence levels of the grammar (eqx.lark), loosest first: a child whose
# level is below its slot's needs parentheses.
PIPE, TEST, OR, AND, NOT, BIT_OR, BIT_AND, ARITH, TERM, FACTOR, POSTFIX = range(11)

_BINARY_LEVEL = {
    "|": BIT_OR, "&": BIT_AND, "+": ARITH, "-": ARITH, "*": TERM, "/": TERM, "//": TERM, "%": TERM, "@": TERM, "**": FACTOR,
}
# The slots of a binary operator's operands, by its level: (left, right).
_BINARY_SLOTS = {
    BIT_OR: (BIT_OR, BIT_AND), BIT_AND: (BIT_AND, ARITH), ARITH: (ARITH, TERM), TERM: (TERM, FACTOR), FACTOR: (POSTFIX, FACTOR),
}
_CHAINS = (s.Pipeline, s.IfExp, s.BoolOp, s.Compare, s.BinOp)
# Single-quoted strings that read the same in double quotes: no `"` and no backslash inside.
_SINGLE_QUOTED = re.compile(r"'([^'\"\\\n]*)'")
_TRIPLE_SINGLE_QUOTED = re.compile(r"'''((?:[^'\"\\]|'(?!''))*)'''")


def node_key(node: s.Node) -> tuple[str, s.Pos]:
    """What identifies a node of one parse: its kind and its position."""
    return type(node).__name__, node.pos


def level(node: s.Node) -> int:
    """The precedence level of an expression: the loosest slot it may stand in without parentheses."""
    if isinstance(node, s.Pipeline):
        return PIPE
    if isinstance(node, s.IfExp):
        return TEST
    if isinstance(node, s.BoolOp):
        return OR if node.op == "or" else AND
    if isinstance(node, s.Compare) or isinstance(node, s.UnaryOp) and node.op == "not":
        return NOT
    if isinstance(node, s.BinOp):
        return _BINARY_LEVEL[node.op]
    if isinstance(node, s.UnaryOp):
        return FACTOR
    return POSTFIX


def string_text(text: str) -> str:
    """A string literal as written, with single quotes made double where that needs no escape."""
    if match := _SINGLE_QUOTED.fullmatch(text):
        return f'"{match[1]}"'
    if match := _TRIPLE_SINGLE_QUOTED.fullmatch(text):
        return f'"""{match[1]}"""'
    return text


class Printer:
    """Builds documents for the lines of one spec.

    Args:
        source: the scanned text of the spec.
        leading: comments to print before an element, by `node_key`, each with
            whether it goes inside the element's parentheses; taken as printed.
        trailing: the comment to print after an element, the same way.

    After each line's document is built, `take_hoisted()` gives the comments
    that had to move above that line. With `record` set, every element printed
    is appended to it (the first pass, which finds where comments can go).
    """

    def __init__(
        self,
        source: SourceMap,
        leading: dict | None = None,
        trailing: dict | None = None,
        record: list[s.Node] | None = None,
    ):
        self._source = source
        self._leading: dict[tuple, list[tuple[Comment, bool]]] = {} if leading is None else leading
        self._trailing: dict[tuple, tuple[Comment, bool]] = {} if trailing is None else trailing
        self._record = record
        self._hoisted: list[Comment] = []
        self._depth = 0

    def take_hoisted(self) -> list[Comment]:
        hoisted, self._hoisted = self._hoisted, []
        return hoisted

    @contextlib.contextmanager
    def _bracketed(self) -> Iterator[None]:
        """Inside brackets, where a line may break."""
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    # ---- elements and their comments ----

    def _element(self, node: s.Node, doc: Doc) -> Doc:
        """An element's document with the comments attached to it (those inside its parentheses are placed by `expr`)."""
        if self._record is not None:
            self._record.append(node)
        key = node_key(node)
        leading = [comment for comment, _ in self._leading.pop(key, [])]
        trailing = self._trailing.pop(key, None)
        return self._with_comments(doc, leading, trailing[0] if trailing else None)

    def _with_comments(self, doc: Doc, leading: list[Comment], trailing: Comment | None) -> Doc:
        if self._depth == 0:
            self._hoisted.extend(leading + ([trailing] if trailing else []))
            return doc
        parts: list[Doc] = []
        for comment in leading:
            parts += [comment.text, HARDLINE]
        parts.append(doc)
        if trailing is not None:
            parts += [LineSuffix(trailing.text), BREAK_PARENT]
        return parts

    def _inside_parentheses(self, node: s.Node, inner: Doc) -> Doc:
        """`inner` with the comments that were written inside the node's own parentheses."""
        key = node_key(node)
        leading = self._leading.get(key, [])
        inside = [comment for comment, within in leading if within]
        if inside:
            self._leading[key] = [(comment, within) for comment, within in leading if not within]
        trailing = self._trailing.get(key)
        if trailing is not None and trailing[1]:
            del self._trailing[key]
        else:
            trailing = None
        return self._with_comments(inner, inside, trailing[0] if trailing else None)

    def _bracket_list(self, opening: str, items: list[tuple[s.Node, Callable[[], Doc]]], closing: str, one_comma: bool = False) -> Doc:
        """`(a, b)`: flat; else the items on one indented line; else one per line with a trailing comma.

        `items` pairs each element with the function that builds its document
        (called inside the brackets). `one_comma` keeps the comma of a
        one-element tuple.
        """
        if not items:
            return opening + closing
        with self._bracketed():
            docs = [self._element(node, build()) for node, build in items]
            comma: Doc = "," if one_comma and len(docs) == 1 else IfBreak(",")
            inner = Group([join([",", LINE], docs), comma])
            return Group([opening, Indent([SOFTLINE, inner]), SOFTLINE, closing])

    def _chain(self, first: tuple[s.Node, int], rest: list[tuple[str, s.Node, int]]) -> Doc:
        """Operands joined by operators, broken before each operator inside brackets."""
        separator = LINE if self._depth else " "
        node, slot = first
        parts: list[Doc] = [self._element(node, self.expr(node, slot))]
        for operator, operand, operand_slot in rest:
            parts += [separator, operator + " ", self._element(operand, self.expr(operand, operand_slot))]
        return Group(parts)

    # ---- expressions ----

    def top(self, node: s.Expr) -> Doc:
        """An expression that a whole statement slot holds: parentheses of its own only when it breaks."""
        if not isinstance(node, _CHAINS):
            return self._element(node, self._bare(node))
        with self._bracketed():
            return _optional_parentheses(self._element(node, self._bare(node)))

    def bare_tuple(self, node: s.TupleExpr) -> Doc:
        """`a, b` on the right of `=`, in parentheses only when it breaks."""
        with self._bracketed():
            docs = [self._element(elt, self.expr(elt)) for elt in node.elts]
            return _optional_parentheses(Group([join([",", LINE], docs), IfBreak(",")]))

    def expr(self, node: s.Expr, slot: int = PIPE) -> Doc:
        """An expression in a slot that needs precedence `slot`, parenthesised as needed or as written."""
        if level(node) < slot or self._source.is_parenthesized(node.pos):
            with self._bracketed():
                inner = self._inside_parentheses(node, self._bare(node))
            return Group(["(", Indent([SOFTLINE, inner]), SOFTLINE, ")"])
        return self._bare(node)

    def _bare(self, node: s.Expr) -> Doc:
        """An expression without parentheses around it."""
        if isinstance(node, s.Name):
            return node.id
        if isinstance(node, s.Constant):
            if isinstance(node.value, bool) or node.value is None:
                return str(node.value)
            text = self._source.slice(node.pos)
            return string_text(text) if isinstance(node.value, str) else text
        if isinstance(node, s.Pipeline):
            return self._chain((node.source, TEST), [("->", step, POSTFIX) for step in node.steps])
        if isinstance(node, s.IfExp):
            return self._chain((node.body, OR), [("if", node.test, OR), ("else", node.orelse, TEST)])
        if isinstance(node, s.BoolOp):
            slot = AND if node.op == "or" else NOT
            return self._chain((node.values[0], slot), [(node.op, value, slot) for value in node.values[1:]])
        if isinstance(node, s.Compare):
            return self._chain(
                (node.operands[0], BIT_OR), [(op, operand, BIT_OR) for op, operand in zip(node.ops, node.operands[1:])]
            )
        if isinstance(node, s.BinOp):
            return self._binary(node)
        if isinstance(node, s.UnaryOp):
            operand = self.expr(node.operand, NOT if node.op == "not" else FACTOR)
            return ["not ", operand] if node.op == "not" else [node.op, operand]
        if isinstance(node, s.Call):
            arguments = [(arg, lambda arg=arg: self.expr(arg)) for arg in node.args]
            arguments += [(kw, lambda kw=kw: [kw.name, "=", self.expr(kw.value)]) for kw in node.keywords]
            return [self.expr(node.func, POSTFIX), self._bracket_list("(", arguments, ")")]
        if isinstance(node, s.Attribute):
            value = self.expr(node.value, POSTFIX)
            if isinstance(node.value, s.Constant) and isinstance(node.value.value, int) and value == self._source.slice(node.value.pos):
                value = ["(", value, ")"]  # `1.real` would read as the number `1.`
            return [value, ".", node.attr]
        if isinstance(node, s.Subscript):
            items = [(item, lambda item=item: self.expr(item)) for item in node.index]
            return [self.expr(node.value, POSTFIX), self._bracket_list("[", items, "]")]
        if isinstance(node, s.Slice):
            return self._slice(node)
        if isinstance(node, s.EllipsisExpr):
            return "..."
        if isinstance(node, s.TupleExpr):
            items = [(elt, lambda elt=elt: self.expr(elt)) for elt in node.elts]
            return self._bracket_list("(", items, ")", one_comma=True)
        if isinstance(node, s.ListExpr):
            return self._bracket_list("[", [(elt, lambda elt=elt: self.expr(elt)) for elt in node.elts], "]")
        raise TypeError(f"no layout for the expression {type(node).__name__}")

    def _binary(self, node: s.BinOp) -> Doc:
        """`a + b - c` as one chain of its left-associative operators of one level."""
        node_level = _BINARY_LEVEL[node.op]
        left_slot, right_slot = _BINARY_SLOTS[node_level]
        rest: list[tuple[str, s.Node, int]] = []
        while (
            node_level != FACTOR
            and isinstance(node, s.BinOp)
            and _BINARY_LEVEL[node.op] == node_level
            and (not rest or not self._source.is_parenthesized(node.pos))
        ):
            rest.append((node.op, node.right, right_slot))
            node = node.left
        if node_level == FACTOR:
            rest.append((node.op, node.right, right_slot))
            node = node.left
        return self._chain((node, left_slot), rest[::-1])

    def _slice(self, node: s.Slice) -> Doc:
        """`a:b:c`, with spaces around the colons when a part is more than a name or a number (PEP 8)."""
        parts = [node.lower, node.upper] + ([node.step] if node.step is not None else [])
        simple = all(part is None or _is_simple(part) for part in parts)
        colon = ":" if simple else " : "
        out: list[Doc] = []
        for index, part in enumerate(parts):
            if index:
                out.append(colon)
            if part is not None:
                out.append(self.expr(part))
        if not simple and parts[-1] is None:
            out[-1] = " :"
        if not simple and parts[0] is None:
            out[0] = ": " if out[0] == " : " else out[0]
        return out

    # ---- types ----

    def tensor_type(self, node: s.TensorTypeExpr) -> Doc:
        return [node.dtype, self._bracket_list("[", [(dim, lambda dim=dim: self.expr(dim)) for dim in node.dims], "]")]

    def returns(self, types: tuple[s.TensorTypeExpr, ...], as_tuple: bool) -> Doc:
        if not as_tuple:
            return self.tensor_type(types[0])
        return self._bracket_list("(", [(t, lambda t=t: self.tensor_type(t)) for t in types], ")")

    def params(self, params: tuple[s.Param, ...]) -> Doc:
        """`(x: f32[n], key)`: the parameters of a method or of a Python class's call."""

        def param(p: s.Param) -> Doc:
            return p.name if p.type is None else [p.name, ": ", self.tensor_type(p.type)]

        return self._bracket_list("(", [(p, lambda p=p: param(p)) for p in params], ")")

    # ---- lines ----

    def model_header(self, node: s.Model) -> Doc:
        def hyper(p: s.HyperParam) -> Doc:
            return [p.name, ": ", str(p.type)] + ([" = ", self.expr(p.default)] if p.default is not None else [])

        params = self._bracket_list("(", [(p, lambda p=p: hyper(p)) for p in node.params], ")")
        return ["model ", node.name, params, ":"]

    def method_header(self, node: s.Method) -> Doc:
        head: list[Doc] = ["forward"] if node.name == "forward" else ["def ", node.name]
        if node.params is not None:
            head.append(self.params(node.params))
        if node.returns is not None:
            head += [" -> ", self.returns(node.returns, node.returns_tuple)]
        return head + [":"]

    def spec_import(self, node: s.SpecImport) -> Doc:
        path = string_text(self._source.next_token(self._source.span(node.pos)[0] + len("from")).text)
        names = [n.name if n.alias is None else f"{n.name} as {n.alias}" for n in node.names]
        return ["from ", path, " import ", ", ".join(names)]

    def python_import(self, node: s.PythonImport) -> Doc:
        name = node.name if node.alias is None else f"{node.name} as {node.alias}"
        return ["from ", node.module, " import ", name, self.params(node.params), " -> ", self.returns(node.returns, node.returns_tuple)]

    def model_item(self, node: s.Node) -> Doc:
        """The line of an input, a field or a constant (not of a block)."""
        if isinstance(node, s.InputDecl):
            return ["input ", node.name, ": ", self.tensor_type(node.type)]
        if isinstance(node, s.ModelAssert):
            message = [] if node.message is None else [", ", string_text(self._source.last_token(node.pos).text)]
            return ["assert ", self.top(node.test), *message]
        if isinstance(node, s.Definition):
            return [node.name, " = ", self.top(node.value)]
        if isinstance(node, s.RepeatDef):
            targets = [", ".join(t.id for t in node.targets), " in "] if node.targets else []
            count = self.expr(node.count)
            return [node.name, " = repeat ", *targets, count, " scan: " if node.scan else ": ", self.top(node.layer)]
        if isinstance(node, s.ParamDef):
            line = [node.name, " = ", "param " if node.trainable else "buffer ", self.tensor_type(node.type)]
            return line + ([" = ", self.top(node.init)] if node.init is not None else [])
        if isinstance(node, s.FrozenDef):
            return [node.name, " = frozen ", self.top(node.layer)]
        raise TypeError(f"no layout for the model item {type(node).__name__}")

    def statement(self, node: s.Stmt) -> Doc:
        """The line of a simple statement (not of a block)."""
        if isinstance(node, s.Assign):
            targets = ", ".join(t.id for t in node.targets) + ("," if node.unpack and len(node.targets) == 1 else "")
            if isinstance(node.value, s.TupleExpr) and len(node.value.elts) > 1:
                return [targets, " = ", self.bare_tuple(node.value)]
            return [targets, " = ", self.top(node.value)]
        if isinstance(node, s.AugAssign):
            return [node.target.id, f" {node.op}= ", self.top(node.value)]
        if isinstance(node, s.Return):
            if len(node.values) == 1:
                return ["return ", self.top(node.values[0])]
            return ["return ", join(", ", [self._element(v, self.expr(v)) for v in node.values])]
        if isinstance(node, s.Pass):
            return "pass"
        if isinstance(node, s.Append):
            return [node.target.id, ".append", self._bracket_list("(", [(node.value, lambda: self.expr(node.value))], ")")]
        raise TypeError(f"no layout for the statement {type(node).__name__}")

    def condition(self, keyword: str, test: s.Expr) -> Doc:
        """`if test:` / `elif test:`."""
        return [keyword, " ", self.top(test), ":"]

    def for_header(self, node: s.For) -> Doc:
        targets = ", ".join(t.id for t in node.targets or (node.target,))
        return ["for ", targets, " in ", self.top(node.iter), ":"]

    def axes_entry(self, node: s.AxesEntry) -> Doc:
        """`embed.weight: ("vocab", "embed")` inside an `axes:` block."""
        return [".".join(node.path), ": ", self.top(node.names)]


def _optional_parentheses(inner: Doc) -> Doc:
    """`inner` as it is when it fits, else on lines of its own between parentheses that the layout adds."""
    return Group([IfBreak("("), Indent([SOFTLINE, inner]), SOFTLINE, IfBreak(")")])


def _is_simple(node: s.Expr) -> bool:
    """A slice part that needs no spaces around its colon: a name, a number, `-1`, `a.b`."""
    if isinstance(node, (s.Name, s.Constant)):
        return True
    if isinstance(node, s.UnaryOp) and node.op != "not":
        return _is_simple(node.operand)
    return isinstance(node, s.Attribute) and _is_simple(node.value)
