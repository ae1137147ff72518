"""Check stage: resolve names, check types, arity and shapes, infer sizes.

The checker executes every method of every model symbolically, on types
(`dims.TensorType` with symbolic `Dim` sizes), in source order. The first call
of a layer fills in the constructor arguments the spec left out (a Linear's
`in_features`, a conv's `in_channels`, a norm's shape); every later call and
every operation is checked against the types on the way. Problems are
collected, never raised one by one: `check_spec` raises one `CompileError`
holding every diagnostic of the file.

What the lower stage needs is recorded in a `CheckedSpec`: per model, its
hyperparameters, constants, fields (with their given and inferred
arguments), methods (with whether they need a key or a state), the input
sizes that decide parameter shapes, and how each name and call of the spec
was resolved (`CheckedModel.resolved`, keyed by the node's `id`).
"""

from __future__ import annotations

import ast
import hashlib
import importlib.machinery
import keyword
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from eqxdsl.compiler import syntax as s
from eqxdsl.compiler._values import ShapeError, Static, TupleValue, UnknownArray, Value, describe, is_array, static_int
from eqxdsl.compiler.diagnostics import CompileError, Diagnostic, diagnostic_at, gc_paused
from eqxdsl.compiler.driver import module_name
from eqxdsl.compiler.dims import DTYPES, Dim, TensorType
from eqxdsl.compiler.functions import ACTIVATIONS, FUNCTIONS, FnParam, Function, broadcast
from eqxdsl.compiler.functions import REQUIRED as FN_REQUIRED
from eqxdsl.compiler.layers import LAYERS, NOT_LAYERS, REQUIRED, BoundLayer, LayerArg, LayerInfo, LayerShapeError, suggest

__all__ = ["check_spec", "CheckedSpec", "CheckedModel", "FieldInfo", "MethodInfo", "Ref", "CallRef", "LoopRef", "StaticBranch", "RESERVED_NAMES"]

#: Names the generated code relies on; a spec may not define them.
RESERVED_NAMES = frozenset(
    {"jax", "jnp", "eqx", "self", "key", "state", "inference", "Callable", "bool", "int", "float", "str", "tuple",
     "list", "zip", "range", "enumerate", "len", "None", "True", "False", "object", "super", "type",
     # Never emitted, and refused in the output by the renderer's last check.
     "eval", "exec", "compile", "globals", "locals", "breakpoint"}
)

#: Integer layer arguments that are not sizes or counts, so may be negative.
_SIGNED_LAYER_ARGS = frozenset({"axis"})

_HYPER_KINDS = {"int": "int", "float": "float", "bool": "bool", "str": "str", "fn": "fn"}


# ---- what the checker records for the lower stage ---------------------------------


@dataclass(frozen=True)
class Ref:
    """What a `Name` (or a pipeline step without arguments) refers to.

    `kind` is one of: "local" (a variable of the method), "hyper", "const",
    "initdim" (an input size that decides parameter shapes), "calldim" (an
    input size bound at call time), "field" (a layer, stack or parameter),
    "function", "method", "key" (the method's key, as a sampling argument),
    "dtype", "layer_var" (the loop variable over a stack).
    """

    kind: str
    name: str


@dataclass(frozen=True)
class CallRef:
    """How a call (or a pipeline step) is carried out.

    Attributes:
        kind: "layer" (a field, or the loop variable over a stack), "function",
            "method" (a method of this model), "submethod" (a named method of a
            layer that is a model: `vae.encode(x)`), "map", "activation" (a
            `fn` hyperparameter), "stack" (applying a whole stack in a pipeline).
        target: the field, function, method or hyperparameter name.
        stochastic: whether the call takes a key (and `inference`).
        stateful: whether the call takes and returns the state.
        call_inference: whether the callee accepts `inference=` although it needs no key.
        method: for "submethod", the method's name.
        keywords: names of optional inputs passed by keyword (attention's `mask`).
        inner: for "map", the CallRef of the mapped callable.
    """

    kind: str
    target: str
    stochastic: bool = False
    stateful: bool = False
    call_inference: bool = False
    method: str | None = None
    keywords: tuple[str, ...] = ()
    inner: CallRef | None = None


@dataclass(frozen=True)
class LoopRef:
    """How a `for` loop runs: over a stack ("unrolled" or "scan") or over an array ("array")."""

    kind: str
    carries: tuple[str, ...]
    stack: str | None = None
    length: Dim | None = None


@dataclass(frozen=True)
class StaticBranch:
    """A conditional whose test is known at compile time: only the `taken` branch was checked."""

    taken: bool


@dataclass
class FieldInfo:
    """A field of a model: a layer, a stack of layers, or a raw parameter or buffer.

    Attributes:
        name: the field's name.
        node: the definition in the spec.
        kind: "layer", "stack", "param" or "buffer".
        layer: for layers and stacks, the layer class (a `LayerInfo`,
            `ModelLayer` or `PythonLayer`).
        call: the constructor call of the spec.
        given: constructor arguments the spec gives, by name: the value the
            shape rules see, and the expression to lower.
        inferred: arguments filled in from the first call's inputs.
        inferred_rest: for an unrolled stack whose copies after the first see
            other sizes (an MLP's first Linear), their inferred arguments.
        count: for stacks, the number of copies.
        scan: for stacks, whether parameters are stacked and applied with scan.
        frozen: whether training must not update the layer (`frozen`).
        conditional: whether the field exists only when a static condition holds.
        tensor: for parameters and buffers, their type.
        init: for parameters and buffers, the initialiser call, or None.
    """

    name: str
    node: s.Node
    kind: str
    layer: object = None
    call: s.Call | None = None
    given: dict[str, tuple[object, s.Expr]] = field(default_factory=dict)
    inferred: dict[str, object] | None = None
    inferred_rest: dict[str, object] | None = None
    count: Dim | None = None
    scan: bool = False
    frozen: bool = False
    conditional: bool = False
    tensor: TensorType | None = None
    init: s.Call | None = None


@dataclass
class MethodInfo:
    """A checked method: its inputs, result, and whether it needs a key or the state."""

    name: str
    node: s.Method | None
    params: list[tuple[str, TensorType]]
    returns: Value | None = None
    stochastic: bool = False
    stateful: bool = False
    call_inference: bool = False
    declared_key: bool = False
    call_dims: dict[str, tuple[str, int]] = field(default_factory=dict)
    used_dims: dict[str, s.Node] = field(default_factory=dict)
    locals: set[str] = field(default_factory=set)
    checking: bool = False
    checked: bool = False


@dataclass
class HyperInfo:
    """A hyperparameter: its name, kind (`int`, ..., `ints`), annotation and default."""

    name: str
    node: s.HyperParam
    kind: str
    length: int | None
    value: Static
    default: Static | None = None


@dataclass
class CheckedModel:
    """Everything the lower stage needs to write one model's class."""

    name: str
    node: s.Model
    docstring: str | None
    hypers: list[HyperInfo] = field(default_factory=list)
    constants: dict[str, tuple[s.Definition, Static]] = field(default_factory=dict)
    fields: dict[str, FieldInfo] = field(default_factory=dict)
    methods: dict[str, MethodInfo] = field(default_factory=dict)
    input_dims: set[str] = field(default_factory=set)
    init_dims: list[str] = field(default_factory=list)
    resolved: dict[int, object] = field(default_factory=dict)
    checked: bool = False
    checking: bool = False

    @property
    def stateful(self) -> bool:
        return any(m.stateful for m in self.methods.values())

    @property
    def forward(self) -> MethodInfo | None:
        return self.methods.get("forward")


@dataclass(frozen=True)
class PythonClass:
    """A Module class imported from Python: its constructor read from source, its call declared in the spec."""

    module: str
    name: str
    local_name: str
    args: tuple[LayerArg, ...]
    init_key: bool
    node: s.PythonImport


@dataclass
class CheckedSpec:
    """The checked file: its models and the imports the generated module needs."""

    path: str
    source: str
    source_name: str
    source_sha256: str
    spec: s.SpecFile
    models: dict[str, CheckedModel]
    imported_models: dict[str, tuple[str, CheckedModel]]
    python_classes: dict[str, PythonClass]
    module_name: str


# ---- layer classes the checker can construct ----------------------------------


class ModelLayer:
    """A model used as a layer of another: its hyperparameters are its arguments.

    Its symbolic input sizes that decide parameter shapes are keyword-only
    arguments that the checker infers from the call's inputs.
    """

    def __init__(self, model: CheckedModel, class_name: str):
        self.model = model
        self.name = model.name
        self.class_name = class_name
        args = []
        for hyper in model.hypers:
            kind = _layer_kind(hyper.kind)
            default = REQUIRED
            if hyper.default is not None:
                default = _table_value(hyper.default, LayerArg(hyper.name, kind))
            args.append(LayerArg(hyper.name, kind, default))
        for dim in model.init_dims:
            args.append(LayerArg(dim, "int", inferred=True, keyword_only=True))
        self.args = tuple(args)
        self.init_key = True
        forward = model.forward
        self.stochastic = bool(forward and forward.stochastic)
        self.stateful = bool(forward and forward.stateful)
        self.call_inference = bool(forward and (forward.call_inference or forward.stochastic))
        self.inputs = tuple(name for name, _ in forward.params) if forward else ()
        self.optional_inputs = ()

    def _bindings(self, args: Mapping[str, object]) -> dict[str, object]:
        values: dict[str, object] = {}
        for hyper in self.model.hypers:
            value = args.get(hyper.name)
            if isinstance(value, Dim):
                values[hyper.name] = value
            elif hyper.kind == "ints" and isinstance(value, tuple) and hyper.length is not None:
                for index, item in enumerate(value):
                    values[f"{hyper.name}_{index}"] = item
        return values

    def bind_inputs(self, method: MethodInfo, args: Mapping[str, object], inputs: tuple) -> dict[str, Dim]:
        """The values of the method's symbolic input sizes for these inputs; raises LayerShapeError."""
        values = self._bindings(args)
        for dim in self.model.init_dims:
            if isinstance(args.get(dim), Dim):
                values[dim] = args[dim]
        if len(inputs) != len(method.params):
            raise LayerShapeError(f"{self.name} takes {len(method.params)} inputs, got {len(inputs)}")
        bound: dict[str, Dim] = {}
        for (name, declared), actual in zip(method.params, inputs):
            if not isinstance(actual, TensorType):
                if isinstance(actual, UnknownArray):
                    continue
                raise LayerShapeError(f"{self.name}: input {name} must be an array, got {describe(actual)}")
            if actual.rank != declared.rank:
                raise LayerShapeError(f"{self.name}: input {name} must be {declared} (rank {declared.rank}), got {actual}")
            for axis, (want, got) in enumerate(zip(declared.shape, actual.shape)):
                symbols = want.symbols
                if len(symbols) == 1 and want == Dim.symbol(next(iter(symbols))) and next(iter(symbols)) in self.model.input_dims:
                    symbol = next(iter(symbols))
                    if symbol not in values and symbol not in bound:
                        bound[symbol] = got
                        continue
                expected = want.substitute({**values, **bound})
                if expected.definitely_differs(got):
                    raise LayerShapeError(
                        f"{self.name}: axis {axis} of input {name} must be {expected} (declared {declared}), got {got} in {actual}"
                    )
        return bound

    def infer(self, args: Mapping[str, object], inputs: tuple) -> dict:
        forward = self.model.forward
        if forward is None:
            raise LayerShapeError(f"{self.name} has no forward method, so it cannot be called")
        bound = self.bind_inputs(forward, args, inputs)
        return {dim: bound[dim] for dim in self.model.init_dims if dim in bound and dim not in args}

    def output(self, args: Mapping[str, object], inputs: tuple, method: str = "forward") -> object:
        info = self.model.methods.get(method)
        if info is None:
            raise LayerShapeError(f"{self.name} has no method {method}")
        bound = self.bind_inputs(info, args, inputs)
        values = {**self._bindings(args), **bound}
        for dim in self.model.init_dims:
            if isinstance(args.get(dim), Dim):
                values[dim] = args[dim]
        return _to_layer_value(_substitute(info.returns, values))


