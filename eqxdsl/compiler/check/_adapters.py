"""Models of the spec and Python classes, made to act as layers of the layer table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import overload

from eqxdsl.compiler.check._input_sizes import bind_axes
from eqxdsl.compiler.check._kinds import table_value
from eqxdsl.compiler.check._relations import require_relations
from eqxdsl.compiler.check.checked import CheckedModel, MethodInfo, PythonClass, element_symbol, length_symbol
from eqxdsl.compiler.dims import Dim, TensorType, proven_equal
from eqxdsl.compiler.library.layers import REQUIRED, LayerArg, LayerShapeError
from eqxdsl.compiler.values import TupleValue, UnknownArray, Value, describe


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
            kind = hyper.kind
            default: object = REQUIRED
            if hyper.default is not None:
                default = table_value(hyper.default, LayerArg(hyper.name, kind))
            args.append(LayerArg(hyper.name, kind, default, least=model.least_values.get(hyper.name, 0)))
        for dim in model.init_dims:
            args.append(LayerArg(dim, "int", inferred=True, keyword_only=True, least=0))
        self.args = tuple(args)
        self.init_key = True
        forward = model.forward
        self.stochastic = bool(forward and forward.stochastic)
        self.stateful = bool(forward and forward.stateful)
        self.call_inference = bool(forward and (forward.call_inference or forward.stochastic))
        self.inputs = tuple(name for name, _ in forward.params) if forward else ()
        self.optional_inputs = ()

    def _bindings(self, args: Mapping[str, object]) -> dict[str, Dim]:
        values: dict[str, Dim] = {}
        for hyper in self.model.hypers:
            value = args.get(hyper.name)
            if isinstance(value, Dim):
                values[hyper.name] = value
            elif hyper.kind == "ints" and isinstance(value, tuple):
                for index, item in enumerate(value):
                    values[element_symbol(hyper.name, index)] = item
                if hyper.length is None:
                    values[length_symbol(hyper.name)] = Dim.const(len(value))
        return values

    def bind_inputs(self, method: MethodInfo, args: Mapping[str, object], inputs: tuple) -> dict[str, Dim]:
        """The values of the method's symbolic input sizes for these inputs; raises LayerShapeError."""
        values = self._bindings(args)
        for dim in self.model.init_dims:
            given = args.get(dim)
            if isinstance(given, Dim):
                values[dim] = given
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
            mismatch = bind_axes(declared, actual, self.model.input_dims, values, bound)
            if mismatch is not None:
                axis, expected, got = mismatch
                raise LayerShapeError(
                    f"{self.name}: axis {axis} of input {name} must be {expected} (declared {declared}), got {got} in {actual}",
                    sizes=(expected, got),
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
            given = args.get(dim)
            if isinstance(given, Dim):
                values[dim] = given
        require_relations(self.model, values, self.name)
        try:
            return to_layer_value(_substitute(info.returns, values))
        except ZeroDivisionError:
            zeros = ", ".join(f"{name} = 0" for name, value in values.items() if isinstance(value, Dim) and value.value == 0)
            raise LayerShapeError(
                f"{self.name}'s output size divides by zero with these arguments" + (f" ({zeros})" if zeros else ""),
                hint=f"give {self.name} sizes that are at least 1",
            ) from None


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
                if not proven_equal(expected, got):
                    raise LayerShapeError(f"{self.name}: axis {axis} of input {name} must be {expected}, got {got} in {actual}", sizes=(expected, got))
        return to_layer_value(_substitute(self.returns, values))


@overload
def _substitute(value: Value, values: Mapping[str, Dim]) -> Value: ...
@overload
def _substitute(value: None, values: Mapping[str, Dim]) -> None: ...
def _substitute(value: Value | None, values: Mapping[str, Dim]) -> Value | None:
    """`value` with the sizes named in `values` put in."""
    if isinstance(value, TensorType):
        return TensorType(value.dtype, tuple(d.substitute(values) for d in value.shape))
    if isinstance(value, TupleValue):
        return TupleValue(tuple(_substitute(v, values) for v in value.items))
    return value


def to_layer_value(value: object) -> object:
    """Checker values to the layer table's representation (tuples for pairs)."""
    if isinstance(value, TupleValue):
        return tuple(to_layer_value(v) for v in value.items)
    return value


def from_layer_value(value: object) -> Value:
    if isinstance(value, tuple):
        return TupleValue(tuple(from_layer_value(v) for v in value))
    return value  # type: ignore[return-value]
