"""Parse stage: `.eqx` source text to a `syntax.SpecFile`.

The grammar (`grammar/eqx.lark`) is LALR(1); indentation becomes
`_INDENT`/`_DEDENT` tokens through an indenter post-lexer. A tree walker turns
lark's parse tree into the typed nodes of `syntax.py`, copying every position.
Syntax errors become a `CompileError` with a readable list of what the parser
expected and, where a common mistake is recognised, a hint.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import inspect
import os
import re
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path

import lark
from lark import Lark, Token
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)
from lark.indenter import Indenter

from eqxdsl.compiler.diagnostics import (
    CompileError,
    Diagnostic,
    diagnostic_at,
    gc_paused,
    resource_path,
)
from eqxdsl.compiler.parse import syntax as s

__all__ = ["parse_spec"]



class _IndentError(Exception):
    """A line dedented to a column that no enclosing block started at."""

    def __init__(self, token: Token, column: int, expected: list[int]):
        super().__init__("inconsistent dedent")
        self.token = token
        self.column = column
        self.expected = expected


class _TabError(Exception):
    """A line whose indentation compares differently with tabs of width 8 and of width 1."""

    def __init__(self, token: Token):
        super().__init__("inconsistent use of tabs and spaces")
        self.token = token


class _EqxIndenter(Indenter):
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
            raise _TabError(token)
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
                raise _TabError(token)
            yield Token.new_borrow_pos(self.DEDENT_type, indent_str, token)
        if indent != self.indent_level[-1]:
            raise _IndentError(token, indent, open_blocks)


def _same_order(wide: int, narrow: int, wide_level: int, narrow_level: int) -> bool:
    """Whether an indentation compares the same to a block's with tabs of width 8 and of width 1."""
    return (wide > wide_level) == (narrow > narrow_level) and (wide == wide_level) == (narrow == narrow_level)


def _cache_file() -> str | None:
    """A user-private file for lark's pickled parser tables, or None if none is safe.

    Lark unpickles its cache before checking it, so the folder must be one that
    only this user can write: created with mode 0700, owned by us, not group- or
    world-writable.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "eqxdsl"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    getuid = getattr(os, "getuid", None)
    if not stat.S_ISDIR(info.st_mode) or info.st_mode & 0o077:
        return None
    if getuid is not None and info.st_uid != getuid():
        return None
    grammar_hash = hashlib.sha256(_grammar_text().encode()).hexdigest()[:16]
    return str(folder / f"eqx-lalr-{lark.__version__}-{grammar_hash}.cache")


@functools.cache
def _grammar_text() -> str:
    return resource_path("grammar", "eqx.lark").read_text(encoding="utf-8")


@functools.cache
def _parser() -> Lark:
    """The LALR parser, built once per process (from the on-disk cache when safe).

    Lark's `strict=True` also checks terminal collisions, which needs the
    optional `interegular` package; the grammar's freedom from shift/reduce
    conflicts is checked by a test instead (tests/compiler/test_language_parse.py).
    """
    options = dict(
        parser="lalr",
        lexer="contextual",
        postlex=_EqxIndenter(),
        propagate_positions=True,
        maybe_placeholders=True,
    )
    cache = _cache_file()
    if cache is not None:
        try:
            return Lark(_grammar_text(), cache=cache, **options)
        except (OSError, EOFError, ValueError, AttributeError, ImportError):
            # A truncated or foreign cache file: build from the grammar instead.
            pass
    return Lark(_grammar_text(), **options)


def _pos(meta) -> s.Pos:
    return s.Pos(meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_pos(token: Token) -> s.Pos:
    return s.Pos(token.line, token.column, token.end_line, token.end_column)


class _SpecError(Exception):
    """A mistake found while building nodes (a bad string literal, for instance)."""

    def __init__(self, pos: s.Pos, message: str, hint: str | None = None):
        super().__init__(message)
        self.pos = pos
        self.message = message
        self.hint = hint


def _string_value(token: Token) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            value = ast.literal_eval(str(token))
        except (SyntaxError, ValueError, Warning) as error:
            raise _SpecError(_tok_pos(token), f"invalid string literal: {error}") from None
    return value


def _number(token: Token, kind: type) -> int | float:
    """The value of a number token; Python's rules decide where `_` may stand (`1_000`, not `1__0` or `1_`)."""
    try:
        return kind(str(token))
    except ValueError:
        raise _SpecError(_tok_pos(token), f"invalid number {str(token)!r}", hint="an underscore may only stand between two digits, as in 1_000") from None


