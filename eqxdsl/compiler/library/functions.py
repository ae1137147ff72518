"""The functions a spec can call: activations, array functions and sampling.

Each `Function` says which arguments it takes (and of what kind), how the
checker computes its result's type from its arguments' types (its shape rule,
which raises `ShapeError` naming the dimension that disagreed), and which
Python it becomes. Activations (`relu`, `gelu`, ...) may also be passed as
values: as a `fn` hyperparameter, a layer's `activation=`, or a pipeline step.
"""

from __future__ import annotations

import ast
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from eqxdsl.compiler.dims import DTYPES, Dim, TensorType
from eqxdsl.compiler.values import (
    ShapeError,
    Static,
    TupleValue,
    UnknownArray,
    Value,
    is_array,
)

__all__ = ["FUNCTIONS", "ACTIVATIONS", "FnParam", "Function", "broadcast", "REQUIRED", "dtype_ast"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED = _Required()


@dataclass(frozen=True)
class FnParam:
    """One parameter of a spec function.

    `kind` is what the checker accepts: "array" (an array or a number),
    "arrays" (a list or tuple of arrays), "axis" (an int, a tuple of ints or
    None), "int", "shape" (an int or a tuple/list of ints), "float", "bool",
    "str", "dtype" or "key" (the method's `key`, only where sampling).
    """

    name: str
    kind: str
    default: object = REQUIRED


@dataclass(frozen=True)
class Function:
    """A function callable from a spec.

    Attributes:
        name: its name in specs.
        params: its parameters, in positional order.
        rule: the shape rule: bound argument values (by parameter name, defaults
            filled in as `Static`s) to the result's value.
        target: the dotted Python callable it becomes (`jax.nn.relu`).
        lowering: builds the Python call from the bound argument expressions;
            `None` calls `target` with the given arguments.
        activation: whether it may be used as a function value (`act=gelu`).
        stochastic: whether it draws random numbers (and so takes a key).
        doc: one line for the reference.
    """

    name: str
    params: tuple[FnParam, ...]
    rule: Callable[[Mapping[str, Value]], Value]
    target: str
    lowering: Callable[[Mapping[str, ast.expr]], ast.expr] | None = None
    activation: bool = False
    stochastic: bool = False
    doc: str = ""


def dotted(path: str) -> ast.expr:
    """`jax.nn.relu` as an ast expression."""
    parts = path.split(".")
    node: ast.expr = ast.Name(parts[0], ast.Load())
    for part in parts[1:]:
        node = ast.Attribute(node, part, ast.Load())
    return node


def dtype_ast(name: str) -> ast.expr:
    """The `jnp` dtype object of a language dtype name (`f32` -> `jnp.float32`)."""
    return dotted(f"jnp.{DTYPES[name]}")


# ---- shape helpers ------------------------------------------------------------


def _array(value: Value, what: str) -> TensorType | UnknownArray:
    if is_array(value):
        return value  # type: ignore[return-value]
    if isinstance(value, Static) and value.kind in ("int", "float", "bool"):
        dtype = {"int": "i32", "float": "f32", "bool": "bool"}[value.kind]
        return TensorType(dtype, ())
    raise ShapeError(f"{what} must be an array, not {value}", argument=what)


def _promote(a: str, b: str) -> str:
    order = ["bool", "u8", "u32", "i8", "i16", "i32", "i64", "f16", "bf16", "f32", "f64", "c64"]
    return a if order.index(a) >= order.index(b) else b


def broadcast(left: Value, right: Value, left_name: str = "left operand", right_name: str = "right operand") -> Value:
    """The type of an elementwise operation on two values (NumPy broadcasting).

    Static numbers adopt the array's dtype (Python scalars are weakly typed).
    """
    left_is_number = isinstance(left, Static)
    right_is_number = isinstance(right, Static)
    a = _array(left, left_name)
    b = _array(right, right_name)
    if isinstance(a, UnknownArray) or isinstance(b, UnknownArray):
        return UnknownArray()
    if left_is_number and not right_is_number:
        dtype = b.dtype if not (left.kind == "float" and not b.is_floating) else "f32"
    elif right_is_number and not left_is_number:
        dtype = a.dtype if not (right.kind == "float" and not a.is_floating) else "f32"
    else:
        dtype = _promote(a.dtype, b.dtype)
    rank = max(a.rank, b.rank)
    shape_a = (Dim.const(1),) * (rank - a.rank) + a.shape
    shape_b = (Dim.const(1),) * (rank - b.rank) + b.shape
    out = []
    for axis, (x, y) in enumerate(zip(shape_a, shape_b)):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        elif x.definitely_differs(y):
            raise ShapeError(
                f"cannot broadcast {a} with {b}: axis {axis - rank} has size {x} in the {left_name} "
                f"and {y} in the {right_name}",
                hint="sizes must be equal or 1 on each axis, aligned from the right",
            )
        else:
            out.append(x if y.value is not None and y.value == 1 else x)
    return TensorType(dtype, tuple(out))


def _normalise_axis(axis: Dim, rank: int, what: str = "axis") -> int:
    value = axis.value
    if value is None:
        raise ShapeError(f"{what} must be a known integer", argument=what)
    if not -rank <= value < max(rank, 1):
        raise ShapeError(f"{what} {value} is out of range for an array of rank {rank}", argument=what)
    return value % rank if rank else 0


def _axes(value: Value, rank: int) -> tuple[int, ...] | None:
    """The axes an `axis=` argument names, or None for "all axes"."""
    if isinstance(value, Static) and value.kind == "none":
        return None
    if isinstance(value, Static) and value.kind == "int":
        return (_normalise_axis(value.value, rank),)
    if isinstance(value, Static) and value.kind == "ints":
        axes = tuple(_normalise_axis(d, rank) for d in value.value)
        if len(set(axes)) != len(axes):
            raise ShapeError("an axis is repeated", argument="axis")
        return axes
    raise ShapeError(f"axis must be an int, a tuple of ints or None, not {value}", argument="axis")


def _shape(value: Value, what: str = "shape") -> tuple[Dim, ...]:
    if isinstance(value, Static) and value.kind == "int":
        return (value.value,)
    if isinstance(value, Static) and value.kind == "ints":
        return tuple(value.value)
    raise ShapeError(f"{what} must be an int or a tuple of ints, not {value}", argument=what)


def _product(dims) -> Dim:
    total = Dim.const(1)
    for d in dims:
        total = total * d
    return total


def _dtype(value: Value) -> str:
    if isinstance(value, Static) and value.kind == "dtype" and value.value in DTYPES:
        return value.value
    raise ShapeError(f"dtype must be one of {', '.join(DTYPES)}, not {value}", argument="dtype")


# ---- rules --------------------------------------------------------------------


def _same(args: Mapping[str, Value]) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, TensorType) and not a.is_floating and a.dtype != "c64":
        return TensorType("f32", a.shape)
    return a


