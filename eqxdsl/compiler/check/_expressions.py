"""Checking expressions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eqxdsl.compiler.check._join import merge
from eqxdsl.compiler.check._logic import LOGIC_WORDS, compare_arrays, invert, involves_arrays, logic_arrays
from eqxdsl.compiler.check._relations import (
    bound_hint,
    branch_facts,
    error_hint,
    merge_branches,
    size_mismatch_hint,
)
from eqxdsl.compiler.check._report import (
    POISONED,
    Abort,
    Poisoned,
    any_poisoned,
    did_you_mean,
)
from eqxdsl.compiler.check._role import Role
from eqxdsl.compiler.check._scope import Scope, condition_key
from eqxdsl.compiler.check._sites import record
from eqxdsl.compiler.check._static import static_binary, static_compare
from eqxdsl.compiler.check._walk import names_in
from eqxdsl.compiler.check.checked import CallSite, FieldInfo, Ref, StaticBranch
from eqxdsl.compiler.dims import (
    DTYPES,
    Dim,
    TensorType,
    active_facts,
    assuming,
    proven_at_most,
    proven_equal,
)
from eqxdsl.compiler.library.functions import ACTIVATIONS, FUNCTIONS, METHODS, broadcast
from eqxdsl.compiler.library.layers import LayerInfo
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse.walk import handler
from eqxdsl.compiler.values import (
    ShapeError,
    Static,
    TupleValue,
    UnknownArray,
    Value,
    describe,
    is_array,
    static_int,
)

if TYPE_CHECKING:
    pass


class ExpressionChecker(Role):
    """Expressions: names, literals, operators, attributes, subscripts; calls are handed to `CallChecker`.

    Reaches the rest of the model's checker through `checker`.
    """

    def eval(self, node: s.Expr, scope: Scope | None, allow_symbols: bool = True) -> Value:
        """The value of an expression; in a method (`scope` given), poisoned once an error in it was reported.

        In a value fixed at build time (`scope` None) an error raises `Abort` instead.
        """
        method = handler(type(self), "_eval_", type(node))
        try:
            if method is None:
                self.r.error(node, "this expression is not allowed here")
                raise Abort
            value = method(self, node, scope, allow_symbols)
        except Abort:
            if scope is None:
                raise
            self.reach(node)
            return POISONED
        if self.spec.recorder is not None:
            self.spec.recorder.record(node, value)
        return value

    def reach(self, node: s.Node) -> None:
        """Count the fields that `node` names as called: its check stopped at an error, so they could not be."""
        self.checker.reached.update(name for name in names_in(node) if name in self.model.fields)

    def _eval_Constant(self, node: s.Constant, scope, allow_symbols) -> Value:
        v = node.value
        if v is None:
            return Static("none", None)
        if isinstance(v, bool):
            return Static("bool", v)
        if isinstance(v, int):
            return static_int(v)
        if isinstance(v, float):
            return Static("float", v)
        return Static("str", v)

    def _eval_Name(self, node: s.Name, scope: Scope | None, allow_symbols) -> Value:
        name = node.id
        resolved = self.model.resolved
        if scope is not None and name in scope.variables:
            resolved[id(node)] = Ref("local", name)
            return scope.variables[name]
        if scope is not None and name in scope.stack_vars:
            self.r.error(node, f"the loop variable {name} is a layer: call it, as in {name}(x)")
            raise Abort
        found = self.checker.find_static(name)
        if found is not None:
            if not allow_symbols:
                self.r.error(node, f"a default must be a literal, not the name {name!r}")
                raise Abort
            kind, static = found
            if kind == "dim" and scope is not None and self.checker.current is not None:
                self.checker.current.used_dims.setdefault(name, node)
            resolved[id(node)] = Ref(kind, name)
            return static
        if name in self.model.fields:
            info = self.model.fields[name]
            if scope is None:
                self.r.error(node, f"{name} is a layer or parameter; it cannot be used in a value fixed at build time")
                raise Abort
            self.check_present(node, name, scope)
            resolved[id(node)] = Ref("field", name)
            if info.kind in ("param", "buffer"):
                # No tensor: its type had an error, already reported.
                return info.tensor if info.tensor is not None else POISONED
            self.r.error(node, f"{name} is a layer: call it, as in {name}(x)", hint="or map it over an axis: map(" + name + ", x)")
            raise Abort
        if name in ACTIVATIONS:
            resolved[id(node)] = Ref("function", name)
            return Static("fn", name)
        if name in DTYPES:
            resolved[id(node)] = Ref("dtype", name)
            return Static("dtype", name)
        if name == "key" and self.checker.current is not None:
            self.r.error(node, "key is managed by the compiler; it may only be passed to a sampling function such as normal(key, shape)")
            raise Abort
        if name in self.checker.broken or name in self.spec.failed_imports:
            raise Abort
        candidates = list(scope.variables) if scope else []
        candidates += self.checker.static_names() + list(self.model.fields) + list(FUNCTIONS) + list(self.model.methods)
        self.r.error(node, f"unknown name {name!r}", hint=did_you_mean(name, candidates))
        raise Abort

    def check_present(self, node: s.Node, name: str, scope: Scope) -> None:
        info = self.model.fields[name]
        if not info.conditional:
            return
        conditions = self.checker.field_conditions.get(name, frozenset())
        if name in scope.present or (conditions and conditions <= scope.conditions):
            return
        if any(self.checker.field_conditions.get(other) == conditions for other in scope.present):
            # Guarded by a layer defined under the same condition.
            return
        self.r.error(node, f"{name} exists only when its `if` condition holds; here it may be None", hint=f"guard this use: `if {name}:` or `... if {name} else ...`")
        raise Abort

    def _eval_TupleExpr(self, node: s.TupleExpr, scope, allow_symbols) -> Value:
        return self._sequence(node.elts, scope, allow_symbols)

    def _eval_ListExpr(self, node: s.ListExpr, scope, allow_symbols) -> Value:
        return self._sequence(node.elts, scope, allow_symbols)

    def _sequence(self, elts, scope, allow_symbols) -> Value:
        values = [self.eval(e, scope, allow_symbols) for e in elts]
        if any_poisoned(values):
            return POISONED
        statics = [v for v in values if isinstance(v, Static)]
        if values and len(statics) == len(values) and all(v.kind == "int" for v in statics):
            return Static("ints", tuple(v.value for v in statics))
        if len(statics) == len(values):
            if any(not v.known for v in statics):
                return Static("tuple", None)
            return Static("tuple", tuple(values))
        return TupleValue(tuple(values))

    def _eval_BinOp(self, node: s.BinOp, scope, allow_symbols) -> Value:
        left = self.eval(node.left, scope, allow_symbols)
        right = self.eval(node.right, scope, allow_symbols)
        return self.binary(node, node.op, left, right)

    def binary(self, node: s.Node, op: str, left: Value, right: Value) -> Value:
        if any_poisoned((left, right)):
            return POISONED
        if op in LOGIC_WORDS:
            return logic_arrays(self.checker, node, op, left, right)
        if isinstance(left, Static) and isinstance(right, Static):
            return static_binary(self.r, node, op, left, right)
        if op == "@":
            return self._matmul(node, left, right)
        if op not in ("+", "-", "*", "/", "//", "%", "**"):
            self.r.error(node, f"operator {op} is not defined for arrays")
            raise Abort
        for side in (left, right):
            if isinstance(side, Static) and side.kind not in ("int", "float", "bool"):
                self.r.error(node, f"cannot apply {op} to {describe(left)} and {describe(right)}")
                raise Abort
            if isinstance(side, TupleValue):
                self.r.error(node, f"cannot apply {op} to a tuple ({describe(side)})", hint="unpack it first: a, b = ...")
                raise Abort
        try:
            result = broadcast(left, right)
        except ShapeError as error:
            self.r.error(node, f"{op}: {error.message}", hint=error_hint(self.checker, error))
            raise Abort from None
        if op == "/" and isinstance(result, TensorType) and not result.is_floating:
            result = TensorType("f32", result.shape)
        return result

    def _matmul(self, node: s.Node, left: Value, right: Value) -> Value:
        if not is_array(left) or not is_array(right):
            self.r.error(node, f"@ multiplies arrays, not {describe(left)} and {describe(right)}")
            raise Abort
        if isinstance(left, UnknownArray) or isinstance(right, UnknownArray):
            return UnknownArray()
        if left.rank == 0 or right.rank == 0:
            self.r.error(node, f"@ needs arrays of rank 1 or more, got {left} and {right}", hint="use * to scale by a scalar")
            raise Abort
        a_inner = left.shape[-1]
        b_inner = right.shape[0] if right.rank == 1 else right.shape[-2]
        if not proven_equal(a_inner, b_inner):
            axis = "axis 0" if right.rank == 1 else f"axis {right.rank - 2}"
            hint = size_mismatch_hint(self.checker, a_inner, b_inner) or "the inner sizes of a matrix product must agree; transpose one side with .T"
            self.r.error(node, f"@: the last axis of the left operand {left} has size {a_inner}, but {axis} of the right operand {right} has size {b_inner}", hint=hint)
            raise Abort
        a_batch = left.shape[:-2] if left.rank >= 2 else ()
        b_batch = right.shape[:-2] if right.rank >= 2 else ()
        try:
            batch: tuple[Dim, ...] = ()
            if a_batch or b_batch:
                joined = broadcast(TensorType("f32", a_batch), TensorType("f32", b_batch))
                assert isinstance(joined, TensorType)  # two arrays of known shape broadcast to one
                batch = joined.shape
        except ShapeError as error:
            self.r.error(node, f"@: batch axes disagree: {error.message}", hint=error_hint(self.checker, error))
            raise Abort from None
        rows = (left.shape[-2],) if left.rank >= 2 else ()
        cols = (right.shape[-1],) if right.rank >= 2 else ()
        dtype = left.dtype if left.dtype == right.dtype else "f32"
        result = TensorType(dtype, tuple(batch) + rows + cols)
        record(self.checker, CallSite(node, "matmul", "@", (left, right), result))
        return result

    def _eval_UnaryOp(self, node: s.UnaryOp, scope, allow_symbols) -> Value:
        operand = self.eval(node.operand, scope, allow_symbols)
        if isinstance(operand, Poisoned):
            return operand
        if node.op == "~":
            return invert(self.checker, node, operand)
        if node.op == "not":
            if not isinstance(operand, Static):
                self.r.error(node, "`not` applies to a condition fixed at build time, not an array", hint="negate a bool array elementwise with ~, as in ~mask")
                raise Abort
            if operand.kind == "presence":
                return Static("presence", None)
            return Static("bool", (not operand.value) if operand.known and operand.kind == "bool" else None)
        if isinstance(operand, Static):
            if operand.kind == "int":
                return Static("int", -operand.value if node.op == "-" else operand.value)
            if operand.kind == "float":
                return Static("float", -operand.value if operand.value is not None and node.op == "-" else operand.value)
            self.r.error(node, f"cannot negate {describe(operand)}")
            raise Abort
        if isinstance(operand, TupleValue):
            self.r.error(node, "cannot negate a tuple")
            raise Abort
        return operand

    def _eval_BoolOp(self, node: s.BoolOp, scope, allow_symbols) -> Value:
        values = [self.truth(v, scope, allow_symbols) for v in node.values]
        if node.op == "and":
            if any(v is False for v in values):
                return Static("bool", False)
            return Static("bool", True if all(v is True for v in values) else None)
        if any(v is True for v in values):
            return Static("bool", True)
        return Static("bool", False if all(v is False for v in values) else None)

    def truth(self, node: s.Expr, scope, allow_symbols) -> bool | None:
        if isinstance(node, s.Name) and scope is not None and node.id not in scope.variables and node.id in self.model.fields:
            info = self.model.fields[node.id]
            self.model.resolved[id(node)] = Ref("presence", node.id)
            if not info.conditional:
                return True
            return None
        if isinstance(node, s.UnaryOp) and node.op == "not":
            inner = self.truth(node.operand, scope, allow_symbols)
            return None if inner is None else not inner
        if isinstance(node, s.BoolOp):
            combined = self._eval_BoolOp(node, scope, allow_symbols)
            assert isinstance(combined, Static)  # in a condition, `and` and `or` combine static values
            return combined.value
        value = self.eval(node, scope, allow_symbols)
        if isinstance(value, Poisoned):
            return None
        if not isinstance(value, Static):
            hint = "to choose between arrays elementwise, use where(condition, a, b)"
            if isinstance(node, s.Compare) or isinstance(value, TensorType) and value.dtype == "bool":
                hint = "combine bool arrays elementwise with &, | and ~; choose between arrays with where(mask, a, b)"
            self.r.error(node, f"a condition must be fixed when the model is built (hyperparameters, layer presence), not {describe(value)}", hint=hint)
            raise Abort
        if value.kind == "bool":
            return value.value
        if value.kind == "int" and isinstance(value.value, Dim) and value.value.value is not None:
            return bool(value.value.value)
        return None

    def _eval_Compare(self, node: s.Compare, scope, allow_symbols) -> Value:
        values = [self.eval(o, scope, allow_symbols) for o in node.operands]
        if any_poisoned(values):
            return POISONED
        if involves_arrays(values):
            return compare_arrays(self.checker, node, values)
        statics = [v for v in values if isinstance(v, Static)]
        assert len(statics) == len(values)  # no side is an array, and tuples do not compare
        results = [static_compare(op, left, right) for op, left, right in zip(node.ops, statics, statics[1:])]
        if any(r is False for r in results):
            return Static("bool", False)
        return Static("bool", True if all(r is True for r in results) else None)

    def _eval_IfExp(self, node: s.IfExp, scope, allow_symbols) -> Value:
        body: Value | None
        orelse: Value | None
        if scope is None:
            test = self.eval(node.test, None, allow_symbols)
            body = self.eval(node.body, None, allow_symbols)
            orelse = self.eval(node.orelse, None, allow_symbols)
            if isinstance(test, Static) and test.kind == "bool" and test.value is not None:
                return body if test.value else orelse
            merged = merge(body, orelse)
            return merged if merged is not None else body
        test, present = self.checker.statements.condition(node.test, scope)
        known = test.value if test.kind == "bool" else None
        if known is not None:
            self.model.resolved[id(node)] = StaticBranch(known)
        then_scope = scope.copy()
        then_scope.present = scope.present | present
        then_scope.conditions = scope.conditions | {condition_key(node.test)}
        then_facts = branch_facts(self.checker, node.test, True)
        else_facts = branch_facts(self.checker, node.test, False)
        with assuming(then_facts or active_facts()):
            body = self.eval(node.body, then_scope) if known is not False else None
        with assuming(else_facts or active_facts()):
            orelse = self.eval(node.orelse, scope) if known is not True else None
        if body is None:
            assert orelse is not None  # a known test skips one branch, never both
            return orelse
        if orelse is None:
            return body
        merged = merge_branches(merge, body, orelse, then_facts, else_facts)
        if merged is None:
            self.r.error(node, f"the two branches give {describe(body)} and {describe(orelse)}", hint="both branches of a conditional expression must have one shape")
            raise Abort
        return merged

    def _eval_Attribute(self, node: s.Attribute, scope, allow_symbols) -> Value:
        base = node.value
        if isinstance(base, s.Name) and scope is not None and base.id not in scope.variables and base.id in self.model.fields:
            info = self.model.fields[base.id]
            self.check_present(base, base.id, scope)
            if info.kind in ("layer",):
                self.model.resolved[id(base)] = Ref("field", base.id)
                if info.name in self.checker.failed_layers:
                    return POISONED
                return self._layer_attribute(node, info)
        value = self.eval(base, scope, allow_symbols)
        if isinstance(value, Poisoned):
            return value
        if node.attr == "T" and is_array(value):
            if isinstance(value, UnknownArray):
                return value
            return TensorType(value.dtype, tuple(reversed(value.shape)))
        if node.attr == "shape" and isinstance(value, TensorType):
            return Static("ints", value.shape)
        if node.attr == "ndim" and isinstance(value, TensorType):
            return static_int(value.rank)
        hint = None
        if is_array(value):
            hint = f"call it: x.{node.attr}(...)" if node.attr in METHODS else "arrays have .T, .shape and .ndim, and methods such as x.mean(0)"
        self.r.error(node, f"{describe(value)} has no attribute {node.attr!r}", hint=hint)
        raise Abort

    def _layer_attribute(self, node: s.Attribute, info: FieldInfo) -> Value:
        # The layer's arguments: those the spec gives, then those inferred from its first call.
        args = {k: v for k, (v, _) in info.given.items()} | (info.inferred or {})
        # Models and Python classes used as layers expose no attributes to expressions.
        layer = info.layer
        assert layer is not None  # a layer or a stack
        weights = layer.attributes(args) if isinstance(layer, LayerInfo) else {}
        if node.attr in weights:
            self.model.resolved[id(node)] = Ref("weight", info.name)
            return weights[node.attr]
        names = sorted(weights)
        self.r.error(node, f"{info.name} ({layer.name}) has no array attribute {node.attr!r} the compiler knows", hint=did_you_mean(node.attr, names) or ("known: " + ", ".join(names) if names else None))
        raise Abort

    def _eval_Subscript(self, node: s.Subscript, scope, allow_symbols) -> Value:
        value = self.eval(node.value, scope, allow_symbols)
        if isinstance(value, TupleValue) or isinstance(value, Static) and value.kind in ("ints", "tuple"):
            if len(node.index) != 1 or isinstance(node.index[0], (s.Slice, s.EllipsisExpr)):
                self.r.error(node, "a tuple takes one integer index")
                raise Abort
            index = self.checker.static_eval(node.index[0])
            items = value.items if isinstance(value, TupleValue) else value.value
            if index.kind != "int" or index.value.value is None:
                self.r.error(node.index[0], "a tuple index must be a known integer")
                raise Abort
            if items is None:
                what = "a tuple[int, ...]" if isinstance(value, Static) and value.kind == "ints" else "this tuple"
                self.r.error(node, f"{what} has no length known when the spec is compiled, so it cannot be indexed here", hint="give it a fixed length, such as tuple[int, int, int], or make the size a hyperparameter of its own")
                raise Abort
            i = index.value.value
            if not -len(items) <= i < len(items):
                self.r.error(node.index[0], f"index {i} is out of range for a tuple of {len(items)}")
                raise Abort
            item = items[i]
            return static_int(item) if isinstance(item, Dim) else item
        if isinstance(value, (UnknownArray, Poisoned)):
            for item in node.index:
                self._index_part(item, scope)
            return value
        if not isinstance(value, TensorType):
            self.r.error(node, f"cannot index {describe(value)}")
            raise Abort
        return self._index_array(node, value, scope)

    def _index_part(self, item, scope) -> Value | None:
        if isinstance(item, s.Slice):
            for part in (item.lower, item.upper, item.step):
                if part is not None:
                    self._slice_bound(part, scope)
            return None
        if isinstance(item, s.EllipsisExpr):
            return None
        return self.eval(item, scope)

    def _slice_bound(self, part: s.Expr, scope) -> Dim:
        value = self.eval(part, scope)
        if isinstance(value, Poisoned):
            raise Abort
        if not isinstance(value, Static) or value.kind != "int":
            self.r.error(part, f"a slice bound must be an int fixed at build time, not {describe(value)}")
            raise Abort
        return value.value

    def _index_array(self, node: s.Subscript, array: TensorType, scope) -> Value:
        items: list[s.Expr | None] = list(node.index)
        ellipses = [i for i, item in enumerate(items) if isinstance(item, s.EllipsisExpr)]
        if len(ellipses) > 1:
            self.r.error(node, "an index may hold one `...`")
            raise Abort
        consuming = [item for item in items if not isinstance(item, s.EllipsisExpr) and not (isinstance(item, s.Constant) and item.value is None)]
        if len(consuming) > array.rank:
            self.r.error(node, f"too many indices ({len(consuming)}) for {array} of rank {array.rank}")
            raise Abort
        if ellipses:
            at = ellipses[0]
            fill = array.rank - len(consuming)
            items = items[:at] + [None] * fill + items[at + 1 :]
        else:
            items = items + [None] * (array.rank - len(consuming))
        shape: list[Dim] = []
        axis = 0
        for item in items:
            if item is None:
                shape.append(array.shape[axis])
                axis += 1
            elif isinstance(item, s.Constant) and item.value is None:
                shape.append(Dim.const(1))
            elif isinstance(item, s.Slice):
                shape.append(self._slice_size(item, array.shape[axis], axis, array, scope))
                axis += 1
            else:
                value = self.eval(item, scope)
                if isinstance(value, Poisoned):
                    raise Abort
                if isinstance(value, Static) and value.kind == "int":
                    size = array.shape[axis]
                    index = value.value
                    # A negative constant counts from the end; any other index from the start.
                    reach = -index if index.value is not None and index.value < 0 else index + 1
                    if not proven_at_most(reach, size):
                        self.r.error(item, f"index {index} is out of range for axis {axis} of {array} (size {size})", hint=bound_hint(self.checker, reach, size))
                        raise Abort
                    axis += 1
                elif isinstance(value, TensorType) and value.is_integer:
                    shape.extend(value.shape)
                    axis += 1
                else:
                    self.r.error(item, f"an index must be an int, a slice, None, ... or an integer array, not {describe(value)}")
                    raise Abort
        return TensorType(array.dtype, tuple(shape))

    def _slice_size(self, item: s.Slice, size: Dim, axis: int, array: TensorType, scope) -> Dim:
        lower = self._slice_bound(item.lower, scope) if item.lower is not None else None
        upper = self._slice_bound(item.upper, scope) if item.upper is not None else None
        step = self._slice_bound(item.step, scope) if item.step is not None else None
        if step is not None and step.value != 1:
            if step.value is None or size.value is None or (lower is not None and lower.value is None) or (upper is not None and upper.value is None):
                self.r.error(item, "a slice with a step needs known bounds and sizes", hint="reshape instead, or use known sizes")
                raise Abort
            return Dim.const(len(range(size.value)[slice(lower.value if lower else None, upper.value if upper else None, step.value)]))
        start = lower if lower is not None else Dim.const(0)
        stop = upper if upper is not None else size
        if start.value is not None and start.value < 0:
            start = size + start
        if stop.value is not None and stop.value < 0:
            stop = size + stop
        if not proven_at_most(stop, size):
            self.r.error(item, f"the slice ends at {stop}, past the end of axis {axis} of {array} (size {size})", hint=bound_hint(self.checker, stop, size))
            raise Abort
        if start.value is None and not proven_at_most(start, stop):
            self.r.error(item, f"the slice starts at {start}, after its end {stop} on axis {axis} of {array}", hint=bound_hint(self.checker, start, stop))
            raise Abort
        length = stop - start
        if length.value is not None and length.value < 0:
            length = Dim.const(0)
        return length

    def _eval_Slice(self, node, scope, allow_symbols) -> Value:
        self.r.error(node, "a slice is only allowed inside [...]")
        raise Abort

    def _eval_EllipsisExpr(self, node, scope, allow_symbols) -> Value:
        self.r.error(node, "`...` is only allowed inside [...]")
        raise Abort

    def _eval_Pipeline(self, node: s.Pipeline, scope, allow_symbols) -> Value:
        if scope is None:
            self.r.error(node, "a pipeline computes on arrays; it cannot be a constant")
            raise Abort
        value = self.eval(node.source, scope)
        for step in node.steps:
            try:
                value = self.checker.calls.apply(step, [value], scope)
            except Abort:
                # Reported: the later steps still run, on a poisoned value.
                value = POISONED
        return value

    def _eval_Call(self, node: s.Call, scope, allow_symbols) -> Value:
        func = node.func
        if isinstance(func, s.Name) and func.id == "len":
            return self.checker.stacks.length(node, scope)
        if scope is None:
            if isinstance(func, s.Name) and func.id in FUNCTIONS and func.id not in ("normal", "uniform", "bernoulli"):
                self.r.error(node, f"{func.id}(...) computes on arrays; a value fixed at build time cannot call it")
            else:
                self.r.error(node, "a call is not allowed in a value fixed at build time")
            raise Abort
        return self.checker.calls.apply(node, [], scope)