def _if_chain(node_class, meta, test, rest):
    """An `if` with its `elif` and `else` clauses, as nested `node_class` nodes (`elif` is `else: if`).

    `rest` holds the body's items, then ("elif", test, body, meta) and ("else", body) markers.
    """
    body = []
    elifs = []
    orelse: tuple = ()
    for item in rest:
        if isinstance(item, tuple) and item and item[0] == "elif":
            elifs.append(item)
        elif isinstance(item, tuple) and item and item[0] == "else":
            orelse = item[1]
        elif item is not None:
            body.append(item)
    for _, elif_test, elif_body, elif_meta in reversed(elifs):
        orelse = (node_class(test=elif_test, body=elif_body, orelse=orelse, pos=_pos(elif_meta)),)
    return node_class(test=test, body=tuple(body), orelse=orelse, pos=_pos(meta))

class _ToSyntax:
    """Builds `syntax` nodes from lark's parse tree, bottom-up.

    Each rule `r` of the grammar has a method `r(meta, *children)`, called with
    the rule's position and its children already built (tokens as they are).
    """

    def __init__(self, path: str, source: str):
        self._path = path
        self._source = source

    def build(self, tree: lark.Tree) -> s.SpecFile:
        """The syntax node of `tree`, built with an explicit stack (no recursion, however deep the tree)."""
        built: list[object] = []
        pending: list[tuple[lark.Tree, bool]] = [(tree, False)]
        while pending:
            node, children_done = pending.pop()
            if not children_done:
                pending.append((node, True))
                pending.extend((child, False) for child in reversed(node.children) if isinstance(child, lark.Tree))
                continue
            subtrees = sum(1 for child in node.children if isinstance(child, lark.Tree))
            values = iter(built[len(built) - subtrees :])
            children = [next(values) if isinstance(child, lark.Tree) else child for child in node.children]
            del built[len(built) - subtrees :]
            built.append(getattr(self, node.data)(node.meta, *children))
        return built[0]

    # ---- file and imports ----

    def start(self, meta, *items):
        imports = tuple(i for i in items if isinstance(i, (s.SpecImport, s.PythonImport)))
        models = tuple(i for i in items if isinstance(i, s.Model))
        pos = _pos(meta) if not meta.empty else s.Pos(1, 1, 1, 1)
        return s.SpecFile(path=self._path, source=self._source, imports=imports, models=models, pos=pos)

    def spec_import(self, meta, path_token, names):
        return s.SpecImport(path=_string_value(path_token), names=names, pos=_pos(meta))

    def import_names(self, meta, *names):
        return tuple(names)

    def import_name(self, meta, name, alias):
        return s.ImportName(name=str(name), alias=str(alias) if alias else None, pos=_pos(meta))

    def dotted_name(self, meta, *parts):
        return ".".join(str(p) for p in parts)

    def python_import(self, meta, module, name, alias, signature):
        params, returns, returns_tuple = signature
        return s.PythonImport(
            module=module,
            name=str(name),
            alias=str(alias) if alias else None,
            params=params,
            returns=returns,
            returns_tuple=returns_tuple,
            pos=_pos(meta),
        )

    def signature(self, meta, params, returns):
        return (params or (), *returns)

    def sig_params(self, meta, *params):
        return tuple(p for p in params if p is not None)

    def sig_param(self, meta, name, type_):
        return s.Param(name=str(name), type=type_, pos=_pos(meta))

    # ---- models ----

    def model(self, meta, name, params, docstring, *items):
        return s.Model(
            name=str(name), params=params or (), docstring=docstring, items=tuple(items), pos=_pos(meta)
        )

    def hyper_params(self, meta, *params):
        return tuple(p for p in params if p is not None)

    def hyper_param(self, meta, name, type_, default):
        return s.HyperParam(name=str(name), type=type_, default=default, pos=_pos(meta))

    def hyper_type(self, meta, name, *args):
        variadic = False
        inner = []
        for arg in args:
            if arg is None:
                continue
            inner.append(arg)
        # "tuple[int, ...]": the literal `...` is an anonymous token, filtered out,
        # so it shows as the source text between the brackets.
        text = self._source_span(meta)
        if text.rstrip().endswith("...]"):
            variadic = True
        return s.HyperType(name=str(name), args=tuple(inner), variadic=variadic, pos=_pos(meta))

    def docstring(self, meta, token):
        return inspect.cleandoc(_string_value(token))

    def input_decl(self, meta, name, type_):
        return s.InputDecl(name=str(name), type=type_, pos=_pos(meta))

    def definition(self, meta, name, value):
        pos = _pos(meta)
        if isinstance(value, tuple):
            kind = value[0]
            if kind == "repeat":
                _, count, scan, layer = value
                return s.RepeatDef(name=str(name), count=count, scan=scan, layer=layer, pos=pos)
            if kind in ("param", "buffer"):
                _, type_, init = value
                return s.ParamDef(name=str(name), trainable=kind == "param", type=type_, init=init, pos=pos)
            _, layer = value
            return s.FrozenDef(name=str(name), layer=layer, pos=pos)
        return s.Definition(name=str(name), value=value, pos=pos)

    def repeat_value(self, meta, count, scan, layer):
        return ("repeat", count, scan is not None, layer)

    def param_value(self, meta, type_, init):
        return ("param", type_, init)

    def buffer_value(self, meta, type_, init):
        return ("buffer", type_, init)

    def frozen_value(self, meta, layer):
        return ("frozen", layer)

    def model_if(self, meta, test, *rest):
        return _if_chain(s.ModelIf, meta, test, rest)

    def model_elif(self, meta, test, *items):
        return ("elif", test, tuple(items), meta)

    def model_else(self, meta, *items):
        return ("else", tuple(items))

    def method(self, meta, *children):
        if isinstance(children[0], Token) and children[0].type == "FORWARD":
            name = "forward"
        else:
            name = str(children[0])
        params, returns, docstring, *body = children[1:]
        returns_types, returns_tuple = returns if returns is not None else (None, False)
        return s.Method(
            name=name,
            params=params,
            returns=returns_types,
            returns_tuple=returns_tuple,
            docstring=docstring,
            body=tuple(body),
            pos=_pos(meta),
        )

    def method_params(self, meta, params):
        return params or ()

    def return_arrow(self, meta, returns):
        return returns

    def return_type(self, meta, type_):
        return ((type_,), False)

    def return_tuple(self, meta, *types):
        return (tuple(t for t in types if t is not None), True)

    def tensor_type(self, meta, dtype, dims):
        return s.TensorTypeExpr(dtype=str(dtype), dims=dims or (), pos=_pos(meta))

    def dims(self, meta, *dims):
        return tuple(d for d in dims if d is not None)

    # ---- statements ----

    def assign(self, meta, targets, value):
        names, unpack = targets
        return s.Assign(targets=names, value=value, unpack=unpack, pos=_pos(meta))

    def bare_tuple(self, meta, *elts):
        return s.TupleExpr(elts=tuple(e for e in elts if e is not None), pos=_pos(meta))

    def targets(self, meta, *names):
        real = [n for n in names if n is not None]
        unpack = len(real) > 1 or self._source_span(meta).rstrip().endswith(",")
        return tuple(s.Name(id=str(n), pos=_tok_pos(n)) for n in real), unpack

    def aug_assign(self, meta, name, op, value):
        return s.AugAssign(target=s.Name(id=str(name), pos=_tok_pos(name)), op=str(op)[:-1], value=value, pos=_pos(meta))

    def return_stmt(self, meta, *values):
        return s.Return(values=tuple(v for v in values if v is not None), pos=_pos(meta))

    def for_stmt(self, meta, target, iterable, *body):
        return s.For(target=s.Name(id=str(target), pos=_tok_pos(target)), iter=iterable, body=tuple(body), pos=_pos(meta))

    def if_stmt(self, meta, test, *rest):
        return _if_chain(s.If, meta, test, rest)

    def elif_clause(self, meta, test, *body):
        return ("elif", test, tuple(body), meta)

    def else_clause(self, meta, *body):
        return ("else", tuple(body))

    def pass_stmt(self, meta):
        return s.Pass(pos=_pos(meta))

    # ---- expressions ----

    def pipe(self, meta, source, *steps):
        return s.Pipeline(source=source, steps=tuple(steps), pos=_pos(meta))

    def if_exp(self, meta, body, test, orelse):
        return s.IfExp(test=test, body=body, orelse=orelse, pos=_pos(meta))

    def or_op(self, meta, *values):
        return s.BoolOp(op="or", values=tuple(values), pos=_pos(meta))

    def and_op(self, meta, *values):
        return s.BoolOp(op="and", values=tuple(values), pos=_pos(meta))

    def not_op(self, meta, operand):
        return s.UnaryOp(op="not", operand=operand, pos=_pos(meta))

    def compare(self, meta, first, *rest):
        ops = tuple(str(t) for t in rest[0::2])
        operands = (first, *rest[1::2])
        return s.Compare(ops=ops, operands=operands, pos=_pos(meta))

    def bin_op(self, meta, left, op, right):
        return s.BinOp(op=str(op), left=left, right=right, pos=_pos(meta))

    def unary_op(self, meta, op, operand):
        return s.UnaryOp(op=str(op), operand=operand, pos=_pos(meta))

    def call(self, meta, func, arguments):
        args = []
        keywords = []
        for argument in arguments or ():
            if isinstance(argument, s.Keyword):
                keywords.append(argument)
            elif keywords:
                raise _SpecError(argument.pos, "positional argument after a keyword argument")
            else:
                args.append(argument)
        return s.Call(func=func, args=tuple(args), keywords=tuple(keywords), pos=_pos(meta))

    def arguments(self, meta, *arguments):
        return tuple(a for a in arguments if a is not None)

    def keyword(self, meta, name, value):
        return s.Keyword(name=str(name), value=value, pos=_pos(meta))

    def subscript(self, meta, value, items):
        return s.Subscript(value=value, index=items, pos=_pos(meta))

    def subscripts(self, meta, *items):
        return tuple(i for i in items if i is not None)

    def slice(self, meta, lower, upper, step):
        return s.Slice(lower=lower, upper=upper, step=step, pos=_pos(meta))

    def ellipsis(self, meta):
        return s.EllipsisExpr(pos=_pos(meta))

    def attribute(self, meta, value, name):
        return s.Attribute(value=value, attr=str(name), pos=_pos(meta))

    def name(self, meta, token):
        return s.Name(id=str(token), pos=_tok_pos(token))

    def int_literal(self, meta, token):
        return s.Constant(value=_number(token, int), pos=_tok_pos(token))

    def float_literal(self, meta, token):
        return s.Constant(value=_number(token, float), pos=_tok_pos(token))

    def string_literal(self, meta, token):
        return s.Constant(value=_string_value(token), pos=_tok_pos(token))

    def true_literal(self, meta):
        return s.Constant(value=True, pos=_pos(meta))

    def false_literal(self, meta):
        return s.Constant(value=False, pos=_pos(meta))

    def none_literal(self, meta):
        return s.Constant(value=None, pos=_pos(meta))

    def empty_tuple(self, meta):
        return s.TupleExpr(elts=(), pos=_pos(meta))

    def paren(self, meta, value):
        return value

    def tuple_literal(self, meta, *elts):
        return s.TupleExpr(elts=tuple(e for e in elts if e is not None), pos=_pos(meta))

    def list_literal(self, meta, *elts):
        return s.ListExpr(elts=tuple(e for e in elts if e is not None), pos=_pos(meta))

    def _source_span(self, meta) -> str:
        return self._source[meta.start_pos : meta.end_pos]


