"""Checks the generated code makes when it is called or built: each input against its declared
type, and the relations a model asserts.

Every public method starts with `self._check_<method>_inputs(...)` (`_check_inputs` for
`__call__`), a generated private method of plain `if ...: raise ValueError(...)`
statements. They read only shapes and dtypes, which are static under `jax.jit`, so
they run once per trace and cost nothing in a compiled call. Each message names the
model, the input, what the spec declares, what was given, and the spec line. A
relation between hyperparameters alone is checked in `__init__` instead.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from eqxdsl.compiler.check.checked import CheckedModel, MethodInfo, Relation, element_symbol
from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.library.functions import dotted
from eqxdsl.compiler.lower import ir
from eqxdsl.compiler.lower._ast import _call, _dim_ast, _name
from eqxdsl.compiler.lower._stacks import _raise_if
from eqxdsl.compiler.parse import syntax as s

if TYPE_CHECKING:
    from eqxdsl.compiler.lower._model import ModelLowerer

_COMPARE = {"==": ast.Eq, "!=": ast.NotEq, "<": ast.Lt, "<=": ast.LtE, ">": ast.Gt, ">=": ast.GtE}
_NEGATION = {"==": "!=", "!=": "==", "<=": ">", "<": ">=", ">=": "<", ">": "<="}
_ARITHMETIC = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "//": ast.FloorDiv, "%": ast.Mod}
_BOUND_WORDS = {"<=": "at most", "<": "fewer than", ">=": "at least", ">": "more than"}


def check_method_name(info: MethodInfo) -> str:
    """The private method that checks the inputs of `info`'s generated method."""
    return "_check_inputs" if info.name == "forward" else f"_check_{info.name}_inputs"


def input_checks(owner: ModelLowerer, info: MethodInfo) -> ir.Method | None:
    """The generated method checking `info`'s inputs and the relations they take part in; None without inputs."""
    if not info.params:
        return None
    model = owner.model
    where = _input_lines(model, info)
    sizes = {name: _self_ast(owner, name) for name in _model_sizes(model)}
    # Each input size read here: the expression holding it, the input and the axis it is read from.
    bound: dict[str, tuple[ast.expr, str, int]] = {}
    body: list[ir.Statement] = []
    for name, declared in info.params:
        line = where[name]
        body.extend(_rank_and_dtype(owner, name, declared, line))
        for axis, dim in enumerate(declared.shape):
            size = _shape_at(name, axis)
            symbol = next(iter(dim.symbols)) if len(dim.symbols) == 1 else None
            if symbol is not None and dim == Dim.symbol(symbol) and symbol in model.input_dims and symbol not in sizes and symbol not in bound:
                bound[symbol] = (size, name, axis)
                continue
            rename = {**{n: _code(e) for n, e in sizes.items()}, **{n: _code(e) for n, (e, _, _) in bound.items()}}
            if not dim.symbols <= rename.keys():
                continue
            expected = _dim_ast(dim, rename)
            wanted: list[str | ast.expr]
            if dim.value is not None:
                wanted = [str(dim)]
            elif symbol in bound and dim == Dim.symbol(symbol):
                wanted = [f"{symbol} = ", expected, f" ({_axis_of(bound[symbol])})"]
            else:
                wanted = [f"{dim} = ", expected]
            test = ast.Compare(size, [ast.NotEq()], [expected])
            message = [f"{model.name}: axis {axis} of {name} must have size ", *wanted, ", got ", size, f" ({owner.checked.source_name}:{line})"]
            body.append(_raise_if(test, line, message))
    available = {**sizes, **{n: e for n, (e, _, _) in bound.items()}}
    for relation in model.relations:
        reads_inputs = any(n in bound for n in relation.sizes)
        if reads_inputs and set(relation.sizes) <= available.keys():
            body.append(relation_check(owner, relation, available, bound))
    docstring = f"Raises ValueError unless the inputs of {_public_name(info)} match the spec's declarations."
    args = tuple(ir.Arg(name, "jax.Array") for name, _ in info.params)
    return ir.Method(check_method_name(info), args, tuple(body), returns="None", docstring=docstring)


def init_relation_checks(owner: ModelLowerer) -> list[ir.Statement]:
    """`__init__`'s checks of the relations between hyperparameters (and constructor sizes) alone."""
    model = owner.model
    rename = owner._init_rename()
    values = {name: ast.parse(rename.get(name, name), mode="eval").body for name in _model_sizes(model)}
    return [relation_check(owner, relation, values, {}) for relation in model.relations if set(relation.sizes) <= values.keys()]


