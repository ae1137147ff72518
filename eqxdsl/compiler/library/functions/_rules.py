"""The shape rules of the functions a spec can call, and the Python that some of them become."""

from __future__ import annotations

import ast
import string
from collections.abc import Callable, Mapping

from eqxdsl.compiler.dims import DTYPES, Dim, TensorType, proven_equal
from eqxdsl.compiler.library._function_row import (
    FnParam,
    FunctionArgs,
    call_by_position,
    call_python,
)
from eqxdsl.compiler.library.logical_axes import repeated_name, repeated_name_message
from eqxdsl.compiler.values import (
    ShapeError,
    Static,
    TupleValue,
    UnknownArray,
    Value,
    is_array,
)

# ---- shape helpers ------------------------------------------------------------


def _array(value: Value, what: str) -> TensorType | UnknownArray:
    if is_array(value):
        return value  # type: ignore[return-value]
    if isinstance(value, Static) and value.kind in ("int", "float", "bool"):
        dtype = {"int": "i32", "float": "f32", "bool": "bool"}[value.kind]
        return TensorType(dtype, ())
    raise ShapeError(f"{what} must be an array, not {value}", argument=what)


_BITS = {"u8": 8, "u32": 32, "i8": 8, "i16": 16, "i32": 32, "i64": 64, "f16": 16, "bf16": 16, "f32": 32, "f64": 64}


def _promote(a: str, b: str) -> str:
    """The dtype of an operation on arrays of dtypes `a` and `b`, as jax promotes them (64-bit types off)."""
    if a == b or b == "bool":
        return a
    if a == "bool":
        return b
    if "c64" in (a, b):
        return "c64"
    floats = [d for d in (a, b) if d[0] in "fb"]
    if len(floats) == 1:
        return floats[0]
    if floats:
        # f16 and bf16 meet in f32.
        return a if _BITS[a] > _BITS[b] else b if _BITS[b] > _BITS[a] else "f32"
    if a[0] == b[0]:
        return a if _BITS[a] >= _BITS[b] else b
    signed, unsigned = (a, b) if a[0] == "i" else (b, a)
    if _BITS[signed] > _BITS[unsigned]:
        return signed
    return {8: "i16", 16: "i32"}.get(_BITS[unsigned], "i32" if _BITS[signed] < 64 else "i64")


def broadcast(left: Value, right: Value, left_name: str = "left operand", right_name: str = "right operand") -> TensorType | UnknownArray:
    """The type of an elementwise operation on two values (NumPy broadcasting).

    Static numbers adopt the array's dtype (Python scalars are weakly typed).
    """
    a = _array(left, left_name)
    b = _array(right, right_name)
    if isinstance(a, UnknownArray) or isinstance(b, UnknownArray):
        return UnknownArray()
    if isinstance(left, Static) and not isinstance(right, Static):
        dtype = b.dtype if not (left.kind == "float" and not b.is_floating) else "f32"
    elif isinstance(right, Static) and not isinstance(left, Static):
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
        elif proven_equal(x, y):
            out.append(x)
        else:
            raise ShapeError(
                f"cannot broadcast {a} with {b}: axis {axis - rank} has size {x} in the {left_name} "
                f"and {y} in the {right_name}",
                hint="sizes must be equal or 1 on each axis, aligned from the right",
                sizes=(x, y),
            )
    return TensorType(dtype, tuple(out))


def _normalise_axis(axis: Dim, rank: int, what: str = "axis") -> int:
    value = axis.value
    if value is None:
        raise ShapeError(f"{what} must be a known integer", argument=what)
    if not -rank <= value < rank:
        hint = f"the axes of an array of rank {rank} are {-rank} to {rank - 1}" if rank else "a scalar has no axes"
        raise ShapeError(f"{what} {value} is out of range for an array of rank {rank}", hint=hint, argument=what)
    return value % rank


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


def _same(args: FunctionArgs) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, TensorType) and not a.is_floating and a.dtype != "c64":
        return TensorType("f32", a.shape)
    return a


