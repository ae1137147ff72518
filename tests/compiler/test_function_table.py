"""The function table against jax: every row's shape rule agrees with `jax.eval_shape`.

For each row, hypothesis draws calls as a spec would write them (arrays of many
shapes and dtypes, axes, sizes, keywords or positions); where the row's rule
accepts a call, the Python that the row lowers the call to (`Function.python`)
is traced with `jax.eval_shape`, and its shape and dtype must be the rule's.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import eqxdsl.runtime as eqx
from eqxdsl.compiler.dims import DTYPES, Dim, TensorType
from eqxdsl.compiler.library.functions import ELSEWHERE, FUNCTIONS, METHODS, REQUIRED, Function, dotted, dtype_ast
from eqxdsl.compiler.values import ShapeError, Static, TupleValue

FLOATS = ("f32", "bf16", "f16")
OTHERS = ("i32", "i8", "u8", "bool")
SMALL_DTYPES = tuple(d for d in DTYPES if d not in ("f64", "i64", "c64"))  # 64-bit types need jax_enable_x64


@dataclass(frozen=True)
class Array:
    """A generated array argument."""

    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Dtype:
    """A generated dtype argument (`f32` in a spec)."""

    name: str


def checker_value(value):
    """The value the checker gives the argument."""
    if isinstance(value, Array):
        return TensorType.of(value.dtype, value.shape)
    if isinstance(value, Dtype):
        return Static("dtype", value.name)
    if isinstance(value, list):
        return TupleValue(tuple(checker_value(v) for v in value))
    if value is None:
        return Static("none", None)
    if isinstance(value, bool):
        return Static("bool", value)
    if isinstance(value, int):
        return Static("int", Dim.of(value))
    if isinstance(value, float):
        return Static("float", value)
    if isinstance(value, str):
        return Static("str", value)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return Static("ints", tuple(Dim.of(v) for v in value))
    return Static("tuple", tuple(checker_value(v) for v in value))


class Lowered:
    """Turns generated arguments into the expressions of the lowered call, naming the arrays."""

    def __init__(self):
        self.arrays: dict[str, Array] = {}

    def expr(self, value) -> ast.expr:
        if isinstance(value, Array):
            name = f"a{len(self.arrays)}"
            self.arrays[name] = value
            return ast.Name(name, ast.Load())
        if isinstance(value, Dtype):
            return dtype_ast(value.name)
        if isinstance(value, list):
            return ast.List([self.expr(v) for v in value], ast.Load())
        if isinstance(value, tuple):
            return ast.Tuple([self.expr(v) for v in value], ast.Load())
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            return ast.UnaryOp(ast.USub(), ast.Constant(-value))
        return ast.Constant(value)


def bind(function: Function, positional: list, keywords: dict) -> dict:
    """The rule's view of a call: every parameter, defaults filled in."""
    params = [p for p in function.params if p.kind != "key"]
    values = {p.name: checker_value(v) for p, v in zip(params, positional)}
    values.update({k: checker_value(v) for k, v in keywords.items()})
    for param in function.params:
        if param.kind == "key":
            values[param.name] = Static("key", None)
        elif param.name not in values:
            default = param.default
            values[param.name] = Static("dtype", default) if param.kind == "dtype" and default is not None else checker_value(default)
    return values


def run(function: Function, positional: list, keywords: dict):
    """`jax.eval_shape` of the Python the row lowers the call to."""
    lowered = Lowered()
    params = [p for p in function.params if p.kind != "key"]
    bound = {p.name: lowered.expr(v) for p, v in zip(params, positional)}
    bound.update({k: lowered.expr(v) for k, v in keywords.items()})
    if function.name == "einsum":
        # The lowering spreads einsum's operands itself.
        call = ast.Call(dotted("jnp.einsum"), [bound["subscripts"], *bound["operands"].elts], [])
    else:
        if function.stochastic:
            bound["key"] = ast.Name("key", ast.Load())
        call = function.python(bound)
    code = compile(ast.fix_missing_locations(ast.Expression(call)), "<row>", "eval")
    names = list(lowered.arrays)
    structs = [jax.ShapeDtypeStruct(a.shape, jnp.dtype(DTYPES[a.dtype])) for a in lowered.arrays.values()]

    def evaluate(*arrays):
        return eval(code, {"jax": jax, "jnp": jnp, "eqx": eqx, "key": jax.random.key(0), **dict(zip(names, arrays))})

    return jax.eval_shape(evaluate, *structs)