# How terminals read in "expected ..." lists.
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
    "POW_OP": "'**'",
}


# Tokens that can continue an expression; listed one by one they drown the
# useful part of an "expected ..." message, so they read as "an operator".
_OPERATOR_TERMINALS = {"ADD_OP", "MUL_OP", "POW_OP", "COMP_OP", "LPAR", "LSQB", "DOT", "IF", "AND", "OR"}
_OPERATOR_TEXTS = {"->", "*", "/", "//", "%", "@", "**", "+", "-"}


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


def _syntax_error(error: UnexpectedInput, source: str, path: str, parser: Lark) -> Diagnostic:
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
        return diagnostic_at(
            source, path, line, column, message, hint=_syntax_hint(token, expected), end_column=end
        )
    if isinstance(error, UnexpectedCharacters):
        char = source[error.pos_in_stream] if error.pos_in_stream < len(source) else ""
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
MAX_NESTING = 200


def parse_spec(source: str, path: str) -> s.SpecFile:
    """Parse the text of a `.eqx` file.

    Args:
        source: the spec's text (a leading byte-order mark is skipped).
        path: the path shown in diagnostics (and kept on the result).

    Returns:
        The file's syntax tree.

    Raises:
        CompileError: with one diagnostic for the first syntax error.
    """
    if source.startswith("\ufeff"):
        source = source[1:]
    _check_encodable(source, path)
    parser = _parser()
    text = source if source.endswith("\n") else source + "\n"
    with gc_paused():
        return _parse(parser, text, source, path)