def relation_check(owner: ModelLowerer, relation: Relation, values: dict[str, ast.expr], bound: dict[str, tuple[ast.expr, str, int]]) -> ir.Statement:
    """`if not (relation): raise ValueError(...)`, with the values of the sizes it reads.

    `values` gives the Python expression of each size; `bound` says, for the
    input sizes, which axis of which input they were read from.
    """
    model = owner.model
    compare = relation.node.test
    assert isinstance(compare, s.Compare)  # check records a relation only for a comparison
    left, right = (_size_ast(side, values) for side in compare.operands)
    # Sizes are ints: the relation fails exactly when its negation holds.
    test = ast.Compare(left, [_COMPARE[_NEGATION[relation.op]]()], [right])
    line = relation.node.pos.line
    origin = f" ({owner.checked.source_name}:{line})"
    if relation.message is not None:
        return _raise_if(test, line, [f"{model.name}: {relation.message}", origin])
    bounded = _bounded_input(relation, bound)
    if bounded is not None:
        name, input_name, axis = bounded
        amount: list[str | ast.expr] = [f"{input_name} has ", values[name], " positions"] if axis == 0 else [f"{input_name} has size ", values[name], f" on axis {axis}"]
        limit: list[str | ast.expr] = [f"{relation.right} = ", right] if relation.right.value is None else [str(relation.right)]
        message: list[str | ast.expr] = [f"{model.name}: ", *amount, f", but this model takes {_BOUND_WORDS[relation.op]} ", *limit, origin]
        return _raise_if(test, line, message)
    message = [f"{model.name}: the spec requires {relation.text}, but "]
    for index, name in enumerate(relation.sizes):
        if index:
            message.append(" and " if index == len(relation.sizes) - 1 else ", ")
        message.extend([f"{name} = ", values[name]])
        if name in bound:
            message.append(f" ({_axis_of(bound[name])})")
    message.append(origin)
    return _raise_if(test, line, message)


def _size_ast(node: s.Expr, values: dict[str, ast.expr]) -> ast.expr:
    """The Python of a size expression of the spec, each name replaced by the expression of its value."""
    if isinstance(node, s.Name):
        return values[node.id]
    if isinstance(node, s.Constant):
        return ast.Constant(node.value)
    if isinstance(node, s.UnaryOp) and node.op in ("-", "+"):
        return ast.UnaryOp(ast.USub() if node.op == "-" else ast.UAdd(), _size_ast(node.operand, values))
    if isinstance(node, s.Subscript) and isinstance(node.value, s.Name) and len(node.index) == 1 and isinstance(node.index[0], s.Constant) and isinstance(node.index[0].value, int):
        return values[element_symbol(node.value.id, node.index[0].value)]
    if isinstance(node, s.BinOp) and node.op in _ARITHMETIC:
        return ast.BinOp(_size_ast(node.left, values), _ARITHMETIC[node.op](), _size_ast(node.right, values))
    raise ValueError(f"not a size expression: {node}")


def _axis_of(read: tuple[ast.expr, str, int]) -> str:
    _, input_name, axis = read
    return f"axis {axis} of {input_name}"


def _bounded_input(relation: Relation, bound: dict[str, tuple[ast.expr, str, int]]) -> tuple[str, str, int] | None:
    """For `T <= ctx` with T read from an input: (T, the input, the axis); else None."""
    if relation.op not in _BOUND_WORDS or len(relation.left.symbols) != 1:
        return None
    name = next(iter(relation.left.symbols))
    if relation.left != Dim.symbol(name) or name not in bound or relation.right.symbols & bound.keys():
        return None
    _, input_name, axis = bound[name]
    return name, input_name, axis


def _rank_and_dtype(owner: ModelLowerer, name: str, declared: TensorType, line: int) -> list[ir.Statement]:
    model = owner.model
    origin = f" ({owner.checked.source_name}:{line})"
    shape = ast.Attribute(_name(name), "shape", ast.Load())
    ndim = ast.Attribute(_name(name), "ndim", ast.Load())
    axes = f"{declared.rank} axis" if declared.rank == 1 else f"{declared.rank} axes"
    checks = [
        _raise_if(
            ast.Compare(ndim, [ast.NotEq()], [ast.Constant(declared.rank)]), line,
            [f"{model.name}: {name} must be {declared} ({axes}), got shape ", shape, origin],
        )
    ]
    dtype = ast.Attribute(_name(name), "dtype", ast.Load())
    if declared.dtype == "bool":
        test: ast.expr = ast.Compare(dtype, [ast.NotEq()], [dotted("jnp.bool_")])
        kind = "a boolean"
    else:
        family, kind = (
            ("jnp.floating", "a floating-point") if declared.is_floating
            else ("jnp.integer", "an integer") if declared.is_integer
            else ("jnp.complexfloating", "a complex")
        )
        test = ast.UnaryOp(ast.Not(), _call(dotted("jnp.issubdtype"), [dtype, dotted(family)]))
    checks.append(_raise_if(test, line, [f"{model.name}: {name} must be {kind} array ({declared}), got ", dtype, origin]))
    return checks


def _model_sizes(model: CheckedModel) -> list[str]:
    """The sizes stored on the model: int hyperparameters (each item of a fixed tuple), constants, constructor sizes."""
    names = []
    for hyper in model.hypers:
        if hyper.kind == "int":
            names.append(hyper.name)
        elif hyper.kind == "ints" and hyper.length is not None:
            names.extend(element_symbol(hyper.name, index) for index in range(hyper.length))
    names.extend(name for name, (_, value) in model.constants.items() if value.kind == "int")
    names.extend(model.init_dims)
    return names


def _self_ast(owner: ModelLowerer, name: str) -> ast.expr:
    text = owner._init_rename().get(name, name)
    return ast.parse(f"self.{text}", mode="eval").body


def _shape_at(name: str, axis: int) -> ast.expr:
    return ast.Subscript(ast.Attribute(_name(name), "shape", ast.Load()), ast.Constant(axis), ast.Load())


def _input_lines(model: CheckedModel, info: MethodInfo) -> dict[str, int]:
    node = info.node
    if node.params is not None:
        return {p.name: p.pos.line for p in node.params}
    return {item.name: item.pos.line for item in model.node.items if isinstance(item, s.InputDecl)}


def _public_name(info: MethodInfo) -> str:
    return "__call__" if info.name == "forward" else info.name


def _code(node: ast.expr) -> str:
    return ast.unparse(node)