def _along_axis(args: FunctionArgs) -> Value:
    a = _number_array(args)
    if isinstance(a, TensorType):
        _axes(args["axis"], a.rank)
    return _same(args)


def _floating(args: FunctionArgs) -> Value:
    """Functions that jax computes on floating-point arrays only (`silu`, `rsqrt`)."""
    a = _array(args["x"], "x")
    if isinstance(a, TensorType) and not a.is_floating:
        raise ShapeError(f"needs a floating-point array, not {a}", hint="convert it first: astype(x, f32)", argument="x")
    return a


def _numbers(args: FunctionArgs) -> Value:
    """Functions that keep a number array's dtype and count bools as int32 (`relu`, `square`)."""
    a = _array(args["x"], "x")
    return TensorType("i32", a.shape) if isinstance(a, TensorType) and a.dtype == "bool" else a


def _float_result(dtype: str) -> str:
    """The dtype of a float-valued function of an array (`mean`, `std`): floating arrays keep theirs."""
    return dtype if dtype in ("f16", "bf16", "f32", "f64", "c64") else "f32"


def _sum_result(dtype: str) -> str:
    """The dtype of a sum: bools and narrow integers accumulate in 32 bits, as in jax."""
    return {"bool": "i32", "i8": "i32", "i16": "i32", "u8": "u32"}.get(dtype, dtype)


def _reduce(args: FunctionArgs, dtype: Callable[[str], str] | None = None) -> Value:
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
    return TensorType(dtype(a.dtype) if dtype else a.dtype, tuple(d for d in shape if d is not None))


def _sum(args: FunctionArgs) -> Value:
    return _reduce(args, _sum_result)


def _mean(args: FunctionArgs) -> Value:
    return _reduce(args, _float_result)


def _argreduce(args: FunctionArgs) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, UnknownArray):
        return a
    axis = _single_axis(args["axis"], a.rank)
    if axis is None:
        return TensorType("i32", ())
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


def _concatenate(args: FunctionArgs) -> Value:
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
            if i != axis and not proven_equal(x, y):
                raise ShapeError(
                    f"array {index} has size {y} on axis {i}, array 0 has {x}; only axis {axis} may differ",
                    argument="arrays",
                    sizes=(x, y),
                )
        total = total + array.shape[axis]
        dtype = _promote(dtype, array.dtype)
    shape = list(arrays[0].shape)
    shape[axis] = total
    return TensorType(dtype, tuple(shape))


def _stack(args: FunctionArgs) -> Value:
    arrays = _arrays(args["arrays"])
    first = arrays[0]
    for index, array in enumerate(arrays):
        if array.rank != first.rank or not all(proven_equal(x, y) for x, y in zip(first.shape, array.shape)):
            raise ShapeError(f"array {index} is {array}, array 0 is {first}; stacked arrays need one shape", argument="arrays")
    axis = _normalise_axis(_shape(args["axis"], "axis")[0], first.rank + 1)
    shape = list(first.shape)
    shape.insert(axis, Dim.const(len(arrays)))
    dtype = first.dtype
    for array in arrays[1:]:
        dtype = _promote(dtype, array.dtype)
    return TensorType(dtype, tuple(shape))


def _reshape(args: FunctionArgs) -> Value:
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
        if not proven_equal(inferred * known, total):
            raise ShapeError(f"cannot reshape {a} ({total} elements) into {len(target)} axes of which the known ones hold {known}", argument="shape", sizes=(known, total))
        target = tuple(inferred if i == wild[0] else d for i, d in enumerate(target))
    elif not proven_equal(_product(target), total):
        shape_text = ", ".join(str(d) for d in target)
        raise ShapeError(
            f"cannot reshape {a} ({total} elements) into ({shape_text}) ({_product(target)} elements)",
            argument="shape",
            sizes=(_product(target), total),
        )
    return TensorType(a.dtype, target)