class PythonLayer:
    """A Python Module class used as a layer: its call signature is the one declared in the spec."""

    def __init__(self, cls: PythonClass, params: list[tuple[str, TensorType]], returns: Value, stochastic: bool, stateful: bool, dims: set[str]):
        self.cls = cls
        self.name = cls.local_name
        self.class_name = cls.local_name
        self.args = cls.args
        self.init_key = cls.init_key
        self.stochastic = stochastic
        self.stateful = stateful
        self.call_inference = stochastic
        self.inputs = tuple(name for name, _ in params)
        self.optional_inputs = ()
        self.params = params
        self.returns = returns
        self.dims = dims

    def infer(self, args: Mapping[str, object], inputs: tuple) -> dict:
        return {}

    def output(self, args: Mapping[str, object], inputs: tuple) -> object:
        values: dict[str, Dim] = {k: v for k, v in args.items() if isinstance(v, Dim)}
        if len(inputs) != len(self.params):
            raise LayerShapeError(f"{self.name} takes {len(self.params)} inputs, got {len(inputs)}")
        for (name, declared), actual in zip(self.params, inputs):
            if not isinstance(actual, TensorType):
                continue
            if actual.rank != declared.rank:
                raise LayerShapeError(f"{self.name}: input {name} must be {declared}, got {actual}")
            for axis, (want, got) in enumerate(zip(declared.shape, actual.shape)):
                symbols = want.symbols
                if len(symbols) == 1 and want == Dim.symbol(next(iter(symbols))) and next(iter(symbols)) not in values:
                    values[next(iter(symbols))] = got
                    continue
                expected = want.substitute(values)
                if expected.definitely_differs(got):
                    raise LayerShapeError(f"{self.name}: axis {axis} of input {name} must be {expected}, got {got} in {actual}")
        return _to_layer_value(_substitute(self.returns, values))


def _layer_kind(hyper_kind: str) -> str:
    return {"ints": "ints"}.get(hyper_kind, hyper_kind)


def _substitute(value: Value | None, values: Mapping[str, Dim]) -> Value | None:
    if isinstance(value, TensorType):
        return TensorType(value.dtype, tuple(d.substitute(values) for d in value.shape))
    if isinstance(value, TupleValue):
        return TupleValue(tuple(_substitute(v, values) for v in value.items))
    return value


def _to_layer_value(value: object) -> object:
    """Checker values to the layer table's representation (tuples for pairs)."""
    if isinstance(value, TupleValue):
        return tuple(_to_layer_value(v) for v in value.items)
    return value


def _from_layer_value(value: object) -> Value:
    if isinstance(value, tuple):
        return TupleValue(tuple(_from_layer_value(v) for v in value))
    return value  # type: ignore[return-value]


# ---- diagnostics collection ---------------------------------------------------


class _Reporter:
    def __init__(self, source: str, path: str):
        self.source = source
        self.path = path
        self.diagnostics: list[Diagnostic] = []
        self._seen: set[tuple[int, int, str]] = set()

    def error(self, node: s.Node, message: str, hint: str | None = None) -> None:
        key = (node.pos.line, node.pos.column, message)
        if key in self._seen:
            return
        self._seen.add(key)
        pos = node.pos
        self.diagnostics.append(
            diagnostic_at(
                self.source, self.path, pos.line, pos.column, message, hint=hint,
                end_line=pos.end_line, end_column=pos.end_column,
            )
        )


class _Abort(Exception):
    """Stops checking an expression after its error was reported."""


@dataclass(frozen=True)
class Poisoned:
    """The value of an expression whose check failed, after the failure was reported.

    Whatever computes on a poisoned value is poisoned too, silently: its type
    is unknown, so any further complaint about it would be a follow-on of the
    error already reported. A spec holding one never reaches the lower stage.
    """

    def __str__(self) -> str:
        return "unknown"


POISONED = Poisoned()


def _any_poisoned(values) -> bool:
    return any(isinstance(v, Poisoned) for v in values)


def _did_you_mean(name: str, candidates) -> str | None:
    match = suggest(name, [c for c in candidates if c != name])
    return f"did you mean {match!r}?" if match else None


def _unknown_layer_hint(name: str, candidates) -> str:
    if name in NOT_LAYERS:
        return f"{name} is not declared in a spec: {NOT_LAYERS[name]}"
    return _did_you_mean(name, candidates) or "layers are the classes of eqxdsl.runtime.nn, models of this file and imported models"


def _check_identifier(reporter: _Reporter, node: s.Node, name: str, what: str) -> bool:
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        reporter.error(node, f"{what} {name!r} is a Python keyword", hint="choose another name")
        return False
    if name.startswith("__") and name.endswith("__"):
        reporter.error(node, f"{what} {name!r} is reserved (a double-underscore name)", hint="choose another name")
        return False
    if name in RESERVED_NAMES:
        reporter.error(
            node,
            f"{what} {name!r} would shadow a name the generated code relies on",
            hint="choose another name; reserved: " + ", ".join(sorted(n for n in RESERVED_NAMES if n[0].islower())),
        )
        return False
    return True


# ---- the checker ----------------------------------------------------------------


@dataclass
class _Scope:
    """A method's variables while it is checked."""

    variables: dict[str, Value]
    present: frozenset[str] = frozenset()
    conditions: frozenset[str] = frozenset()
    stack_vars: dict[str, tuple[str, int]] = field(default_factory=dict)

    def copy(self) -> _Scope:
        return _Scope(dict(self.variables), self.present, self.conditions, dict(self.stack_vars))


def _condition_key(expr: s.Expr) -> str:
    """A position-free fingerprint of a condition, to match `if use_norm:` in a method with the model's."""
    return _strip_positions(expr)


def _strip_positions(node: object) -> str:
    if isinstance(node, s.Node):
        fields = [f"{k}={_strip_positions(v)}" for k, v in vars(node).items() if k != "pos"]
        return f"{type(node).__name__}({', '.join(fields)})"
    if isinstance(node, tuple):
        return "(" + ", ".join(_strip_positions(n) for n in node) + ")"
    return repr(node)


