"""The typed nodes of `syntax.py`, one method per grammar rule, each copying the rule's position."""

from __future__ import annotations

import ast
import inspect
import warnings

from lark import Token

from eqxdsl.compiler.parse import syntax as s


def _pos(meta) -> s.Pos:
    return s.Pos(meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_pos(token: Token) -> s.Pos:
    # Lark types a token's position Optional; the lexer sets it on every token it makes.
    return s.Pos(token.line, token.column, token.end_line, token.end_column)  # type: ignore[arg-type]


class SpecError(Exception):
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
            raise SpecError(_tok_pos(token), f"invalid string literal: {error}") from None
    return value


def _number(token: Token, kind: type) -> int | float:
    """The value of a number token; Python's rules decide where `_` may stand (`1_000`, not `1__0` or `1_`)."""
    try:
        return kind(str(token))
    except ValueError:
        raise SpecError(_tok_pos(token), f"invalid number {str(token)!r}", hint="an underscore may only stand between two digits, as in 1_000") from None


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
    # As in Python's `ast`, an `elif`'s `if` spans the rest of the chain.
    for _, elif_test, elif_body, elif_meta in reversed(elifs):
        pos = s.Pos(elif_meta.line, elif_meta.column, meta.end_line, meta.end_column)
        orelse = (node_class(test=elif_test, body=elif_body, orelse=orelse, pos=pos),)
    return node_class(test=test, body=tuple(body), orelse=orelse, pos=_pos(meta))


class ToSyntax:
    """Builds `syntax` nodes bottom-up, as the parser reduces each rule (`_reduce.py`).

    Each rule `r` of the grammar has a method `r(position, *children)`, called
    with the rule's span and its children already built (tokens as they are).
    The file's rule, `start`, gives its imports, models and span; `parse_spec`
    adds the path and the text.
    """

    # ---- file and imports ----

    def start(self, meta, *items):
        imports = tuple(i for i in items if isinstance(i, (s.SpecImport, s.PythonImport)))
        models = tuple(i for i in items if isinstance(i, s.Model))
        pos = _pos(meta) if meta.line is not None else s.Pos(1, 1, 1, 1)
        return imports, models, pos

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
        # "tuple[int, ...]": the `...` comes as an ELLIPSIS token after the types.
        inner = tuple(arg for arg in args if isinstance(arg, s.HyperType))
        variadic = any(isinstance(arg, Token) for arg in args)
        return s.HyperType(name=str(name), args=inner, variadic=variadic, pos=_pos(meta))

    def docstring(self, meta, token):
        return inspect.cleandoc(_string_value(token))

    def input_decl(self, meta, name, type_):
        return s.InputDecl(name=str(name), type=type_, pos=_pos(meta))

    def model_assert(self, meta, test, message):
        text = None if message is None else _string_value(message)
        return s.ModelAssert(test=test, message=text, pos=_pos(meta))

    def axes_block(self, meta, *entries):
        return s.AxesBlock(entries=tuple(entries), pos=_pos(meta))

    def axes_entry(self, meta, path, names):
        segments, path_pos = path
        return s.AxesEntry(path=segments, path_pos=path_pos, names=names, pos=_pos(meta))

    def axes_path(self, meta, *segments):
        return tuple(str(segment) for segment in segments), _pos(meta)

    def definition(self, meta, name, value):
        pos = _pos(meta)
        if isinstance(value, tuple):
            kind = value[0]
            if kind == "repeat":
                _, count, scan, layer, targets = value
                return s.RepeatDef(name=str(name), count=count, scan=scan, layer=layer, targets=targets, pos=pos)
            if kind in ("param", "buffer"):
                _, type_, init = value
                return s.ParamDef(name=str(name), trainable=kind == "param", type=type_, init=init, pos=pos)
            _, layer = value
            return s.FrozenDef(name=str(name), layer=layer, pos=pos)
        return s.Definition(name=str(name), value=value, pos=pos)

    def repeat_value(self, meta, count, scan, layer):
        return ("repeat", count, scan is not None, layer, ())

    def repeat_each(self, meta, targets, iterable, scan, layer):
        return ("repeat", iterable, scan is not None, layer, targets)

    def loop_targets(self, meta, *names):
        return tuple(s.Name(id=str(n), pos=_tok_pos(n)) for n in names)

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
        # A rule spans its last token: past the last name, that is a trailing comma.
        unpack = len(real) > 1 or meta.end_pos > real[-1].end_pos
        return tuple(s.Name(id=str(n), pos=_tok_pos(n)) for n in real), unpack

    def aug_assign(self, meta, name, op, value):
        return s.AugAssign(target=s.Name(id=str(name), pos=_tok_pos(name)), op=str(op)[:-1], value=value, pos=_pos(meta))

    def return_stmt(self, meta, *values):
        return s.Return(values=tuple(v for v in values if v is not None), pos=_pos(meta))

    def for_stmt(self, meta, targets, iterable, *body):
        return s.For(target=targets[0], iter=iterable, body=tuple(body), targets=targets, pos=_pos(meta))

    def expr_stmt(self, meta, target, method, arguments):
        arguments = arguments or ()
        if str(method) != "append":
            raise SpecError(_pos(meta), "a call alone is not a statement", hint="assign its value to a name (y = ...), or collect per-step outputs with outputs.append(value)")
        if len(arguments) != 1 or isinstance(arguments[0], s.Keyword):
            raise SpecError(_pos(meta), "append takes one value: outputs.append(value)", hint="append collects one value per step of a loop over an array")
        return s.Append(target=s.Name(id=str(target), pos=_tok_pos(target)), value=arguments[0], pos=_pos(meta))

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
                raise SpecError(argument.pos, "positional argument after a keyword argument")
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


# How terminals read in "expected ..." lists.