def same(rule_result, traced) -> bool:
    if isinstance(rule_result, TupleValue):
        return isinstance(traced, (tuple, list)) and len(traced) == len(rule_result.items) and all(same(r, t) for r, t in zip(rule_result.items, traced))
    assert isinstance(rule_result, TensorType), rule_result
    shape = tuple(d.value for d in rule_result.shape)
    return shape == tuple(traced.shape) and jnp.dtype(DTYPES[rule_result.dtype]) == traced.dtype


# -- drawing calls -----------------------------------------------------------------------

sizes = st.integers(1, 5)


@st.composite
def arrays(draw, dtypes, min_rank=0, max_rank=3):
    return Array(draw(st.sampled_from(dtypes)), tuple(draw(st.lists(sizes, min_size=min_rank, max_size=max_rank))))


def broadcastable(draw, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts with `shape`: a suffix of it, some sizes replaced by 1."""
    suffix = shape[len(shape) - draw(st.integers(0, len(shape))) :]
    return tuple(1 if draw(st.booleans()) else d for d in suffix)


def factorised(draw, total: int) -> tuple[int, ...]:
    parts = []
    while total > 1 and len(parts) < 3:
        factor = draw(st.sampled_from([d for d in range(1, total + 1) if total % d == 0]))
        parts.append(factor)
        total //= factor
    parts.append(total)
    order = draw(st.permutations(parts))
    if draw(st.booleans()):
        order[draw(st.integers(0, len(order) - 1))] = -1
    return tuple(order)


def axis_value(draw, rank: int):
    """What an `axis` argument may be: None, an axis (sometimes out of range), or several."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return None
    if choice == 3 and rank > 1:
        return tuple(draw(st.lists(st.integers(-rank, rank - 1), min_size=1, max_size=rank, unique_by=lambda a: a % rank)))
    return draw(st.integers(-rank - 1, max(rank, 1)))


def argument(draw, function: Function, name: str, kind: str, x: Array | None, dtypes):
    rank = len(x.shape) if x is not None else 0
    if kind == "array":
        if name == "condition":
            return draw(arrays(("bool",)))
        if name == "indices":
            return draw(arrays(("i32",), 0, 2))
        if x is None:
            return draw(arrays(dtypes))
        return Array(draw(st.sampled_from(dtypes)), broadcastable(draw, x.shape))
    if kind == "arrays":
        count = draw(st.integers(1, 3))
        first = draw(arrays(dtypes, 1, 3) if function.name == "concatenate" else arrays(dtypes))
        items = [first]
        for _ in range(count - 1):
            shape = list(first.shape)
            if function.name == "concatenate" and draw(st.booleans()):
                shape[draw(st.integers(0, len(shape) - 1))] = draw(sizes)
            items.append(Array(draw(st.sampled_from(dtypes)), tuple(shape)))
        return items
    if kind == "axis":
        return axis_value(draw, rank)
    if kind == "int":
        if name == "axis":
            extra = 1 if function.name in ("stack", "one_hot") else 0
            return draw(st.integers(-rank - extra - 1, rank + extra))
        if name in ("axis1", "axis2"):
            return draw(st.integers(-rank - 1, rank))
        if name == "shift":
            return draw(st.integers(-7, 7))
        if name in ("start", "stop"):
            return draw(st.integers(-3, 9))
        if name == "step":
            return draw(st.sampled_from([1, 2, 3, -1, -2]))
        if name == "decimals":
            return draw(st.integers(0, 2))
        return draw(st.integers(1, 5))
    if kind == "shape":
        if name == "shape" and function.name == "reshape":
            return factorised(draw, math.prod(x.shape))
        if name == "axes":
            return tuple(draw(st.permutations(range(rank)))) if rank else None
        if name == "axis":
            count = draw(st.integers(1, 2))
            axes = draw(st.lists(st.integers(-rank - count, rank + count - 1), min_size=count, max_size=count))
            return axes[0] if count == 1 and draw(st.booleans()) else tuple(axes)
        if name in ("source", "destination"):
            # One axis, or a few; sometimes out of range or repeated.
            axes = draw(st.lists(st.integers(-rank - 1, rank), min_size=1, max_size=3))
            return axes[0] if len(axes) == 1 and draw(st.booleans()) else tuple(axes)
        if name == "indices_or_sections":
            if draw(st.booleans()):
                return draw(st.integers(1, 4))
            return tuple(sorted(draw(st.lists(st.integers(0, 5), max_size=3))))
        return tuple(draw(st.lists(sizes, max_size=3)))
    if kind == "widths":
        pair = lambda: tuple(draw(st.lists(st.integers(0, 3), min_size=1, max_size=2)))  # noqa: E731
        choice = draw(st.integers(0, 2))
        if choice == 0:
            return draw(st.integers(0, 3))
        if choice == 1:
            return pair()
        return tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(rank))
    if kind == "float":
        if name in ("min", "max", "constant_values"):
            return draw(st.none() | st.floats(-2, 2))
        return draw(st.floats(0.0, 1.0))
    if kind == "bool":
        return draw(st.booleans())
    if kind == "dtype":
        return Dtype(draw(st.sampled_from(SMALL_DTYPES)))
    if kind == "tuple":
        # Logical axis names, one per axis.
        return tuple(draw(st.permutations([None, "batch", "embed", "heads"][: max(rank, 1)]))[:rank])
    if kind == "str":
        if function.name == "pad":
            return draw(st.sampled_from(["constant", "edge", "reflect", "symmetric", "wrap"]))
        raise AssertionError(f"no strategy for {function.name}'s {name}")
    raise AssertionError(f"no strategy for the kind {kind}")


