"""The model checker, and its first role: a model's declarations (hyperparameters, constants,
fields, method signatures) and the values fixed at build time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eqxdsl.compiler.check._calls import CallChecker
from eqxdsl.compiler.check._expressions import ExpressionChecker
from eqxdsl.compiler.check._kinds import (
    MISMATCH,
    arg_kind_words,
    fits,
    kind_words,
    table_value,
)
from eqxdsl.compiler.check._report import (
    Abort,
    check_identifier,
    did_you_mean,
    unknown_layer_hint,
)
from eqxdsl.compiler.check._stacks import StackChecker, variadic_value
from eqxdsl.compiler.check._statements import StatementChecker
from eqxdsl.compiler.check._walk import (
    items_with_conditions,
    model_conditions,
)
from eqxdsl.compiler.check.checked import (
    CheckedModel,
    FieldInfo,
    HyperInfo,
    HyperKind,
    MethodInfo,
    Ref,
    element_symbol,
)
from eqxdsl.compiler.dims import DTYPES, Dim, TensorType
from eqxdsl.compiler.library.functions import FnParam
from eqxdsl.compiler.library.initialisers import INITIALISERS
from eqxdsl.compiler.library.layers import BoundLayer, LayerArg, LayerInfo, suggest
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse.walk import iter_model_items
from eqxdsl.compiler.reserved import RESERVED_NAMES
from eqxdsl.compiler.values import Static, describe

if TYPE_CHECKING:
    from eqxdsl.compiler.check._spec import SpecChecker


#: Integer layer arguments that are not sizes or counts, so may be negative.
_HYPER_KINDS: dict[str, HyperKind] = {"int": "int", "float": "float", "bool": "bool", "str": "str", "fn": "fn"}


class ModelChecker:
    """Checks one model: declares its items here, and checks its methods through its role checkers.

    `statements`, `expressions` and `calls` hold the other roles; each reaches
    back through its `checker`.
    """

    def __init__(self, spec_checker: SpecChecker, model: CheckedModel):
        self.spec = spec_checker
        self.r = spec_checker.reporter
        self.model = model
        self.field_conditions: dict[str, frozenset[str]] = {}
        self.current: MethodInfo | None = None
        # Lengths of `tuple[int, ...]` hyperparameters to check at, instead of their defaults'.
        self.tuple_lengths: dict[str, int] = {}
        # Names whose definition failed (already reported): their uses are not reported again.
        self.broken: set[str] = set()
        # Layers whose constructor call had an error: their calls give poisoned values, silently.
        self.failed_layers: set[str] = set()
        # Fields used where an earlier error left their inputs unknown: they are
        # called, although their sizes could not be inferred from the call.
        self.reached: set[str] = set()
        # Whether an `assert` fails for the hyperparameters' defaults (reported): what else fails
        # there follows from it and is not reported again.
        self.defaults_refuted = False
        self.statements = StatementChecker(self)
        self.expressions = ExpressionChecker(self)
        self.calls = CallChecker(self)
        self.stacks = StackChecker(self)
        # The loop names of `repeat ... in ...` while one copy's arguments are evaluated.
        self.copy_bindings: dict[str, Static] = {}

    def declare(self) -> None:
        """Hyperparameters, constants, fields and method signatures."""
        node = self.model.node
        names: dict[str, s.Node] = {}

        def claim(name: str, where: s.Node, what: str) -> bool:
            if not check_identifier(self.r, where, name, what):
                self.broken.add(name)
                return False
            if name in names:
                first = names[name].pos.line
                self.r.error(where, f"{name!r} is already defined on line {first}", hint="each name of a model must be unique")
                return False
            names[name] = where
            return True

        first_default = None
        for param in node.params:
            if param.default is not None:
                first_default = first_default or param
            elif first_default is not None:
                # The generated __init__ takes them in this order, as Python's parameters.
                self.r.error(param, f"hyperparameter {param.name} has no default, but comes after {first_default.name}, which has one",
                             hint=f"give {param.name} a default, or move it before {first_default.name}")
            if not claim(param.name, param, "hyperparameter") and param.name in names:
                continue
            # A hyperparameter with a refused name is still declared (the spec
            # fails anyway), so that its uses raise no follow-on errors.
            self.model.hypers.append(self._hyper(param))
        forward_inputs = [i for i in iter_model_items(node.items) if isinstance(i, s.InputDecl)]
        # Input sizes may be used by definitions (`Linear(out_features=D)`): a
        # bare name in an input's shape that the model defines nowhere else is one.
        defined = {p.name for p in node.params} | {getattr(i, "name", None) for i in iter_model_items(node.items)}
        typed = [i.type for i in forward_inputs] + [
            p.type for m in iter_model_items(node.items) if isinstance(m, s.Method) for p in (m.params or ()) if p.type is not None
        ]
        for tensor_type in typed:
            for dim in tensor_type.dims:
                if isinstance(dim, s.Name) and dim.id not in defined and dim.id not in RESERVED_NAMES:
                    self.model.input_dims.add(dim.id)
        for item, conditions in items_with_conditions(node.items):
            if isinstance(item, s.Method):
                method_name = item.name
                if method_name in self.model.methods:
                    self.r.error(item, f"method {method_name!r} is defined twice", hint="give each method its own name")
                    continue
                if method_name != "forward" and not claim(method_name, item, "method"):
                    continue
                if method_name == "forward" and item.params is not None and forward_inputs:
                    self.r.error(forward_inputs[0], "inputs are declared both with `input` and in forward's parameters", hint="keep one of the two")
                self.model.methods[method_name] = MethodInfo(method_name, item, [])
            elif isinstance(item, s.InputDecl):
                if conditions:
                    self.r.error(item, "an input cannot be declared inside an `if`", hint="declare inputs at the top of the model")
                continue
            elif isinstance(item, (s.Definition, s.RepeatDef, s.ParamDef, s.FrozenDef)):
                if not claim(item.name, item, "name"):
                    continue
                self._definition(item, conditions)
        if not self.model.methods:
            self.r.error(node, f"model {node.name} has no forward method", hint="add `forward:` with the computation")
        if "forward" not in self.model.methods and forward_inputs:
            self.r.error(forward_inputs[0], "inputs are declared but the model has no forward method")
        for test in model_conditions(node.items):
            # The test is written into __init__: it must resolve like any other build-time value.
            try:
                self.static_eval(test)
            except Abort:
                pass
        # Method signatures, so that methods can call each other in any order.
        for info in self.model.methods.values():
            self._signature(info, forward_inputs)

    def _hyper(self, param: s.HyperParam) -> HyperInfo:
        t = param.type
        length = None
        kind: HyperKind
        if t.name == "tuple":
            if not t.args or any(a.name != "int" or a.args for a in t.args):
                self.r.error(t, f"unsupported hyperparameter type {t}", hint="tuples hold ints: tuple[int, int] or tuple[int, ...]")
            kind = "ints"
            if not t.variadic:
                length = len(t.args)
            value = Static("ints", tuple(Dim.symbol(element_symbol(param.name, i)) for i in range(length)) if length is not None else None)
        elif t.name in _HYPER_KINDS and not t.args:
            kind = _HYPER_KINDS[t.name]
            value = Static(kind, Dim.symbol(param.name)) if kind == "int" else Static(kind, None)
        else:
            self.r.error(t, f"unknown hyperparameter type {str(t)!r}", hint=did_you_mean(t.name, [*_HYPER_KINDS, "tuple"]) or "use int, float, bool, str, fn or tuple[int, ...]")
            kind, value = "int", Static("int", Dim.symbol(param.name))
        info = HyperInfo(param.name, param, kind, length, value)
        if param.default is not None:
            self._check_default(info)
        if kind == "ints" and length is None and info.default is not None:
            # A tuple of any length is checked at its default's length (or a call's), its values symbolic.
            info.value = variadic_value(param.name, self.tuple_lengths.get(param.name, len(info.default.value)))
        return info

    def _check_default(self, info: HyperInfo) -> None:
        default = info.node.default
        assert default is not None  # called only for a hyperparameter with a default
        try:
            value = self.static_eval(default, allow_symbols=False)
        except Abort:
            return
        if not fits(value, info.kind, info.length):
            self.r.error(default, f"the default of {info.name} must be {kind_words(info.kind)}, not {describe(value)}")
            return
        if not value.known or value.kind == "ints" and any(d.value is None for d in value.value):
            self.r.error(default, f"the default of {info.name} must be a value fixed in the spec", hint="write a literal, or arithmetic on literals")
            return
        info.default = value

    def _definition(self, item, conditions: tuple[str, ...]) -> None:
        name = item.name
        conditional = bool(conditions)
        self.field_conditions[name] = frozenset(conditions)
        if isinstance(item, s.ParamDef):
            try:
                tensor = self.type_of(item.type, allow_new_dims=True)
            except Abort:
                tensor = None
            if item.init is not None:
                self._check_initialiser(item.init, tensor)
            self.model.fields[name] = FieldInfo(name, item, "param" if item.trainable else "buffer", tensor=tensor, init=item.init, conditional=conditional)
            return
        if isinstance(item, s.RepeatDef) and item.targets:
            self.stacks.declare(item, conditional)
            return
        if isinstance(item, s.RepeatDef):
            try:
                count = self.static_eval(item.count)
            except Abort:
                count = Static("int", Dim.const(1))
            if not (count.kind == "int" and isinstance(count.value, Dim)):
                self.r.error(item.count, f"a repeat count must be an int, not {describe(count)}")
                count = Static("int", Dim.const(1))
            elif count.value.value is not None and count.value.value < 1:
                self.r.error(item.count, f"a repeat count must be at least 1, not {count.value}")
            elif self.stacks.divides_by_zero(count.value):
                # `__init__` builds the copies with the defaults: it would divide by zero.
                self.r.error(item.count, f"the count of {name} ({count.value}) divides by zero with the hyperparameters' defaults", hint="choose defaults that give a count")
                count = Static("int", Dim.const(1))
            else:
                self.note_least_value(count.value, 1)
            info = self._layer_field(name, item, item.layer, conditional)
            if info is not None:
                info.kind = "stack"
                info.count = count.value
                info.scan = item.scan
            return
        if isinstance(item, s.FrozenDef):
            info = self._layer_field(name, item, item.layer, conditional)
            if info is not None:
                info.frozen = True
            return
        value = item.value
        if isinstance(value, s.Call) and isinstance(value.func, s.Name) and self.layer_class(value.func.id) is not None:
            self._layer_field(name, item, value, conditional)
            return
        if isinstance(value, s.Call) and isinstance(value.func, s.Name) and value.func.id in self.spec.failed_imports:
            self.broken.add(name)
            return
        if isinstance(value, s.Call) and isinstance(value.func, s.Name) and value.func.id[:1].isupper() and value.func.id not in self.model.constants:
            self.broken.add(name)
            self._unknown_layer(value.func)
            return
        if conditional:
            self.r.error(item, f"the constant {name} cannot be defined inside an `if`", hint="use a conditional expression: a if flag else b")
        try:
            constant = self.static_eval(value)
        except Abort:
            constant = Static("int", Dim.symbol(name))
        if isinstance(constant, Static) and constant.kind == "int" and isinstance(constant.value, Dim):
            constant = Static("int", constant.value)
        self.model.constants[name] = (item, constant)

    def _check_initialiser(self, init: s.Expr, tensor: TensorType | None) -> None:
        callee = init.func if isinstance(init, s.Call) else init
        if not isinstance(callee, s.Name):
            self.r.error(init, "an initialiser is a name such as `zeros` or a call such as `normal(stddev=0.02)`")
            return
        name = callee.id
        spec = INITIALISERS.get(name)
        if spec is None:
            self.r.error(init, f"unknown initialiser {name!r}", hint=did_you_mean(name, INITIALISERS) or "initialisers: " + ", ".join(INITIALISERS))
            return
        call = init if isinstance(init, s.Call) else s.Call(func=init, args=(), keywords=(), pos=init.pos)
        params = tuple(FnParam(p, "float", d) for p, d in spec.params)
        bound = self.calls.bind(call, params, f"initialiser {name}")
        for pname, (value, node) in bound.items():
            if node is not None and not fits(value, "float"):
                self.r.error(node, f"argument {pname} of {name} must be a number, not {describe(value)}")
        if spec.fan and tensor is not None and tensor.rank < 2:
            self.r.error(init, f"{name} needs a parameter of rank 2 or more (it reads fan-in and fan-out), got {tensor}")

    def layer_class(self, name: str):
        return self.spec.layer_class(name, self.model)

    def _unknown_layer(self, func: s.Name) -> None:
        """Report a layer name that names no layer: a model of this file that contains itself, or an unknown name."""
        name = func.id
        other = self.spec.models.get(name)
        if other is self.model:
            self.r.error(func, f"model {name} uses itself", hint="a model cannot contain a copy of itself; for several copies of a layer, use `repeat n: Layer(...)`")
        elif other is not None and other.checking:
            self.r.error(func, f"models {self.model.name} and {name} use each other", hint="a model cannot contain, directly or through other models, a model that contains it")
        else:
            self.r.error(func, f"unknown layer {name!r}", hint=unknown_layer_hint(name, self.spec.layer_names()))

    def _layer_field(self, name: str, item, call: s.Expr, conditional: bool) -> FieldInfo | None:
        if not isinstance(call, s.Call) or not isinstance(call.func, s.Name):
            self.r.error(call, "expected a layer constructor such as Linear(out_features=8)")
            self.broken.add(name)
            return None
        layer = self.layer_class(call.func.id)
        if layer is None:
            self.broken.add(name)
            if call.func.id in self.spec.failed_imports:
                return None
            self._unknown_layer(call.func)
            return None
        self.model.resolved[id(call.func)] = Ref("class", call.func.id)
        info = FieldInfo(name, item, "layer", layer=layer, call=call, conditional=conditional)
        info.given, complete = self._layer_arguments(layer, call)
        info.layer = self.stacks.at_given_lengths(layer, info.given, call)
        if not complete:
            self.failed_layers.add(name)
        self.model.fields[name] = info
        return info

    def _layer_arguments(self, layer, call: s.Call) -> tuple[dict[str, tuple[object, s.Expr]], bool]:
        """The constructor arguments of `call` by name, and whether they were all accepted.

        An argument that fails is reported and left out. A missing argument is
        not reported when an unknown argument of the same call was suggested
        as it: the misspelling is the one mistake.
        """
        args = layer.args
        by_name = {a.name: a for a in args}
        positional = [a for a in args if not a.keyword_only]
        given: dict[str, tuple[s.Expr, LayerArg]] = {}
        suggested: set[str] = set()
        complete = True
        layer_name = layer.name
        for index, arg_node in enumerate(call.args):
            if index >= len(positional):
                self.r.error(arg_node, f"{layer_name} takes at most {len(positional)} positional arguments, got {len(call.args)}")
                complete = False
                break
            given[positional[index].name] = (arg_node, positional[index])
        for kw in call.keywords:
            if kw.name in ("key", "dtype_") or kw.name not in by_name:
                complete = False
                hint: str | None
                if kw.name == "key":
                    hint = "the compiler passes keys itself"
                else:
                    match = suggest(kw.name, [n for n in by_name if n != kw.name])
                    hint = f"did you mean {match!r}?" if match else None
                    if match:
                        suggested.add(match)
                self.r.error(kw, f"{layer_name} has no argument {kw.name!r}", hint=hint or "arguments: " + ", ".join(by_name))
                continue
            if kw.name in given:
                self.r.error(kw, f"argument {kw.name!r} of {layer_name} is given twice")
                complete = False
                continue
            given[kw.name] = (kw.value, by_name[kw.name])
        result: dict[str, tuple[object, s.Expr]] = {}
        for arg_name, (node, arg) in given.items():
            value = self._layer_argument(layer_name, arg, node)
            if value is None or not self.stacks.fits_tuple_length(layer, arg, value, node):
                complete = False
            else:
                result[arg_name] = (value, node)
        for arg in args:
            if arg.required and not arg.inferred and arg.name not in given:
                complete = False
                if arg.name not in suggested:
                    self.r.error(call, f"{layer_name} needs the argument {arg.name!r}", hint=f"add {arg.name}=... to the call")
        return result, complete

    def _layer_argument(self, layer_name: str, arg: LayerArg, node: s.Expr) -> object | None:
        """The table value of one constructor argument, or None after reporting it."""
        if arg.kind == "module":
            try:
                bound = self._module_argument(node)
            except Abort:
                return None
            if bound is None:
                self.r.error(node, f"argument {arg.name} of {layer_name} must be a layer constructor such as Linear(4, 4)")
            return bound
        try:
            value = self.static_eval(node)
        except Abort:
            return None
        converted = table_value(value, arg)
        if converted is MISMATCH:
            self.r.error(node, f"argument {arg.name} of {layer_name} must be {arg_kind_words(arg)}, not {describe(value)}")
            return None
        if arg.choices and isinstance(converted, str) and arg.kind == "str" and converted not in arg.choices:
            self.r.error(node, f"argument {arg.name} of {layer_name} must be one of {', '.join(map(repr, arg.choices))}, not {converted!r}", hint=did_you_mean(converted, arg.choices))
            return None
        if arg.kind == "int" and arg.least is not None and isinstance(converted, Dim):
            try:
                size = converted.value if converted.value is not None else converted.substitute(self.stacks.defaults()).value
            except ZeroDivisionError:
                self.r.error(node, f"argument {arg.name} of {layer_name} divides by zero with the hyperparameters' defaults", hint="choose defaults that give a size")
                return None
            if size is not None and size < arg.least:
                where = "" if converted.value is not None else " with the hyperparameters' defaults"
                # Reported, but kept: the shapes that follow are still worth checking.
                self.r.error(node, f"argument {arg.name} of {layer_name} is {size}{where}, but it must be at least {arg.least}")
            self.note_least_value(converted, arg.least)
        return converted

    def note_least_value(self, size: Dim, least: int) -> None:
        """`size` must be at least `least`: when it is one of the model's hyperparameters, a model using this one must give that."""
        if len(size.symbols) != 1:
            return
        (name,) = size.symbols
        if size == Dim.symbol(name) and any(hyper.name == name for hyper in self.model.hypers):
            self.model.least_values[name] = max(least, self.model.least_values.get(name, least))

    def _module_argument(self, node: s.Expr) -> BoundLayer | None:
        """The wrapped layer of a constructor call; None if `node` is not one; Abort if it has errors (reported)."""
        if not isinstance(node, s.Call) or not isinstance(node.func, s.Name):
            return None
        layer = self.layer_class(node.func.id)
        if not isinstance(layer, LayerInfo):
            return None
        self.model.resolved[id(node.func)] = Ref("class", node.func.id)
        given, complete = self._layer_arguments(layer, node)
        missing = [a.name for a in layer.args if a.inferred and a.required and a.name not in given]
        if missing:
            self.r.error(node, f"a wrapped layer's sizes are not inferred: give {', '.join(missing)} explicitly")
        if missing or not complete:
            raise Abort
        return BoundLayer(layer, {k: v for k, (v, _) in given.items()})

    def _signature(self, info: MethodInfo, forward_inputs: list[s.InputDecl]) -> None:
        node = info.node
        params: list[tuple[str, TensorType]] = []
        declared: list[tuple[str, s.TensorTypeExpr, s.Node]] = []
        if node.params is None:
            if info.name == "forward":
                declared = [(i.name, i.type, i) for i in forward_inputs]
        else:
            for param in node.params:
                if param.name == "key" and param.type is None:
                    continue
                if param.type is None:
                    self.r.error(param, f"parameter {param.name} needs a type such as f32[T, dim]", hint="only `key` may be left untyped")
                    continue
                declared.append((param.name, param.type, param))
        seen = set()
        for name, type_node, where in declared:
            if not check_identifier(self.r, where, name, "input"):
                self.broken.add(name)
                continue
            if name in seen:
                self.r.error(where, f"input {name!r} is declared twice")
                continue
            seen.add(name)
            try:
                tensor = self.type_of(type_node, allow_new_dims=True)
            except Abort:
                # Its type's error is reported; uses of the input would only repeat it.
                self.broken.add(name)
                continue
            params.append((name, tensor))
            for axis, dim in enumerate(tensor.shape):
                symbol = dim.as_name()
                if symbol is not None and symbol in self.model.input_dims:
                    info.call_dims.setdefault(symbol, (name, axis))
        info.params = params

    def type_of(self, node: s.TensorTypeExpr, allow_new_dims: bool) -> TensorType:
        if node.dtype not in DTYPES:
            self.r.error(node, f"unknown dtype {node.dtype!r}", hint=did_you_mean(node.dtype, DTYPES) or "dtypes: " + ", ".join(DTYPES))
            raise Abort
        dims = []
        for dim_node in node.dims:
            dims.append(self.dim_of(dim_node, allow_new_dims))
        return TensorType(node.dtype, tuple(dims))

    def dim_of(self, node: s.Expr, allow_new_dims: bool) -> Dim:
        if isinstance(node, s.Name) and self.lookup_static(node.id) is None:
            name = node.id
            if not allow_new_dims and name not in self.model.input_dims:
                self.r.error(node, f"unknown dimension {name!r}", hint=did_you_mean(name, self.static_names()))
                raise Abort
            if not check_identifier(self.r, node, name, "dimension"):
                raise Abort
            if name in self.model.fields or name in self.model.methods:
                self.r.error(node, f"dimension {name!r} has the name of a layer or method")
                raise Abort
            self.model.input_dims.add(name)
            self.model.resolved[id(node)] = Ref("dim", name)
            return Dim.symbol(name)
        if isinstance(node, s.BinOp) and node.op in ("+", "-", "*", "//"):
            left = self.dim_of(node.left, allow_new_dims)
            right = self.dim_of(node.right, allow_new_dims)
            if node.op == "//" and right.value == 0:
                self.r.error(node, "division by zero")
                raise Abort
            return {"+": left + right, "-": left - right, "*": left * right, "//": left // right}[node.op]
        value = self.static_eval(node)
        if value.kind != "int" or not isinstance(value.value, Dim):
            self.r.error(node, f"a dimension must be an int, not {describe(value)}")
            raise Abort
        return value.value

    def static_names(self) -> list[str]:
        return [h.name for h in self.model.hypers] + list(self.model.constants) + sorted(self.model.input_dims)

    def lookup_static(self, name: str) -> Static | None:
        found = self.find_static(name)
        return found[1] if found is not None else None

    def find_static(self, name: str) -> tuple[str, Static] | None:
        """The build-time value of `name`, with the `Ref` kind a use of it resolves to: "loop" (a stack copy's
        binding), "const", "hyper" or "dim" (an input size); None when `name` has none."""
        if name in self.copy_bindings:
            return "loop", self.copy_bindings[name]
        for hyper in self.model.hypers:
            if hyper.name == name:
                return "const" if name in self.model.constants else "hyper", hyper.value
        if name in self.model.constants:
            return "const", self.model.constants[name][1]
        if name in self.model.input_dims:
            return "dim", Static("int", Dim.symbol(name))
        return None

    def static_eval(self, node: s.Expr, allow_symbols: bool = True) -> Static:
        """Evaluate an expression fixed at build time (hyperparameters, constants, literals)."""
        value = self.expressions.eval(node, None, allow_symbols=allow_symbols)
        if not isinstance(value, Static):
            self.r.error(node, f"expected a value fixed when the model is built, got {describe(value)}")
            raise Abort
        return value
