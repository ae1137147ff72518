"""Lowering the loops that run as `jax.lax.scan`: over a stack built for scanning
(`repeat n scan:`), or over the leading axis of an array.

The loop's body becomes a private step method of the model, and the loop one call:

    blocks_params, blocks_static = eqx.partition(self.blocks, eqx.is_array)
    x, _ = jax.lax.scan(lambda x, b_params: self._blocks_step(x, b_params, blocks_static), x, blocks_params)
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from eqxdsl.compiler.check.checked import CallRef, LoopRef, Ref
from eqxdsl.compiler.library.functions import dotted
from eqxdsl.compiler.lower import ir
from eqxdsl.compiler.lower._ast import _assign, _call, _dim_ast, _name, _self, _stmt
from eqxdsl.compiler.lower._loops import outputs_target, step_outputs
from eqxdsl.compiler.lower._sites import walk_nodes
from eqxdsl.compiler.parse import syntax as s

if TYPE_CHECKING:
    from eqxdsl.compiler.lower._expressions import ExprLowerer


def scan_loop(lowerer: ExprLowerer, stmt: s.For, loop: LoopRef, inner_sites: list[tuple[int, str]]) -> list[ir.Statement]:
    """The statements that stand for `stmt`, a loop the checker resolved to `loop` (a scan over a stack or an array).

    `inner_sites` are the stochastic calls of the loop's body, each with the name of
    its key: every step gets its own key, split off before the scan.
    """
    return _Scan(lowerer, stmt, loop).lower(inner_sites)


class _Scan:
    """One loop lowered to `jax.lax.scan`; `out` gathers the statements that replace it, in order."""

    def __init__(self, lowerer: ExprLowerer, stmt: s.For, loop: LoopRef):
        self.lowerer = lowerer
        self.stmt = stmt
        self.loop = loop
        self.target = stmt.target.id
        self.line = stmt.pos.line
        self.out: list[ir.Statement] = []
        # What the scan runs over, stacked along the leading axis, and the step's name for one slice of each.
        self.xs: list[ast.expr] = []
        self.element_names: list[str] = []
        # The static part of a scanned stack, combined with each copy's parameters in the step.
        self.static_name: str | None = None
        # (the stack's State, the step's State of one copy) when the scan runs over the stack's state too.
        self.scanned_state: tuple[str, str] | None = None
        self.carries = list(loop.carries)
        callees = [_callee_name(node) for node in walk_nodes(stmt.body) if _is_stateful_call(lowerer.resolved.get(id(node)))]
        # Each copy of a scanned stack has its own slice of the state, scanned over
        # beside its parameters; any other stateful layer's state is carried.
        self.scans_copy_state = loop.kind == "scan" and self.target in callees
        if any(callee != self.target or loop.kind != "scan" for callee in callees):
            self.carries.append("state")
        self.step_name = lowerer.owner.method_names.fresh(f"_{loop.stack or self.target}_step")

    def lower(self, inner_sites: list[tuple[int, str]]) -> list[ir.Statement]:
        """The statements before the scan, the scan itself and, for a scanned state, the state's update."""
        length = self._over_stack() if self.loop.kind == "scan" else self._over_array()
        self._split_keys(inner_sites, length)
        carry_arg = self.carries[0] if len(self.carries) == 1 else self.lowerer.names.fresh("carry")
        xs_arg = self.element_names[0] if len(self.element_names) == 1 else self.lowerer.names.fresh("xs")
        free = self._step_method(carry_arg, xs_arg)
        self._scan(carry_arg, xs_arg, free)
        if self.scanned_state is not None:
            updated = _call(ast.Attribute(_name("state"), "update", ast.Load()), [_name(self.scanned_state[0])])
            self.out.append(_stmt(_assign("state", updated), self.line))
        return self.out

    def _over_stack(self) -> ast.expr:
        """Splits the stack into its arrays (scanned over) and the rest; the number of copies."""
        names, loop, line = self.lowerer.names, self.loop, self.line
        assert loop.stack is not None  # a scan runs over a stack
        copy_state = names.fresh(f"{self.target}_state") if self.scans_copy_state else None
        params_name = names.fresh(f"{loop.stack}_params")
        self.static_name = names.fresh(f"{loop.stack}_static")
        partition = _call(dotted("eqx.partition"), [_self(loop.stack), dotted("eqx.is_array")])
        self.out.append(_stmt(_assign([params_name, self.static_name], partition), line))
        self.xs.append(_name(params_name))
        self.element_names.append(names.fresh(f"{self.target}_params"))
        if copy_state is not None:
            stack_state = names.fresh(f"{loop.stack}_state")
            substate = _call(ast.Attribute(_name("state"), "substate", ast.Load()), [_self(loop.stack)])
            self.out.append(_stmt(_assign(stack_state, substate), line))
            self.xs.append(_name(stack_state))
            self.element_names.append(copy_state)
            self.lowerer.stack_states[self.target] = copy_state
            self.scanned_state = (stack_state, copy_state)
        owner = self.lowerer.owner
        if loop.length is not None and not (loop.length.symbols - owner.hyper_names):
            return _dim_ast(loop.length, {n: f"self.{n}" for n in owner.hyper_names})
        leaves = _call(dotted("jax.tree_util.tree_leaves"), [_name(params_name)])
        return _call(_name("len"), [ast.Subscript(leaves, ast.Constant(0), ast.Load())])

    def _over_array(self) -> ast.expr:
        """Names the array the loop runs over, unless it is a name already; its leading size."""
        sequence = self.lowerer.expr(self.stmt.iter, self.out, line=self.line)
        if not isinstance(sequence, ast.Name):
            name = self.lowerer.names.fresh(f"{self.target}s")
            self.out.append(_stmt(_assign(name, sequence), self.line))
            sequence = _name(name)
        self.xs.append(sequence)
        self.element_names.append(self.target)
        return ast.Subscript(ast.Attribute(sequence, "shape", ast.Load()), ast.Constant(0), ast.Load())

    def _split_keys(self, inner_sites: list[tuple[int, str]], length: ast.expr) -> None:
        """One key per step for each stochastic call of the body, scanned over beside the other inputs."""
        for _, key_name in inner_sites:
            keys_name = self.lowerer.names.fresh(f"{key_name}s")
            split = _call(dotted("jax.random.split"), [_name(key_name), length])
            value = self.lowerer.in_method.split_key(key_name, split, ast.Constant(None))
            self.out.append(_stmt(_assign(keys_name, value)))
            self.xs.append(_name(keys_name))
            self.element_names.append(key_name)

    def _step_method(self, carry_arg: str, xs_arg: str) -> list[str]:
        """Adds the step method, `(carry, xs, *free) -> (carry, per-step output)`; returns its free variables.

        The step is a private method: what the body reads from the method's
        variables is passed to it explicitly.
        """
        lowerer, loop = self.lowerer, self.loop
        body = self._step_body(carry_arg, xs_arg)
        free = _free_variables(lowerer, self.stmt, self.target)
        if self.static_name is not None:
            free.insert(0, self.static_name)
        if lowerer.in_method.info.stochastic or lowerer.in_method.info.call_inference:
            free.append("inference")
        args = tuple(ir.Arg(n) for n in [carry_arg, xs_arg, *free])
        kind = f"the layers of {loop.stack}" if loop.stack else f"the leading axis of the loop in {lowerer.in_method.public_name}"
        docstring = f"One step of the scan over {kind} (line {self.line} of the spec)."
        lowerer.in_method.extra_methods.append(ir.Method(self.step_name, args, tuple(body), docstring=docstring))
        return free

    def _step_body(self, carry_arg: str, xs_arg: str) -> list[ir.Statement]:
        """Unpacks the carry and the slices, runs the loop's body, returns the new carry and the step's output."""
        lowerer = self.lowerer
        body: list[ir.Statement] = []
        if len(self.carries) > 1:
            body.append(_stmt(_assign(self.carries, _name(carry_arg))))
        if len(self.element_names) > 1:
            body.append(_stmt(_assign(self.element_names, _name(xs_arg))))
        if self.static_name is not None:
            assert self.loop.stack is not None
            combined = _call(dotted("eqx.combine"), [_name(self.element_names[0]), _name(self.static_name)])
            body.append(_stmt(_assign(self.target, combined)))
            lowerer.stack_vars[self.target] = self.loop.stack
        enclosing, lowerer.current_loop = lowerer.current_loop, self.stmt
        body.extend(lowerer.block(self.stmt.body))
        lowerer.current_loop = enclosing
        if self.scanned_state is not None:
            per_step: ast.expr = _name(self.scanned_state[1])
        else:
            per_step = step_outputs(lowerer, self.loop) or ast.Constant(None)
        body.append(_stmt(ast.Return(ast.Tuple([self._carry_value(), per_step], ast.Load()))))
        return body

    def _scan(self, carry_arg: str, xs_arg: str, free: list[str]) -> None:
        """`carry, outputs = jax.lax.scan(lambda carry, xs: self._step(carry, xs, *free), init, xs)`."""
        names = self.lowerer.names
        lam_args = ast.arguments([], [ast.arg(carry_arg), ast.arg(xs_arg)], None, [], [], None, [])
        step_call = _call(_self(self.step_name), [_name(carry_arg), _name(xs_arg), *[_name(n) for n in free]])
        xs_value = self.xs[0] if len(self.xs) == 1 else ast.Tuple(self.xs, ast.Load())
        scan = _call(dotted("jax.lax.scan"), [ast.Lambda(lam_args, step_call), self._carry_value(), xs_value])
        if self.scanned_state is not None:
            per_step_target: ast.expr = ast.Name(self.scanned_state[0], ast.Store())
        else:
            per_step_target = outputs_target(self.loop) or ast.Name(names.fresh("_"), ast.Store())
        carries = self.carries
        carry_target: ast.expr
        if len(carries) == 1:
            carry_target = ast.Name(carries[0], ast.Store())
        elif carries:
            carry_target = ast.Tuple([ast.Name(c, ast.Store()) for c in carries], ast.Store())
        else:
            carry_target = ast.Name(names.fresh("_"), ast.Store())
        result_target = ast.Tuple([carry_target, per_step_target], ast.Store())
        self.out.append(_stmt(ast.Assign([result_target], scan, lineno=0), self.line))

    def _carry_value(self) -> ast.expr:
        """The carry as the step returns it and the scan starts it: a name, a tuple of them, or None."""
        if len(self.carries) == 1:
            return _name(self.carries[0])
        if self.carries:
            return ast.Tuple([_name(c) for c in self.carries], ast.Load())
        return ast.Constant(None)


def _free_variables(lowerer: ExprLowerer, stmt: s.For, target: str) -> list[str]:
    """Variables of the method that a loop body reads but does not assign."""
    assigned = {target}
    read: list[str] = []
    for node in walk_nodes(stmt.body):
        if isinstance(node, s.Assign):
            assigned.update(t.id for t in node.targets)
        elif isinstance(node, (s.AugAssign, s.Append)):
            assigned.add(node.target.id)
        elif isinstance(node, s.Name):
            ref = lowerer.resolved.get(id(node))
            local = isinstance(ref, Ref) and (ref.kind == "local" or ref.kind == "dim" and node.id not in lowerer.model.init_dims)
            if local and node.id not in read:
                read.append(node.id)
    return [n for n in read if n not in assigned]


def _is_stateful_call(ref: object) -> bool:
    return isinstance(ref, CallRef) and ref.stateful


def _callee_name(node: s.Node) -> str | None:
    """The name called by a call node, or by a pipeline step that is a bare name; None for other callees."""
    func = node.func if isinstance(node, s.Call) else node
    return func.id if isinstance(func, s.Name) else None
