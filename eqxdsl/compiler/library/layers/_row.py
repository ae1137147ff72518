"""One row of the layer table (`LayerInfo`), its arguments (`LayerArg`), and `layer`, which builds a row."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.library._required import REQUIRED
from eqxdsl.compiler.values import UnknownArray

#: What a layer argument takes: see `LayerArg.kind`.
LayerArgKind = Literal["int", "float", "bool", "str", "fn", "ints", "padding", "shape", "dtype", "module", "any"]

ARG_KINDS: frozenset[str] = frozenset(get_args(LayerArgKind))


LayerInput = TensorType | tuple

#: An array a built layer holds: its type, or `UnknownArray` where the shape is not modelled.
LayerArray = TensorType | UnknownArray


#: A layer's arguments by name. Each value has the type its `LayerArg.kind` names (a `Dim`
#: for "int", a tuple of `Dim`s for "ints", a `bool`, a `str`, ...): `check` has held every
#: value to its kind before a rule reads it, which the row, not the type system, records.
Args = Mapping[str, Any]


class LayerShapeError(Exception):
    """A layer cannot take the inputs it is given, or its arguments contradict them.

    Attributes:
        message: what disagrees, naming the layer, the argument or axis and both sizes.
        hint: how to fix it, or None.
        sizes: the two sizes that had to be equal but were not proven so, if that is the fault.
        argument: the constructor argument or the keyword input of the call at
            fault, by name, when the fault lies in one (the error is reported
            there); None when it lies in the inputs' shapes.
    """

    def __init__(
        self, message: str, hint: str | None = None, sizes: tuple[Dim, Dim] | None = None, argument: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.sizes = sizes
        self.argument = argument


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
        least: for an `"int"` argument, the smallest value the runtime's
            layer works with: 1 for a size or a count of groups or heads, 0
            for a count of layers or steps, None for an axis (any int).
    """

    name: str
    kind: LayerArgKind
    default: object = REQUIRED
    inferred: bool = False
    keyword_only: bool = False
    choices: tuple[str, ...] = ()
    least: int | None = 1

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
AttributeFn = Callable[[Args], Mapping[str, "LayerArray"]]
#: `construct(args)`: raises `LayerShapeError` for arguments the runtime's constructor refuses.
ConstructFn = Callable[[Args], None]


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
        construct: `construct(args)` raises `LayerShapeError` for arguments
            the runtime's constructor refuses (groups that do not divide the
            channels). `args` as for `output`; for a layer that is never
            called, without the arguments a call would infer, so it checks
            only what those it is given decide. `output` runs it first.
        attributes: `attributes(args)` gives the array attributes that
            expressions may read (`embed.weight`), by name, with their types
            (`UnknownArray` where the shape is not modelled); an attribute the
            built layer holds as None (a bias with `use_bias=False`) is absent.
            `args` as for `output`.
        arrays: `arrays(args)` gives every array of the built layer by its
            dotted path within it, with its type: what a spec's `axes:` block
            may name. The `attributes` and, for a layer made of layers, theirs
            (attention's `query_proj.weight`); None means `attributes`.
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
    construct: ConstructFn = field(default=lambda args: None, repr=False, compare=False)
    attributes: AttributeFn = field(default=lambda args: {}, repr=False, compare=False)
    arrays: AttributeFn | None = field(default=None, repr=False, compare=False)

    def all_arrays(self, args: Args) -> Mapping[str, LayerArray]:
        """Every array of the layer built with `args`, by dotted path (see `arrays`)."""
        return (self.arrays or self.attributes)(args)

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
    construct: ConstructFn | None = None,
    attributes: AttributeFn | None = None,
    arrays: AttributeFn | None = None,
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
        complete_construct(full)
        return output(full, layer_inputs)

    def complete_construct(given: Args) -> None:
        if construct is not None:
            construct({**defaults, **given})

    def complete_attributes(given: Args) -> Mapping[str, LayerArray]:
        return attributes({**defaults, **given}) if attributes is not None else {}

    def complete_arrays(given: Args) -> Mapping[str, LayerArray]:
        return arrays({**defaults, **given}) if arrays is not None else complete_attributes(given)

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
        construct=complete_construct,
        attributes=complete_attributes,
        arrays=complete_arrays,
    )
