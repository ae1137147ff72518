"""A row of the function table: a `Function`, its parameters, and the Python a call becomes."""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from eqxdsl.compiler.dims import DTYPES
from eqxdsl.compiler.library._required import REQUIRED
from eqxdsl.compiler.values import Value

#: The values of a call's arguments by name. Each has the kind its `FnParam` names (an array,
#: a `Static` int, a dtype, ...): `check` has held every argument to its kind before a rule
#: reads it, which the row, not the type system, records.
FunctionArgs = Mapping[str, Any]


#: What a function parameter accepts: see `FnParam`.
FnParamKind = Literal["array", "arrays", "axis", "int", "shape", "widths", "float", "bool", "str", "dtype", "key", "tuple"]


@dataclass(frozen=True)
class FnParam:
    """One parameter of a spec function.

    `kind` is what the checker accepts: "array" (an array or a number),
    "arrays" (a list or tuple of arrays), "axis" (an int, a tuple of ints or
    None), "int", "shape" (an int or a tuple/list of ints), "widths" (`pad`'s
    widths: an int, a `(before, after)` pair or one pair per axis), "float",
    "bool", "str", "dtype" or "key" (the method's `key`, only where sampling).
    A parameter whose default is None also accepts None. `keyword` says that the
    Python call takes it by keyword, as its position there differs
    (`jnp.sum(x, 0, keepdims=True)`: `jnp.sum`'s third parameter is `dtype`).
    """

    name: str
    kind: FnParamKind
    default: object = REQUIRED
    keyword: bool = False


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
        method: whether arrays have it as a method too, as NumPy's do:
            `x.mean(0)` is `mean(x, 0)`.
        doc: one line for the reference.
    """

    name: str
    params: tuple[FnParam, ...]
    rule: Callable[[FunctionArgs], Value]
    target: str
    lowering: Callable[[Mapping[str, ast.expr]], ast.expr] | None = None
    activation: bool = False
    stochastic: bool = False
    method: bool = False
    doc: str = ""

    def python(self, bound: Mapping[str, ast.expr]) -> ast.expr:
        """The Python call, from the expressions of the arguments the spec gives, by parameter name."""
        if self.lowering is not None:
            return self.lowering(bound)
        return call_by_position(self.target, self.params, bound)


def call_by_position(target: str, params: tuple[FnParam, ...], bound: Mapping[str, ast.expr]) -> ast.expr:
    """A call of `target`: arguments by position while every earlier one is given and the target takes them there, the rest by keyword."""
    positional = []
    keywords = {}
    leading = True
    for param in params:
        if param.name not in bound:
            leading = False
        elif leading and not param.keyword:
            positional.append(bound[param.name])
        else:
            leading = False
            keywords[param.name] = bound[param.name]
    return call_python(target, *positional, **keywords)


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


def call_python(target: str, *args: ast.expr, **keywords: ast.expr) -> ast.expr:
    """`target(*args, **keywords)` as an ast expression; `target` is dotted (`jax.nn.relu`)."""
    return ast.Call(dotted(target), list(args), [ast.keyword(k, v) for k, v in keywords.items()])