def _along_axis(args: Mapping[str, Value]) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, TensorType):
        _axes(args["axis"], a.rank)
    return a


def _reduce(args: Mapping[str, Value], dtype: str | None = None) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, UnknownArray):
        return a
    axes = _axes(args["axis"], a.rank)
    keepdims = args.get("keepdims", Static("bool", False))
    keep = isinstance(keepdims, Static) and keepdims.value is True
    if isinstance(keepdims, Static) and keepdims.value is None:
        raise ShapeError("keepdims must be a known True or False", argument="keepdims")
    axes = tuple(range(a.rank)) if axes is None else axes
    shape = tuple(
        (Dim.const(1) if keep else None) if i in axes else d for i, d in enumerate(a.shape)
    )
    return TensorType(dtype or a.dtype, tuple(d for d in shape if d is not None))


def _mean(args: Mapping[str, Value]) -> Value:
    a = _array(args["x"], "x")
    floating = isinstance(a, UnknownArray) or a.is_floating
    return _reduce(args, None if floating else "f32")


def _argreduce(args: Mapping[str, Value]) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, UnknownArray):
        return a
    if isinstance(args["axis"], Static) and args["axis"].kind == "none":
        return TensorType("i32", ())
    axis = _normalise_axis(_shape(args["axis"], "axis")[0], a.rank)
    return TensorType("i32", a.shape[:axis] + a.shape[axis + 1 :])


