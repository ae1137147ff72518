"""The check stage's output contract: what `lower` (and any tool) reads from a checked spec.

This module is all that the stages after `check` import from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.library.layers import LayerArg, LayerInfo
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.values import Static, Value

if TYPE_CHECKING:
    from eqxdsl.compiler.check._adapters import ModelLayer, PythonLayer


def element_symbol(name: str, index: int) -> str:
    """The size symbol of item `index` of the tuple hyperparameter `name`, written as a spec writes it: `widths[2]`."""
    return f"{name}[{index}]"


def length_symbol(name: str) -> str:
    """The size symbol of `len(name)`, for a tuple hyperparameter of any length."""
    return f"len({name})"


def is_length_symbol(symbol: str) -> bool:
    """Whether a size symbol is a tuple's length (`length_symbol`)."""
    return symbol.startswith("len(")


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
    """How a `for` loop runs: over a stack ("unrolled" or "scan") or over an array ("array").

    `outputs` are the lists an array loop appends to (`hs.append(h)`): the scan's stacked outputs.
    An "unrolled" loop without `stack` runs over tuples, slices, `zip` or `enumerate` of stacks and tuples.
    """

    kind: str
    carries: tuple[str, ...]
    stack: str | None = None
    length: Dim | None = None
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class StaticBranch:
    """A conditional whose test is known at compile time: only the `taken` branch was checked."""

    taken: bool


@dataclass
class StackCopy:
    """One copy of an unrolled stack, as the checker built and called it.

    Attributes:
        bindings: the loop names of `repeat ... in ...` and their values for this copy.
        given: the constructor arguments with those values, by name (value, expression).
        inferred: the arguments its first call filled in; None until it is called.
    """

    bindings: dict[str, Static]
    given: dict[str, tuple[object, s.Expr]]
    inferred: dict[str, object] | None = None


