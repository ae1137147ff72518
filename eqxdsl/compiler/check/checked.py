"""The check stage's output contract: what `lower` (and any tool) reads from a checked spec.

This module is all that the stages after `check` import from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.library.layers import LayerArg
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.values import Static, Value

#: Names the generated code relies on; a spec may not define them.
RESERVED_NAMES = frozenset(
    {"jax", "jnp", "eqx", "self", "key", "state", "inference", "Callable", "bool", "int", "float", "str", "tuple",
     "list", "zip", "range", "enumerate", "len", "None", "True", "False", "object", "super", "type",
     # Never emitted, and refused in the output by the renderer's last check.
     "eval", "exec", "compile", "globals", "locals", "breakpoint"}
)


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