@st.composite
def einsum_call(draw, dtypes):
    letters = "ijkl"
    count = draw(st.integers(1, 2))
    sizes_of = {c: draw(sizes) for c in letters}
    subscripts = ["".join(draw(st.lists(st.sampled_from(letters), max_size=3, unique=True))) for _ in range(count)]
    used = sorted(set("".join(subscripts)))
    output = "".join(draw(st.lists(st.sampled_from(used), unique=True))) if used else ""
    operands = [Array(draw(st.sampled_from(dtypes)), tuple(sizes_of[c] for c in s)) for s in subscripts]
    return [",".join(subscripts) + "->" + output, operands], {}


@st.composite
def calls(draw, function: Function):
    """A call of `function`: its positional arguments and keywords."""
    dtypes = FLOATS + OTHERS
    if function.name == "one_hot":
        dtypes = ("i32", "u8")
    if function.name == "einsum":
        return draw(einsum_call(FLOATS))
    params = [p for p in function.params if p.kind != "key"]
    x = None
    chosen = []
    for param in params:
        if param.default is not REQUIRED and not draw(st.booleans()):
            continue
        value = argument(draw, function, param.name, param.kind, x, dtypes)
        if x is None and isinstance(value, Array):
            x = value
        chosen.append((param, value))
    positional, keywords = [], {}
    for param, value in chosen:
        in_order = len(positional) == params.index(param)
        if param.default is REQUIRED and in_order or in_order and draw(st.booleans()):
            positional.append(value)
        else:
            keywords[param.name] = value
    return positional, keywords


# Drawn bounds such as clip(x, -1.5) of a u8 array are cast by numpy inside jax, which warns.
@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("name", sorted({f.name for f in FUNCTIONS.values()}))
def test_rule_agrees_with_jax(name):
    function = FUNCTIONS[name]
    accepted = []

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
    @given(calls(function))
    def check(call):
        positional, keywords = call
        try:
            result = function.rule(bind(function, positional, keywords))
        except ShapeError:
            assume(False)
            return
        traced = run(function, positional, keywords)
        assert same(result, traced), f"{function.name}{tuple(positional)} {keywords}: rule {result}, jax {traced}"
        accepted.append(call)

    check()
    assert len(accepted) >= 5, f"only {len(accepted)} drawn calls of {name} were valid"


# -- the table's shape ---------------------------------------------------------------------


def test_methods_are_rows_of_the_table():
    """An array method is the row of the function of its name: one row, two spellings."""
    for name, function in METHODS.items():
        assert FUNCTIONS[name] is function
        assert function.params[0].name == "x" and function.params[0].kind == "array"


def test_aliases_and_other_names_lead_to_rows():
    assert FUNCTIONS["swish"] is FUNCTIONS["silu"]
    assert FUNCTIONS["concat"] is FUNCTIONS["concatenate"]
    assert all(target in FUNCTIONS and name not in FUNCTIONS for name, target in ELSEWHERE.items())


def test_keepdims_is_passed_by_keyword():
    """`jnp.sum`'s third parameter is `dtype`: keepdims given by position in a spec must not land there."""
    call = FUNCTIONS["sum"].python({"x": ast.Name("x", ast.Load()), "axis": ast.Constant(0), "keepdims": ast.Constant(True)})
    assert ast.unparse(call) == "jnp.sum(x, 0, keepdims=True)"