def _arrays(value: Value) -> list[TensorType]:
    if not isinstance(value, TupleValue) or not value.items:
        raise ShapeError("expected a non-empty list of arrays, e.g. [a, b]", argument="arrays")
    out = []
    for item in value.items:
        array = _array(item, "arrays")
        if isinstance(array, UnknownArray):
            raise ShapeError("the arrays to join must have known shapes", argument="arrays")
        out.append(array)
    return out


def _concatenate(args: Mapping[str, Value]) -> Value:
    arrays = _arrays(args["arrays"])
    rank = arrays[0].rank
    if rank == 0:
        raise ShapeError("cannot concatenate scalars; use stack", argument="arrays")
    axis = _normalise_axis(_shape(args["axis"], "axis")[0], rank)
    total = Dim.const(0)
    dtype = arrays[0].dtype
    for index, array in enumerate(arrays):
        if array.rank != rank:
            raise ShapeError(f"array {index} has rank {array.rank}, array 0 has rank {rank}", argument="arrays")
        for i, (x, y) in enumerate(zip(arrays[0].shape, array.shape)):
            if i != axis and x.definitely_differs(y):
                raise ShapeError(
                    f"array {index} has size {y} on axis {i}, array 0 has {x}; only axis {axis} may differ",
                    argument="arrays",
                )
        total = total + array.shape[axis]
        dtype = _promote(dtype, array.dtype)
    shape = list(arrays[0].shape)
    shape[axis] = total
    return TensorType(dtype, tuple(shape))


def _stack(args: Mapping[str, Value]) -> Value:
    arrays = _arrays(args["arrays"])
    first = arrays[0]
    for index, array in enumerate(arrays):
        if array.rank != first.rank or any(x.definitely_differs(y) for x, y in zip(first.shape, array.shape)):
            raise ShapeError(f"array {index} is {array}, array 0 is {first}; stacked arrays need one shape", argument="arrays")
    axis = _normalise_axis(_shape(args["axis"], "axis")[0], first.rank + 1)
    shape = list(first.shape)
    shape.insert(axis, Dim.const(len(arrays)))
    return TensorType(first.dtype, tuple(shape))


def _reshape(args: Mapping[str, Value]) -> Value:
    a = _array(args["x"], "x")
    target = _shape(args["shape"])
    if isinstance(a, UnknownArray):
        return a
    total = _product(a.shape)
    wild = [i for i, d in enumerate(target) if d.value == -1]
    if len(wild) > 1:
        raise ShapeError("only one size of a reshape may be -1", argument="shape")
    if wild:
        known = _product(d for i, d in enumerate(target) if i != wild[0])
        inferred = total // known
        if (inferred * known).definitely_differs(total):
            raise ShapeError(f"cannot reshape {a} ({total} elements) into {len(target)} axes of which the known ones hold {known}", argument="shape")
        target = tuple(inferred if i == wild[0] else d for i, d in enumerate(target))
    elif _product(target).definitely_differs(total):
        shape_text = ", ".join(str(d) for d in target)
        raise ShapeError(
            f"cannot reshape {a} ({total} elements) into ({shape_text}) ({_product(target)} elements)",
            argument="shape",
        )
    return TensorType(a.dtype, target)


def _transpose(args: Mapping[str, Value]) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, UnknownArray):
        return a
    if isinstance(args["axes"], Static) and args["axes"].kind == "none":
        return TensorType(a.dtype, tuple(reversed(a.shape)))
    axes = [_normalise_axis(d, a.rank, "axes") for d in _shape(args["axes"], "axes")]
    if sorted(axes) != list(range(a.rank)):
        raise ShapeError(f"axes {tuple(axes)} is not a permutation of the {a.rank} axes of {a}", argument="axes")
    return TensorType(a.dtype, tuple(a.shape[i] for i in axes))