def _transpose(args: FunctionArgs) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, UnknownArray):
        return a
    if isinstance(args["axes"], Static) and args["axes"].kind == "none":
        return TensorType(a.dtype, tuple(reversed(a.shape)))
    axes = [_normalise_axis(d, a.rank, "axes") for d in _shape(args["axes"], "axes")]
    if sorted(axes) != list(range(a.rank)):
        raise ShapeError(f"axes {tuple(axes)} is not a permutation of the {a.rank} axes of {a}", argument="axes")
    return TensorType(a.dtype, tuple(a.shape[i] for i in axes))


def _flatten(args: FunctionArgs) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, UnknownArray):
        return a
    return TensorType(a.dtype, (_product(a.shape),))


def _split(args: FunctionArgs) -> Value:
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
        if not proven_equal(part * count, size):
            raise ShapeError(f"axis {axis} of {a} has size {size}, which does not split into {count} equal parts", argument="indices_or_sections")
        shape = list(a.shape)
        shape[axis] = part
        return TupleValue((TensorType(a.dtype, tuple(shape)),) * count)
    bounds = _shape(sections, "indices_or_sections")
    parts = []
    start = Dim.const(0)
    for stop in (*bounds, size):
        shape = list(a.shape)
        if (stop - start).value is not None and (stop - start).value < 0:
            raise ShapeError(f"split's indices must increase and stay within axis {axis} (size {size}), not {sections}", argument="indices_or_sections")
        shape[axis] = stop - start
        parts.append(TensorType(a.dtype, tuple(shape)))
        start = stop
    return TupleValue(tuple(parts))


def _einsum(args: FunctionArgs) -> Value:
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
            if letter in sizes and not proven_equal(sizes[letter], size):
                raise ShapeError(f"einsum index {letter!r} has size {sizes[letter]} in one operand and {size} in operand {index}", argument="operands", sizes=(sizes[letter], size))
            sizes.setdefault(letter, size)
    for letter in output_text:
        if letter not in sizes:
            raise ShapeError(f"einsum's output index {letter!r} appears in no operand", argument="subscripts")
    return TensorType(dtype or "f32", tuple(sizes[c] for c in output_text))


def _filled(args: FunctionArgs) -> Value:
    return TensorType(_dtype(args["dtype"]), _shape(args["shape"]))


def _causal_mask(args: FunctionArgs) -> Value:
    size = _shape(args["n"], "n")
    if len(size) != 1:
        raise ShapeError("causal_mask takes one size", argument="n")
    return TensorType("bool", (size[0], size[0]))


def _sample(args: FunctionArgs) -> Value:
    dtype = _dtype(args["dtype"])
    if dtype not in ("f16", "bf16", "f32", "f64"):
        raise ShapeError(f"samples are floating-point numbers; dtype must be a float type, not {dtype}", hint="sample floats and convert them with astype", argument="dtype")
    return TensorType(dtype, _shape(args["shape"]))


def _bernoulli(args: FunctionArgs) -> Value:
    return TensorType("bool", _shape(args["shape"]))


def _where(args: FunctionArgs) -> Value:
    both = broadcast(args["x"], args["y"], "x", "y")
    condition = _array(args["condition"], "condition")
    if isinstance(condition, TensorType) and condition.dtype != "bool":
        raise ShapeError(
            f"the condition must be a bool array, not {condition}",
            hint="make one with a comparison: where(x > 0, x, 0.0)",
            argument="condition",
        )
    return broadcast(condition, both, "condition", "values") if isinstance(both, TensorType) else both


def _binary(args: FunctionArgs) -> Value:
    return broadcast(args["x"], args["y"], "x", "y")


def _clip(args: FunctionArgs) -> Value:
    a = _array(args["x"], "x")
    bounds = [args[name] for name in ("min", "max") if not _is_none(args[name])]
    if isinstance(a, TensorType) and not a.is_floating and any(b.kind == "float" for b in bounds):
        return TensorType("f32", a.shape)
    return a


def _known_int(value: Value, what: str) -> int:
    if isinstance(value, Static) and value.kind == "int" and value.value.value is not None:
        return value.value.value
    raise ShapeError(f"{what} must be an integer known when the spec is compiled", argument=what)


