"""Checking the statements of a method."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eqxdsl.compiler.check._join import compatible, merge, same_type
from eqxdsl.compiler.check._outputs import StepOutputs
from eqxdsl.compiler.check._relations import (
    branch_facts,
    merge_branches,
    type_mismatch_hint,
)
from eqxdsl.compiler.check._report import (
    POISONED,
    Abort,
    Poisoned,
    any_poisoned,
    check_identifier,
)
from eqxdsl.compiler.check._role import Role
from eqxdsl.compiler.check._scope import Scope, condition_key
from eqxdsl.compiler.check._sites import forget_sites, sites_mark
from eqxdsl.compiler.check._stacks import stack_count
from eqxdsl.compiler.check._walk import (
    always_returns,
    assigned_names,
    presence_names,
)
from eqxdsl.compiler.check.checked import FieldInfo, LoopRef, MethodInfo, Ref, StaticBranch
from eqxdsl.compiler.dims import TensorType, active_facts, assuming
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse.walk import iter_statements
from eqxdsl.compiler.values import Static, TupleValue, UnknownArray, Value, describe

if TYPE_CHECKING:
    pass


class StatementChecker(Role):
    """The statements of a method: assignments, returns, `if` and `for`, checked in order on a scope.

    Reaches the rest of the model's checker through `checker`.
    """

    def check_method(self, info: MethodInfo) -> None:
        if info.checked or info.checking:
            return
        info.checking = True
        previous = self.checker.current
        self.checker.current = info
        scope = Scope({name: tensor for name, tensor in info.params})
        for name, _ in info.params:
            self.model.resolved.setdefault(("param", info.name, name), Ref("local", name))
        returns: list[tuple[s.Return, Value]] = []
        self.block(info.node.body, scope, returns)
        info.locals = set(scope.variables)
        if not returns:
            self.r.error(info.node, f"method {info.name} returns nothing", hint="end it with `return ...`")
        elif not isinstance(info.node.body[-1], s.Return) and not always_returns(info.node.body):
            self.r.error(info.node.body[-1], f"method {info.name} may end without a return", hint="end every path with `return ...`")
        result = returns[0][1] if returns else None
        for stmt, value in returns[1:]:
            merged = merge(result, value)
            if merged is None:
                self.r.error(stmt, f"this return gives {describe(value)}, an earlier one gives {describe(result)}")
            else:
                result = merged
        if info.node.returns is not None and result is not None:
            try:
                declared_items = tuple(self.checker.type_of(t, allow_new_dims=False) for t in info.node.returns)
            except Abort:
                declared_items = None
            if declared_items is not None:
                declared = TupleValue(declared_items) if info.node.returns_tuple else declared_items[0]
                if not compatible(declared, result):
                    self.r.error(returns[-1][0], f"method {info.name} is declared to return {describe(declared)} but returns {describe(result)}", hint=type_mismatch_hint(self.checker, declared, result))
                else:
                    result = declared
        # A method that returns nothing was reported; its callers see an unknown value.
        info.returns = result if result is not None else POISONED
        info.checking = False
        info.checked = True
        self.checker.current = previous

    def block(self, body: tuple, scope: Scope, returns: list) -> None:
        for stmt in body:
            try:
                self.statement(stmt, scope, returns)
            except Abort:
                # The error is reported; what the statement defines is poisoned,
                # so that its later uses are not reported again.
                self.checker.expressions.reach(stmt)
                if isinstance(stmt, s.Assign):
                    for target in stmt.targets:
                        scope.variables.setdefault(target.id, POISONED)
                elif isinstance(stmt, s.Return):
                    returns.append((stmt, POISONED))

    def statement(self, stmt, scope: Scope, returns: list) -> None:
        if isinstance(stmt, s.Assign) and isinstance(stmt.value, s.ListExpr) and not stmt.value.elts and not stmt.unpack:
            # `outputs = []`: a list that a loop over an array fills with one value per step.
            # It is a variable only until that loop replaces it, so `Value` (what expressions are) leaves it out.
            self.assign(stmt, stmt.targets, False, StepOutputs(), scope)  # type: ignore[arg-type]
            self.model.resolved[id(stmt)] = Ref("outputs", stmt.targets[0].id)
        elif isinstance(stmt, s.Assign):
            value = self.checker.expressions.eval(stmt.value, scope)
            self.assign(stmt, stmt.targets, stmt.unpack, value, scope)
        elif isinstance(stmt, s.Append):
            self.append(stmt, scope)
        elif isinstance(stmt, s.AugAssign):
            current = self.checker.expressions.eval(stmt.target, scope)
            right = self.checker.expressions.eval(stmt.value, scope)
            value = self.checker.expressions.binary(stmt, stmt.op, current, right)
            self.assign(stmt, (stmt.target,), False, value, scope)
        elif isinstance(stmt, s.Return):
            values = [self.checker.expressions.eval(v, scope) for v in stmt.values]
            if len(values) == 1:
                returns.append((stmt, values[0]))
            else:
                returns.append((stmt, POISONED if any_poisoned(values) else TupleValue(tuple(values))))
        elif isinstance(stmt, s.If):
            self.if_statement(stmt, scope, returns)
        elif isinstance(stmt, s.For):
            self.for_statement(stmt, scope, returns)

    def assign(self, stmt, targets: tuple[s.Name, ...], unpack: bool, value: Value, scope: Scope) -> None:
        for target in targets:
            self._check_local_name(target, scope)
        if unpack:
            if isinstance(value, (UnknownArray, Poisoned)):
                for target in targets:
                    scope.variables[target.id] = value
                    self.model.resolved[id(target)] = Ref("local", target.id)
                return
            if not isinstance(value, TupleValue):
                self.r.error(stmt, f"cannot unpack {describe(value)} into {len(targets)} names", hint="only tuples (several return values, split(...)) unpack")
                raise Abort
            if len(value.items) != len(targets):
                self.r.error(stmt, f"cannot unpack {len(value.items)} values into {len(targets)} names")
                raise Abort
            for target, item in zip(targets, value.items):
                scope.variables[target.id] = item
                self.model.resolved[id(target)] = Ref("local", target.id)
        else:
            scope.variables[targets[0].id] = value
            self.model.resolved[id(targets[0])] = Ref("local", targets[0].id)

    def _check_local_name(self, target: s.Name, scope: Scope) -> None:
        name = target.id
        if not check_identifier(self.r, target, name, "variable"):
            raise Abort
        if name in scope.variables:
            return
        model = self.model
        clash = None
        if any(h.name == name for h in model.hypers):
            clash = "a hyperparameter"
        elif name in model.constants:
            clash = "a constant"
        elif name in model.fields:
            clash = "a layer" if model.fields[name].kind in ("layer", "stack") else "a parameter"
        elif name in model.methods:
            clash = "a method"
        elif name in model.input_dims:
            clash = "an input dimension"
        if clash:
            self.r.error(target, f"cannot assign to {name!r}: it is {clash} of the model", hint="choose another name for the variable")
            raise Abort

    def if_statement(self, stmt: s.If, scope: Scope, returns: list) -> None:
        test, present = self.condition(stmt.test, scope)
        key = condition_key(stmt.test)
        then_scope = scope.copy()
        then_scope.present = scope.present | present
        then_scope.conditions = scope.conditions | {key}
        else_scope = scope.copy()
        known = test.value if isinstance(test, Static) and test.kind == "bool" else None
        if known is not None:
            self.model.resolved[id(stmt)] = StaticBranch(known)
        then_facts = branch_facts(self.checker, stmt.test, True)
        else_facts = branch_facts(self.checker, stmt.test, False)
        if known is not False:
            with assuming(then_facts or active_facts()):
                self.block(stmt.body, then_scope, returns)
        if known is not True:
            with assuming(else_facts or active_facts()):
                self.block(stmt.orelse, else_scope, returns)
        if known is True:
            branches = [then_scope]
        elif known is False:
            branches = [else_scope]
        else:
            branches = [then_scope, else_scope]
        merged: dict[str, Value] = {}
        for name in set().union(*(b.variables for b in branches)):
            values = [b.variables[name] for b in branches if name in b.variables]
            if len(values) < len(branches):
                continue
            result = values[0]
            for other in values[1:]:
                combined = merge_branches(merge, result, other, then_facts, else_facts)
                if combined is None:
                    self.r.error(stmt, f"{name} is {describe(result)} after one branch and {describe(other)} after the other")
                    combined = result
                result = combined
            merged[name] = result
        scope.variables = merged

    def _settles_late(self, stack) -> bool:
        """Whether the checker can walk every copy of a stack whose copies change shape."""
        return self.checker.stacks.walkable(stack.count) is not None

    def condition(self, node: s.Expr, scope: Scope) -> tuple[Static, frozenset[str]]:
        """Evaluate a static condition; also returns the layers it proves present."""
        present: set[str] = set()
        for name in presence_names(node):
            if name in self.model.fields:
                present.add(name)
        return Static("bool", self.checker.expressions.truth(node, scope, True)), frozenset(present)

    def append(self, stmt: s.Append, scope: Scope) -> None:
        """`outputs.append(value)` in a loop over an array: one value per step, stacked after the loop."""
        name = stmt.target.id
        if scope.appends is None:
            self.r.error(stmt, f"{name}.append(...) collects the steps of a loop over an array, but it is not in one", hint="loops over stacks and tuples run in Python: assign to variables instead")
            raise Abort
        if name in scope.appends:
            self.r.error(stmt, f"{name} is appended to twice in one step", hint="append one value per step; collect others in lists of their own")
            raise Abort
        # Until its value is known, and if it fails: the loop's output all the same, of unknown type.
        scope.appends[name] = POISONED
        current = scope.variables.get(name)
        if not isinstance(current, StepOutputs):
            what = describe(current) if current is not None else "not defined"
            self.r.error(stmt.target, f"{name} is {what}, not a list made by `{name} = []` before the loop", hint=f"write `{name} = []` before the loop")
            raise Abort
        value = self.checker.expressions.eval(stmt.value, scope)
        if not isinstance(value, (TensorType, Poisoned)):
            self.r.error(stmt.value, f"a loop's outputs are arrays, not {describe(value)}", hint="append an array; a value fixed at build time is the same at every step")
            raise Abort
        self.model.resolved[id(stmt.target)] = Ref("local", name)
        scope.appends[name] = value

    def _walks_copies(self, iterable: s.Expr, scope: Scope) -> bool:
        """Whether a loop runs in Python copy by copy (over tuples, slices, zip, enumerate) rather than as a scan."""
        if isinstance(iterable, s.Call) and isinstance(iterable.func, s.Name):
            return iterable.func.id in ("zip", "enumerate", "range")
        if isinstance(iterable, s.Subscript) and isinstance(iterable.value, s.Name):
            info = self.model.fields.get(iterable.value.id)
            return iterable.value.id not in scope.variables and info is not None and info.kind == "stack"
        if isinstance(iterable, s.TupleExpr):
            return True
        if isinstance(iterable, s.Name) and iterable.id not in scope.variables:
            info = self.model.fields.get(iterable.id)
            if info is not None:
                return info.kind == "stack" and bool(info.copies)
            static = self.checker.lookup_static(iterable.id)
            return static is not None and static.kind == "ints"
        return False

    def for_statement(self, stmt: s.For, scope: Scope, returns: list) -> None:
        """A `for` loop: over the copies of a stack or over a tuple (walked copy by copy), or over an array's leading axis."""
        target = stmt.target
        iterable = stmt.iter
        if self._walks_copies(iterable, scope) or len(stmt.targets) > 1:
            plain = iterable.id if isinstance(iterable, s.Name) and iterable.id in self.model.fields else None
            self.checker.stacks.loop(stmt, scope, returns, plain_stack=plain)
            return
        stack = self._looped_stack(iterable, scope)
        if target.id in scope.variables:
            self.r.error(target, f"the loop variable {target.id!r} is already a variable of this method", hint="choose a new name for the loop variable")
            raise Abort
        self._check_local_name(target, scope)
        before = dict(scope.variables)
        if stack is not None:
            self._loop_over_stack(stmt, stack, scope, returns, before)
        else:
            self._loop_over_array(stmt, scope, before)

    def _looped_stack(self, iterable: s.Expr, scope: Scope) -> FieldInfo | None:
        """The stack a loop runs over (`for layer in blocks:`), or None when it runs over something else."""
        if not (isinstance(iterable, s.Name) and iterable.id not in scope.variables and iterable.id in self.model.fields):
            return None
        stack = self.model.fields[iterable.id]
        self.checker.expressions.check_present(iterable, stack.name, scope)
        if stack.kind != "stack":
            self.r.error(iterable, f"cannot loop over {iterable.id}: it is not a stack", hint="a stack is declared with `name = repeat n: Layer(...)`")
            raise Abort
        self.model.resolved[id(iterable)] = Ref("field", stack.name)
        return stack

    def _loop_over_stack(self, stmt: s.For, stack: FieldInfo, scope: Scope, returns: list, before: dict[str, Value]) -> None:
        """Check the body for the first copy, and once more for the others when the first changes a type.

        `before` holds the method's variables before the loop; those the body
        assigns are the loop's carries, which it sets in `scope`.
        """
        target = stmt.target
        self.model.resolved[id(target)] = Ref("layer_var", stack.name)
        kind = "scan" if stack.scan else "unrolled"
        first_scope = scope.copy()
        first_scope.stack_vars[target.id] = (stack.name, 0)
        first_sites = sites_mark(self.checker)
        self.block(stmt.body, first_scope, returns)
        assigned = assigned_names(stmt.body)
        carries = tuple(n for n in before if n in assigned)
        changed = [n for n in carries if not same_type(before[n], first_scope.variables[n])]
        length = stack.count
        if changed and stack.scan:
            name = changed[0]
            self.r.error(stmt, f"a scanned stack needs its loop to keep each variable's type, but {name} goes from {describe(before[name])} to {describe(first_scope.variables[name])}", hint="use an unrolled stack (`repeat n:` without scan), or make the copies map a shape to itself")
        if changed and not stack.scan and stack_count(stack).value != 1:
            if self._settles_late(stack):
                # The copies change shape after the first: check every one of them.
                forget_sites(self.checker, first_sites)
                self.checker.stacks.loop(stmt, scope, returns, plain_stack=stack.name)
                return
            rest_scope = first_scope.copy()
            rest_scope.variables = {**first_scope.variables}
            rest_scope.stack_vars[target.id] = (stack.name, 1)
            for name in list(rest_scope.variables):
                if name not in before:
                    del rest_scope.variables[name]
            self.block(stmt.body, rest_scope, returns)
            for name in carries:
                if not same_type(first_scope.variables[name], rest_scope.variables.get(name)):
                    self.r.error(stmt, f"the copies of {stack.name} after the first change {name} from {describe(first_scope.variables[name])} to {describe(rest_scope.variables.get(name))}, and its count {length} is not known in the spec", hint="give the count a default, so the compiler can check every copy")
                    break
            final = rest_scope
        else:
            final = first_scope
        for name in carries:
            scope.variables[name] = final.variables[name]
        self.model.resolved[id(stmt)] = LoopRef(kind, carries, stack=stack.name, length=length)

    def _loop_over_array(self, stmt: s.For, scope: Scope, before: dict[str, Value]) -> None:
        """A loop over an array's leading axis (it becomes `jax.lax.scan`): its carries keep their types, and
        `outputs.append(value)` stacks each step's value. `before` as for `_loop_over_stack`."""
        target = stmt.target
        iterable = stmt.iter
        array = self.checker.expressions.eval(iterable, scope)
        if isinstance(array, UnknownArray):
            raise Abort
        if not isinstance(array, (TensorType, Poisoned)) or isinstance(array, TensorType) and array.rank == 0:
            self.r.error(iterable, f"a loop runs over a stack of layers or over the leading axis of an array, not {describe(array)}")
            raise Abort
        body_scope = scope.copy()
        body_scope.appends = {}
        nested = [x for x in iter_statements(stmt.body) if isinstance(x, s.Append) and all(x is not top for top in stmt.body)]
        if nested:
            self.r.error(nested[0], "append must stand at the top of the loop's body, so that every step appends once", hint="compute the value with `a if flag else b` and append it unconditionally")
            for append in nested:
                scope.variables[append.target.id] = POISONED
            raise Abort
        # Over a poisoned array the body is still checked, for its own mistakes.
        body_scope.variables[target.id] = POISONED if isinstance(array, Poisoned) else TensorType(array.dtype, array.shape[1:])
        self.model.resolved[id(target)] = Ref("local", target.id)
        self.block(stmt.body, body_scope, [])
        if any(isinstance(x, s.Return) for x in iter_statements(stmt.body)):
            self.r.error(stmt, "a loop over an array cannot return from inside (it becomes jax.lax.scan)", hint="assign to a variable in the loop and return after it")
        assigned = assigned_names(stmt.body)
        carries = tuple(n for n in before if n in assigned)
        for name in carries:
            if not same_type(before[name], body_scope.variables[name]):
                self.r.error(stmt, f"a loop over an array must keep each variable's type, but {name} goes from {describe(before[name])} to {describe(body_scope.variables[name])}")
                raise Abort
            scope.variables[name] = body_scope.variables[name]
        outputs = tuple(body_scope.appends)
        for name, value in body_scope.appends.items():
            scope.variables[name] = value if isinstance(value, Poisoned) or isinstance(array, Poisoned) else TensorType(value.dtype, (array.shape[0], *value.shape))
        if not carries and not outputs:
            self.r.error(stmt, "this loop changes no variable defined before it, so it has no effect", hint="assign the loop's result to a variable defined before the loop, or collect each step's value with outputs.append(value)")
        if not isinstance(array, Poisoned):
            self.model.resolved[id(stmt)] = LoopRef("array", carries, length=array.shape[0], outputs=outputs)