@dataclass(frozen=True)
class CopyArgument:
    """How an inferred constructor argument of an unrolled stack varies from copy to copy.

    Attributes:
        first: copy 0's value.
        rest: the value of every later copy, when neither `loop` nor `argument` is set.
        loop: the loop name whose value the later copies take (copy 0 too when `first_too`);
            with `previous`, each takes the previous copy's value of it.
        argument: the constructor argument whose previous copy's value the later
            copies take, as a stage takes the channels its predecessor produced.
        previous: see `loop`.
        first_too: copy 0 follows the same rule as the others.
    """

    first: object
    rest: object = None
    loop: str | None = None
    argument: str | None = None
    previous: bool = False
    first_too: bool = False


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
        targets: for `repeat a, b in ...:`, the loop names.
        sequences: for each loop name, the expression it runs over (None: the copy index).
        copies: for unrolled stacks checked copy by copy, each copy.
        copy_arguments: for those, how each inferred argument varies with the copy.
        zipped: the lengths (None where unknown) of variadic tuple hyperparameters zipped together,
            which must agree.
    """

    name: str
    node: s.Node
    kind: str
    layer: LayerInfo | ModelLayer | PythonLayer | None = None
    call: s.Call | None = None
    given: dict[str, tuple[object, s.Expr]] = field(default_factory=dict)
    inferred: dict[str, object] | None = None
    inferred_rest: dict[str, object] | None = None
    count: Dim | None = None
    scan: bool = False
    frozen: bool = False
    conditional: bool = False
    tensor: TensorType | None = None
    init: s.Expr | None = None
    targets: tuple[str, ...] = ()
    sequences: dict[str, s.Expr | None] = field(default_factory=dict)
    copies: list[StackCopy] = field(default_factory=list)
    copy_arguments: dict[str, CopyArgument] = field(default_factory=dict)
    zipped: tuple[Dim | None, ...] = ()

    @property
    def init_name(self) -> str | None:
        """The initialiser a parameter or buffer names (`normal` for `normal(stddev=0.02)`), or None."""
        if self.init is None:
            return None
        callee = self.init.func if isinstance(self.init, s.Call) else self.init
        assert isinstance(callee, s.Name)  # check accepts only `name` and `name(...)`
        return callee.id


@dataclass(frozen=True)
class CallSite:
    """One call a method makes, as the checker saw it: what tools that count work or draw dataflow read.

    A call inside a loop body is recorded once for every time the checker checked
    that body: once for a scanned stack, twice (the first copy, then the rest) or
    once per copy for an unrolled one.

    Attributes:
        node: the call (or the `@`) in the spec.
        kind: "layer" (a field or a stack's copy, `method` set for a model
            layer's named method), "function", "matmul", "method" (of this
            model) or "map".
        target: the field, function or method name; `@` for a matmul; `map`.
        inputs: the array inputs, as the layer table sees them (tuples for pairs).
        output: the result.
        copy: for a call of a stack's copy, its index; None otherwise.
        rest: for a stack checked as its first copy and then its other copies
            together, whether this is the check of those other copies.
        method: for "layer", the model layer's method called, if not `forward`.
        bound: for "method", the values of the method's input sizes at this call;
            for "map", `{"length": the mapped axis' size}`.
    """

    node: s.Node
    kind: str
    target: str
    inputs: tuple = ()
    output: object = None
    copy: int | None = None
    rest: bool = False
    method: str | None = None
    bound: dict[str, Dim] = field(default_factory=dict)


@dataclass
class MethodInfo:
    """A checked method: its inputs, result, and whether it needs a key or the state."""

    name: str
    node: s.Method
    params: list[tuple[str, TensorType]]
    returns: Value | None = None
    stochastic: bool = False
    stateful: bool = False
    call_inference: bool = False
    call_dims: dict[str, tuple[str, int]] = field(default_factory=dict)
    used_dims: dict[str, s.Node] = field(default_factory=dict)
    locals: set[str] = field(default_factory=set)
    checking: bool = False
    checked: bool = False
    #: every call its body makes, in the order they were checked (see `CallSite`).
    sites: list[CallSite] = field(default_factory=list)


@dataclass(frozen=True)
class Relation:
    """A relation between sizes that a model asserts: `assert dim % heads == 0`, `assert T <= ctx`.

    Attributes:
        op: the comparison, one of `==`, `!=`, `<`, `<=`, `>`, `>=`.
        left: the size on its left, as a `Dim` over hyperparameters and input sizes.
        right: the size on its right.
        node: the `assert` in the spec.
        text: the relation as the spec writes it (`dim % heads == 0`), for messages.
        message: the assert's own message, or None.
        sizes: the names it reads, hyperparameters and input sizes, in source order.
    """

    op: str
    left: Dim
    right: Dim
    node: s.ModelAssert
    text: str
    message: str | None
    sizes: tuple[str, ...]


@dataclass
class HyperInfo:
    """A hyperparameter: its name, kind (`int`, ..., `ints`), annotation and default."""

    name: str
    node: s.HyperParam
    kind: HyperKind
    length: int | None
    value: Static
    default: Static | None = None


@dataclass(frozen=True)
class LogicalAxesEntry:
    """One checked entry of a model's `axes:` block.

    Attributes:
        names: one logical name (or None) per axis, as `__logical_axes__` holds them.
        node: the entry in the spec.
    """

    names: tuple[str | None, ...]
    node: s.AxesEntry


#: What the checker resolved a syntax node to, by `id(node)`; a method's parameter by `("param", method, name)`.
Resolution = Ref | CallRef | LoopRef | StaticBranch


#: The kind of a hyperparameter: its annotation (`int`, ..., `fn`), "ints" for a tuple of ints.
HyperKind = Literal["int", "float", "bool", "str", "fn", "ints"]


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
    relations: list[Relation] = field(default_factory=list)
    #: the int hyperparameters it passes whole to a layer argument or a repeat count that has a
    #: least value (a size: 1), with that value: what a model using this one as a layer must give.
    least_values: dict[str, int] = field(default_factory=dict)
    logical_axes: dict[str, LogicalAxesEntry] = field(default_factory=dict)
    input_axes: dict[str, LogicalAxesEntry] = field(default_factory=dict)
    resolved: dict[int | tuple[str, str, str], Resolution] = field(default_factory=dict)
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
    #: the module's source file, as found.
    origin: str = ""
    #: whether it was found in the spec's own folder (rather than on sys.path).
    beside_spec: bool = False


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


class ExpressionTypes:
    """The values the checker inferred for the expressions of a spec, for tools (a language server's hover).

    Passed to `check_spec` as its `recorder`, it is told every value: one per
    expression, or several when the checker checked it more than once (a loop
    body over an unrolled stack checks each copy). A normal compile passes no
    recorder and pays nothing for it.
    """

    def __init__(self) -> None:
        self._values: dict[int, tuple[s.Node, list[Value]]] = {}

    def record(self, node: s.Node, value: Value) -> None:
        """Note that `node` was found to have `value`; a value equal to one already noted is dropped."""
        entry = self._values.get(id(node))
        if entry is None:
            self._values[id(node)] = (node, [value])
        elif value not in entry[1]:
            entry[1].append(value)

    def values(self, node: s.Node) -> list[Value]:
        """The distinct values noted for `node`, in the order first seen; empty if it was never checked."""
        entry = self._values.get(id(node))
        return list(entry[1]) if entry is not None else []

    def nodes(self) -> list[s.Node]:
        """Every expression a value was noted for."""
        return [node for node, _ in self._values.values()]