def _single_axis(value: Value, rank: int) -> int | None:
    """The one axis an `axis=` argument names, or None for "the flattened array"."""
    if isinstance(value, Static) and value.kind == "none":
        return None
    if isinstance(value, Static) and value.kind == "int":
        return _normalise_axis(value.value, rank)
    raise ShapeError(f"axis must be one int or None, not {value}", hint="give one axis, or None for the flattened array", argument="axis")


def _number_array(args: FunctionArgs) -> TensorType | UnknownArray:
    a = _array(args["x"], "x")
    if isinstance(a, TensorType) and a.dtype == "bool":
        raise ShapeError(f"needs a number array, not {a}", hint="convert it first: astype(x, f32)", argument="x")
    return a


def _arange(args: FunctionArgs) -> Value:
    dtype = _dtype(args["dtype"]) if not _is_none(args["dtype"]) else "i32"
    if dtype == "bool":
        raise ShapeError("arange counts in numbers, not bool", hint="use a number dtype such as i32 or f32", argument="dtype")
    start, stop = args["start"].value, args["stop"].value
    if _is_none(args["stop"]):
        start, stop = Dim.const(0), start
    step = 1 if _is_none(args["step"]) else _known_int(args["step"], "step")
    if step == 0:
        raise ShapeError("step must not be 0", argument="step")
    if step == 1:
        length = stop - start
    elif start.value is not None and stop.value is not None:
        length = Dim.const(len(range(start.value, stop.value, step)))
    elif step > 0:
        length = (stop - start + step - 1) // step
    else:
        raise ShapeError("a negative step needs known bounds", argument="step")
    if length.value is not None and length.value < 0:
        length = Dim.const(0)
    return TensorType(dtype, (length,))


def _is_none(value: Value) -> bool:
    return isinstance(value, Static) and value.kind == "none"


def _pad_widths(value: Value, rank: int) -> list[tuple[Dim, Dim]]:
    """`pad`'s widths, one `(before, after)` pair per axis, broadcast as NumPy does."""
    if isinstance(value, Static) and value.kind == "int":
        return [(value.value, value.value)] * rank
    if isinstance(value, Static) and value.kind == "ints" and len(value.value) in (1, 2):
        pair = tuple(value.value)
        return [(pair[0], pair[-1])] * rank
    if isinstance(value, Static) and value.kind == "tuple" and value.value is not None and len(value.value) in (1, rank):
        pairs = []
        for item in value.value:
            if not (isinstance(item, Static) and item.kind == "ints" and len(item.value) == 2):
                break
            pairs.append(tuple(item.value))
        else:
            return pairs * (rank if len(pairs) == 1 else 1)
    raise ShapeError(
        f"pad widths must be an int, a (before, after) pair or one pair per axis ({rank}), not {value}",
        hint="as in pad(x, 1), pad(x, (1, 2)) or pad(x, ((1, 2), (0, 0)))",
        argument="pad_width",
    )


_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def _pad(args: FunctionArgs) -> Value:
    a = _array(args["x"], "x")
    mode = args["mode"].value
    if mode not in _PAD_MODES:
        raise ShapeError(f"mode must be one of {', '.join(map(repr, _PAD_MODES))}, not {args['mode']}", hint="these are jnp.pad's modes", argument="mode")
    if mode != "constant" and not _is_none(args["constant_values"]):
        raise ShapeError("constant_values goes with mode 'constant'", hint="drop constant_values, or pad with mode=\"constant\"", argument="constant_values")
    if isinstance(a, UnknownArray):
        return a
    widths = _pad_widths(args["pad_width"], a.rank)
    for before, after in widths:
        if any(w.value is not None and w.value < 0 for w in (before, after)):
            raise ShapeError("pad widths must not be negative", argument="pad_width")
    return TensorType(a.dtype, tuple(d + lo + hi for d, (lo, hi) in zip(a.shape, widths)))


