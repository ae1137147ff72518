"""Lowering statements and expressions of a method (or of `__init__`) to Python `ast`."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from eqxdsl.compiler.check.checked import CallRef, LoopRef, Ref, StaticBranch
from eqxdsl.compiler.dims import DTYPES
from eqxdsl.compiler.library.functions import FUNCTIONS, dotted, dtype_ast
from eqxdsl.compiler.lower import ir
from eqxdsl.compiler.lower._ast import (
    _BINOPS,
    _CMPOPS,
    Names,
    _assign,
    _call,
    _const,
    _if_else,
    _name,
    _self,
    _stmt,
)
from eqxdsl.compiler.lower._loops import append_statement, unrolled_loop
from eqxdsl.compiler.lower._scans import scan_loop
from eqxdsl.compiler.lower._sites import key_sites
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse.walk import handler

if TYPE_CHECKING:
    from eqxdsl.compiler.lower._model import ModelLowerer

if TYPE_CHECKING:
    from eqxdsl.compiler.lower._method import MethodLowerer


class ExprLowerer:
    """Lowers spec expressions and statements; `context` is "init" or "method"."""

    def __init__(self, owner: ModelLowerer, context: str, names: Names, method: MethodLowerer | None = None):
        self.owner = owner
        self.model = owner.model
        self.resolved = owner.resolved
        self.context = context
        self.names = names
        self.method = method
        self.stack_vars: dict[str, str] = {}
        # In the step of a loop over an array: the loop, and each list's appended value.
        self.current_loop: s.For | None = None
        self.appended: dict[str, ast.expr] = {}
        # In the step of a scan over a stateful stack, the State of the current copy, by stack variable.
        self.stack_states: dict[str, str] = {}

    @property
    def in_method(self) -> MethodLowerer:
        """The method being lowered: statements, keys and state occur only in one, never in `__init__`."""
        assert self.method is not None
        return self.method

    # -- statements ---------------------------------------------------------------------

    def block(self, body) -> list[ir.Statement]:
        out: list[ir.Statement] = []
        for stmt in body:
            out.extend(self.statement(stmt))
        return out

    def statement(self, stmt: s.Stmt) -> list[ir.Statement]:
        """The Python of one statement; each kind has its `_statement_<Class>` method (see `parse.walk`)."""
        lower = handler(type(self), "_statement_", type(stmt))
        if lower is None:
            return [ir.Statement("pass", stmt.pos.line)]
        return lower(self, stmt, stmt.pos.line)

    def _statement_Append(self, stmt: s.Append, line: int) -> list[ir.Statement]:
        return append_statement(self, stmt)

    def _statement_Assign(self, stmt: s.Assign, line: int) -> list[ir.Statement]:
        if isinstance(self.resolved.get(id(stmt)), Ref):
            return []  # `outputs = []`: the scan that fills it assigns it
        pre: list[ir.Statement] = []
        if len(stmt.targets) == 1 and not stmt.unpack:
            target = stmt.targets[0].id
            value = self.expr(stmt.value, pre, target=target, line=line)
            if isinstance(value, ast.Name) and value.id == target:
                return pre  # the statements in `pre` assigned it already
            return pre + [_stmt(_assign(target, value), line)]
        value = self.expr(stmt.value, pre, line=line)
        return pre + [_stmt(_assign([t.id for t in stmt.targets], value), line)]

    def _statement_AugAssign(self, stmt: s.AugAssign, line: int) -> list[ir.Statement]:
        pre: list[ir.Statement] = []
        value = self.expr(stmt.value, pre, line=line)
        node = ast.AugAssign(ast.Name(stmt.target.id, ast.Store()), _BINOPS[stmt.op](), value)
        return pre + [_stmt(node, line)]

    def _statement_Return(self, stmt: s.Return, line: int) -> list[ir.Statement]:
        pre: list[ir.Statement] = []
        values = [self.expr(v, pre, line=line, target=self._return_target(stmt)) for v in stmt.values]
        result = values[0] if len(values) == 1 else ast.Tuple(values, ast.Load())
        if self.in_method.info.stateful:
            result = ast.Tuple([result, _name("state")], ast.Load())
        return pre + [_stmt(ast.Return(result), line)]

    def _statement_If(self, stmt: s.If, line: int) -> list[ir.Statement]:
        branch = self.resolved.get(id(stmt))
        if isinstance(branch, StaticBranch):
            # The checker checked only the branch a compile-time test selects.
            return self.block(stmt.body if branch.taken else stmt.orelse)
        pre: list[ir.Statement] = []
        test = self.expr(stmt.test, pre, line=line)
        return pre + _if_else(test, line, self.block(stmt.body), self.block(stmt.orelse))

    def _statement_For(self, stmt: s.For, line: int) -> list[ir.Statement]:
        loop = self.resolved[id(stmt)]
        assert isinstance(loop, LoopRef)
        inner_sites = [(ref_id, self.in_method.site_keys[ref_id]) for ref_id, _ in key_sites(stmt.body, self.resolved)]
        if loop.kind == "unrolled":
            return unrolled_loop(self, stmt, inner_sites)
        return scan_loop(self, stmt, loop, inner_sites)

    def _return_target(self, stmt: s.Return) -> str | None:
        if len(stmt.values) == 1 and isinstance(stmt.values[0], s.Pipeline) and isinstance(stmt.values[0].source, s.Name):
            source = stmt.values[0].source
            ref = self.resolved.get(id(source))
            if isinstance(ref, Ref) and ref.kind == "local":
                return source.id
        return None

    # -- expressions ---------------------------------------------------------------------

    def expr(self, node: s.Expr, pre: list, target: str | None = None, line: int | None = None, as_tuple: bool = False) -> ast.expr:
        """The Python of an expression; each kind has its `_expr_<Class>` method (see `parse.walk`).

        Statements it needs first (a scan's loop, a split key) go to `pre`; `target` is the
        variable the value will be assigned to, if any; `as_tuple` writes a list as a tuple.
        """
        lower = handler(type(self), "_expr_", type(node))
        if lower is None:
            raise AssertionError(f"unexpected node {type(node).__name__}")
        return lower(self, node, pre, target, line if line is not None else node.pos.line, as_tuple)

    def _expr_Pipeline(self, node: s.Pipeline, pre: list, target: str | None, line: int, as_tuple: bool) -> ast.expr:
        return self.pipeline(node, pre, target, line)

    def _expr_Name(self, node: s.Name, pre: list, target: str | None, line: int, as_tuple: bool) -> ast.expr:
        return self.name(node)

    def _expr_Constant(self, node: s.Constant, pre: list, target: str | None, line: int, as_tuple: bool) -> ast.expr:
        return _const(node.value)

    def _expr_TupleExpr(self, node: s.TupleExpr, pre: list, target: str | None, line: int, as_tuple: bool) -> ast.expr:
        return ast.Tuple([self.expr(e, pre, line=line) for e in node.elts], ast.Load())

    def _expr_ListExpr(self, node: s.ListExpr, pre: list, target: str | None, line: int, as_tuple: bool) -> ast.expr:
        elts = [self.expr(e, pre, line=line) for e in node.elts]
        return ast.Tuple(elts, ast.Load()) if as_tuple else ast.List(elts, ast.Load())

    def _expr_BinOp(self, node: s.BinOp, pre: list, target: str | None, line: int, as_tuple: bool) -> ast.expr:
        return ast.BinOp(self.expr(node.left, pre, line=line), _BINOPS[node.op](), self.expr(node.right, pre, line=line))

    def _expr_UnaryOp(self, node: s.UnaryOp, pre: list, target: str | None, line: int, as_tuple: bool) -> ast.expr:
        operand = self.expr(node.operand, pre, line=line)
        op = {"-": ast.USub, "+": ast.UAdd, "~": ast.Invert, "not": ast.Not}[node.op]()
        return ast.UnaryOp(op, operand)

    def _expr_BoolOp(self, node: s.BoolOp, pre: list, target: str | None, line: int, as_tuple: bool) -> ast.expr:
        return ast.BoolOp(ast.And() if node.op == "and" else ast.Or(), [self.expr(v, pre, line=line) for v in node.values])

    def _expr_Compare(self, node: s.Compare, pre: list, target: str | None, line: int, as_tuple: bool) -> ast.expr:
        operands = [self.expr(o, pre, line=line) for o in node.operands]
        return ast.Compare(operands[0], [_CMPOPS[o]() for o in node.ops], operands[1:])

    def _expr_IfExp(self, node: s.IfExp, pre: list, target: str | None, line: int, as_tuple: bool) -> ast.expr:
        return self.if_exp(node, pre, target, line)

    def _expr_Attribute(self, node: s.Attribute, pre: list, target: str | None, line: int, as_tuple: bool) -> ast.expr:
        return self.attribute(node, pre, line)

    def _expr_Subscript(self, node: s.Subscript, pre: list, target: str | None, line: int, as_tuple: bool) -> ast.expr:
        value = self.expr(node.value, pre, line=line)
        items = [self.index_item(i, pre, line) for i in node.index]
        index = items[0] if len(items) == 1 else ast.Tuple(items, ast.Load())
        return ast.Subscript(value, index, ast.Load())

    def _expr_Call(self, node: s.Call, pre: list, target: str | None, line: int, as_tuple: bool) -> ast.expr:
        if isinstance(node.func, s.Name) and node.func.id == "len":
            return _call(_name("len"), [self.expr(node.args[0], pre, line=line)])
        return self.call(node, node.func, [self.expr(a, pre, line=line) for a in node.args if not _is_key(a)], pre, line, target)

    def index_item(self, item, pre: list, line: int) -> ast.expr:
        if isinstance(item, s.Slice):
            parts = [self.expr(p, pre, line=line) if p is not None else None for p in (item.lower, item.upper, item.step)]
            return ast.Slice(*parts)
        if isinstance(item, s.EllipsisExpr):
            return ast.Constant(Ellipsis)
        return self.expr(item, pre, line=line)

    def name(self, node: s.Name) -> ast.expr:
        ref = self.resolved.get(id(node))
        name = node.id
        if self.context == "init":
            if isinstance(ref, Ref) and ref.kind == "function":
                return dotted(FUNCTIONS[name].target)
            if isinstance(ref, Ref) and ref.kind == "dtype":
                return dtype_ast(name)
            return _name(name)
        kind = ref.kind if isinstance(ref, Ref) else None
        if kind == "local":
            return _name(name)
        if kind in ("hyper", "const"):
            return _self(name)
        if kind == "dim":
            return _self(name) if name in self.model.init_dims else _name(name)
        if kind == "field":
            return self.field(name)
        if kind == "presence":
            return ast.Compare(_self(name), [ast.IsNot()], [ast.Constant(None)])
        if kind == "function":
            return dotted(FUNCTIONS[name].target)
        if kind == "dtype":
            return dtype_ast(name)
        if isinstance(ref, CallRef):
            return self.callable(node, ref)
        return _name(name)

    def field(self, name: str) -> ast.expr:
        info = self.model.fields[name]
        value = _self(name)
        if info.kind == "buffer":
            return _call(dotted("jax.lax.stop_gradient"), [value])
        if info.frozen:
            arrays = _call(dotted("eqx.filter"), [value, dotted("eqx.is_array")])
            return _call(dotted("eqx.combine"), [_call(dotted("jax.lax.stop_gradient"), [arrays]), value])
        return value

    def attribute(self, node: s.Attribute, pre: list, line: int) -> ast.expr:
        ref = self.resolved.get(id(node))
        if isinstance(ref, Ref) and ref.kind == "weight":
            base = self.field(ref.name)
            return ast.Attribute(base, node.attr, ast.Load())
        return ast.Attribute(self.expr(node.value, pre, line=line), node.attr, ast.Load())

    def if_exp(self, node: s.IfExp, pre: list, target: str | None, line: int) -> ast.expr:
        branch = self.resolved.get(id(node))
        if isinstance(branch, StaticBranch):
            # The checker checked only the branch a compile-time test selects.
            return self.expr(node.body if branch.taken else node.orelse, pre, target, line)
        test = self.expr(node.test, pre, line=line)
        body_pre: list = []
        body = self.expr(node.body, body_pre, line=line)
        else_pre: list = []
        orelse = self.expr(node.orelse, else_pre, line=line)
        if not body_pre and not else_pre:
            return ast.IfExp(test, body, orelse)
        # A branch needs statements (a stateful call): write an if statement.
        result = target or self.names.fresh("branch")
        then_block = body_pre + [_stmt(_assign(result, body), line)]
        else_block = else_pre + [_stmt(_assign(result, orelse), line)]
        pre.extend(_if_else(test, line, then_block, else_block))
        return _name(result)

    def pipeline(self, node: s.Pipeline, pre: list, target: str | None, line: int) -> ast.expr:
        value = self.expr(node.source, pre, line=line)
        if target is None:
            for step in node.steps:
                value = self.step(step, value, pre, line, None)
            return value
        # At statement level, one assignment per step: `x = self.conv1(x)`.
        for index, step in enumerate(node.steps):
            value = self.step(step, value, pre, line, target)
            if index < len(node.steps) - 1:
                if not (isinstance(value, ast.Name) and value.id == target):
                    pre.append(_stmt(_assign(target, value), line))
                value = _name(target)
        return value

    def step(self, step: s.Expr, value: ast.expr, pre: list, line: int, target: str | None) -> ast.expr:
        if isinstance(step, s.Call):
            args = [value] + [self.expr(a, pre, line=line) for a in step.args if not _is_key(a)]
            return self.call(step, step.func, args, pre, line, target)
        return self.call(step, step, [value], pre, line, target)

    def callable(self, node: s.Expr, ref: CallRef) -> ast.expr:
        """A layer, method or function as a value (what map applies)."""
        if ref.kind == "layer":
            return self._layer_callee(node, ref)
        if ref.kind == "method":
            return _self(ref.target)
        if ref.kind == "function":
            return dotted(FUNCTIONS[ref.target].target)
        if ref.kind == "activation":
            return _self(ref.target)
        if ref.kind == "submethod" and ref.method is not None:
            return ast.Attribute(self.field(ref.target), ref.method, ast.Load())
        raise AssertionError(ref)

    def _layer_callee(self, func: s.Expr, ref: CallRef) -> ast.expr:
        if isinstance(func, s.Name) and func.id in self.stack_vars:
            return _name(func.id)
        if isinstance(func, s.Call):
            return self._layer_callee(func.func, ref)
        if isinstance(func, s.Subscript):
            # One copy of an unrolled stack: `self.blocks[0]`.
            return ast.Subscript(self.field(ref.target), self.index_item(func.index[0], [], func.pos.line), ast.Load())
        return self.field(ref.target)

    def call(self, node: s.Expr, func: s.Expr, args: list[ast.expr], pre: list, line: int, target: str | None) -> ast.expr:
        ref = self.resolved.get(id(node))
        if not isinstance(ref, CallRef):
            raise AssertionError(f"unresolved call at line {node.pos.line}")
        keywords: dict[str, ast.expr] = {}
        if isinstance(node, s.Call) and ref.kind in ("layer", "submethod"):
            for kw in node.keywords:
                keywords[kw.name] = self.expr(kw.value, pre, line=line)
        if ref.kind == "map":
            assert isinstance(node, s.Call)  # map is called, never piped into
            return self.map_call(node, ref, args, pre, line)
        if ref.kind == "function":
            return self.function_call(node, ref, args, pre, line)
        if ref.kind == "activation":
            return _call(_self(ref.target), args)
        if ref.kind == "layer":
            callee = self._layer_callee(func, ref)
        elif ref.kind == "submethod" and ref.method is not None:
            callee = ast.Attribute(self.field(ref.target), ref.method, ast.Load())
        else:
            callee = _self(ref.target)
        state = self.stack_states.get(func.id, "state") if isinstance(func, s.Name) else "state"
        if ref.stateful:
            args = args + [_name(state)]
        if ref.stochastic:
            keywords["key"] = _name(self.in_method.site_keys[id(node)])
        if ref.stochastic or ref.call_inference:
            keywords["inference"] = _name("inference")
        call = _call(callee, args, **keywords)
        if not ref.stateful:
            return call
        result = target or self.names.fresh(f"{ref.target}_out")
        pre.append(_stmt(_assign([result, state], call), line))
        return _name(result)

    def function_call(self, node: s.Expr, ref: CallRef, args: list[ast.expr], pre: list, line: int) -> ast.expr:
        function = FUNCTIONS[ref.target]
        params = list(function.params)
        if function.stochastic:
            params = [p for p in params if p.kind != "key"]
        if isinstance(node, s.Call) and isinstance(node.func, s.Attribute):
            # An array's method: `x.mean(0)` is `mean(x, 0)`, and `x.reshape(T, -1)` gives its sizes one by one.
            if len(args) > 1 and params[1].kind == "shape":
                args = [ast.Tuple(args, ast.Load())]
            args = [self.expr(node.func.value, pre, line=line), *args]
        bound: dict[str, ast.expr] = {}
        for param, value in zip(params, args):
            bound[param.name] = value
        if isinstance(node, s.Call):
            for kw in node.keywords:
                bound[kw.name] = self.expr(kw.value, pre, line=line, as_tuple=True)
        for param in function.params:
            given = bound.get(param.name)
            if param.kind == "shape" and isinstance(given, ast.List):
                bound[param.name] = ast.Tuple(given.elts, ast.Load())
            if param.kind == "dtype" and isinstance(given, ast.Name) and given.id in DTYPES:
                bound[param.name] = dtype_ast(given.id)
        if function.stochastic:
            bound["key"] = _name(self.in_method.site_keys[id(node)])
        if function.name == "einsum":
            return _call(dotted(function.target), args)
        return function.python(bound)

    def map_call(self, node: s.Call, ref: CallRef, args: list[ast.expr], pre: list, line: int) -> ast.expr:
        piped = len(args) - len(node.args)
        callee_node = node.args[0]
        arrays = args[:piped] + args[piped + 1 :]
        inner = ref.inner
        axes = {kw.name: self.expr(kw.value, pre, line=line, as_tuple=True) for kw in node.keywords}
        if inner is None or not (inner.stochastic or inner.call_inference or isinstance(callee_node, s.Call)):
            function = self.callable(callee_node, inner) if inner is not None else self.expr(callee_node, pre, line=line)
            return _call(_call(dotted("jax.vmap"), [function], **axes), arrays)
        # A lambda: the mapped callable needs a key per element, inference, or extra arguments.
        element_names = [self.names.fresh(f"{_base(a)}_i") for a in arrays]
        element_args: list[ast.expr] = [_name(n) for n in element_names]
        lam_args = [ast.arg(n) for n in element_names]
        mapped = list(arrays)
        inner_pre: list = []
        if isinstance(callee_node, s.Call):
            extra = [self.expr(a, inner_pre, line=line) for a in callee_node.args]
            body = self.call(callee_node, callee_node.func, element_args + extra, inner_pre, line, None)
        else:
            if inner.stochastic:
                site = self.in_method.site_keys[id(callee_node)]
                keys_name = self.names.fresh(f"{site}s")
                length = _mapped_length(arrays, axes.get("in_axes"))
                if "in_axes" in axes:
                    # The keys are mapped over their leading axis, next to the arrays.
                    given = axes["in_axes"]
                    per_array = given.elts if isinstance(given, ast.Tuple) else [given] * len(arrays)
                    axes["in_axes"] = ast.Tuple([*per_array, ast.Constant(0)], ast.Load())
                split = _call(dotted("jax.random.split"), [_name(site), length])
                value = ast.IfExp(ast.Compare(_name(site), [ast.Is()], [ast.Constant(None)]), ast.Constant(None), split)
                pre.append(_stmt(_assign(keys_name, value), line))
                lam_args.append(ast.arg(site))
                mapped.append(_name(keys_name))
            body = self.call(callee_node, callee_node, element_args, inner_pre, line, None)
        lam = ast.Lambda(ast.arguments([], lam_args, None, [], [], None, []), body)
        return _call(_call(dotted("jax.vmap"), [lam], **axes), mapped)


def _mapped_length(arrays: list[ast.expr], in_axes: ast.expr | None) -> ast.expr:
    """`x.shape[axis]` of the first array a map runs over: how many elements it maps."""
    axis: ast.expr = ast.Constant(0)
    array = arrays[0]
    if isinstance(in_axes, ast.Tuple):
        array, axis = next((a, e) for a, e in zip(arrays, in_axes.elts) if not (isinstance(e, ast.Constant) and e.value is None))
    elif in_axes is not None:
        axis = in_axes
    return ast.Subscript(ast.Attribute(array, "shape", ast.Load()), axis, ast.Load())


def _base(value: ast.expr) -> str:
    return value.id if isinstance(value, ast.Name) else "x"


def _is_key(node: s.Expr) -> bool:
    return isinstance(node, s.Name) and node.id == "key"

