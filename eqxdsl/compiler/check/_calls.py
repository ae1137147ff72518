"""Checking calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eqxdsl.compiler.check._adapters import (
    ModelLayer,
    _substitute,
    from_layer_value,
    to_layer_value,
)
from eqxdsl.compiler.check._input_sizes import bind_axes
from eqxdsl.compiler.check._join import stack_value
from eqxdsl.compiler.check._kinds import fits_param, param_words, with_defaults
from eqxdsl.compiler.check._map_axes import axes_per_item, normalise, with_axis, without_axis
from eqxdsl.compiler.check._relations import error_hint, size_mismatch_hint
from eqxdsl.compiler.check._report import POISONED, Abort, Poisoned, any_poisoned, did_you_mean
from eqxdsl.compiler.check._role import Role
from eqxdsl.compiler.check._scope import Scope
from eqxdsl.compiler.check._sites import record
from eqxdsl.compiler.check._static import static_of
from eqxdsl.compiler.check.checked import CallRef, CallSite, FieldInfo, MethodInfo, Ref, StackCopy
from eqxdsl.compiler.dims import Dim, TensorType, proven_equal
from eqxdsl.compiler.library.functions import ELSEWHERE, FUNCTIONS, METHODS, FnParam, Function
from eqxdsl.compiler.library.functions import REQUIRED as FN_REQUIRED
from eqxdsl.compiler.library.layers import LayerInfo, LayerShapeError, suggest
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.values import (
    ShapeError,
    Static,
    TupleValue,
    UnknownArray,
    Value,
    describe,
    is_array,
)

if TYPE_CHECKING:
    pass


class CallChecker(Role):
    """Calls: of layers, of functions, of this model's methods, and `map`; binds arguments to parameters.

    Reaches the rest of the model's checker through `checker`.
    """

    def apply(self, step: s.Expr, piped: list[Value], scope: Scope) -> Value:
        """Check a call (or a pipeline step applied to the piped value) and give its result.

        In a pipeline, `relu` means `relu(value)` and `pool(2)` means
        `pool(value, 2)`: the piped value comes first.
        """
        is_step = bool(piped)
        if isinstance(step, s.Call):
            func = step.func
            arg_nodes = list(step.args)
            keywords = step.keywords
        elif isinstance(step, (s.Name, s.Attribute)) and is_step:
            func = step
            arg_nodes = []
            keywords = ()
        else:
            self.r.error(step, "a pipeline step must be a layer, a function, or a call with the piped value left out, such as pool(2)")
            raise Abort
        if isinstance(func, s.Name) and func.id == "map" and "map" not in scope.variables and arg_nodes:
            # map's first argument is the callable, checked by call_map itself.
            args = list(piped) + [Static("none", None)] + [self.checker.expressions.eval(a, scope) for a in arg_nodes[1:]]
        else:
            args = list(piped) + [self.checker.expressions.eval(a, scope) if not self._is_key_arg(a) else Static("key", None) for a in arg_nodes]
        nodes = [step] * len(piped) + arg_nodes
        kw_values = {}
        for kw in keywords:
            kw_values[kw.name] = (self.checker.expressions.eval(kw.value, scope) if not self._is_key_arg(kw.value) else Static("key", None), kw)
        return self.call(step, func, args, nodes, kw_values, scope)

    def _is_key_arg(self, node: s.Expr) -> bool:
        return isinstance(node, s.Name) and node.id == "key"

    def call(self, node: s.Expr, func: s.Expr, args: list[Value], nodes: list, keywords: dict, scope: Scope) -> Value:
        model = self.model
        if any_poisoned([*args, *(value for value, _ in keywords.values())]):
            self.checker.expressions.reach(node)
            if isinstance(func, s.Name) and func.id in scope.stack_vars:
                self.checker.reached.add(scope.stack_vars[func.id][0])
            return POISONED
        if isinstance(func, s.Name):
            name = func.id
            if name in scope.stack_vars:
                stack_name, copy = scope.stack_vars[name]
                model.resolved[id(func)] = Ref("layer_var", stack_name)
                stack = model.fields[stack_name]
                return self.call_layer(node, stack, args, nodes, keywords, rest=copy > 0, copy=stack.copies[copy] if stack.copies else None)
            if name in scope.variables:
                if not isinstance(scope.variables[name], Poisoned):
                    self.r.error(func, f"{name} is a variable ({describe(scope.variables[name])}), not something to call")
                raise Abort
            if name in model.fields:
                info = model.fields[name]
                self.checker.expressions.check_present(func, name, scope)
                model.resolved[id(func)] = Ref("field", name)
                if info.kind == "layer":
                    return self.call_layer(node, info, args, nodes, keywords, rest=False)
                if info.kind == "stack":
                    self.r.error(func, f"{name} is a stack of layers: loop over it with `for layer in {name}:`")
                else:
                    self.r.error(func, f"{name} is a parameter, not a layer; use it in an expression")
                raise Abort
            if name in model.methods and name != "forward":
                return self.call_method(node, func, model.methods[name], args, nodes, keywords)
            if name == "map":
                return self.call_map(node, args, nodes, keywords, scope)
            hyper = next((h for h in model.hypers if h.name == name), None)
            if hyper is not None and hyper.kind == "fn":
                model.resolved[id(func)] = Ref("hyper", name)
                model.resolved[id(node)] = CallRef("activation", name)
                if len(args) != 1 or keywords:
                    self.r.error(node, f"{name} is a function hyperparameter; it takes one array")
                    raise Abort
                if not is_array(args[0]):
                    self.r.error(node, f"{name} takes an array, not {describe(args[0])}")
                    raise Abort
                return args[0]
            if name in FUNCTIONS:
                model.resolved[id(func)] = Ref("function", name)
                return self.call_function(node, FUNCTIONS[name], args, nodes, keywords)
            if self.checker.layer_class(name) is not None:
                self.r.error(func, f"{name}(...) builds a layer; define it as a field (name = {name}(...)) and call the field")
                raise Abort
            if name in self.checker.broken or name in self.spec.failed_imports:
                raise Abort
            candidates = list(scope.variables) + list(model.fields) + list(FUNCTIONS) + list(model.methods) + ["map"]
            hint = f"did you mean {ELSEWHERE[name]!r}?" if name in ELSEWHERE else did_you_mean(name, candidates)
            self.r.error(func, f"unknown function or layer {name!r}", hint=hint)
            raise Abort
        if isinstance(func, s.Attribute) and isinstance(func.value, s.Name) and func.value.id in model.fields and func.value.id not in scope.variables:
            info = model.fields[func.value.id]
            self.checker.expressions.check_present(func.value, info.name, scope)
            if info.kind == "layer" and isinstance(info.layer, ModelLayer):
                model.resolved[id(func.value)] = Ref("field", info.name)
                return self.call_layer(node, info, args, nodes, keywords, rest=False, method=func.attr)
        if isinstance(func, s.Attribute):
            return self.call_array_method(node, func, args, nodes, keywords, scope)
        if isinstance(func, s.Subscript):
            return self.checker.stacks.call_copy(node, func, args, nodes, keywords, scope)
        self.r.error(func, "only layers, methods, functions and function hyperparameters can be called")
        raise Abort

    def call_array_method(self, node, func: s.Attribute, args, nodes, keywords, scope: Scope) -> Value:
        """`x.mean(0)`: an array's method, checked as the function of the same name with `x` first.

        As NumPy's, `x.reshape(T, -1)` and `x.transpose(1, 0)` take their sizes one by one.
        """
        receiver = self.checker.expressions.eval(func.value, scope)
        if any_poisoned([receiver]):
            return POISONED
        if not is_array(receiver):
            self.r.error(func, f"{describe(receiver)} has no methods; only arrays do", hint=f"arrays have methods such as x.mean(0); call the function instead: {func.attr}(...)")
            raise Abort
        function = METHODS.get(func.attr)
        if function is None:
            self.r.error(func, f"arrays have no method {func.attr!r}", hint=self._method_hint(func.attr))
            raise Abort
        if len(args) > 1 and function.params[1].kind == "shape" and all(isinstance(a, Static) and a.kind == "int" for a in args):
            args = [Static("ints", tuple(a.value for a in args))]
            nodes = [node]
        return self.call_function(node, function, [receiver, *args], [func.value, *nodes], keywords)

    def _method_hint(self, name: str) -> str:
        if name in FUNCTIONS:
            return f"call the function instead: {name}(x, ...)"
        if name in ELSEWHERE:
            known = ELSEWHERE[name]
            return f"did you mean x.{known}(...)?" if known in METHODS else f"did you mean the function {known}(x, ...)?"
        return did_you_mean(name, METHODS) or "array methods: " + ", ".join(sorted(METHODS))

    def _layer_inputs(self, node, layer, args: list[Value], nodes: list, keywords: dict, method: str | None) -> tuple[tuple, tuple[str, ...]]:
        names = layer.inputs
        if method is not None:
            info = layer.model.methods.get(method)
            if info is None:
                self.r.error(node, f"{layer.name} has no method {method!r}", hint=did_you_mean(method, [m for m in layer.model.methods if m != "forward"]))
                raise Abort
            names = tuple(n for n, _ in info.params)
        optional = tuple(getattr(layer, "optional_inputs", ()))
        if len(args) != len(names):
            what = f"{layer.name}.{method}" if method else layer.name
            self.r.error(node, f"{what} takes {len(names)} input{'s' if len(names) != 1 else ''} ({', '.join(names)}), got {len(args)}")
            raise Abort
        used_keywords = []
        extra = []
        for kw_name, (value, kw_node) in keywords.items():
            if kw_name not in optional:
                hint = "the compiler passes key and inference itself" if kw_name in ("key", "inference", "state") else did_you_mean(kw_name, optional)
                self.r.error(kw_node, f"{layer.name} takes no input {kw_name!r}", hint=hint)
                raise Abort
            used_keywords.append(kw_name)
            extra.append(value)
        for value, arg_node in zip(args, nodes):
            if isinstance(value, Static):
                self.r.error(arg_node, f"{layer.name} takes arrays, not {describe(value)}")
                raise Abort
        inputs = tuple(to_layer_value(v) for v in args)
        return inputs, tuple(used_keywords)

    def _at_fault(self, node: s.Node, info: FieldInfo, copy: StackCopy | None, keywords: dict, error: LayerShapeError) -> s.Node:
        """Where a layer call's error is reported: the keyword input or constructor argument it blames, else the call."""
        if error.argument in keywords:
            return keywords[error.argument][1]
        given = copy.given if copy is not None else info.given
        if error.argument in given:
            return given[error.argument][1]
        return node

    def call_layer(self, node, info: FieldInfo, args, nodes, keywords, rest: bool, method: str | None = None, copy: StackCopy | None = None) -> Value:
        """A call of a layer field, of a copy of a stack (`rest`: any copy but the first; `copy`: the copy
        itself, for stacks checked copy by copy), or of a model layer's method."""
        if info.name in self.checker.failed_layers:
            # Its constructor's error was reported; what it would make of its inputs is unknown.
            self.checker.reached.add(info.name)
            return POISONED
        # Called: if this call fails, its error is the one to report, not "never called".
        self.checker.reached.add(info.name)
        layer = info.layer
        assert layer is not None  # a layer or a stack
        inputs, used_keywords = self._layer_inputs(node, layer, args, nodes, keywords, method)
        given = {k: v for k, (v, _) in (copy.given if copy is not None else info.given).items()}
        current = copy.inferred if copy is not None else info.inferred_rest if rest else info.inferred
        if current is None:
            try:
                current = dict(layer.infer(with_defaults(layer, given), inputs)) if not any(isinstance(i, UnknownArray) for i in inputs) else {}
            except LayerShapeError as error:
                self.r.error(self._at_fault(node, info, copy, keywords, error), error.message, hint=error_hint(self.checker, error))
                raise Abort from None
            current = {k: v for k, v in current.items() if k not in given}
            missing = [a.name for a in layer.args if a.inferred and a.required and a.name not in given and a.name not in current]
            if missing and not any(isinstance(i, UnknownArray) for i in inputs):
                self.r.error(node, f"cannot infer {', '.join(missing)} of {info.name} from this call", hint="give it explicitly")
            if copy is not None:
                copy.inferred = current
            elif rest:
                info.inferred_rest = current
            else:
                info.inferred = current
        full = with_defaults(layer, {**given, **current})
        if any(isinstance(i, UnknownArray) for i in inputs):
            result: object = UnknownArray()
        else:
            try:
                if method is not None:
                    assert isinstance(layer, ModelLayer)  # only a model's layer has methods to call
                    result = layer.output(full, inputs, method)
                elif isinstance(layer, LayerInfo) and used_keywords:
                    result = layer.output(full, inputs + tuple(to_layer_value(keywords[k][0]) for k in used_keywords))
                else:
                    result = layer.output(full, inputs)
            except LayerShapeError as error:
                message = f"{info.name}: {error.message}" if not error.message.startswith(info.name) else error.message
                self.r.error(self._at_fault(node, info, copy, keywords, error), message, hint=error_hint(self.checker, error))
                raise Abort from None
            except (TypeError, AttributeError, ValueError, KeyError) as error:
                self.r.error(node, f"cannot check the shapes of {info.name}: an argument it needs is not known when the spec is compiled ({error})", hint="give that argument a literal value")
                raise Abort from None
        stochastic = layer.stochastic
        stateful = layer.stateful
        call_inference = getattr(layer, "call_inference", False)
        if method is not None:
            assert isinstance(layer, ModelLayer)
            minfo = layer.model.methods[method]
            stochastic, stateful, call_inference = minfo.stochastic, minfo.stateful, minfo.call_inference or minfo.stochastic
        self._mark_caller(stochastic, stateful, call_inference)
        self.model.resolved[id(node)] = CallRef(
            "submethod" if method else "layer", info.name, stochastic=stochastic, stateful=stateful,
            call_inference=call_inference, method=method, keywords=used_keywords,
        )
        index = info.copies.index(copy) if copy is not None else (1 if rest else 0) if info.kind == "stack" else None
        record(self.checker, CallSite(node, "layer", info.name, inputs, result, index, rest and copy is None, method))
        return from_layer_value(result)

    def _mark_caller(self, stochastic: bool, stateful: bool, call_inference: bool) -> None:
        """The method being checked makes a call: it draws random numbers, uses the state, or takes
        `inference` (which every stochastic callee does) when the callee does."""
        caller = self.checker.current
        if caller is None:
            return
        caller.stochastic = caller.stochastic or stochastic
        caller.stateful = caller.stateful or stateful
        caller.call_inference = caller.call_inference or call_inference or stochastic

    def call_method(self, node, func: s.Name, info: MethodInfo, args, nodes, keywords) -> Value:
        self.model.resolved[id(func)] = Ref("method", info.name)
        if info.checking:
            self.r.error(node, f"method {info.name} calls itself (directly or through other methods)", hint="methods of a model cannot recurse")
            raise Abort
        self.checker.statements.check_method(info)
        if keywords:
            first = next(iter(keywords.values()))[1]
            self.r.error(first, f"method {info.name} takes its inputs by position")
            raise Abort
        if len(args) != len(info.params):
            self.r.error(node, f"method {info.name} takes {len(info.params)} inputs, got {len(args)}")
            raise Abort
        bound: dict[str, Dim] = {}
        for (name, declared), actual, arg_node in zip(info.params, args, nodes):
            if not isinstance(actual, TensorType):
                if isinstance(actual, UnknownArray):
                    continue
                self.r.error(arg_node, f"input {name} of {info.name} must be {declared}, not {describe(actual)}")
                raise Abort
            if actual.rank != declared.rank:
                self.r.error(arg_node, f"input {name} of {info.name} must be {declared}, got {actual}")
                raise Abort
            # Sizes fixed at construction (`init_dims`) are checked here, not bound.
            mismatch = bind_axes(declared, actual, self.model.input_dims - set(self.model.init_dims), {}, bound)
            if mismatch is not None:
                axis, expected, got = mismatch
                self.r.error(arg_node, f"axis {axis} of input {name} of {info.name} must be {expected}, got {got} in {actual}", hint=size_mismatch_hint(self.checker, expected, got))
                raise Abort
        self._mark_caller(info.stochastic, info.stateful, info.call_inference)
        self.model.resolved[id(node)] = CallRef("method", info.name, stochastic=info.stochastic, stateful=info.stateful, call_inference=info.call_inference or info.stochastic)
        result = _substitute(info.returns, bound)
        record(self.checker, CallSite(node, "method", info.name, tuple(args), result, bound=bound))
        # None: the method has no return, which was reported.
        return POISONED if result is None else result

    def call_function(self, node, function: Function, args, nodes, keywords) -> Value:
        params = function.params
        if function.name == "einsum":
            if not args:
                self.r.error(node, "einsum needs subscripts and operands")
                raise Abort
            bound_values = {"subscripts": args[0], "operands": TupleValue(tuple(args[1:]))}
            for value, arg_node in zip(args[1:], nodes[1:]):
                if not is_array(value):
                    self.r.error(arg_node, f"einsum's operands are arrays, not {describe(value)}")
                    raise Abort
            bound_nodes: dict[str, s.Node | None] = {"subscripts": nodes[0], "operands": node}
        else:
            bound_values, bound_nodes = self._bind_values(node, function, args, nodes, keywords)
        for param in params:
            value = bound_values.get(param.name)
            where = bound_nodes.get(param.name) or node
            if value is None:
                continue
            if not fits_param(value, param):
                self.r.error(where, f"argument {param.name} of {function.name} must be {param_words(param)}, not {describe(value)}")
                raise Abort
        try:
            result = function.rule(bound_values)
        except ShapeError as error:
            where = bound_nodes.get(error.argument) if error.argument else None
            self.r.error(where or node, f"{function.name}: {error.message}", hint=error_hint(self.checker, error))
            raise Abort from None
        self._mark_caller(function.stochastic, stateful=False, call_inference=False)
        self.model.resolved[id(node)] = CallRef("function", function.name, stochastic=function.stochastic)
        record(self.checker, CallSite(node, "function", function.name, tuple(a for a in args if is_array(a)), result))
        return result

    def _bind_values(self, node, function: Function, args, nodes, keywords) -> tuple[dict, dict]:
        params = function.params
        values: dict[str, Value] = {}
        where: dict[str, s.Node | None] = {}
        positional = list(params)
        if function.stochastic and not (nodes and self._is_key_arg(nodes[0])):
            # `normal([latent])` and `normal(key, [latent])` mean the same: the call gets its own key.
            positional = [p for p in params if p.kind != "key"]
            values["key"] = Static("key", None)
        if len(args) > len(positional):
            self.r.error(nodes[len(positional)] if len(nodes) > len(positional) else node, f"{function.name} takes at most {len(positional)} positional arguments, got {len(args)}")
            raise Abort
        for param, value, arg_node in zip(positional, args, nodes):
            values[param.name] = value
            where[param.name] = arg_node
        names = [p.name for p in params]
        for kw_name, (value, kw_node) in keywords.items():
            if kw_name not in names or kw_name == "key":
                self.r.error(kw_node, f"{function.name} has no argument {kw_name!r}", hint=did_you_mean(kw_name, names) or "arguments: " + ", ".join(names))
                raise Abort
            if kw_name in values:
                self.r.error(kw_node, f"argument {kw_name!r} of {function.name} is given twice")
                raise Abort
            values[kw_name] = value
            where[kw_name] = kw_node
        for param in params:
            if param.name not in values:
                if param.default is FN_REQUIRED:
                    self.r.error(node, f"{function.name} needs the argument {param.name!r}")
                    raise Abort
                values[param.name] = static_of(param.default)
                where[param.name] = None
        return values, where

    def bind(self, call: s.Call, params: tuple[FnParam, ...], what: str) -> dict[str, tuple[Static, s.Node | None]]:
        """Bind a build-time call's arguments (initialisers) to parameters."""
        result: dict[str, tuple[Static, s.Node | None]] = {}
        if len(call.args) > len(params):
            self.r.error(call.args[len(params)], f"{what} takes at most {len(params)} positional arguments")
            return result
        for param, arg in zip(params, call.args):
            try:
                result[param.name] = (self.checker.static_eval(arg), arg)
            except Abort:
                pass
        names = [p.name for p in params]
        suggested: set[str] = set()
        for kw in call.keywords:
            if kw.name not in names:
                match = suggest(kw.name, names)
                if match:
                    suggested.add(match)
                hint = f"did you mean {match!r}?" if match else ("it takes no arguments" if not names else "arguments: " + ", ".join(names))
                self.r.error(kw, f"{what} has no argument {kw.name!r}", hint=hint)
                continue
            try:
                result[kw.name] = (self.checker.static_eval(kw.value), kw.value)
            except Abort:
                pass
        for param in params:
            # A missing argument that an unknown one was suggested as is the same mistake, reported once.
            if param.name not in result and param.default is FN_REQUIRED and param.name not in suggested:
                self.r.error(call, f"{what} needs the argument {param.name!r}")
        return result

    def call_map(self, node, args, nodes, keywords, scope: Scope) -> Value:
        for name, (_, kw_node) in keywords.items():
            if name not in ("in_axes", "out_axes"):
                self.r.error(kw_node, f"map has no argument {name!r}", hint="map(f, xs..., in_axes=0, out_axes=0): the callable, the arrays, and the axes as in jax.vmap")
                raise Abort
        if not isinstance(node, s.Call) or not node.args:
            self.r.error(node, "map needs a layer or function first: map(layer, x)")
            raise Abort
        callee = node.args[0]
        piped = len(nodes) - len(node.args)
        arrays = args[:piped] + args[piped + 1 :]
        array_nodes = nodes[:piped] + nodes[piped + 1 :]
        if not arrays:
            self.r.error(node, "map needs at least one array to map over: map(layer, x)")
            raise Abort
        in_axes = self._map_axes(keywords, "in_axes", len(arrays))
        if all(axis is None for axis in in_axes):
            self.r.error(keywords["in_axes"][1], "in_axes maps none of the arrays", hint="give at least one array an axis to map over")
            raise Abort
        length = None
        slices = []
        for value, arg_node, axis in zip(arrays, array_nodes, in_axes):
            if axis is None:
                slices.append(value)
                continue
            if not isinstance(value, TensorType) or value.rank == 0:
                where = "the leading axis" if "in_axes" not in keywords else f"axis {axis}"
                self.r.error(arg_node, f"map runs over {where} of arrays, not {describe(value)}")
                raise Abort
            try:
                at = normalise(axis, value.rank, "in_axes")
            except ShapeError as error:
                self.r.error(keywords["in_axes"][1], f"map: {error.message} ({value})", hint=error.hint)
                raise Abort from None
            if length is not None and not proven_equal(length, value.shape[at]):
                what = "leading size" if "in_axes" not in keywords else "size along their mapped axes"
                self.r.error(arg_node, f"map's arrays must share their {what}: {length} and {value.shape[at]}", hint=size_mismatch_hint(self.checker, length, value.shape[at]))
                raise Abort
            length = value.shape[at] if length is None else length
            slices.append(without_axis(value, at))
        assert length is not None  # in_axes maps at least one of the arrays
        record(self.checker, CallSite(node, "map", "map", bound={"length": length}))
        if isinstance(callee, s.Call):
            result = self.apply(callee, slices, scope)
            inner = self.model.resolved.get(id(callee))
        else:
            result = self.call(callee, callee, slices, [callee] * len(slices), {}, scope)
            inner = self.model.resolved.get(id(callee))
        if isinstance(inner, CallRef) and inner.stateful:
            self.r.error(node, "a stateful layer cannot be mapped", hint="BatchNorm normalises over a batch: vmap the whole model with axis_name instead")
            raise Abort
        self.model.resolved[id(node)] = CallRef("map", "map", stochastic=bool(inner and getattr(inner, "stochastic", False)), inner=inner if isinstance(inner, CallRef) else None)
        if "out_axes" not in keywords:
            return stack_value(result, length)
        count = len(result.items) if isinstance(result, TupleValue) else 1
        out_axes = [axis for axis in self._map_axes(keywords, "out_axes", count) if axis is not None]
        if len(out_axes) != count:
            self.r.error(keywords["out_axes"][1], "out_axes must give every result an axis", hint="each result of the mapped call gains the mapped axis")
            raise Abort
        try:
            return with_axis(result, length, out_axes)
        except ShapeError as error:
            self.r.error(keywords["out_axes"][1], f"map: {error.message}", hint=error.hint)
            raise Abort from None

    def _map_axes(self, keywords: dict, name: str, count: int) -> list[int | None]:
        """`in_axes` or `out_axes` of a map, one per array or result (0 when not given)."""
        if name not in keywords:
            return [0] * count
        value, kw_node = keywords[name]
        try:
            return axes_per_item(value, count, name)
        except ShapeError as error:
            self.r.error(kw_node, f"map: {error.message}", hint="as in jax.vmap: in_axes=1, or in_axes=(0, None) for one entry per array")
            raise Abort from None
