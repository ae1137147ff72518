"""Lowering the loops that run in Python (over stacks, their slices, tuples, `zip` and
`enumerate`) and the per-step outputs of loops over arrays (`hs.append(h)`).
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from eqxdsl.compiler.check.checked import LoopRef, Ref
from eqxdsl.compiler.library.functions import dotted
from eqxdsl.compiler.lower import ir
from eqxdsl.compiler.lower._ast import _assign, _call, _compound, _name, _self, _stmt
from eqxdsl.compiler.lower._sites import walk_nodes
from eqxdsl.compiler.parse import syntax as s

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from eqxdsl.compiler.lower._expressions import ExprLowerer


def unrolled_loop(lowerer: ExprLowerer, stmt: s.For, inner_sites: list[tuple[int, str]]) -> list[ir.Statement]:
    """`for block, d in zip(self.blocks, self.dilations):`, with one key per step zipped in for stochastic calls."""
    line = stmt.pos.line
    targets = stmt.targets or (stmt.target,)
    for target in targets:
        ref = lowerer.resolved.get(id(target))
        if isinstance(ref, Ref) and ref.kind == "layer_var":
            lowerer.stack_vars[target.id] = ref.name
    body = lowerer.block(stmt.body)
    sequence = _sequence(lowerer, stmt.iter)
    names: list[ast.expr] = [ast.Name(t.id, ast.Store()) for t in targets]
    own = names[0] if len(names) == 1 else ast.Tuple(names, ast.Store())
    if not inner_sites:
        return [_compound(ast.For(own, sequence, [ast.Pass()], []), line, body)]
    out: list[ir.Statement] = []
    count = _count(sequence)
    keys: list[ast.expr] = []
    key_names: list[ast.expr] = []
    for _, key_name in inner_sites:
        keys_name = lowerer.names.fresh(f"{key_name}s")
        split = _call(dotted("jax.random.split"), [_name(key_name), count])
        nones = ast.BinOp(ast.Tuple([ast.Constant(None)], ast.Load()), ast.Mult(), count)
        out.append(_stmt(_assign(keys_name, lowerer.in_method.split_key(key_name, split, nones))))
        keys.append(_name(keys_name))
        key_names.append(ast.Name(key_name, ast.Store()))
    if _is_call(sequence, "zip"):
        pattern = ast.Tuple([*names, *key_names], ast.Store())
        iterator = _call(_name("zip"), [*sequence.args, *keys])
    else:
        pattern = ast.Tuple([own, *key_names], ast.Store())
        iterator = _call(_name("zip"), [sequence, *keys])
    return out + [_compound(ast.For(pattern, iterator, [ast.Pass()], []), line, body)]


def _is_call(node: ast.expr, name: str) -> TypeIs[ast.Call]:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _sequence(lowerer: ExprLowerer, node: s.Expr) -> ast.expr:
    """What the loop runs over: `self.blocks`, `self.blocks[1:]`, `self.dilations`, `zip(...)`, ..."""
    if isinstance(node, s.Call) and isinstance(node.func, s.Name) and node.func.id in ("zip", "enumerate", "range"):
        if node.func.id == "range":
            return _call(_name("range"), [lowerer.expr(a, []) for a in node.args])
        return _call(_name(node.func.id), [_sequence(lowerer, a) for a in node.args])
    base = node.value if isinstance(node, s.Subscript) else node
    ref = lowerer.resolved.get(id(base))
    if isinstance(ref, Ref) and ref.kind == "field":
        stack = _self(ref.name)
        if isinstance(node, s.Subscript):
            return ast.Subscript(stack, lowerer.index_item(node.index[0], [], node.pos.line), ast.Load())
        return stack
    return lowerer.expr(node, [])


def _count(sequence: ast.expr) -> ast.expr:
    """The number of steps of a loop over `sequence`."""
    if _is_call(sequence, "zip") or _is_call(sequence, "enumerate"):
        return _count(sequence.args[0])
    if _is_call(sequence, "range"):
        return sequence.args[0]
    return _call(_name("len"), [sequence])


# -- per-step outputs of loops over arrays ----------------------------------------------


def append_statement(lowerer: ExprLowerer, stmt: s.Append) -> list[ir.Statement]:
    """`hs.append(value)` in a scan's step: the value is returned as this step's output.

    A name that the rest of the step leaves alone is returned as it is; any
    other value is kept in a variable of its own where the append stands.
    """
    value = lowerer.expr(stmt.value, [], line=stmt.pos.line)
    name = stmt.target.id
    if isinstance(value, ast.Name) and not _assigned_after(lowerer.current_loop, stmt, value.id):
        lowerer.appended[name] = value
        return []
    item = lowerer.names.fresh(f"{name}_step")
    lowerer.appended[name] = _name(item)
    return [_stmt(_assign(item, value), stmt.pos.line)]


def _assigned_after(loop: s.For | None, stmt: s.Append, name: str) -> bool:
    if loop is None:
        return True
    body = list(loop.body)
    later = body[next(i for i, x in enumerate(body) if x is stmt) + 1 :]
    for node in walk_nodes(tuple(later)):
        if isinstance(node, s.Assign) and any(t.id == name for t in node.targets):
            return True
        if isinstance(node, s.AugAssign) and node.target.id == name:
            return True
    return False


def step_outputs(lowerer: ExprLowerer, loop: LoopRef) -> ast.expr | None:
    """A scan step's per-step output: the appended value, or a tuple of them; None without appends."""
    values = [lowerer.appended[name] for name in loop.outputs]
    if not values:
        return None
    return values[0] if len(values) == 1 else ast.Tuple(values, ast.Load())


def outputs_target(loop: LoopRef) -> ast.expr | None:
    """Where the scan's stacked outputs land: `hs`, or `(hs, cs)`."""
    if not loop.outputs:
        return None
    names: list[ast.expr] = [ast.Name(n, ast.Store()) for n in loop.outputs]
    return names[0] if len(names) == 1 else ast.Tuple(names, ast.Store())