def _parse(parser: Lark, text: str, source: str, path: str) -> s.SpecFile:
    try:
        tree = parser.parse(text)
    except _IndentError as error:
        line = error.token.end_line
        column = error.column + 1
        levels = ", ".join(str(level + 1) for level in error.expected)
        raise CompileError(
            [
                diagnostic_at(
                    source,
                    path,
                    line,
                    column,
                    "this line's indentation matches no enclosing block",
                    hint=f"indent it to one of the columns the enclosing blocks start at ({levels})",
                )
            ]
        ) from None
    except _TabError as error:
        line = error.token.end_line
        raise CompileError(
            [
                diagnostic_at(
                    source,
                    path,
                    line,
                    1,
                    "inconsistent use of tabs and spaces in indentation",
                    hint="indent with spaces only (or tabs only, the same way on every line of a block)",
                )
            ]
        ) from None
    except UnexpectedInput as error:
        raise CompileError([_syntax_error(error, source, path, parser)]) from None
    _check_nesting(tree, source, path)
    try:
        return _ToSyntax(path, source).build(tree)
    except _SpecError as error:
        raise CompileError(
            [
                diagnostic_at(
                    source,
                    path,
                    error.pos.line,
                    error.pos.column,
                    error.message,
                    hint=error.hint,
                    end_line=error.pos.end_line,
                    end_column=error.pos.end_column,
                )
            ]
        ) from None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_encodable(source: str, path: str) -> None:
    """Reject a lone surrogate (what undecodable bytes become under `surrogateescape`)."""
    found = _SURROGATE.search(source)
    if found is not None:
        index = found.start()
        line = source.count("\n", 0, index) + 1
        column = index - (source.rfind("\n", 0, index) + 1) + 1
        message = f"the spec is not valid Unicode text (lone surrogate U+{ord(found.group()):04X})"
        raise CompileError([diagnostic_at(source, path, line, column, message, hint="save the file as UTF-8")])


