"""Shapes in the generated signatures: jaxtyping's `Float[Array, "T dim"]` for each array input and output.

The annotations say what the spec declared, so a reader (and a static checker)
sees the shapes, and a run-time checker (jaxtyping's `jaxtyped` with beartype)
checks them. They are written as strings (`x: "Float[Array, 'T dim']"`), which
importing the module never evaluates, so it needs no jaxtyping (see
`eqxdsl.runtime.array_types`); the rest of the module's annotations stay plain
code (`from __future__ import annotations` would turn field annotations into
strings too, which dataclasses resolve through `sys.modules`, breaking code
run outside a registered module). An axis is written as jaxtyping reads it: a size as its number, a
name as itself (the first use in a call binds it, later uses must agree), and a
formula over names bound before it (`4*dim`, `(H-1)//2+1`) as the formula.
A formula over a name nothing binds first (a hyperparameter that no input's
axis names) is written `_`, an axis jaxtyping does not check: it could not
evaluate it. The docstring gives every shape in full.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.lower import ir
from eqxdsl.compiler.values import TupleValue, UnknownArray

#: jaxtyping's dtype family for each dtype, as the generated input checks accept them.
_FAMILIES = {
    "f16": "Float", "bf16": "Float", "f32": "Float", "f64": "Float",
    "i8": "Integer", "i16": "Integer", "i32": "Integer", "i64": "Integer", "u8": "Integer", "u32": "Integer",
    "bool": "Bool", "c64": "Complex",
}
#: Every name the annotations may use, imported by the generated module when used.
NAMES = ("Array", *sorted(set(_FAMILIES.values())))


_NOT_IDENTIFIER = re.compile(r"\W+")


class ArrayAnnotations:
    """The annotations of one method: inputs in order (each binding the names of its axes), then outputs."""

    def __init__(self) -> None:
        self.bound: set[str] = set()

    def input(self, tensor: TensorType) -> str:
        """The annotation of the next input."""
        return self._array(tensor)

    def output(self, value: object) -> str:
        """The annotation of a result: an array, or a tuple of them."""
        if isinstance(value, TupleValue):
            return "tuple[" + ", ".join(self._array(item) for item in value.items) + "]"
        return self._array(value)

    def _array(self, value: object) -> str:
        if isinstance(value, UnknownArray):
            return "Array"
        if not isinstance(value, TensorType):
            return "jax.Array"
        axes = []
        for size in value.shape:
            axes.append(self._axis(size))
            name = _name_of(size)
            if name is not None:
                self.bound.add(name)
        return f"{_FAMILIES[value.dtype]}[Array, '{' '.join(axes)}']"

    def _axis(self, size: Dim) -> str:
        if size.value is not None:
            return str(size.value)
        name = _name_of(size)
        if name is not None:
            return _axis_name(name)
        if not size.symbols <= self.bound:
            return "_"
        return size.python({symbol: _axis_name(symbol) for symbol in size.symbols}).replace(" ", "")


def _name_of(size: Dim) -> str | None:
    """The symbol `size` is, when it is one symbol alone."""
    if len(size.symbols) == 1:
        (name,) = size.symbols
        if size == Dim.symbol(name):
            return name
    return None


def _axis_name(symbol: str) -> str:
    """A size symbol as an axis name, which must be an identifier: the item `widths[0]` as `widths_0`, `len(widths)` as `len_widths`."""
    return _NOT_IDENTIFIER.sub("_", symbol).strip("_")


def deferred(annotation: str) -> str:
    """`annotation` as a string when it names a shape annotation's names (`"Float[Array, 'T']"`), else as it is."""
    return repr(annotation) if _names_in(annotation) & set(NAMES) else annotation


def _names_in(annotation: str) -> set[str]:
    """The names an annotation reads; for a string annotation, the names of the one it holds."""
    tree = ast.parse(annotation, mode="eval")
    if isinstance(tree.body, ast.Constant) and isinstance(tree.body.value, str):
        return _names_in(tree.body.value)
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


def used_names(classes: Iterable[ir.ModuleClass]) -> tuple[str, ...]:
    """The names of `NAMES` the methods' annotations use, in `NAMES`' order."""
    used: set[str] = set()
    for cls in classes:
        for method in (cls.init, *cls.methods):
            for annotation in (*(arg.annotation for arg in method.args), method.returns):
                if annotation is not None:
                    used |= _names_in(annotation)
    return tuple(name for name in NAMES if name in used)
