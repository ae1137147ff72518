"""The syntax tree of a `.eqx` file: typed, frozen nodes with source positions.

Like CPython's `ast`, every node knows where it came from (`pos`), so later
stages can point at the exact span of a mistake. The parse stage builds these
nodes; nothing here knows about shapes or layers (that is the check stage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Pos:
    """A span of source text: 1-based lines and columns, end column exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True, kw_only=True)
class Node:
    """Base of all nodes; `pos` is where the node's text lies in the spec."""

    pos: Pos


# ---- expressions ------------------------------------------------------------


@dataclass(frozen=True)
class Name(Node):
    """A name: a hyperparameter, constant, layer, variable, function or dimension."""

    id: str


@dataclass(frozen=True)
class Constant(Node):
    """A literal: `int`, `float`, `str`, `bool` or `None`."""

    value: int | float | str | bool | None


@dataclass(frozen=True)
class TupleExpr(Node):
    """`(a, b)`: a tuple of values."""

    elts: tuple[Expr, ...]


@dataclass(frozen=True)
class ListExpr(Node):
    """`[a, b]`: a list, used for shapes (`zeros([T, dim])`) and sequences of arrays."""

    elts: tuple[Expr, ...]


@dataclass(frozen=True)
class BinOp(Node):
    """`left op right` with op one of `+ - * / // % @ **` or the elementwise logic `& |`."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class UnaryOp(Node):
    """`op operand` with op one of `+ - ~ not`."""

    op: str
    operand: Expr


@dataclass(frozen=True)
class BoolOp(Node):
    """`a and b and ...` or `a or b or ...`."""

    op: str
    values: tuple[Expr, ...]


@dataclass(frozen=True)
class Compare(Node):
    """`a < b <= c`: a chain of comparisons, `ops[i]` between `operands[i]` and `operands[i+1]`."""

    ops: tuple[str, ...]
    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class IfExp(Node):
    """`body if test else orelse`."""

    test: Expr
    body: Expr
    orelse: Expr


@dataclass(frozen=True)
class Keyword(Node):
    """`name=value` in a call."""

    name: str
    value: Expr


@dataclass(frozen=True)
class Call(Node):
    """`func(args..., name=value...)`."""

    func: Expr
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]


@dataclass(frozen=True)
class Attribute(Node):
    """`value.attr`, e.g. `embed.weight` or `w.T`."""

    value: Expr
    attr: str


@dataclass(frozen=True)
class Slice(Node):
    """`lower:upper:step` inside a subscript; each part may be missing."""

    lower: Expr | None
    upper: Expr | None
    step: Expr | None


@dataclass(frozen=True)
class EllipsisExpr(Node):
    """`...` inside a subscript."""


@dataclass(frozen=True)
class Subscript(Node):
    """`value[i, j:k, ...]`: one index item per axis."""

    value: Expr
    index: tuple[Expr, ...]


@dataclass(frozen=True)
class Pipeline(Node):
    """`source -> step -> step`: each step applied to the previous value.

    A step is a callable (`relu`, `conv1`) or a call with the piped value left
    out (`pool(2)` means `pool(value, 2)`).
    """

    source: Expr
    steps: tuple[Expr, ...]


Expr = Union[
    Name,
    Constant,
    TupleExpr,
    ListExpr,
    BinOp,
    UnaryOp,
    BoolOp,
    Compare,
    IfExp,
    Call,
    Attribute,
    Slice,
    EllipsisExpr,
    Subscript,
    Pipeline,
]


# ---- types ------------------------------------------------------------------


@dataclass(frozen=True)
class TensorTypeExpr(Node):
    """`f32[1, 28, 28]`: a dtype and one expression per dimension."""

    dtype: str
    dims: tuple[Expr, ...]


@dataclass(frozen=True)
class HyperType(Node):
    """A hyperparameter's type: `int`, `float`, `bool`, `str`, `fn`, `tuple[int, ...]`."""

    name: str
    args: tuple[HyperType, ...] = ()
    variadic: bool = False

    def __str__(self) -> str:
        if not self.args:
            return self.name
        inner = ", ".join(str(a) for a in self.args) + (", ..." if self.variadic else "")
        return f"{self.name}[{inner}]"


# ---- statements (inside methods) --------------------------------------------


@dataclass(frozen=True)
class Assign(Node):
    """`a = value` or `a, b = value`."""

    targets: tuple[Name, ...]
    value: Expr
    unpack: bool


@dataclass(frozen=True)
class AugAssign(Node):
    """`a += value` (also `-= *= /= @=`); `op` is the binary operator."""

    target: Name
    op: str
    value: Expr


@dataclass(frozen=True)
class Return(Node):
    """`return a` or `return a, b`."""

    values: tuple[Expr, ...]


@dataclass(frozen=True)
class For(Node):
    """`for target in iter:` over a repeated stack or over an array's leading axis.

    `for a, b in zip(s, t):` unpacks: `targets` holds every name (`target` is the first);
    a loop over one name has `targets == (target,)`.
    """

    target: Name
    iter: Expr
    body: tuple[Stmt, ...]
    targets: tuple[Name, ...] = ()