def _astype(args: FunctionArgs) -> Value:
    a = _array(args["x"], "x")
    dtype = _dtype(args["dtype"])
    return a if isinstance(a, UnknownArray) else TensorType(dtype, a.shape)


def _one_hot(args: FunctionArgs) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, TensorType) and not a.is_integer:
        raise ShapeError(f"one_hot takes integer class indices, not {a}", hint="argmax gives the index of the largest entry", argument="x")
    classes = args["num_classes"].value
    if classes.value is not None and classes.value <= 0:
        raise ShapeError("num_classes must be positive", argument="num_classes")
    dtype = _dtype(args["dtype"])
    if isinstance(a, UnknownArray):
        return a
    axis = _normalise_axis(args["axis"].value, a.rank + 1)
    shape = list(a.shape)
    shape.insert(axis, classes)
    return TensorType(dtype, tuple(shape))


def _cumsum(args: FunctionArgs) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, UnknownArray):
        return a
    dtype = "i32" if a.dtype == "bool" else a.dtype
    axis = _single_axis(args["axis"], a.rank)
    return TensorType(dtype, (_product(a.shape),) if axis is None else a.shape)


def _rounded(args: FunctionArgs) -> Value:
    return _number_array(args)


def _sort(args: FunctionArgs, dtype: str | None = None) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, UnknownArray):
        return a
    axis = _single_axis(args["axis"], a.rank)
    return TensorType(dtype or a.dtype, (_product(a.shape),) if axis is None else a.shape)


def _argsort(args: FunctionArgs) -> Value:
    return _sort(args, "i32")


def _expand_dims(args: FunctionArgs) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, UnknownArray):
        return a
    count = len(_shape(args["axis"], "axis"))
    axes = _axes(args["axis"], a.rank + count)
    assert axes is not None  # `_shape` took the axes as ints
    rest = iter(a.shape)
    return TensorType(a.dtype, tuple(Dim.const(1) if i in axes else next(rest) for i in range(a.rank + count)))


def _squeeze(args: FunctionArgs) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, UnknownArray):
        return a
    axes = _axes(args["axis"], a.rank)
    if axes is None:
        unknown = [i for i, d in enumerate(a.shape) if d.value is None]
        if unknown:
            raise ShapeError(f"axis {unknown[0]} of {a} has size {a.shape[unknown[0]]}, which may not be 1", hint="name the axes to remove: squeeze(x, axis=0)", argument="x")
        axes = tuple(i for i, d in enumerate(a.shape) if d.value == 1)
    for i in axes:
        if a.shape[i] != 1:
            raise ShapeError(f"axis {i} of {a} has size {a.shape[i]}, not 1; only axes of size 1 can be squeezed", hint="name only axes of size 1, or reshape", argument="axis")
    return TensorType(a.dtype, tuple(d for i, d in enumerate(a.shape) if i not in axes))


def _take(args: FunctionArgs) -> Value:
    a = _array(args["x"], "x")
    indices = _array(args["indices"], "indices")
    if isinstance(indices, TensorType) and not indices.is_integer:
        raise ShapeError(f"take's indices must be integers, not {indices}", hint="argmax and argsort give integer indices; astype(i, i32) converts others", argument="indices")
    if isinstance(a, UnknownArray) or isinstance(indices, UnknownArray):
        return UnknownArray()
    axis = _single_axis(args["axis"], a.rank)
    if axis is None:
        return TensorType(a.dtype, indices.shape)
    return TensorType(a.dtype, a.shape[:axis] + indices.shape + a.shape[axis + 1 :])


def _logsumexp(args: FunctionArgs) -> Value:
    return _reduce(args, _float_result)