class _ModelChecker:
    def __init__(self, spec_checker: _SpecChecker, model: CheckedModel):
        self.spec = spec_checker
        self.r = spec_checker.reporter
        self.model = model
        self.field_conditions: dict[str, frozenset[str]] = {}
        self.current: MethodInfo | None = None
        # Names whose definition failed (already reported): their uses are not reported again.
        self.broken: set[str] = set()
        # Layers whose constructor call had an error: their calls give poisoned values, silently.
        self.failed_layers: set[str] = set()
        # Fields used where an earlier error left their inputs unknown: they are
        # called, although their sizes could not be inferred from the call.
        self.reached: set[str] = set()

    # -- model items --------------------------------------------------------------

    def declare(self) -> None:
        """Hyperparameters, constants, fields and method signatures."""
        node = self.model.node
        names: dict[str, s.Node] = {}

        def claim(name: str, where: s.Node, what: str) -> bool:
            if not _check_identifier(self.r, where, name, what):
                self.broken.add(name)
                return False
            if name in names:
                first = names[name].pos.line
                self.r.error(where, f"{name!r} is already defined on line {first}", hint="each name of a model must be unique")
                return False
            names[name] = where
            return True

        for param in node.params:
            if not claim(param.name, param, "hyperparameter") and param.name in names:
                continue
            # A hyperparameter with a refused name is still declared (the spec
            # fails anyway), so that its uses raise no follow-on errors.
            self.model.hypers.append(self._hyper(param))
        forward_inputs = [i for i in _walk_items(node.items) if isinstance(i, s.InputDecl)]
        # Input sizes may be used by definitions (`Linear(out_features=D)`): a
        # bare name in an input's shape that the model defines nowhere else is one.
        defined = {p.name for p in node.params} | {getattr(i, "name", None) for i in _walk_items(node.items)}
        typed = [i.type for i in forward_inputs] + [
            p.type for m in _walk_items(node.items) if isinstance(m, s.Method) for p in (m.params or ()) if p.type is not None
        ]
        for tensor_type in typed:
            for dim in tensor_type.dims:
                if isinstance(dim, s.Name) and dim.id not in defined and dim.id not in RESERVED_NAMES:
                    self.model.input_dims.add(dim.id)
        for item, conditions in _items_with_conditions(node.items):
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
        for test in _model_conditions(node.items):
            # The test is written into __init__: it must resolve like any other build-time value.
            try:
                self.static_eval(test)
            except _Abort:
                pass
        # Method signatures, so that methods can call each other in any order.
        for info in self.model.methods.values():
            self._signature(info, forward_inputs)

    def _hyper(self, param: s.HyperParam) -> HyperInfo:
        t = param.type
        length = None
        if t.name == "tuple":
            if not t.args or any(a.name != "int" or a.args for a in t.args):
                self.r.error(t, f"unsupported hyperparameter type {t}", hint="tuples hold ints: tuple[int, int] or tuple[int, ...]")
            kind = "ints"
            if not t.variadic:
                length = len(t.args)
            value = Static("ints", tuple(Dim.symbol(f"{param.name}_{i}") for i in range(length)) if length is not None else None)
        elif t.name in _HYPER_KINDS and not t.args:
            kind = _HYPER_KINDS[t.name]
            value = Static(kind, Dim.symbol(param.name)) if kind == "int" else Static(kind, None)
        else:
            self.r.error(t, f"unknown hyperparameter type {str(t)!r}", hint=_did_you_mean(t.name, [*_HYPER_KINDS, "tuple"]) or "use int, float, bool, str, fn or tuple[int, ...]")
            kind, value = "int", Static("int", Dim.symbol(param.name))
        info = HyperInfo(param.name, param, kind, length, value)
        if param.default is not None:
            self._check_default(info)
        return info

    def _check_default(self, info: HyperInfo) -> None:
        default = info.node.default
        try:
            value = self.static_eval(default, allow_symbols=False)
        except _Abort:
            return
        if not _fits(value, info.kind, info.length):
            self.r.error(default, f"the default of {info.name} must be {_kind_words(info.kind)}, not {describe(value)}")
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
            except _Abort:
                tensor = None
            if item.init is not None:
                self._check_initialiser(item.init, tensor)
            self.model.fields[name] = FieldInfo(name, item, "param" if item.trainable else "buffer", tensor=tensor, init=item.init, conditional=conditional)
            return
        if isinstance(item, s.RepeatDef):
            try:
                count = self.static_eval(item.count)
            except _Abort:
                count = Static("int", Dim.const(1))
            if not (count.kind == "int" and isinstance(count.value, Dim)):
                self.r.error(item.count, f"a repeat count must be an int, not {describe(count)}")
                count = Static("int", Dim.const(1))
            elif count.value.value is not None and count.value.value < 1:
                self.r.error(item.count, f"a repeat count must be at least 1, not {count.value}")
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
            self.r.error(value.func, f"unknown layer {value.func.id!r}", hint=_unknown_layer_hint(value.func.id, self.spec.layer_names()))
            return
        if conditional:
            self.r.error(item, f"the constant {name} cannot be defined inside an `if`", hint="use a conditional expression: a if flag else b")
        try:
            constant = self.static_eval(value)
        except _Abort:
            constant = Static("int", Dim.symbol(name))
        if isinstance(constant, Static) and constant.kind == "int" and isinstance(constant.value, Dim):
            constant = Static("int", constant.value)
        self.model.constants[name] = (item, constant)

    def _check_initialiser(self, init: s.Expr, tensor: TensorType | None) -> None:
        if not (isinstance(init, s.Name) or isinstance(init, s.Call) and isinstance(init.func, s.Name)):
            self.r.error(init, "an initialiser is a name such as `zeros` or a call such as `normal(stddev=0.02)`")
            return
        name = init.func.id if isinstance(init, s.Call) else init.id
        spec = INITIALISERS.get(name)
        if spec is None:
            self.r.error(init, f"unknown initialiser {name!r}", hint=_did_you_mean(name, INITIALISERS) or "initialisers: " + ", ".join(INITIALISERS))
            return
        call = init if isinstance(init, s.Call) else s.Call(func=init, args=(), keywords=(), pos=init.pos)
        params = tuple(FnParam(p, "float", d) for p, d in spec.params)
        bound = self.bind(call, params, f"initialiser {name}")
        for pname, (value, node) in bound.items():
            if node is not None and not _fits(value, "float"):
                self.r.error(node, f"argument {pname} of {name} must be a number, not {describe(value)}")
        if spec.fan and tensor is not None and tensor.rank < 2:
            self.r.error(init, f"{name} needs a parameter of rank 2 or more (it reads fan-in and fan-out), got {tensor}")

    def layer_class(self, name: str):
        return self.spec.layer_class(name, self.model)

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
            self.r.error(call.func, f"unknown layer {call.func.id!r}", hint=_unknown_layer_hint(call.func.id, self.spec.layer_names()))
            return None
        self.model.resolved[id(call.func)] = Ref("class", call.func.id)
        info = FieldInfo(name, item, "layer", layer=layer, call=call, conditional=conditional)
        info.given, complete = self._layer_arguments(layer, call)
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
        given: dict[str, tuple[object, s.Expr]] = {}
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
            if value is None:
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
            except _Abort:
                return None
            if bound is None:
                self.r.error(node, f"argument {arg.name} of {layer_name} must be a layer constructor such as Linear(4, 4)")
            return bound
        try:
            value = self.static_eval(node)
        except _Abort:
            return None
        converted = _table_value(value, arg)
        if converted is _MISMATCH:
            self.r.error(node, f"argument {arg.name} of {layer_name} must be {_arg_kind_words(arg)}, not {describe(value)}")
            return None
        if arg.choices and isinstance(converted, str) and arg.kind == "str" and converted not in arg.choices:
            self.r.error(node, f"argument {arg.name} of {layer_name} must be one of {', '.join(map(repr, arg.choices))}, not {converted!r}", hint=_did_you_mean(converted, arg.choices))
            return None
        if arg.kind == "int" and arg.name not in _SIGNED_LAYER_ARGS and isinstance(converted, Dim):
            defaults = {h.name: h.default.value for h in self.model.hypers if h.kind == "int" and h.default is not None}
            size = converted.substitute(defaults).value
            if size is not None and size < 0:
                where = "" if converted.value is not None else " with the hyperparameters' defaults"
                # Reported, but kept: the shapes that follow are still worth checking.
                self.r.error(node, f"argument {arg.name} of {layer_name} is {size}{where}, but it is a size and cannot be negative")
        return converted

    def _module_argument(self, node: s.Expr) -> BoundLayer | None:
        """The wrapped layer of a constructor call; None if `node` is not one; _Abort if it has errors (reported)."""
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
            raise _Abort
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
                    info.declared_key = True
                    continue
                if param.type is None:
                    self.r.error(param, f"parameter {param.name} needs a type such as f32[T, dim]", hint="only `key` may be left untyped")
                    continue
                declared.append((param.name, param.type, param))
        seen = set()
        for name, type_node, where in declared:
            if not _check_identifier(self.r, where, name, "input"):
                self.broken.add(name)
                continue
            if name in seen:
                self.r.error(where, f"input {name!r} is declared twice")
                continue
            seen.add(name)
            try:
                tensor = self.type_of(type_node, allow_new_dims=True)
            except _Abort:
                continue
            params.append((name, tensor))
            for axis, dim in enumerate(tensor.shape):
                symbols = dim.symbols
                if len(symbols) == 1:
                    symbol = next(iter(symbols))
                    if symbol in self.model.input_dims and dim == Dim.symbol(symbol):
                        info.call_dims.setdefault(symbol, (name, axis))
        info.params = params

    # -- types and static values ------------------------------------------------------

    def type_of(self, node: s.TensorTypeExpr, allow_new_dims: bool) -> TensorType:
        if node.dtype not in DTYPES:
            self.r.error(node, f"unknown dtype {node.dtype!r}", hint=_did_you_mean(node.dtype, DTYPES) or "dtypes: " + ", ".join(DTYPES))
            raise _Abort
        dims = []
        for dim_node in node.dims:
            dims.append(self.dim_of(dim_node, allow_new_dims))
        return TensorType(node.dtype, tuple(dims))

    def dim_of(self, node: s.Expr, allow_new_dims: bool) -> Dim:
        if isinstance(node, s.Name) and self._lookup_static(node.id) is None:
            name = node.id
            if not allow_new_dims and name not in self.model.input_dims:
                self.r.error(node, f"unknown dimension {name!r}", hint=_did_you_mean(name, self._static_names()))
                raise _Abort
            if not _check_identifier(self.r, node, name, "dimension"):
                raise _Abort
            if name in self.model.fields or name in self.model.methods:
                self.r.error(node, f"dimension {name!r} has the name of a layer or method")
                raise _Abort
            self.model.input_dims.add(name)
            self.model.resolved[id(node)] = Ref("dim", name)
            return Dim.symbol(name)
        if isinstance(node, s.BinOp) and node.op in ("+", "-", "*", "//"):
            left = self.dim_of(node.left, allow_new_dims)
            right = self.dim_of(node.right, allow_new_dims)
            return {"+": left + right, "-": left - right, "*": left * right, "//": left // right}[node.op]
        value = self.static_eval(node)
        if value.kind != "int" or not isinstance(value.value, Dim):
            self.r.error(node, f"a dimension must be an int, not {describe(value)}")
            raise _Abort
        return value.value

    def _static_names(self) -> list[str]:
        return [h.name for h in self.model.hypers] + list(self.model.constants) + sorted(self.model.input_dims)

    def _lookup_static(self, name: str) -> Static | None:
        for hyper in self.model.hypers:
            if hyper.name == name:
                return hyper.value
        if name in self.model.constants:
            return self.model.constants[name][1]
        if name in self.model.input_dims:
            return Static("int", Dim.symbol(name))
        return None

    def static_eval(self, node: s.Expr, allow_symbols: bool = True) -> Static:
        """Evaluate an expression fixed at build time (hyperparameters, constants, literals)."""
        value = self.eval(node, None, allow_symbols=allow_symbols)
        if not isinstance(value, Static):
            self.r.error(node, f"expected a value fixed when the model is built, got {describe(value)}")
            raise _Abort
        return value

    # -- methods --------------------------------------------------------------------

    def check_method(self, info: MethodInfo) -> None:
        if info.checked or info.checking:
            return
        info.checking = True
        previous = self.current
        self.current = info
        scope = _Scope({name: tensor for name, tensor in info.params})
        for name, _ in info.params:
            self.model.resolved.setdefault(("param", info.name, name), Ref("local", name))
        returns: list[tuple[s.Return, Value]] = []
        self.block(info.node.body, scope, returns)
        info.locals = set(scope.variables)
        if not returns:
            self.r.error(info.node, f"method {info.name} returns nothing", hint="end it with `return ...`")
        elif not isinstance(info.node.body[-1], s.Return) and not _always_returns(info.node.body):
            self.r.error(info.node.body[-1], f"method {info.name} may end without a return", hint="end every path with `return ...`")
        result = returns[0][1] if returns else None
        for stmt, value in returns[1:]:
            merged = _merge(result, value)
            if merged is None:
                self.r.error(stmt, f"this return gives {describe(value)}, an earlier one gives {describe(result)}")
            else:
                result = merged
        if info.node.returns is not None and result is not None:
            try:
                declared_items = tuple(self.type_of(t, allow_new_dims=False) for t in info.node.returns)
            except _Abort:
                declared_items = None
            if declared_items is not None:
                declared = TupleValue(declared_items) if info.node.returns_tuple else declared_items[0]
                if not _compatible(declared, result):
                    self.r.error(returns[-1][0], f"method {info.name} is declared to return {describe(declared)} but returns {describe(result)}")
                else:
                    result = declared
        # A method that returns nothing was reported; its callers see an unknown value.
        info.returns = result if result is not None else POISONED
        info.checking = False
        info.checked = True
        self.current = previous

    def block(self, body: tuple, scope: _Scope, returns: list) -> None:
        for stmt in body:
            try:
                self.statement(stmt, scope, returns)
            except _Abort:
                # The error is reported; what the statement defines is poisoned,
                # so that its later uses are not reported again.
                self._reach(stmt)
                if isinstance(stmt, s.Assign):
                    for target in stmt.targets:
                        scope.variables.setdefault(target.id, POISONED)
                elif isinstance(stmt, s.Return):
                    returns.append((stmt, POISONED))

    def statement(self, stmt, scope: _Scope, returns: list) -> None:
        if isinstance(stmt, s.Assign):
            value = self.eval(stmt.value, scope)
            self.assign(stmt, stmt.targets, stmt.unpack, value, scope)
        elif isinstance(stmt, s.AugAssign):
            current = self.eval(stmt.target, scope)
            right = self.eval(stmt.value, scope)
            value = self.binary(stmt, stmt.op, current, right)
            self.assign(stmt, (stmt.target,), False, value, scope)
        elif isinstance(stmt, s.Return):
            values = [self.eval(v, scope) for v in stmt.values]
            if len(values) == 1:
                returns.append((stmt, values[0]))
            else:
                returns.append((stmt, POISONED if _any_poisoned(values) else TupleValue(tuple(values))))
        elif isinstance(stmt, s.If):
            self.if_statement(stmt, scope, returns)
        elif isinstance(stmt, s.For):
            self.for_statement(stmt, scope, returns)

    def assign(self, stmt, targets: tuple[s.Name, ...], unpack: bool, value: Value, scope: _Scope) -> None:
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
                raise _Abort
            if len(value.items) != len(targets):
                self.r.error(stmt, f"cannot unpack {len(value.items)} values into {len(targets)} names")
                raise _Abort
            for target, item in zip(targets, value.items):
                scope.variables[target.id] = item
                self.model.resolved[id(target)] = Ref("local", target.id)
        else:
            scope.variables[targets[0].id] = value
            self.model.resolved[id(targets[0])] = Ref("local", targets[0].id)

    def _check_local_name(self, target: s.Name, scope: _Scope) -> None:
        name = target.id
        if not _check_identifier(self.r, target, name, "variable"):
            raise _Abort
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
            raise _Abort

    def if_statement(self, stmt: s.If, scope: _Scope, returns: list) -> None:
        test, present = self.condition(stmt.test, scope)
        key = _condition_key(stmt.test)
        then_scope = scope.copy()
        then_scope.present = scope.present | present
        then_scope.conditions = scope.conditions | {key}
        else_scope = scope.copy()
        known = test.value if isinstance(test, Static) and test.kind == "bool" else None
        if known is not None:
            self.model.resolved[id(stmt)] = StaticBranch(known)
        if known is not False:
            self.block(stmt.body, then_scope, returns)
        if known is not True:
            self.block(stmt.orelse, else_scope, returns)
        if known is True:
            branches = [then_scope]
        elif known is False:
            branches = [else_scope]
        else:
            branches = [then_scope, else_scope]
        merged: dict[str, Value] = {}
        for name in set().union(*(b.variables for b in branches)):
            values = [b.variables.get(name) for b in branches]
            if any(v is None for v in values):
                continue
            result = values[0]
            for other in values[1:]:
                combined = _merge(result, other)
                if combined is None:
                    self.r.error(stmt, f"{name} is {describe(result)} after one branch and {describe(other)} after the other")
                    combined = result
                result = combined
            merged[name] = result
        scope.variables = merged

    def condition(self, node: s.Expr, scope: _Scope) -> tuple[Static, frozenset[str]]:
        """Evaluate a static condition; also returns the layers it proves present."""
        present: set[str] = set()
        for name in _presence_names(node):
            if name in self.model.fields:
                present.add(name)
        return Static("bool", self._truth(node, scope, True)), frozenset(present)

    def for_statement(self, stmt: s.For, scope: _Scope, returns: list) -> None:
        target = stmt.target
        iterable = stmt.iter
        stack = None
        if isinstance(iterable, s.Name) and iterable.id not in scope.variables and iterable.id in self.model.fields:
            stack = self.model.fields[iterable.id]
            self._check_present(iterable, stack.name, scope)
            if stack.kind != "stack":
                self.r.error(iterable, f"cannot loop over {iterable.id}: it is not a stack", hint="a stack is declared with `name = repeat n: Layer(...)`")
                raise _Abort
            self.model.resolved[id(iterable)] = Ref("field", stack.name)
        if target.id in scope.variables:
            self.r.error(target, f"the loop variable {target.id!r} is already a variable of this method", hint="choose a new name for the loop variable")
            raise _Abort
        self._check_local_name(target, scope)
        before = dict(scope.variables)
        if stack is not None:
            self.model.resolved[id(target)] = Ref("layer_var", stack.name)
            kind = "scan" if stack.scan else "unrolled"
            first_scope = scope.copy()
            first_scope.stack_vars[target.id] = (stack.name, 0)
            self.block(stmt.body, first_scope, returns)
            assigned = _assigned_names(stmt.body)
            carries = tuple(n for n in before if n in assigned)
            changed = [n for n in carries if not _same_type(before[n], first_scope.variables[n])]
            length = stack.count
            if changed and (stack.scan or length.value == 1):
                if stack.scan:
                    name = changed[0]
                    self.r.error(stmt, f"a scanned stack needs its loop to keep each variable's type, but {name} goes from {describe(before[name])} to {describe(first_scope.variables[name])}", hint="use an unrolled stack (`repeat n:` without scan), or make the copies map a shape to itself")
            if changed and not stack.scan and length.value != 1:
                rest_scope = first_scope.copy()
                rest_scope.variables = {**first_scope.variables}
                rest_scope.stack_vars[target.id] = (stack.name, 1)
                for name in list(rest_scope.variables):
                    if name not in before:
                        del rest_scope.variables[name]
                self.block(stmt.body, rest_scope, returns)
                for name in carries:
                    if not _same_type(first_scope.variables[name], rest_scope.variables.get(name)):
                        self.r.error(stmt, f"the copies of {stack.name} after the first change {name} from {describe(first_scope.variables[name])} to {describe(rest_scope.variables.get(name))}; a stack must settle on one shape after its first copy")
                        break
                final = rest_scope
            else:
                final = first_scope
            for name in carries:
                scope.variables[name] = final.variables[name]
            self.model.resolved[id(stmt)] = LoopRef(kind, carries, stack=stack.name, length=length)
            return
        array = self.eval(iterable, scope)
        if isinstance(array, UnknownArray):
            raise _Abort
        poisoned = isinstance(array, Poisoned)
        if not poisoned and (not isinstance(array, TensorType) or array.rank == 0):
            self.r.error(iterable, f"a loop runs over a stack of layers or over the leading axis of an array, not {describe(array)}")
            raise _Abort
        body_scope = scope.copy()
        # Over a poisoned array the body is still checked, for its own mistakes.
        body_scope.variables[target.id] = POISONED if poisoned else TensorType(array.dtype, array.shape[1:])
        self.model.resolved[id(target)] = Ref("local", target.id)
        self.block(stmt.body, body_scope, [])
        if any(isinstance(x, s.Return) for x in _walk_statements(stmt.body)):
            self.r.error(stmt, "a loop over an array cannot return from inside (it becomes jax.lax.scan)", hint="assign to a variable in the loop and return after it")
        assigned = _assigned_names(stmt.body)
        carries = tuple(n for n in before if n in assigned)
        for name in carries:
            if not _same_type(before[name], body_scope.variables[name]):
                self.r.error(stmt, f"a loop over an array must keep each variable's type, but {name} goes from {describe(before[name])} to {describe(body_scope.variables[name])}")
                raise _Abort
            scope.variables[name] = body_scope.variables[name]
        if not carries:
            self.r.error(stmt, "this loop changes no variable defined before it, so it has no effect", hint="assign the loop's result to a variable defined before the loop")
        if not poisoned:
            self.model.resolved[id(stmt)] = LoopRef("array", carries, length=array.shape[0])

    # -- expressions --------------------------------------------------------------------

    def eval(self, node: s.Expr, scope: _Scope | None, allow_symbols: bool = True) -> Value:
        """The value of an expression; in a method (`scope` given), poisoned once an error in it was reported.

        In a value fixed at build time (`scope` None) an error raises `_Abort` instead.
        """
        method = getattr(self, "_eval_" + type(node).__name__, None)
        try:
            if method is None:
                self.r.error(node, "this expression is not allowed here")
                raise _Abort
            return method(node, scope, allow_symbols)
        except _Abort:
            if scope is None:
                raise
            self._reach(node)
            return POISONED

    def _reach(self, node: s.Node) -> None:
        """Count the fields that `node` names as called: its check stopped at an error, so they could not be."""
        self.reached.update(name for name in _names_in(node) if name in self.model.fields)

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

    def _eval_Name(self, node: s.Name, scope: _Scope | None, allow_symbols) -> Value:
        name = node.id
        resolved = self.model.resolved
        if scope is not None and name in scope.variables:
            resolved[id(node)] = Ref("local", name)
            return scope.variables[name]
        if scope is not None and name in scope.stack_vars:
            self.r.error(node, f"the loop variable {name} is a layer: call it, as in {name}(x)")
            raise _Abort
        static = self._lookup_static(name)
        if static is not None:
            if not allow_symbols:
                self.r.error(node, f"a default must be a literal, not the name {name!r}")
                raise _Abort
            if name in self.model.constants:
                resolved[id(node)] = Ref("const", name)
            elif any(h.name == name for h in self.model.hypers):
                resolved[id(node)] = Ref("hyper", name)
            else:
                if scope is not None and self.current is not None:
                    self.current.used_dims.setdefault(name, node)
                resolved[id(node)] = Ref("dim", name)
            return static
        if name in self.model.fields:
            info = self.model.fields[name]
            if scope is None:
                self.r.error(node, f"{name} is a layer or parameter; it cannot be used in a value fixed at build time")
                raise _Abort
            self._check_present(node, name, scope)
            resolved[id(node)] = Ref("field", name)
            if info.kind in ("param", "buffer"):
                # No tensor: its type had an error, already reported.
                return info.tensor if info.tensor is not None else POISONED
            self.r.error(node, f"{name} is a layer: call it, as in {name}(x)", hint="or map it over an axis: map(" + name + ", x)")
            raise _Abort
        if name in ACTIVATIONS:
            resolved[id(node)] = Ref("function", name)
            return Static("fn", name)
        if name in DTYPES:
            resolved[id(node)] = Ref("dtype", name)
            return Static("dtype", name)
        if name == "key" and self.current is not None:
            self.r.error(node, "key is managed by the compiler; it may only be passed to a sampling function such as normal(key, shape)")
            raise _Abort
        if name in self.broken or name in self.spec.failed_imports:
            raise _Abort
        candidates = list(scope.variables) if scope else []
        candidates += self._static_names() + list(self.model.fields) + list(FUNCTIONS) + list(self.model.methods)
        self.r.error(node, f"unknown name {name!r}", hint=_did_you_mean(name, candidates))
        raise _Abort

    def _check_present(self, node: s.Node, name: str, scope: _Scope) -> None:
        info = self.model.fields[name]
        if not info.conditional:
            return
        conditions = self.field_conditions.get(name, frozenset())
        if name in scope.present or (conditions and conditions <= scope.conditions):
            return
        if any(self.field_conditions.get(other) == conditions for other in scope.present):
            # Guarded by a layer defined under the same condition.
            return
        self.r.error(node, f"{name} exists only when its `if` condition holds; here it may be None", hint=f"guard this use: `if {name}:` or `... if {name} else ...`")
        raise _Abort

    def _eval_TupleExpr(self, node: s.TupleExpr, scope, allow_symbols) -> Value:
        return self._sequence(node.elts, scope, allow_symbols)

    def _eval_ListExpr(self, node: s.ListExpr, scope, allow_symbols) -> Value:
        return self._sequence(node.elts, scope, allow_symbols)

    def _sequence(self, elts, scope, allow_symbols) -> Value:
        values = [self.eval(e, scope, allow_symbols) for e in elts]
        if _any_poisoned(values):
            return POISONED
        if values and all(isinstance(v, Static) and v.kind == "int" for v in values):
            return Static("ints", tuple(v.value for v in values))
        if all(isinstance(v, Static) for v in values):
            if any(not v.known for v in values):
                return Static("tuple", None)
            return Static("tuple", tuple(values))
        return TupleValue(tuple(values))

    def _eval_BinOp(self, node: s.BinOp, scope, allow_symbols) -> Value:
        left = self.eval(node.left, scope, allow_symbols)
        right = self.eval(node.right, scope, allow_symbols)
        return self.binary(node, node.op, left, right)

    def binary(self, node: s.Node, op: str, left: Value, right: Value) -> Value:
        if _any_poisoned((left, right)):
            return POISONED
        if isinstance(left, Static) and isinstance(right, Static):
            return _static_binary(self.r, node, op, left, right)
        if op == "@":
            return self._matmul(node, left, right)
        if op not in ("+", "-", "*", "/", "//", "%", "**"):
            self.r.error(node, f"operator {op} is not defined for arrays")
            raise _Abort
        for side in (left, right):
            if isinstance(side, Static) and side.kind not in ("int", "float", "bool"):
                self.r.error(node, f"cannot apply {op} to {describe(left)} and {describe(right)}")
                raise _Abort
            if isinstance(side, TupleValue):
                self.r.error(node, f"cannot apply {op} to a tuple ({describe(side)})", hint="unpack it first: a, b = ...")
                raise _Abort
        try:
            result = broadcast(left, right)
        except ShapeError as error:
            self.r.error(node, f"{op}: {error.message}", hint=error.hint)
            raise _Abort from None
        if op == "/" and isinstance(result, TensorType) and not result.is_floating:
            result = TensorType("f32", result.shape)
        return result

    def _matmul(self, node: s.Node, left: Value, right: Value) -> Value:
        if not is_array(left) or not is_array(right):
            self.r.error(node, f"@ multiplies arrays, not {describe(left)} and {describe(right)}")
            raise _Abort
        if isinstance(left, UnknownArray) or isinstance(right, UnknownArray):
            return UnknownArray()
        if left.rank == 0 or right.rank == 0:
            self.r.error(node, f"@ needs arrays of rank 1 or more, got {left} and {right}", hint="use * to scale by a scalar")
            raise _Abort
        a_inner = left.shape[-1]
        b_inner = right.shape[0] if right.rank == 1 else right.shape[-2]
        if a_inner.definitely_differs(b_inner):
            axis = "axis 0" if right.rank == 1 else f"axis {right.rank - 2}"
            self.r.error(node, f"@: the last axis of the left operand {left} has size {a_inner}, but {axis} of the right operand {right} has size {b_inner}", hint="the inner sizes of a matrix product must agree; transpose one side with .T")
            raise _Abort
        a_batch = left.shape[:-2] if left.rank >= 2 else ()
        b_batch = right.shape[:-2] if right.rank >= 2 else ()
        try:
            batch = broadcast(TensorType("f32", a_batch), TensorType("f32", b_batch)).shape if (a_batch or b_batch) else ()
        except ShapeError as error:
            self.r.error(node, f"@: batch axes disagree: {error.message}")
            raise _Abort from None
        rows = (left.shape[-2],) if left.rank >= 2 else ()
        cols = (right.shape[-1],) if right.rank >= 2 else ()
        dtype = left.dtype if left.dtype == right.dtype else "f32"
        return TensorType(dtype, tuple(batch) + rows + cols)

    def _eval_UnaryOp(self, node: s.UnaryOp, scope, allow_symbols) -> Value:
        operand = self.eval(node.operand, scope, allow_symbols)
        if isinstance(operand, Poisoned):
            return operand
        if node.op == "not":
            if not isinstance(operand, Static):
                self.r.error(node, "`not` applies to a condition fixed at build time, not an array")
                raise _Abort
            if operand.kind == "presence":
                return Static("presence", None)
            return Static("bool", (not operand.value) if operand.known and operand.kind == "bool" else None)
        if isinstance(operand, Static):
            if operand.kind == "int":
                return Static("int", -operand.value if node.op == "-" else operand.value)
            if operand.kind == "float":
                return Static("float", -operand.value if operand.value is not None and node.op == "-" else operand.value)
            self.r.error(node, f"cannot negate {describe(operand)}")
            raise _Abort
        if isinstance(operand, TupleValue):
            self.r.error(node, "cannot negate a tuple")
            raise _Abort
        return operand

    def _eval_BoolOp(self, node: s.BoolOp, scope, allow_symbols) -> Value:
        values = [self._truth(v, scope, allow_symbols) for v in node.values]
        if node.op == "and":
            if any(v is False for v in values):
                return Static("bool", False)
            return Static("bool", True if all(v is True for v in values) else None)
        if any(v is True for v in values):
            return Static("bool", True)
        return Static("bool", False if all(v is False for v in values) else None)

    def _truth(self, node: s.Expr, scope, allow_symbols) -> bool | None:
        if isinstance(node, s.Name) and scope is not None and node.id not in scope.variables and node.id in self.model.fields:
            info = self.model.fields[node.id]
            self.model.resolved[id(node)] = Ref("presence", node.id)
            if not info.conditional:
                return True
            return None
        if isinstance(node, s.UnaryOp) and node.op == "not":
            inner = self._truth(node.operand, scope, allow_symbols)
            return None if inner is None else not inner
        if isinstance(node, s.BoolOp):
            return self._eval_BoolOp(node, scope, allow_symbols).value
        value = self.eval(node, scope, allow_symbols)
        if isinstance(value, Poisoned):
            return None
        if not isinstance(value, Static):
            self.r.error(node, f"a condition must be fixed when the model is built (hyperparameters, layer presence), not {describe(value)}", hint="to choose between arrays elementwise, use where(condition, a, b)")
            raise _Abort
        if value.kind == "bool":
            return value.value
        if value.kind == "int" and isinstance(value.value, Dim) and value.value.value is not None:
            return bool(value.value.value)
        return None

    def _eval_Compare(self, node: s.Compare, scope, allow_symbols) -> Value:
        values = [self.eval(o, scope, allow_symbols) for o in node.operands]
        if _any_poisoned(values):
            return Static("bool", None)
        results = []
        for op, left, right in zip(node.ops, values, values[1:]):
            if not isinstance(left, Static) or not isinstance(right, Static):
                self.r.error(node, "comparisons are between values fixed at build time; compare arrays elementwise with where(...)", hint=None)
                raise _Abort
            results.append(_static_compare(op, left, right))
        if any(r is False for r in results):
            return Static("bool", False)
        return Static("bool", True if all(r is True for r in results) else None)

    def _eval_IfExp(self, node: s.IfExp, scope, allow_symbols) -> Value:
        if scope is None:
            test = self.eval(node.test, None, allow_symbols)
            body = self.eval(node.body, None, allow_symbols)
            orelse = self.eval(node.orelse, None, allow_symbols)
            if isinstance(test, Static) and test.kind == "bool" and test.value is not None:
                return body if test.value else orelse
            merged = _merge(body, orelse)
            return merged if merged is not None else body
        test, present = self.condition(node.test, scope)
        known = test.value if test.kind == "bool" else None
        if known is not None:
            self.model.resolved[id(node)] = StaticBranch(known)
        then_scope = scope.copy()
        then_scope.present = scope.present | present
        then_scope.conditions = scope.conditions | {_condition_key(node.test)}
        body = self.eval(node.body, then_scope) if known is not False else None
        orelse = self.eval(node.orelse, scope) if known is not True else None
        if body is None:
            return orelse
        if orelse is None:
            return body
        merged = _merge(body, orelse)
        if merged is None:
            self.r.error(node, f"the two branches give {describe(body)} and {describe(orelse)}", hint="both branches of a conditional expression must have one shape")
            raise _Abort
        return merged

    def _eval_Attribute(self, node: s.Attribute, scope, allow_symbols) -> Value:
        base = node.value
        if isinstance(base, s.Name) and scope is not None and base.id not in scope.variables and base.id in self.model.fields:
            info = self.model.fields[base.id]
            self._check_present(base, base.id, scope)
            if info.kind in ("layer",):
                self.model.resolved[id(base)] = Ref("field", base.id)
                if info.name in self.failed_layers:
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
        self.r.error(node, f"{describe(value)} has no attribute {node.attr!r}", hint="arrays have .T, .shape and .ndim" if is_array(value) else None)
        raise _Abort

    def _layer_attribute(self, node: s.Attribute, info: FieldInfo) -> Value:
        args = self._full_args(info, rest=False)
        weights = _weight_shapes(info.layer, args)
        if node.attr in weights:
            self.model.resolved[id(node)] = Ref("weight", info.name)
            return weights[node.attr]
        names = sorted(weights)
        self.r.error(node, f"{info.name} ({info.layer.name}) has no array attribute {node.attr!r} the compiler knows", hint=_did_you_mean(node.attr, names) or ("known: " + ", ".join(names) if names else None))
        raise _Abort

    def _full_args(self, info: FieldInfo, rest: bool) -> dict[str, object]:
        args = {k: v for k, (v, _) in info.given.items()}
        inferred = info.inferred_rest if rest and info.inferred_rest is not None else info.inferred
        args.update(inferred or {})
        return args

    def _eval_Subscript(self, node: s.Subscript, scope, allow_symbols) -> Value:
        value = self.eval(node.value, scope, allow_symbols)
        if isinstance(value, TupleValue) or isinstance(value, Static) and value.kind in ("ints", "tuple"):
            if len(node.index) != 1 or isinstance(node.index[0], (s.Slice, s.EllipsisExpr)):
                self.r.error(node, "a tuple takes one integer index")
                raise _Abort
            index = self.static_eval(node.index[0])
            items = value.items if isinstance(value, TupleValue) else value.value
            if index.kind != "int" or index.value.value is None or items is None:
                self.r.error(node.index[0], "a tuple index must be a known integer")
                raise _Abort
            i = index.value.value
            if not -len(items) <= i < len(items):
                self.r.error(node.index[0], f"index {i} is out of range for a tuple of {len(items)}")
                raise _Abort
            item = items[i]
            return static_int(item) if isinstance(item, Dim) else item
        if isinstance(value, (UnknownArray, Poisoned)):
            for item in node.index:
                self._index_part(item, scope)
            return value
        if not isinstance(value, TensorType):
            self.r.error(node, f"cannot index {describe(value)}")
            raise _Abort
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
            raise _Abort
        if not isinstance(value, Static) or value.kind != "int":
            self.r.error(part, f"a slice bound must be an int fixed at build time, not {describe(value)}")
            raise _Abort
        return value.value

    def _index_array(self, node: s.Subscript, array: TensorType, scope) -> Value:
        items = list(node.index)
        ellipses = [i for i, item in enumerate(items) if isinstance(item, s.EllipsisExpr)]
        if len(ellipses) > 1:
            self.r.error(node, "an index may hold one `...`")
            raise _Abort
        consuming = [item for item in items if not isinstance(item, s.EllipsisExpr) and not (isinstance(item, s.Constant) and item.value is None)]
        if len(consuming) > array.rank:
            self.r.error(node, f"too many indices ({len(consuming)}) for {array} of rank {array.rank}")
            raise _Abort
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
                    raise _Abort
                if isinstance(value, Static) and value.kind == "int":
                    size = array.shape[axis]
                    i = value.value.value
                    if i is not None and size.value is not None and not -size.value <= i < size.value:
                        self.r.error(item, f"index {i} is out of range for axis {axis} of {array} (size {size})")
                        raise _Abort
                    axis += 1
                elif isinstance(value, TensorType) and value.is_integer:
                    shape.extend(value.shape)
                    axis += 1
                else:
                    self.r.error(item, f"an index must be an int, a slice, None, ... or an integer array, not {describe(value)}")
                    raise _Abort
        return TensorType(array.dtype, tuple(shape))

    def _slice_size(self, item: s.Slice, size: Dim, axis: int, array: TensorType, scope) -> Dim:
        lower = self._slice_bound(item.lower, scope) if item.lower is not None else None
        upper = self._slice_bound(item.upper, scope) if item.upper is not None else None
        step = self._slice_bound(item.step, scope) if item.step is not None else None
        if step is not None and step.value != 1:
            if step.value is None or size.value is None or (lower is not None and lower.value is None) or (upper is not None and upper.value is None):
                self.r.error(item, "a slice with a step needs known bounds and sizes", hint="reshape instead, or use known sizes")
                raise _Abort
            return Dim.const(len(range(size.value)[slice(lower.value if lower else None, upper.value if upper else None, step.value)]))
        start = lower if lower is not None else Dim.const(0)
        stop = upper if upper is not None else size
        if start.value is not None and start.value < 0:
            start = size + start
        if stop.value is not None and stop.value < 0:
            stop = size + stop
        if (stop - size).value is not None and (stop - size).value > 0:
            self.r.error(item, f"the slice ends at {stop}, past the end of axis {axis} of {array} (size {size})")
            raise _Abort
        if (size - stop).definitely_differs(0) and stop.value is not None and size.value is not None and stop.value > size.value:
            self.r.error(item, f"the slice ends at {stop}, past axis {axis} of {array} (size {size})")
            raise _Abort
        length = stop - start
        if length.value is not None and length.value < 0:
            length = Dim.const(0)
        return length

    def _eval_Slice(self, node, scope, allow_symbols) -> Value:
        self.r.error(node, "a slice is only allowed inside [...]")
        raise _Abort

    def _eval_EllipsisExpr(self, node, scope, allow_symbols) -> Value:
        self.r.error(node, "`...` is only allowed inside [...]")
        raise _Abort

    def _eval_Pipeline(self, node: s.Pipeline, scope, allow_symbols) -> Value:
        if scope is None:
            self.r.error(node, "a pipeline computes on arrays; it cannot be a constant")
            raise _Abort
        value = self.eval(node.source, scope)
        for step in node.steps:
            try:
                value = self.apply(step, [value], scope)
            except _Abort:
                # Reported: the later steps still run, on a poisoned value.
                value = POISONED
        return value

    def _eval_Call(self, node: s.Call, scope, allow_symbols) -> Value:
        func = node.func
        if scope is None:
            if isinstance(func, s.Name) and func.id in FUNCTIONS and func.id not in ("normal", "uniform", "bernoulli"):
                self.r.error(node, f"{func.id}(...) computes on arrays; a value fixed at build time cannot call it")
            else:
                self.r.error(node, "a call is not allowed in a value fixed at build time")
            raise _Abort
        return self.apply(node, [], scope)

    # -- calls ---------------------------------------------------------------------------

    def apply(self, step: s.Expr, piped: list[Value], scope: _Scope) -> Value:
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
            raise _Abort
        if isinstance(func, s.Name) and func.id == "map" and "map" not in scope.variables and arg_nodes:
            # map's first argument is the callable, checked by call_map itself.
            args = list(piped) + [Static("none", None)] + [self.eval(a, scope) for a in arg_nodes[1:]]
        else:
            args = list(piped) + [self.eval(a, scope) if not self._is_key_arg(a) else Static("key", None) for a in arg_nodes]
        nodes = [step] * len(piped) + arg_nodes
        kw_values = {}
        for kw in keywords:
            kw_values[kw.name] = (self.eval(kw.value, scope) if not self._is_key_arg(kw.value) else Static("key", None), kw)
        return self.call(step, func, args, nodes, kw_values, scope)

    def _is_key_arg(self, node: s.Expr) -> bool:
        return isinstance(node, s.Name) and node.id == "key"

    def call(self, node: s.Expr, func: s.Expr, args: list[Value], nodes: list, keywords: dict, scope: _Scope) -> Value:
        model = self.model
        if _any_poisoned([*args, *(value for value, _ in keywords.values())]):
            self._reach(node)
            if isinstance(func, s.Name) and func.id in scope.stack_vars:
                self.reached.add(scope.stack_vars[func.id][0])
            return POISONED
        if isinstance(func, s.Name):
            name = func.id
            if name in scope.stack_vars:
                stack_name, copy = scope.stack_vars[name]
                model.resolved[id(func)] = Ref("layer_var", stack_name)
                return self.call_layer(node, model.fields[stack_name], args, nodes, keywords, rest=copy > 0)
            if name in scope.variables:
                self.r.error(func, f"{name} is a variable ({describe(scope.variables[name])}), not something to call")
                raise _Abort
            if name in model.fields:
                info = model.fields[name]
                self._check_present(func, name, scope)
                model.resolved[id(func)] = Ref("field", name)
                if info.kind == "layer":
                    return self.call_layer(node, info, args, nodes, keywords, rest=False)
                if info.kind == "stack":
                    self.r.error(func, f"{name} is a stack of layers: loop over it with `for layer in {name}:`")
                else:
                    self.r.error(func, f"{name} is a parameter, not a layer; use it in an expression")
                raise _Abort
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
                    raise _Abort
                if not is_array(args[0]):
                    self.r.error(node, f"{name} takes an array, not {describe(args[0])}")
                    raise _Abort
                return args[0]
            if name in FUNCTIONS:
                model.resolved[id(func)] = Ref("function", name)
                return self.call_function(node, FUNCTIONS[name], args, nodes, keywords)
            if self.layer_class(name) is not None:
                self.r.error(func, f"{name}(...) builds a layer; define it as a field (name = {name}(...)) and call the field")
                raise _Abort
            if name in self.broken or name in self.spec.failed_imports:
                raise _Abort
            candidates = list(scope.variables) + list(model.fields) + list(FUNCTIONS) + list(model.methods) + ["map"]
            self.r.error(func, f"unknown function or layer {name!r}", hint=_did_you_mean(name, candidates))
            raise _Abort
        if isinstance(func, s.Attribute) and isinstance(func.value, s.Name) and func.value.id in model.fields and func.value.id not in scope.variables:
            info = model.fields[func.value.id]
            self._check_present(func.value, info.name, scope)
            if info.kind == "layer" and isinstance(info.layer, ModelLayer):
                model.resolved[id(func.value)] = Ref("field", info.name)
                return self.call_layer(node, info, args, nodes, keywords, rest=False, method=func.attr)
        self.r.error(func, "only layers, methods, functions and function hyperparameters can be called")
        raise _Abort

    def _layer_inputs(self, node, layer, args: list[Value], nodes: list, keywords: dict, method: str | None) -> tuple[tuple, tuple[str, ...]]:
        names = layer.inputs
        if method is not None:
            info = layer.model.methods.get(method)
            if info is None:
                self.r.error(node, f"{layer.name} has no method {method!r}", hint=_did_you_mean(method, [m for m in layer.model.methods if m != "forward"]))
                raise _Abort
            names = tuple(n for n, _ in info.params)
        optional = tuple(getattr(layer, "optional_inputs", ()))
        if len(args) != len(names):
            what = f"{layer.name}.{method}" if method else layer.name
            self.r.error(node, f"{what} takes {len(names)} input{'s' if len(names) != 1 else ''} ({', '.join(names)}), got {len(args)}")
            raise _Abort
        used_keywords = []
        extra = []
        for kw_name, (value, kw_node) in keywords.items():
            if kw_name not in optional:
                hint = "the compiler passes key and inference itself" if kw_name in ("key", "inference", "state") else _did_you_mean(kw_name, optional)
                self.r.error(kw_node, f"{layer.name} takes no input {kw_name!r}", hint=hint)
                raise _Abort
            used_keywords.append(kw_name)
            extra.append(value)
        for value, arg_node in zip(args, nodes):
            if isinstance(value, Static):
                self.r.error(arg_node, f"{layer.name} takes arrays, not {describe(value)}")
                raise _Abort
        inputs = tuple(_to_layer_value(v) for v in args)
        return inputs, tuple(used_keywords)

    def call_layer(self, node, info: FieldInfo, args, nodes, keywords, rest: bool, method: str | None = None) -> Value:
        if info.name in self.failed_layers:
            # Its constructor's error was reported; what it would make of its inputs is unknown.
            self.reached.add(info.name)
            return POISONED
        layer = info.layer
        inputs, used_keywords = self._layer_inputs(node, layer, args, nodes, keywords, method)
        given = {k: v for k, (v, _) in info.given.items()}
        current = info.inferred_rest if rest else info.inferred
        if current is None:
            try:
                current = dict(layer.infer(_with_defaults(layer, given), inputs)) if not any(isinstance(i, UnknownArray) for i in inputs) else {}
            except LayerShapeError as error:
                self.r.error(node, error.message, hint=error.hint)
                raise _Abort from None
            current = {k: v for k, v in current.items() if k not in given}
            missing = [a.name for a in layer.args if a.inferred and a.required and a.name not in given and a.name not in current]
            if missing and not any(isinstance(i, UnknownArray) for i in inputs):
                self.r.error(node, f"cannot infer {', '.join(missing)} of {info.name} from this call", hint="give it explicitly")
            if rest:
                info.inferred_rest = current
            else:
                info.inferred = current
        full = _with_defaults(layer, {**given, **current})
        if any(isinstance(i, UnknownArray) for i in inputs):
            result: object = UnknownArray()
        else:
            try:
                if method is not None:
                    result = layer.output(full, inputs, method)
                elif isinstance(layer, LayerInfo) and used_keywords:
                    result = layer.output(full, inputs + tuple(_to_layer_value(keywords[k][0]) for k in used_keywords))
                else:
                    result = layer.output(full, inputs)
            except LayerShapeError as error:
                self.r.error(node, f"{info.name}: {error.message}" if not error.message.startswith(info.name) else error.message, hint=error.hint)
                raise _Abort from None
            except (TypeError, AttributeError, ValueError, KeyError) as error:
                self.r.error(node, f"cannot check the shapes of {info.name}: an argument it needs is not known when the spec is compiled ({error})", hint="give that argument a literal value")
                raise _Abort from None
        stochastic = layer.stochastic
        stateful = layer.stateful
        call_inference = getattr(layer, "call_inference", False)
        if method is not None:
            minfo = layer.model.methods[method]
            stochastic, stateful, call_inference = minfo.stochastic, minfo.stateful, minfo.call_inference or minfo.stochastic
        if stateful and self.current is not None:
            self.current.stateful = True
        if (stochastic or call_inference) and self.current is not None:
            self.current.call_inference = True
        if stochastic and self.current is not None:
            self.current.stochastic = True
        self.model.resolved[id(node)] = CallRef(
            "submethod" if method else "layer", info.name, stochastic=stochastic, stateful=stateful,
            call_inference=call_inference, method=method, keywords=used_keywords,
        )
        return _from_layer_value(result)

    def call_method(self, node, func: s.Name, info: MethodInfo, args, nodes, keywords) -> Value:
        self.model.resolved[id(func)] = Ref("method", info.name)
        if info.checking:
            self.r.error(node, f"method {info.name} calls itself (directly or through other methods)", hint="methods of a model cannot recurse")
            raise _Abort
        self.check_method(info)
        if keywords:
            first = next(iter(keywords.values()))[1]
            self.r.error(first, f"method {info.name} takes its inputs by position")
            raise _Abort
        if len(args) != len(info.params):
            self.r.error(node, f"method {info.name} takes {len(info.params)} inputs, got {len(args)}")
            raise _Abort
        bound: dict[str, Dim] = {}
        for (name, declared), actual, arg_node in zip(info.params, args, nodes):
            if not isinstance(actual, TensorType):
                if isinstance(actual, UnknownArray):
                    continue
                self.r.error(arg_node, f"input {name} of {info.name} must be {declared}, not {describe(actual)}")
                raise _Abort
            if actual.rank != declared.rank:
                self.r.error(arg_node, f"input {name} of {info.name} must be {declared}, got {actual}")
                raise _Abort
            for axis, (want, got) in enumerate(zip(declared.shape, actual.shape)):
                expected = want.substitute(bound)
                symbols = want.symbols
                if len(symbols) == 1 and want == Dim.symbol(next(iter(symbols))) and next(iter(symbols)) in self.model.input_dims and next(iter(symbols)) not in self.model.init_dims and next(iter(symbols)) not in bound:
                    bound[next(iter(symbols))] = got
                    continue
                if expected.definitely_differs(got):
                    self.r.error(arg_node, f"axis {axis} of input {name} of {info.name} must be {expected}, got {got} in {actual}")
                    raise _Abort
        if info.stateful:
            self.current.stateful = True
        if info.stochastic:
            self.current.stochastic = True
        if info.call_inference or info.stochastic:
            self.current.call_inference = True
        self.model.resolved[id(node)] = CallRef("method", info.name, stochastic=info.stochastic, stateful=info.stateful, call_inference=info.call_inference or info.stochastic)
        return _substitute(info.returns, bound)

    def call_function(self, node, function: Function, args, nodes, keywords) -> Value:
        params = function.params
        if function.name == "einsum":
            if not args:
                self.r.error(node, "einsum needs subscripts and operands")
                raise _Abort
            bound_values = {"subscripts": args[0], "operands": TupleValue(tuple(args[1:]))}
            for value, arg_node in zip(args[1:], nodes[1:]):
                if not is_array(value):
                    self.r.error(arg_node, f"einsum's operands are arrays, not {describe(value)}")
                    raise _Abort
            bound_nodes: dict[str, s.Node | None] = {"subscripts": nodes[0], "operands": node}
        else:
            bound_values, bound_nodes = self._bind_values(node, function, args, nodes, keywords)
        for param in params:
            value = bound_values.get(param.name)
            where = bound_nodes.get(param.name) or node
            if value is None:
                continue
            if not _fits_param(value, param):
                self.r.error(where, f"argument {param.name} of {function.name} must be {_param_words(param)}, not {describe(value)}")
                raise _Abort
        try:
            result = function.rule(bound_values)
        except ShapeError as error:
            where = bound_nodes.get(error.argument) if error.argument else None
            self.r.error(where or node, f"{function.name}: {error.message}", hint=error.hint)
            raise _Abort from None
        if function.stochastic:
            self.current.stochastic = True
            self.current.call_inference = True
        self.model.resolved[id(node)] = CallRef("function", function.name, stochastic=function.stochastic)
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
            raise _Abort
        for param, value, arg_node in zip(positional, args, nodes):
            values[param.name] = value
            where[param.name] = arg_node
        names = [p.name for p in params]
        for kw_name, (value, kw_node) in keywords.items():
            if kw_name not in names or kw_name == "key":
                self.r.error(kw_node, f"{function.name} has no argument {kw_name!r}", hint=_did_you_mean(kw_name, names) or "arguments: " + ", ".join(names))
                raise _Abort
            if kw_name in values:
                self.r.error(kw_node, f"argument {kw_name!r} of {function.name} is given twice")
                raise _Abort
            values[kw_name] = value
            where[kw_name] = kw_node
        for param in params:
            if param.name not in values:
                if param.default is FN_REQUIRED:
                    self.r.error(node, f"{function.name} needs the argument {param.name!r}")
                    raise _Abort
                values[param.name] = _static_of(param.default)
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
                result[param.name] = (self.static_eval(arg), arg)
            except _Abort:
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
                result[kw.name] = (self.static_eval(kw.value), kw.value)
            except _Abort:
                pass
        for param in params:
            # A missing argument that an unknown one was suggested as is the same mistake, reported once.
            if param.name not in result and param.default is FN_REQUIRED and param.name not in suggested:
                self.r.error(call, f"{what} needs the argument {param.name!r}")
        return result

    def call_map(self, node, args, nodes, keywords, scope: _Scope) -> Value:
        if keywords:
            first = next(iter(keywords.values()))[1]
            self.r.error(first, "map takes a layer or function and the arrays to map over, by position")
            raise _Abort
        if not isinstance(node, s.Call) or not node.args:
            self.r.error(node, "map needs a layer or function first: map(layer, x)")
            raise _Abort
        callee = node.args[0]
        piped = len(nodes) - len(node.args)
        arrays = args[:piped] + args[piped + 1 :]
        array_nodes = nodes[:piped] + nodes[piped + 1 :]
        if not arrays:
            self.r.error(node, "map needs at least one array to map over: map(layer, x)")
            raise _Abort
        length = None
        slices = []
        for value, arg_node in zip(arrays, array_nodes):
            if not isinstance(value, TensorType) or value.rank == 0:
                self.r.error(arg_node, f"map runs over the leading axis of arrays, not {describe(value)}")
                raise _Abort
            if length is not None and length.definitely_differs(value.shape[0]):
                self.r.error(arg_node, f"map's arrays must share their leading size: {length} and {value.shape[0]}")
                raise _Abort
            length = value.shape[0] if length is None else length
            slices.append(TensorType(value.dtype, value.shape[1:]))
        if isinstance(callee, s.Call):
            result = self.apply(callee, slices, scope)
            inner = self.model.resolved.get(id(callee))
        else:
            result = self.call(callee, callee, slices, [callee] * len(slices), {}, scope)
            inner = self.model.resolved.get(id(callee))
        if isinstance(inner, CallRef) and inner.stateful:
            self.r.error(node, "a stateful layer cannot be mapped", hint="BatchNorm normalises over a batch: vmap the whole model with axis_name instead")
            raise _Abort
        self.model.resolved[id(node)] = CallRef("map", "map", stochastic=bool(inner and getattr(inner, "stochastic", False)), inner=inner if isinstance(inner, CallRef) else None)
        return _stack_value(result, length)


# ---- helpers -----------------------------------------------------------------------


def _stack_value(value: Value, length: Dim) -> Value:
    if isinstance(value, TensorType):
        return TensorType(value.dtype, (length, *value.shape))
    if isinstance(value, TupleValue):
        return TupleValue(tuple(_stack_value(v, length) for v in value.items))
    if isinstance(value, Static) and value.kind in ("int", "float", "bool"):
        return TensorType({"int": "i32", "float": "f32", "bool": "bool"}[value.kind], (length,))
    return value


def _with_defaults(layer, given: dict) -> dict:
    """The arguments a layer's rules see: the table's layers complete their own defaults."""
    if isinstance(layer, LayerInfo):
        return dict(given)
    full = {a.name: a.default for a in layer.args if not a.required}
    full.update(given)
    return full


def _walk_items(items):
    for item in items:
        yield item
        if isinstance(item, s.ModelIf):
            yield from _walk_items(item.body)
            yield from _walk_items(item.orelse)


def _model_conditions(items) -> list[s.Expr]:
    """The tests of the model-level `if`s, outer ones first."""
    tests = []
    for item in items:
        if isinstance(item, s.ModelIf):
            tests.append(item.test)
            tests.extend(_model_conditions(item.body))
            tests.extend(_model_conditions(item.orelse))
    return tests


def _names_in(node: object) -> set[str]:
    """Every name an expression reads."""
    if isinstance(node, s.Name):
        return {node.id}
    if isinstance(node, tuple):
        return set().union(*(_names_in(item) for item in node)) if node else set()
    if isinstance(node, s.Node):
        return set().union(*(_names_in(value) for key, value in vars(node).items() if key != "pos"))
    return set()


def _items_with_conditions(items, conditions: tuple[str, ...] = ()):
    for item in items:
        if isinstance(item, s.ModelIf):
            key = _condition_key(item.test)
            yield from _items_with_conditions(item.body, conditions + (key,))
            yield from _items_with_conditions(item.orelse, conditions + ("not " + key,))
        else:
            yield item, conditions


def _walk_statements(body):
    for stmt in body:
        yield stmt
        if isinstance(stmt, s.If):
            yield from _walk_statements(stmt.body)
            yield from _walk_statements(stmt.orelse)
        elif isinstance(stmt, s.For):
            yield from _walk_statements(stmt.body)


def _assigned_names(body) -> set[str]:
    names: set[str] = set()
    for stmt in _walk_statements(body):
        if isinstance(stmt, s.Assign):
            names.update(t.id for t in stmt.targets)
        elif isinstance(stmt, s.AugAssign):
            names.add(stmt.target.id)
    return names


def _always_returns(body) -> bool:
    if not body:
        return False
    last = body[-1]
    if isinstance(last, s.Return):
        return True
    if isinstance(last, s.If):
        return _always_returns(last.body) and _always_returns(last.orelse)
    return False


def _presence_names(node: s.Expr) -> list[str]:
    """Layer names a condition proves present when it holds (`proj`, `proj and norm`)."""
    if isinstance(node, s.Name):
        return [node.id]
    if isinstance(node, s.BoolOp) and node.op == "and":
        return [n for v in node.values for n in _presence_names(v)]
    return []


def _same_type(a: Value | None, b: Value | None) -> bool:
    if isinstance(a, Poisoned) or isinstance(b, Poisoned):
        return True
    if isinstance(a, TensorType) and isinstance(b, TensorType):
        return a.dtype == b.dtype and a.shape == b.shape
    return a == b


def _compatible(a: Value, b: Value) -> bool:
    return _merge(a, b) is not None


def _merge(a: Value | None, b: Value | None) -> Value | None:
    """One type for two values that may meet (branches, returns), or None if they definitely differ."""
    if a is None or b is None:
        return a if b is None else b
    if isinstance(a, Poisoned) or isinstance(b, Poisoned):
        return POISONED
    if isinstance(a, UnknownArray) and is_array(b):
        return b
    if isinstance(b, UnknownArray) and is_array(a):
        return a
    if isinstance(a, TensorType) and isinstance(b, TensorType):
        if a.rank != b.rank:
            return None
        if any(x.definitely_differs(y) for x, y in zip(a.shape, b.shape)):
            return None
        if a.dtype != b.dtype and not (a.is_floating and b.is_floating):
            return None
        return a
    if isinstance(a, TupleValue) and isinstance(b, TupleValue):
        if len(a.items) != len(b.items):
            return None
        items = [_merge(x, y) for x, y in zip(a.items, b.items)]
        return None if any(i is None for i in items) else TupleValue(tuple(items))
    if isinstance(a, Static) and isinstance(b, Static):
        if a.kind != b.kind:
            if {a.kind, b.kind} <= {"int", "float"}:
                return Static("float", None)
            return None
        return a if a == b else Static(a.kind, None if a.kind != "int" else a.value)
    return None


def _static_of(value: object) -> Static:
    if value is None:
        return Static("none", None)
    if isinstance(value, bool):
        return Static("bool", value)
    if isinstance(value, int):
        return static_int(value)
    if isinstance(value, float):
        return Static("float", value)
    return Static("dtype" if value in DTYPES else "str", value)


def _static_binary(reporter: _Reporter, node: s.Node, op: str, left: Static, right: Static) -> Static:
    if left.kind == "int" and right.kind == "int" and op in ("+", "-", "*", "//", "%"):
        a, b = left.value, right.value
        if op in ("//", "%") and b.value == 0:
            reporter.error(node, "division by zero")
            raise _Abort
        return Static("int", {"+": a + b, "-": a - b, "*": a * b, "//": a // b, "%": a % b}[op])
    numeric = {"int", "float"}
    if left.kind in numeric and right.kind in numeric and op in ("+", "-", "*", "/", "**", "//", "%"):
        a = _number(left)
        b = _number(right)
        if left.kind == "int" and right.kind == "int" and op == "**":
            if a is not None and b is not None:
                return static_int(int(a ** b))
            return Static("float", None)
        if a is None or b is None:
            return Static("float", None)
        try:
            result = {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "**": a ** b, "//": a // b, "%": a % b}[op]
        except ZeroDivisionError:
            reporter.error(node, "division by zero")
            raise _Abort from None
        return Static("float", float(result))
    if op == "+" and left.kind == "str" and right.kind == "str":
        return Static("str", left.value + right.value if left.known and right.known else None)
    if op == "+" and left.kind == "ints" and right.kind == "ints" and left.value is not None and right.value is not None:
        return Static("ints", left.value + right.value)
    reporter.error(node, f"cannot apply {op} to {describe(left)} and {describe(right)}")
    raise _Abort


def _number(value: Static) -> float | int | None:
    if value.kind == "int":
        return value.value.value if isinstance(value.value, Dim) else None
    return value.value  # type: ignore[return-value]


def _static_compare(op: str, left: Static, right: Static) -> bool | None:
    if left.kind == "int" and right.kind == "int":
        difference = left.value - right.value
        if difference.value is not None:
            d = difference.value
            return {"==": d == 0, "!=": d != 0, "<": d < 0, "<=": d <= 0, ">": d > 0, ">=": d >= 0}[op]
        if op in ("==", "!=") and difference.definitely_differs(0):
            return op == "!="
        return None
    a, b = left.value, right.value
    if left.known and right.known and op in ("==", "!="):
        return (a == b) == (op == "==")
    if left.known and right.known and left.kind in ("int", "float") and right.kind in ("int", "float"):
        x, y = _number(left), _number(right)
        return {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}.get(op)
    return None


def _fits(value: Static, kind: str, length: int | None = None) -> bool:
    if kind == "float":
        return value.kind in ("float", "int")
    if kind == "ints":
        if value.kind == "ints":
            return length is None or value.value is None or len(value.value) == length
        return False
    return value.kind == kind


_MISMATCH = object()


def _table_value(value: Static, arg: LayerArg) -> object:
    """A checker value in the layer table's representation, or `_MISMATCH`."""
    kind = arg.kind
    if value.kind == "none" and arg.default is None:
        return None
    if kind == "int":
        if value.kind == "int":
            return value.value
        if value.kind == "str" and value.value in arg.choices:
            return value.value
        return _MISMATCH
    if kind == "float":
        if value.kind == "int":
            return float(value.value.value) if value.known else value
        return (value.value if value.known else value) if value.kind == "float" else _MISMATCH
    if kind in ("bool", "str", "fn", "dtype"):
        if value.kind != kind:
            return _MISMATCH
        return value.value if value.known else value
    if kind in ("ints", "shape"):
        if value.kind == "int":
            return value.value
        if value.kind == "ints":
            return tuple(value.value) if value.value is not None else value
        return _MISMATCH
    if kind == "padding":
        if value.kind == "int":
            return value.value
        if value.kind == "ints":
            return tuple(value.value) if value.value is not None else value
        if value.kind == "str":
            return value.value if value.known else value
        if value.kind == "tuple" and value.value is not None:
            pairs = []
            for item in value.value:
                if item.kind != "ints" or item.value is None or len(item.value) != 2:
                    return _MISMATCH
                pairs.append(tuple(item.value))
            return tuple(pairs)
        return _MISMATCH
    if kind == "any":
        if value.kind == "int":
            return value.value
        return value.value if value.known else value
    return _MISMATCH


def _kind_words(kind: str) -> str:
    return {"int": "an int", "float": "a number", "bool": "True or False", "str": "a string", "fn": "an activation such as relu", "ints": "a tuple of ints"}.get(kind, kind)


def _arg_kind_words(arg: LayerArg) -> str:
    words = {
        "int": "an int", "float": "a number", "bool": "True or False", "str": "a string", "fn": "an activation such as relu",
        "ints": "an int or a tuple of ints", "padding": "an int, a tuple of ints or (lo, hi) pairs, or 'SAME'/'VALID'",
        "shape": "an int or a tuple of ints", "dtype": "a dtype such as f32", "module": "a layer", "any": "a value",
    }[arg.kind]
    if arg.choices and arg.kind == "str":
        words += " (" + ", ".join(map(repr, arg.choices)) + ")"
    return words


def _fits_param(value: Value, param: FnParam) -> bool:
    kind = param.kind
    if kind == "array":
        return is_array(value) or isinstance(value, Static) and value.kind in ("int", "float", "bool")
    if kind == "arrays":
        return isinstance(value, TupleValue) and all(is_array(v) for v in value.items)
    if kind == "axis":
        return isinstance(value, Static) and value.kind in ("int", "ints", "none")
    if kind == "int":
        return isinstance(value, Static) and value.kind == "int"
    if kind == "shape":
        return isinstance(value, Static) and (value.kind in ("int", "ints") or value.kind == "none" and param.default is None)
    if kind == "float":
        return isinstance(value, Static) and (value.kind in ("float", "int") or value.kind == "none" and param.default is None)
    if kind == "key":
        return isinstance(value, Static) and value.kind == "key"
    return isinstance(value, Static) and value.kind == kind


def _param_words(param: FnParam) -> str:
    return {
        "array": "an array", "arrays": "a list of arrays such as [a, b]", "axis": "an int, a tuple of ints or None",
        "int": "an int", "shape": "an int or a tuple of ints", "float": "a number", "bool": "True or False",
        "str": "a string", "dtype": "a dtype such as f32", "key": "the method's key",
    }[param.kind]


def _weight_shapes(layer, args: Mapping[str, object]) -> dict[str, Value]:
    """The array attributes of a layer that expressions may read (`embed.weight`)."""
    if not isinstance(layer, LayerInfo):
        return {}
    name = layer.name
    dtype = args.get("dtype") if isinstance(args.get("dtype"), str) else "f32"

    def dim(arg: str) -> Dim | None:
        value = args.get(arg)
        return value if isinstance(value, Dim) else None

    if name == "Linear" and dim("in_features") is not None and dim("out_features") is not None:
        out = {"weight": TensorType(dtype, (dim("out_features"), dim("in_features")))}
        if args.get("use_bias", True) is not False:
            out["bias"] = TensorType(dtype, (dim("out_features"),))
        return out
    if name == "Embedding" and dim("num_embeddings") is not None and dim("embedding_size") is not None:
        return {"weight": TensorType(dtype, (dim("num_embeddings"), dim("embedding_size")))}
    if name in ("LayerNorm", "RMSNorm"):
        shape = args.get("shape")
        shape = (shape,) if isinstance(shape, Dim) else shape
        if isinstance(shape, tuple):
            return {"weight": TensorType(dtype, shape), "bias": TensorType(dtype, shape)}
    if name.startswith("Conv") and dim("in_channels") is not None and dim("out_channels") is not None:
        return {"weight": UnknownArray(), "bias": UnknownArray()}
    return {}


# ---- initialisers ------------------------------------------------------------


@dataclass(frozen=True)
class Initialiser:
    """A parameter initialiser: its arguments (name, default) and whether it reads fan-in/fan-out."""

    params: tuple[tuple[str, object], ...]
    fan: bool = False


#: Initialisers of `param` and `buffer` definitions.
INITIALISERS: Mapping[str, Initialiser] = {
    "zeros": Initialiser(()),
    "ones": Initialiser(()),
    "constant": Initialiser((("value", FN_REQUIRED),)),
    "normal": Initialiser((("stddev", 1.0), ("mean", 0.0))),
    "truncated_normal": Initialiser((("stddev", 1.0), ("lower", -2.0), ("upper", 2.0))),
    "uniform": Initialiser((("minval", 0.0), ("maxval", 1.0))),
    "glorot_uniform": Initialiser((), fan=True),
    "glorot_normal": Initialiser((), fan=True),
    "xavier_uniform": Initialiser((), fan=True),
    "xavier_normal": Initialiser((), fan=True),
    "he_uniform": Initialiser((), fan=True),
    "he_normal": Initialiser((), fan=True),
    "kaiming_uniform": Initialiser((), fan=True),
    "kaiming_normal": Initialiser((), fan=True),
}


# ---- the spec -----------------------------------------------------------------------


class _SpecChecker:
    def __init__(self, spec: s.SpecFile, load_import: Callable[[str, s.Node], CheckedSpec]):
        self.spec = spec
        self.reporter = _Reporter(spec.source, spec.path)
        self.load_import = load_import
        self.models: dict[str, CheckedModel] = {}
        self.checkers: dict[str, _ModelChecker] = {}
        self.imported: dict[str, tuple[str, CheckedModel]] = {}
        self.python: dict[str, PythonClass] = {}
        self.python_layers: dict[str, PythonLayer] = {}
        self.failed_imports: set[str] = set()

    def layer_names(self) -> list[str]:
        return list(LAYERS) + list(self.models) + list(self.imported) + list(self.python)

    def layer_class(self, name: str, current: CheckedModel):
        if name in self.models:
            model = self.models[name]
            if model is current:
                return None
            self.ensure_checked(model)
            if model.checking:
                return None
            return ModelLayer(model, name)
        if name in self.imported:
            module, model = self.imported[name]
            return ModelLayer(model, name)
        if name in self.python_layers:
            return self.python_layers[name]
        return LAYERS.get(name)

    def ensure_checked(self, model: CheckedModel) -> None:
        if model.checked or model.checking:
            return
        checker = self.checkers[model.name]
        model.checking = True
        checker.declare()
        for info in model.methods.values():
            checker.check_method(info)
        _finish_model(checker)
        model.checking = False
        model.checked = True

    def run(self) -> CheckedSpec:
        r = self.reporter
        for imp in self.spec.imports:
            if isinstance(imp, s.SpecImport):
                self._spec_import(imp)
            else:
                self._python_import(imp)
        for node in self.spec.models:
            if not _check_identifier(r, node, node.name, "model name"):
                continue
            if node.name in self.models or node.name in self.imported or node.name in self.python:
                r.error(node, f"model {node.name!r} is defined twice", hint="give each model its own name")
                continue
            model = CheckedModel(node.name, node, node.docstring)
            self.models[node.name] = model
            self.checkers[node.name] = _ModelChecker(self, model)
        for model in self.models.values():
            self.ensure_checked(model)
        if r.diagnostics:
            raise CompileError(r.diagnostics)
        path = self.spec.path
        source_name = os.path.basename(path) if path and not path.startswith("<") else path
        return CheckedSpec(
            path=path,
            source=self.spec.source,
            source_name=source_name,
            source_sha256=hashlib.sha256(self.spec.source.encode()).hexdigest(),
            spec=self.spec,
            models=self.models,
            imported_models=self.imported,
            python_classes=self.python,
            module_name=module_name(path),
        )

    def _spec_import(self, imp: s.SpecImport) -> None:
        try:
            checked = self.load_import(imp.path, imp)
        except CompileError as error:
            self.reporter.diagnostics.extend(error.diagnostics)
            self.failed_imports.update(item.local_name for item in imp.names)
            return
        for item in imp.names:
            model = checked.models.get(item.name)
            if model is None:
                self.reporter.error(item, f"{imp.path} has no model {item.name!r}", hint=_did_you_mean(item.name, checked.models))
                self.failed_imports.add(item.local_name)
                continue
            local = item.local_name
            if not _check_identifier(self.reporter, item, local, "imported name"):
                continue
            if local in self.imported or local in self.python:
                self.reporter.error(item, f"{local!r} is imported twice")
                continue
            self.imported[local] = (checked.module_name, model)

    def _python_import(self, imp: s.PythonImport) -> None:
        # Until the class is found, uses of its name are follow-on errors, not reported again.
        self.failed_imports.add(imp.local_name)
        self._read_python_class(imp)
        if imp.local_name in self.python_layers:
            self.failed_imports.discard(imp.local_name)

    def _read_python_class(self, imp: s.PythonImport) -> None:
        r = self.reporter
        local = imp.local_name
        if not _check_identifier(r, imp, local, "imported name"):
            return
        if local in self.imported or local in self.python:
            r.error(imp, f"{local!r} is imported twice")
            return
        for part in imp.module.split("."):
            if keyword.iskeyword(part) or not part.isidentifier():
                r.error(imp, f"{imp.module!r} is not a valid module name")
                return
        origin = _locate_module(imp.module)
        if origin is None:
            r.error(imp, f"cannot find the Python module {imp.module!r}", hint="it must be importable (on sys.path) and be Python source")
            return
        try:
            tree = ast.parse(Path(origin).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError) as error:
            r.error(imp, f"cannot read {origin}: {error}")
            return
        cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == imp.name), None)
        if cls is None:
            names = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
            r.error(imp, f"module {imp.module} defines no class {imp.name!r}", hint=_did_you_mean(imp.name, names))
            return
        args, init_key = _constructor_args(cls)
        pyclass = PythonClass(imp.module, imp.name, local, args, init_key, imp)
        self.python[local] = pyclass
        # The call signature, in the constructor arguments' names and new input dimensions.
        params: list[tuple[str, TensorType]] = []
        stochastic = stateful = False
        dims: set[str] = set()
        arg_names = {a.name for a in args}
        for param in imp.params:
            if param.type is None:
                if param.name == "key":
                    stochastic = True
                elif param.name == "state":
                    stateful = True
                else:
                    r.error(param, f"input {param.name} needs a type", hint="only key and state may be left untyped")
                continue
            tensor = self._signature_type(param.type, arg_names, dims)
            if tensor is not None:
                params.append((param.name, tensor))
        returns = [self._signature_type(t, arg_names, dims) for t in imp.returns]
        if any(t is None for t in returns):
            return
        result: Value = TupleValue(tuple(returns)) if imp.returns_tuple else returns[0]
        self.python_layers[local] = PythonLayer(pyclass, params, result, stochastic, stateful, dims)

    def _signature_type(self, node: s.TensorTypeExpr, arg_names: set[str], dims: set[str]) -> TensorType | None:
        if node.dtype not in DTYPES:
            self.reporter.error(node, f"unknown dtype {node.dtype!r}", hint=_did_you_mean(node.dtype, DTYPES))
            return None
        shape = []
        for dim in node.dims:
            value = _signature_dim(dim)
            if value is None:
                self.reporter.error(dim, "a dimension here is an int, a name, or +, -, *, // of those")
                return None
            dims |= set(value.symbols) - arg_names
            shape.append(value)
        return TensorType(node.dtype, tuple(shape))


def _locate_module(dotted_name: str) -> str | None:
    """The source file of a Python module, found on sys.path without running any code.

    `importlib.util.find_spec("pkg.mod")` would import (run) `pkg/__init__.py`;
    this walks the package levels with the path finder alone, which only looks
    at the file system.
    """
    search: list[str] | None = list(sys.path)
    parts = dotted_name.split(".")
    found = None
    for depth in range(1, len(parts) + 1):
        if search is None:
            return None
        try:
            found = importlib.machinery.PathFinder.find_spec(".".join(parts[:depth]), search)
        except (ImportError, ValueError, OSError):
            return None
        if found is None:
            return None
        locations = found.submodule_search_locations
        search = list(locations) if locations is not None else None
    if found.origin is None or not found.origin.endswith(".py"):
        return None
    return found.origin


def _signature_dim(node: s.Expr) -> Dim | None:
    if isinstance(node, s.Name):
        return Dim.symbol(node.id)
    if isinstance(node, s.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return Dim.const(node.value)
    if isinstance(node, s.BinOp) and node.op in ("+", "-", "*", "//"):
        left, right = _signature_dim(node.left), _signature_dim(node.right)
        if left is None or right is None:
            return None
        return {"+": left + right, "-": left - right, "*": left * right, "//": left // right}[node.op]
    return None


def _constructor_args(cls: ast.ClassDef) -> tuple[tuple[LayerArg, ...], bool]:
    """A Python class's constructor arguments, read from its source: `__init__`, else its annotated fields."""
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    args: list[LayerArg] = []
    init_key = False
    if init is not None:
        a = init.args
        positional = a.posonlyargs + a.args
        defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
        for arg, default in list(zip(positional, defaults))[1:]:
            args.append(LayerArg(arg.arg, _annotation_kind(arg.annotation), _default_value(default)))
        for arg, default in zip(a.kwonlyargs, a.kw_defaults):
            if arg.arg == "key":
                init_key = True
                continue
            args.append(LayerArg(arg.arg, _annotation_kind(arg.annotation), _default_value(default), keyword_only=True))
        return tuple(args), init_key
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            args.append(LayerArg(stmt.target.id, _annotation_kind(stmt.annotation), _default_value(stmt.value)))
    return tuple(args), False


def _annotation_kind(annotation: ast.expr | None) -> str:
    if isinstance(annotation, ast.Name) and annotation.id in ("int", "float", "bool", "str"):
        return annotation.id
    if isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Name) and annotation.value.id == "tuple":
        return "ints"
    return "any"


class _Opaque:
    """The default of a Python constructor argument that is not a literal."""

    def __repr__(self) -> str:
        return "<default>"


def _default_value(node: ast.expr | None) -> object:
    if node is None:
        return REQUIRED
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError):
        return _Opaque()
    if isinstance(value, int) and not isinstance(value, bool):
        return Dim.const(value)
    return value


def _finish_model(checker: _ModelChecker) -> None:
    """After the methods: report layers whose sizes were never inferred, and find the init dims."""
    model = checker.model
    r = checker.r
    init_dims: list[str] = []

    def note(dims) -> None:
        for name in sorted(set().union(*(d.symbols for d in dims)) if dims else ()):
            if name in model.input_dims and name not in init_dims:
                init_dims.append(name)

    for info in model.fields.values():
        if info.kind in ("param", "buffer"):
            if info.tensor is not None:
                note(info.tensor.shape)
            continue
        layer = info.layer
        missing = [a.name for a in layer.args if a.inferred and a.required and a.name not in info.given and (info.inferred is None or a.name not in info.inferred)]
        if info.inferred is None and missing and info.name not in checker.reached and info.name not in checker.failed_layers:
            r.error(info.node, f"{info.name} is never called, so its {', '.join(missing)} cannot be inferred", hint="call it in a method, or give the sizes explicitly")
        for values in ({k: v for k, (v, _) in info.given.items()}, info.inferred or {}, info.inferred_rest or {}):
            for value in values.values():
                if isinstance(value, Dim):
                    note([value])
                elif isinstance(value, tuple):
                    note([v for v in value if isinstance(v, Dim)])
        if info.count is not None:
            note([info.count])
    for name, (_, value) in model.constants.items():
        if value.kind == "int" and isinstance(value.value, Dim):
            note([value.value])
    # An input size tested by a model-level `if` decides which fields exist.
    for test in _model_conditions(model.node.items):
        note([Dim.symbol(name) for name in _names_in(test)])
    model.init_dims = init_dims
    for method in model.methods.values():
        for dim, where in method.used_dims.items():
            if dim not in init_dims and dim not in method.call_dims:
                r.error(where, f"the size {dim} is used in {method.name}, but no input of {method.name} has {dim} as one of its sizes", hint=f"declare an input with {dim} as a size of its own, such as f32[{dim}, ...]")


def check_spec(spec: s.SpecFile, load_import: Callable[[str, s.Node], CheckedSpec]) -> CheckedSpec:
    """Check a parsed spec: names, types, arity and shapes; infer every size left out.

    Args:
        spec: the parsed file.
        load_import: resolves the path of an imported `.eqx` file (relative to
            `spec.path`), parses and checks it, and returns its CheckedSpec;
            `node` is the import, for diagnostics.

    Returns:
        The checked spec, ready for `lower.lower_spec`.

    Raises:
        CompileError: with every diagnostic found in the file.
    """
    with gc_paused():
        return _SpecChecker(spec, load_import).run()