@dataclass(frozen=True)
class If(Node):
    """`if test:` on hyperparameters or layer presence; `elif` nests in `orelse`."""

    test: Expr
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]


@dataclass(frozen=True)
class Pass(Node):
    """`pass`."""


@dataclass(frozen=True)
class Append(Node):
    """`outputs.append(value)` in a loop over an array: `outputs` (made by `outputs = []`) collects every step's value."""

    target: Name
    value: Expr


Stmt = Union[Assign, AugAssign, Return, For, If, Pass, Append]


# ---- model items ------------------------------------------------------------


@dataclass(frozen=True)
class HyperParam(Node):
    """`name: type = default` in a model's header."""

    name: str
    type: HyperType
    default: Expr | None


@dataclass(frozen=True)
class InputDecl(Node):
    """`input x: f32[T, dim]`: an input of the forward method."""

    name: str
    type: TensorTypeExpr


@dataclass(frozen=True)
class ModelAssert(Node):
    """`assert dim % heads == 0, "message"`: a relation between sizes that the model requires."""

    test: Expr
    message: str | None


@dataclass(frozen=True)
class Definition(Node):
    """`name = value`: a layer (value calls a layer or model) or a computed constant."""

    name: str
    value: Expr


@dataclass(frozen=True)
class RepeatDef(Node):
    """`name = repeat count: Layer(...)`, or `repeat count scan:` for stacked parameters.

    `name = repeat w, s in zip(widths, strides): Layer(w, stride=s)` builds one copy per
    element: `targets` are the loop names each copy's constructor may read, and `count`
    is what they run over (`range(n)`, a tuple, `zip(...)` or `enumerate(...)`).
    """

    name: str
    count: Expr
    scan: bool
    layer: Expr
    targets: tuple[Name, ...] = ()


@dataclass(frozen=True)
class ParamDef(Node):
    """`name = param f32[...] = init` (trainable) or `buffer ...` (frozen, not trained)."""

    name: str
    trainable: bool
    type: TensorTypeExpr
    init: Expr | None


@dataclass(frozen=True)
class FrozenDef(Node):
    """`name = frozen Layer(...)`: a layer whose parameters training does not update."""

    name: str
    layer: Expr


@dataclass(frozen=True)
class ModelIf(Node):
    """`if test:` around layer definitions: the layers exist only when `test` holds."""

    test: Expr
    body: tuple[ModelItem, ...]
    orelse: tuple[ModelItem, ...]


@dataclass(frozen=True)
class Param(Node):
    """A method parameter: `x: f32[T, dim]`, or a bare `key` asking for randomness."""

    name: str
    type: TensorTypeExpr | None


@dataclass(frozen=True)
class Method(Node):
    """`forward(...):` (the call) or `def name(...):` (another method)."""

    name: str
    params: tuple[Param, ...] | None
    returns: tuple[TensorTypeExpr, ...] | None
    returns_tuple: bool
    docstring: str | None
    body: tuple[Stmt, ...]


@dataclass(frozen=True)
class AxesEntry(Node):
    """`embed.weight: ("vocab", "embed")`: logical axis names for the arrays at a dotted path.

    `path` is the path's segments (`("mlp", "hidden", "*", "weight")`); `path_pos`
    is the span of the path, `names` the expression after the colon.
    """

    path: tuple[str, ...]
    path_pos: Pos
    names: Expr


@dataclass(frozen=True)
class AxesBlock(Node):
    """`axes:` and its entries: how the model's arrays, inputs and stacks name their axes."""

    entries: tuple[AxesEntry, ...]


ModelItem = Union[InputDecl, ModelAssert, Definition, RepeatDef, ParamDef, FrozenDef, ModelIf, Method, AxesBlock]


@dataclass(frozen=True)
class Model(Node):
    """`model Name(hyperparameters):` with its docstring and items in source order."""

    name: str
    params: tuple[HyperParam, ...]
    docstring: str | None
    items: tuple[ModelItem, ...]


# ---- files ------------------------------------------------------------------


@dataclass(frozen=True)
class ImportName(Node):
    """`Name` or `Name as Alias` in a spec import."""

    name: str
    alias: str | None

    @property
    def local_name(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True)
class SpecImport(Node):
    """`from "blocks.eqx" import Block, MLP as Perceptron`."""

    path: str
    names: tuple[ImportName, ...]


@dataclass(frozen=True)
class PythonImport(Node):
    """`from pkg.mod import Class(x: f32[n]) -> f32[n]`: a Python Module class.

    Its constructor signature is read from the module's source (never imported);
    its call signature and output shape are the ones declared here.
    """

    module: str
    name: str
    alias: str | None
    params: tuple[Param, ...]
    returns: tuple[TensorTypeExpr, ...]
    returns_tuple: bool

    @property
    def local_name(self) -> str:
        return self.alias or self.name


@dataclass(frozen=True)
class SpecFile(Node):
    """A parsed `.eqx` file: its imports and models in source order."""

    path: str
    source: str
    imports: tuple[SpecImport | PythonImport, ...]
    models: tuple[Model, ...]