def _flatten(args: Mapping[str, Value]) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, UnknownArray):
        return a
    return TensorType(a.dtype, (_product(a.shape),))


def _split(args: Mapping[str, Value]) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, UnknownArray):
        raise ShapeError("split needs an array of known shape", argument="x")
    axis = _normalise_axis(_shape(args["axis"], "axis")[0], a.rank)
    size = a.shape[axis]
    sections = args["indices_or_sections"]
    if isinstance(sections, Static) and sections.kind == "int":
        count = sections.value.value
        if count is None or count <= 0:
            raise ShapeError("the number of sections must be a known positive integer", argument="indices_or_sections")
        part = size // count
        if (part * count).definitely_differs(size) or (size.value is not None and size.value % count):
            raise ShapeError(f"axis {axis} of {a} has size {size}, which does not split into {count} equal parts", argument="indices_or_sections")
        shape = list(a.shape)
        shape[axis] = part
        return TupleValue((TensorType(a.dtype, tuple(shape)),) * count)
    bounds = _shape(sections, "indices_or_sections")
    parts = []
    start = Dim.const(0)
    for stop in (*bounds, size):
        shape = list(a.shape)
        shape[axis] = stop - start
        parts.append(TensorType(a.dtype, tuple(shape)))
        start = stop
    return TupleValue(tuple(parts))


def _einsum(args: Mapping[str, Value]) -> Value:
    spec = args["subscripts"]
    if not isinstance(spec, Static) or spec.kind != "str" or spec.value is None:
        raise ShapeError("einsum's subscripts must be a string literal such as \"ij,jk->ik\"", argument="subscripts")
    operands = args["operands"]
    assert isinstance(operands, TupleValue)
    text = spec.value.replace(" ", "")
    if "->" not in text:
        raise ShapeError("einsum's subscripts must name the output explicitly, e.g. \"ij,jk->ik\"", argument="subscripts")
    inputs_text, output_text = text.split("->")
    inputs = inputs_text.split(",")
    if len(inputs) != len(operands.items):
        raise ShapeError(f"einsum's subscripts name {len(inputs)} operands but {len(operands.items)} are given", argument="subscripts")
    sizes: dict[str, Dim] = {}
    dtype = None
    for index, (letters, operand) in enumerate(zip(inputs, operands.items)):
        array = _array(operand, "operands")
        if isinstance(array, UnknownArray):
            return array
        if any(c not in string.ascii_letters for c in letters) or len(letters) != array.rank:
            raise ShapeError(f"operand {index} is {array} but its subscripts are {letters!r}", argument="subscripts")
        dtype = array.dtype if dtype is None else _promote(dtype, array.dtype)
        for letter, size in zip(letters, array.shape):
            if letter in sizes and sizes[letter].definitely_differs(size):
                raise ShapeError(f"einsum index {letter!r} has size {sizes[letter]} in one operand and {size} in operand {index}", argument="operands")
            sizes.setdefault(letter, size)
    for letter in output_text:
        if letter not in sizes:
            raise ShapeError(f"einsum's output index {letter!r} appears in no operand", argument="subscripts")
    return TensorType(dtype or "f32", tuple(sizes[c] for c in output_text))


def _filled(args: Mapping[str, Value]) -> Value:
    return TensorType(_dtype(args["dtype"]), _shape(args["shape"]))


def _causal_mask(args: Mapping[str, Value]) -> Value:
    size = _shape(args["n"], "n")
    if len(size) != 1:
        raise ShapeError("causal_mask takes one size", argument="n")
    return TensorType("bool", (size[0], size[0]))


def _sample(args: Mapping[str, Value]) -> Value:
    return TensorType(_dtype(args["dtype"]), _shape(args["shape"]))


def _bernoulli(args: Mapping[str, Value]) -> Value:
    return TensorType("bool", _shape(args["shape"]))