#: Rules whose children start an expression: a nesting error points at that start.
_EXPRESSION_HOLDERS = frozenset(
    {"assign", "bare_tuple", "aug_assign", "return_stmt", "for_stmt", "if_stmt", "elif_clause", "definition",
     "repeat_value", "param_value", "buffer_value", "frozen_value", "hyper_param", "model_if", "model_elif", "dims"}
)


_CHAINED_CLAUSES = frozenset({"elif_clause", "else_clause", "model_elif", "model_else"})


def _check_nesting(tree: lark.Tree, source: str, path: str) -> None:
    """Report the first place where the tree nests deeper than `MAX_NESTING`, without recursing."""
    stack = [(tree, 1, tree.meta)]
    while stack:
        node, depth, anchor = stack.pop()
        if depth > MAX_NESTING:
            meta = anchor if not anchor.empty else node.meta
            line, column = (meta.line, meta.column) if not meta.empty else (1, 1)
            message = f"nested too deeply (more than {MAX_NESTING} levels of brackets, calls, operators and blocks)"
            raise CompileError([diagnostic_at(source, path, line, column, message, hint="split it: intermediate variables for long expressions, methods for long elif chains or deep blocks")])
        holder = node.data in _EXPRESSION_HOLDERS
        # Each `elif` (and the `else`) nests inside the `if` before it once built.
        chained = 0
        entries = []
        for child in node.children:
            if isinstance(child, lark.Tree):
                if child.data in _CHAINED_CLAUSES:
                    chained += 1
                entries.append((child, depth + 1 + chained, child.meta if holder else anchor))
        stack.extend(reversed(entries))
