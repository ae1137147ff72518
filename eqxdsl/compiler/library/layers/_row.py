"""One row of the layer table (`LayerInfo`), its arguments (`LayerArg`), and `layer`, which builds a row."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from eqxdsl.compiler.dims import TensorType


class _Required:
    """The type of `REQUIRED`, the default of an argument that has none."""

    _instance: _Required | None = None

    def __new__(cls) -> _Required:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of a `LayerArg` that must be given (or inferred).
REQUIRED = _Required()


ARG_KINDS = frozenset({"int", "float", "bool", "str", "fn", "ints", "padding", "shape", "dtype", "module", "any"})


LayerInput = TensorType | tuple


Args = Mapping[str, object]


class LayerShapeError(Exception):
    """A layer cannot take the inputs it is given, or its arguments contradict them.

    Attributes:
        message: what disagrees, naming the layer, the argument or axis and both sizes.
        hint: how to fix it, or None.
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class LayerArg:
    """One constructor argument of a layer, in the runtime's positional order.

    Attributes:
        name: the parameter name.
        kind: what values it takes, one of `ARG_KINDS`: `"int"`, `"float"`,
            `"bool"`, `"str"`, `"fn"` (an activation or reduction, by name),
            `"ints"` (an int or one int per spatial axis), `"padding"` (an int,
            one int or one `(lo, hi)` pair per axis, or `"SAME"`, `"SAME_LOWER"`,
            `"VALID"`), `"shape"` (an int or a tuple of ints), `"dtype"`,
            `"module"` (a layer it wraps), `"any"`.
        default: its default value (in the value representation of the module
            docstring), or `REQUIRED`.
        inferred: whether the compiler fills it in from the input types when
            the spec leaves it out.
        keyword_only: whether it comes after the `*` of the constructor.
        choices: for a `"str"` argument, the strings it accepts; for an
            `"int"` argument, strings accepted in place of an int (`"scalar"`).
    """

    name: str
    kind: str
    default: object = REQUIRED
    inferred: bool = False
    keyword_only: bool = False
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ARG_KINDS:
            raise ValueError(f"unknown argument kind {self.kind!r}")

    @property
    def required(self) -> bool:
        """Whether the argument has no default."""
        return self.default is REQUIRED


InferFn = Callable[[Args, tuple], dict]


OutputFn = Callable[[Args, tuple], "LayerInput"]
#: `attributes(args)`: the array attributes a layer built with `args` has, by name.
AttributeFn = Callable[[Args], Mapping[str, object]]


@dataclass(frozen=True)
class LayerInfo:
    """What the compiler knows about one runtime layer.

    Attributes:
        name: the class name in `eqxdsl.runtime.nn`.
        args: its constructor arguments, positional order first.
        init_key: whether the constructor takes `key=`.
        stochastic: whether its call takes `key=` and `inference=` and may need a key.
        stateful: whether its call is `(x, state) -> (y, state)`.
        inputs: the names of the array inputs of its `__call__`, in order.
        optional_inputs: further array inputs it may take (attention's `mask`).
        call_inference: whether its call accepts `inference=` (every
            stochastic layer, and BatchNorm and SpectralNorm).
        infer: `infer(args, inputs)` gives values for the inferred arguments
            missing from `args`; an inferred argument it leaves out keeps its
            default (attention's `key_size` when it equals `query_size`).
        output: `output(args, inputs)` gives the output type (a tuple for an
            LSTM cell), or raises `LayerShapeError`. `args` holds the given and
            inferred arguments; defaults are filled in by the layer itself.
        attributes: `attributes(args)` gives the array attributes that
            expressions may read (`embed.weight`), by name, with their types
            (`UnknownArray` where the shape is not modelled); an attribute the
            built layer holds as None (a bias with `use_bias=False`) is absent.
            `args` as for `output`.
    """

    name: str
    args: tuple[LayerArg, ...]
    init_key: bool
    stochastic: bool
    stateful: bool
    inputs: tuple[str, ...]
    optional_inputs: tuple[str, ...]
    infer: InferFn = field(repr=False, compare=False)
    output: OutputFn = field(repr=False, compare=False)
    call_inference: bool = False
    attributes: AttributeFn = field(default=lambda args: {}, repr=False, compare=False)

    def arg(self, name: str) -> LayerArg:
        """The argument called `name`; KeyError if the layer has none."""
        for arg in self.args:
            if arg.name == name:
                return arg
        raise KeyError(name)

    def with_defaults(self, args: Args) -> dict[str, object]:
        """`args` completed with the default of every argument it leaves out."""
        full = {arg.name: arg.default for arg in self.args if not arg.required}
        full.update(args)
        return full


class LayerValue(Protocol):
    """A layer given as an argument to a wrapper layer: it maps input types to an output type."""

    def output(self, inputs: tuple) -> LayerInput: ...


@dataclass(frozen=True)
class BoundLayer:
    """A table layer with its (given and inferred) arguments, usable as a `"module"` value."""

    info: LayerInfo
    args: Mapping[str, object]

    def output(self, inputs: tuple) -> LayerInput:
        """The output type for `inputs`; raises `LayerShapeError`."""
        return self.info.output(self.args, inputs)


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to a misspelt `name` ("did you mean ...?"), or None."""
    candidates = list(candidates)
    for candidate in candidates:
        if candidate.lower() == name.lower():
            return candidate
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return matches[0] if matches else None


def layer(
    name: str,
    args: tuple[LayerArg, ...],
    infer: InferFn,
    output: OutputFn,
    *,
    init_key: bool,
    stochastic: bool = False,
    stateful: bool = False,
    inputs: tuple[str, ...] = ("x",),
    optional_inputs: tuple[str, ...] = (),
    call_inference: bool = False,
    attributes: AttributeFn | None = None,
) -> LayerInfo:
    """A LayerInfo whose `output` sees every argument: given, inferred or defaulted."""
    defaults = {arg.name: arg.default for arg in args if not arg.required}
    required = [arg.name for arg in args if arg.required and not arg.inferred]

    def infer_missing(given: Args, layer_inputs: tuple) -> dict:
        full = {**defaults, **given}
        return {key: value for key, value in infer(full, layer_inputs).items() if key not in given}

    def complete_output(given: Args, layer_inputs: tuple) -> LayerInput:
        missing = [arg for arg in required if arg not in given]
        if missing:
            raise LayerShapeError(f"{name} needs the argument {missing[0]}")
        full = {**defaults, **given, **infer_missing(given, layer_inputs)}
        return output(full, layer_inputs)

    def complete_attributes(given: Args) -> Mapping[str, object]:
        return attributes({**defaults, **given}) if attributes is not None else {}

    return LayerInfo(
        name=name,
        args=args,
        init_key=init_key,
        stochastic=stochastic,
        stateful=stateful,
        inputs=inputs,
        optional_inputs=optional_inputs,
        infer=infer_missing,
        output=complete_output,
        call_inference=call_inference,
        attributes=complete_attributes,
    )