def _where(args: Mapping[str, Value]) -> Value:
    both = broadcast(args["x"], args["y"], "x", "y")
    condition = _array(args["condition"], "condition")
    return broadcast(condition, both, "condition", "values") if isinstance(both, TensorType) else both


def _binary(args: Mapping[str, Value]) -> Value:
    return broadcast(args["x"], args["y"], "x", "y")


def _clip(args: Mapping[str, Value]) -> Value:
    return _array(args["x"], "x")


# ---- lowerings ----------------------------------------------------------------


def _call(target: str, *args: ast.expr, **keywords: ast.expr) -> ast.expr:
    return ast.Call(dotted(target), list(args), [ast.keyword(k, v) for k, v in keywords.items()])


def _lower_causal_mask(args: Mapping[str, ast.expr]) -> ast.expr:
    n = args["n"]
    ones = _call("jnp.ones", ast.Tuple([n, n], ast.Load()), dtype=ast.Name("bool", ast.Load()))
    return _call("jnp.tril", ones)


def _lower_sample(target: str) -> Callable[[Mapping[str, ast.expr]], ast.expr]:
    def lower(args: Mapping[str, ast.expr]) -> ast.expr:
        extra = {k: v for k, v in args.items() if k not in ("key", "shape")}
        return _call(target, args["key"], args["shape"], **extra)

    return lower


def _lower_bernoulli(args: Mapping[str, ast.expr]) -> ast.expr:
    return _call("jax.random.bernoulli", args["key"], args["p"], args["shape"])


_X = FnParam("x", "array")
_AXIS_ALL = FnParam("axis", "axis", None)
_AXIS_LAST = FnParam("axis", "axis", -1)
_AXIS_FIRST = FnParam("axis", "int", 0)


def _activation(name: str, target: str, doc: str) -> Function:
    return Function(name, (_X,), _same, target, activation=True, doc=doc)


def _elementwise(name: str, target: str, doc: str) -> Function:
    return Function(name, (_X,), _same, target, doc=doc)