def _shard(args: FunctionArgs) -> Value:
    """`x` unchanged; `axes` must give one logical name (or None) per axis, each name once."""
    x = _array(args["x"], "x")
    axes = args["axes"]
    names = axes.value if isinstance(axes, Static) else None
    if names is None or not all(isinstance(n, Static) and n.kind in ("str", "none") for n in names):
        raise ShapeError('the logical axis names are written in the spec: a tuple of strings or None, such as (None, "embed")', argument="axes")
    names = tuple(n.value for n in names)
    if isinstance(x, TensorType) and len(names) != x.rank:
        raise ShapeError(f"{len(names)} logical axis names for an array of rank {x.rank} ({x})", argument="axes", hint="give one name (or None) per axis")
    repeated = repeated_name(names)
    if repeated is not None:
        raise ShapeError(repeated_name_message(names, *repeated), argument="axes")
    return x


def _swapaxes(args: FunctionArgs) -> Value:
    a = _array(args["x"], "x")
    if isinstance(a, UnknownArray):
        return a
    first = _normalise_axis(_int_axis(args["axis1"], "axis1"), a.rank, "axis1")
    second = _normalise_axis(_int_axis(args["axis2"], "axis2"), a.rank, "axis2")
    shape = list(a.shape)
    shape[first], shape[second] = shape[second], shape[first]
    return TensorType(a.dtype, tuple(shape))


def _moveaxis(args: FunctionArgs) -> Value:
    """As NumPy: the other axes keep their order, and each source axis lands at its destination."""
    a = _array(args["x"], "x")
    if isinstance(a, UnknownArray):
        return a
    sources = [_normalise_axis(d, a.rank, "source") for d in _shape(args["source"], "source")]
    destinations = [_normalise_axis(d, a.rank, "destination") for d in _shape(args["destination"], "destination")]
    if len(sources) != len(destinations):
        raise ShapeError(f"{len(sources)} source axes but {len(destinations)} destinations; give one destination per source", argument="destination")
    for axes, what in ((sources, "source"), (destinations, "destination")):
        if len(set(axes)) != len(axes):
            raise ShapeError(f"an axis is repeated in {what}", argument=what)
    order = [axis for axis in range(a.rank) if axis not in sources]
    for destination, source in sorted(zip(destinations, sources)):
        order.insert(destination, source)
    return TensorType(a.dtype, tuple(a.shape[axis] for axis in order))


def _int_axis(value: Value, what: str) -> Dim:
    if isinstance(value, Static) and value.kind == "int":
        return value.value
    raise ShapeError(f"{what} must be an int, not {value}", argument=what)


def _reordered(args: FunctionArgs) -> Value:
    """`roll` and `flip`: the same elements, moved along `axis` (all axes by default)."""
    a = _array(args["x"], "x")
    if isinstance(a, TensorType):
        _axes(args["axis"], a.rank)
    return a


#: `pad`'s parameters, which its lowering passes by position.
_PAD_PARAMS = (
    FnParam("x", "array"),
    FnParam("pad_width", "widths"),
    FnParam("mode", "str", "constant"),
    FnParam("constant_values", "float", None, keyword=True),
)


# ---- lowerings ----------------------------------------------------------------


def _lower_causal_mask(args: Mapping[str, ast.expr]) -> ast.expr:
    n = args["n"]
    ones = call_python("jnp.ones", ast.Tuple([n, n], ast.Load()), dtype=ast.Name("bool", ast.Load()))
    return call_python("jnp.tril", ones)


def _lower_sample(target: str) -> Callable[[Mapping[str, ast.expr]], ast.expr]:
    def lower(args: Mapping[str, ast.expr]) -> ast.expr:
        extra = {k: v for k, v in args.items() if k not in ("key", "shape")}
        return call_python(target, args["key"], args["shape"], **extra)

    return lower


def _lower_pad(args: Mapping[str, ast.expr]) -> ast.expr:
    # `constant_values=None` means the default; jnp.pad takes no None there.
    given = {k: v for k, v in args.items() if not (k == "constant_values" and isinstance(v, ast.Constant) and v.value is None)}
    return call_by_position("jnp.pad", _PAD_PARAMS, given)


def _lower_bernoulli(args: Mapping[str, ast.expr]) -> ast.expr:
    return call_python("jax.random.bernoulli", args["key"], args["p"], args["shape"])
