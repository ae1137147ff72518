"""Readable text for PyTrees: `tree_pformat` and `tree_pprint`.

Arrays print as their dtype and shape (`f32[3,4]`, `weak_f32[]`, `i64[2](numpy)`)
unless `short_arrays=False`. A node prints on one line when that fits in
`width`, otherwise one child per line, indented.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

__all__ = ["tree_pformat", "tree_pprint"]

_DTYPE_PREFIX = {"f": "f", "i": "i", "u": "u", "c": "c", "V": "bf"}


def short_dtype(dtype: Any) -> str:
    """`float32` -> `f32`, `int8` -> `i8`, `bool` -> `bool`, `bfloat16` -> `bf16`."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return "bool"
    if dtype.name == "bfloat16":
        return "bf16"
    prefix = _DTYPE_PREFIX.get(dtype.kind)
    if prefix is None:
        return dtype.name
    return f"{prefix}{dtype.itemsize * 8}"


def short_array(x: Any) -> str:
    """The dtype-and-shape summary of an array, e.g. `f32[3,4]`."""
    text = f"{short_dtype(x.dtype)}[{','.join(str(n) for n in x.shape)}]"
    if getattr(x, "weak_type", False):
        text = "weak_" + text
    if isinstance(x, (np.ndarray, np.generic)):
        text += "(numpy)"
    return text


class _Doc:
    """A printable piece: its one-line form, or a bracketed list of children."""

    __slots__ = ("flat", "opening", "children", "closing")

    def __init__(self, flat: str, opening: str = "", children: list[str | _Doc] | None = None, closing: str = ""):
        self.flat = flat
        self.opening = opening
        self.children = children
        self.closing = closing


def _bracketed(opening: str, items: list[tuple[str, _Doc]], closing: str) -> _Doc:
    flat = opening + ", ".join(prefix + item.flat for prefix, item in items) + closing
    return _Doc(flat, opening, [(prefix, item) for prefix, item in items], closing)


def _render(doc: _Doc, width: int, indent: int, line_indent: int, column: int) -> str:
    """Lay `doc` out starting at `column` on a line indented by `line_indent`."""
    if doc.children is None or not doc.children or column + len(doc.flat) <= width:
        return doc.flat
    child_indent = line_indent + indent
    lines = [doc.opening]
    for prefix, child in doc.children:
        body = _render(child, width, indent, child_indent, child_indent + len(prefix))
        lines.append(" " * child_indent + prefix + body + ",")
    lines.append(" " * line_indent + doc.closing)
    return "\n".join(lines)


def _function_name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _to_doc(x: Any, short_arrays: bool, truncate_leaf: Callable[[Any], bool]) -> _Doc:
    recurse = functools.partial(_to_doc, short_arrays=short_arrays, truncate_leaf=truncate_leaf)
    if truncate_leaf(x):
        return _Doc(f"{type(x).__name__}(...)")
    if isinstance(x, (jax.Array, np.ndarray, np.generic)) and not isinstance(x, jax.core.Tracer):
        if short_arrays:
            return _Doc(short_array(x))
        return _Doc(repr(x))
    if isinstance(x, jax.core.Tracer):
        return _Doc(short_array(x.aval) if short_arrays else repr(x))
    if isinstance(x, jax.ShapeDtypeStruct):
        return _Doc(f"ShapeDtypeStruct({short_array(x)})")
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        items = [(f"{f.name}=", recurse(getattr(x, f.name))) for f in dataclasses.fields(x) if f.repr and hasattr(x, f.name)]
        return _bracketed(f"{type(x).__name__}(", items, ")")
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        items = [(f"{name}=", recurse(value)) for name, value in zip(x._fields, x)]
        return _bracketed(f"{type(x).__name__}(", items, ")")
    if isinstance(x, tuple):
        items = [("", recurse(value)) for value in x]
        if len(items) == 1:
            return _Doc("(" + items[0][1].flat + ",)", "(", items, ")")
        return _bracketed("(", items, ")")
    if isinstance(x, list):
        return _bracketed("[", [("", recurse(value)) for value in x], "]")
    if isinstance(x, dict):
        return _bracketed("{", [(f"{key!r}: ", recurse(value)) for key, value in x.items()], "}")
    if isinstance(x, functools.partial):
        items = [("", recurse(x.func))] + [("", recurse(a)) for a in x.args]
        items += [(f"{key}=", recurse(value)) for key, value in x.keywords.items()]
        return _bracketed("partial(", items, ")")
    if isinstance(x, (types.FunctionType, types.BuiltinFunctionType)):
        return _Doc(f"<function {_function_name(x)}>")
    if isinstance(x, jax.custom_jvp) or isinstance(x, jax.custom_vjp):
        return _Doc(f"<function {_function_name(x.fun)}>")
    return _Doc(repr(x))


def tree_pformat(
    pytree: Any,
    *,
    width: int = 80,
    indent: int = 2,
    short_arrays: bool = True,
    truncate_leaf: Callable[[Any], bool] = lambda _: False,
) -> str:
    """Format a PyTree as readable text.

    Args:
        pytree: anything; Modules and other dataclasses print their fields.
        width: the line width to fit nodes into before breaking them up.
        indent: spaces per nesting level when a node is broken up.
        short_arrays: print arrays as `f32[3,4]` rather than with their values.
        truncate_leaf: nodes for which this is true print as `TypeName(...)`.

    Returns:
        The formatted text (no trailing newline).
    """
    return _render(_to_doc(pytree, short_arrays, truncate_leaf), width, indent, 0, 0)


def tree_pprint(
    pytree: Any,
    *,
    width: int = 80,
    indent: int = 2,
    short_arrays: bool = True,
    truncate_leaf: Callable[[Any], bool] = lambda _: False,
) -> None:
    """Print `tree_pformat(pytree, ...)`; the arguments are the same."""
    print(tree_pformat(pytree, width=width, indent=indent, short_arrays=short_arrays, truncate_leaf=truncate_leaf))