_ALL = [
    _activation("relu", "jax.nn.relu", "max(x, 0)"),
    _activation("gelu", "jax.nn.gelu", "Gaussian error linear unit (tanh approximation)"),
    _activation("silu", "jax.nn.silu", "x * sigmoid(x)"),
    _activation("sigmoid", "jax.nn.sigmoid", "1 / (1 + exp(-x))"),
    _activation("tanh", "jnp.tanh", "hyperbolic tangent"),
    _activation("softplus", "jax.nn.softplus", "log(1 + exp(x))"),
    _activation("elu", "jax.nn.elu", "exponential linear unit"),
    _activation("leaky_relu", "jax.nn.leaky_relu", "max(x, 0.01 * x)"),
    Function("softmax", (_X, _AXIS_LAST), _along_axis, "jax.nn.softmax", activation=True, doc="softmax along `axis`"),
    Function("log_softmax", (_X, _AXIS_LAST), _along_axis, "jax.nn.log_softmax", activation=True, doc="log of softmax along `axis`"),
    _elementwise("exp", "jnp.exp", "e ** x"),
    _elementwise("log", "jnp.log", "natural logarithm"),
    _elementwise("sqrt", "jnp.sqrt", "square root"),
    _elementwise("rsqrt", "jax.lax.rsqrt", "1 / sqrt(x)"),
    Function("abs", (_X,), lambda a: _array(a["x"], "x"), "jnp.abs", doc="absolute value"),
    Function("square", (_X,), lambda a: _array(a["x"], "x"), "jnp.square", doc="x * x"),
    _elementwise("sin", "jnp.sin", "sine"),
    _elementwise("cos", "jnp.cos", "cosine"),
    Function("sum", (_X, _AXIS_ALL, FnParam("keepdims", "bool", False)), _reduce, "jnp.sum", doc="sum over `axis` (all axes by default)"),
    Function("mean", (_X, _AXIS_ALL, FnParam("keepdims", "bool", False)), _mean, "jnp.mean", doc="mean over `axis`"),
    Function("var", (_X, _AXIS_ALL, FnParam("keepdims", "bool", False)), _reduce, "jnp.var", doc="variance over `axis`"),
    Function("max", (_X, _AXIS_ALL, FnParam("keepdims", "bool", False)), _reduce, "jnp.max", doc="maximum over `axis`"),
    Function("min", (_X, _AXIS_ALL, FnParam("keepdims", "bool", False)), _reduce, "jnp.min", doc="minimum over `axis`"),
    Function("argmax", (_X, _AXIS_ALL), _argreduce, "jnp.argmax", doc="index of the maximum along `axis`"),
    Function("argmin", (_X, _AXIS_ALL), _argreduce, "jnp.argmin", doc="index of the minimum along `axis`"),
    Function("maximum", (_X, FnParam("y", "array")), _binary, "jnp.maximum", doc="elementwise maximum"),
    Function("minimum", (_X, FnParam("y", "array")), _binary, "jnp.minimum", doc="elementwise minimum"),
    Function("where", (FnParam("condition", "array"), _X, FnParam("y", "array")), _where, "jnp.where", doc="x where condition holds, else y"),
    Function("clip", (_X, FnParam("min", "float", None), FnParam("max", "float", None)), _clip, "jnp.clip", doc="x limited to [min, max]"),
    Function("concatenate", (FnParam("arrays", "arrays"), _AXIS_FIRST), _concatenate, "jnp.concatenate", doc="join arrays along an existing axis"),
    Function("stack", (FnParam("arrays", "arrays"), _AXIS_FIRST), _stack, "jnp.stack", doc="join arrays along a new axis"),
    Function("reshape", (_X, FnParam("shape", "shape")), _reshape, "jnp.reshape", doc="the same elements in a new shape (one size may be -1)"),
    Function("transpose", (_X, FnParam("axes", "shape", None)), _transpose, "jnp.transpose", doc="axes reversed, or permuted by `axes`"),
    Function("flatten", (_X,), _flatten, "jnp.ravel", activation=True, doc="all elements as one axis"),
    Function("split", (_X, FnParam("indices_or_sections", "shape"), _AXIS_FIRST), _split, "jnp.split", doc="a tuple of equal parts (an int) or of the parts between indices"),
    Function("einsum", (FnParam("subscripts", "str"), FnParam("operands", "arrays")), _einsum, "jnp.einsum", doc="Einstein summation; the output indices must be named"),
    Function("zeros", (FnParam("shape", "shape"), FnParam("dtype", "dtype", "f32")), _filled, "jnp.zeros", doc="an array of zeros"),
    Function("ones", (FnParam("shape", "shape"), FnParam("dtype", "dtype", "f32")), _filled, "jnp.ones", doc="an array of ones"),
    Function("causal_mask", (FnParam("n", "int"),), _causal_mask, "jnp.tril", lowering=_lower_causal_mask, doc="bool[n, n], true on and below the diagonal"),
    Function("normal", (FnParam("key", "key"), FnParam("shape", "shape"), FnParam("dtype", "dtype", "f32")), _sample, "jax.random.normal", lowering=_lower_sample("jax.random.normal"), stochastic=True, doc="standard normal samples"),
    Function("uniform", (FnParam("key", "key"), FnParam("shape", "shape"), FnParam("dtype", "dtype", "f32"), FnParam("minval", "float", 0.0), FnParam("maxval", "float", 1.0)), _sample, "jax.random.uniform", lowering=_lower_sample("jax.random.uniform"), stochastic=True, doc="uniform samples in [minval, maxval)"),
    Function("bernoulli", (FnParam("key", "key"), FnParam("p", "float"), FnParam("shape", "shape")), _bernoulli, "jax.random.bernoulli", lowering=_lower_bernoulli, stochastic=True, doc="bool samples, true with probability p"),
]

#: Every function of the language by name.
FUNCTIONS: Mapping[str, Function] = {f.name: f for f in _ALL}

#: The functions that may be used as values (`fn` hyperparameters, `activation=`, pipeline steps).
ACTIVATIONS: Mapping[str, Function] = {f.name: f for f in _ALL if f.activation}
