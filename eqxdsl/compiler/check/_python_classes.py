"""Reading a Python Module class's constructor from its source, without running it."""

from __future__ import annotations

import ast
import importlib.machinery
import sys

from eqxdsl.compiler.dims import Dim
from eqxdsl.compiler.library.layers import REQUIRED, LayerArg, LayerArgKind
from eqxdsl.compiler.parse import syntax as s


def locate_module(dotted_name: str, spec_folder: str | None = None) -> tuple[str, bool] | None:
    """The source file of a Python module, found without running any code, and whether it is beside the spec.

    The spec's own folder is searched first, then `sys.path`, so a spec finds
    the Python modules next to it however the compiler was started.
    `importlib.util.find_spec("pkg.mod")` would import (run) `pkg/__init__.py`;
    this walks the package levels with the path finder alone, which only looks
    at the file system.

    Args:
        dotted_name: the module as the spec names it (`layers.scale`).
        spec_folder: the folder of the importing spec; None for a spec with no file.

    Returns:
        `(path of the .py file, found in spec_folder)`, or None when it is not found as Python source.
    """
    for folders, beside in (([spec_folder] if spec_folder else [], True), (list(sys.path), False)):
        origin = _find_source(dotted_name, folders)
        if origin is not None:
            return origin, beside
    return None


def _find_source(dotted_name: str, folders: list[str]) -> str | None:
    search: list[str] | None = folders
    parts = dotted_name.split(".")
    found = None
    for depth in range(1, len(parts) + 1):
        if not search:
            return None
        try:
            found = importlib.machinery.PathFinder.find_spec(".".join(parts[:depth]), search)
        except (ImportError, ValueError, OSError):
            return None
        if found is None:
            return None
        locations = found.submodule_search_locations
        search = list(locations) if locations is not None else None
    if found is None or found.origin is None or not found.origin.endswith(".py"):
        return None
    return found.origin


def signature_dim(node: s.Expr) -> Dim | None:
    if isinstance(node, s.Name):
        return Dim.symbol(node.id)
    if isinstance(node, s.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return Dim.const(node.value)
    if isinstance(node, s.BinOp) and node.op in ("+", "-", "*", "//"):
        left, right = signature_dim(node.left), signature_dim(node.right)
        if left is None or right is None:
            return None
        return {"+": left + right, "-": left - right, "*": left * right, "//": left // right}[node.op]
    return None


def constructor_args(cls: ast.ClassDef) -> tuple[tuple[LayerArg, ...], bool]:
    """A Python class's constructor arguments, read from its source: `__init__`, else its annotated fields."""
    init = next((n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
    args: list[LayerArg] = []
    init_key = False
    if init is not None:
        a = init.args
        positional = a.posonlyargs + a.args
        defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
        for arg, default in list(zip(positional, defaults))[1:]:
            args.append(LayerArg(arg.arg, _annotation_kind(arg.annotation), _default_value(default), least=0))
        for arg, default in zip(a.kwonlyargs, a.kw_defaults):
            if arg.arg == "key":
                init_key = True
                continue
            args.append(LayerArg(arg.arg, _annotation_kind(arg.annotation), _default_value(default), keyword_only=True, least=0))
        return tuple(args), init_key
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            args.append(LayerArg(stmt.target.id, _annotation_kind(stmt.annotation), _default_value(stmt.value), least=0))
    return tuple(args), False


_ANNOTATION_KINDS: dict[str, LayerArgKind] = {"int": "int", "float": "float", "bool": "bool", "str": "str"}


def _annotation_kind(annotation: ast.expr | None) -> LayerArgKind:
    """The kind of a constructor argument, from its annotation (`int`, `tuple[int, ...]`); "any" when it has none."""
    if isinstance(annotation, ast.Name) and annotation.id in _ANNOTATION_KINDS:
        return _ANNOTATION_KINDS[annotation.id]
    if isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Name) and annotation.value.id == "tuple":
        return "ints"
    return "any"


class _Opaque:
    """The default of a Python constructor argument that is not a literal."""

    def __repr__(self) -> str:
        return "<default>"


def _default_value(node: ast.expr | None) -> object:
    if node is None:
        return REQUIRED
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError):
        return _Opaque()
    if isinstance(value, int) and not isinstance(value, bool):
        return Dim.const(value)
    return value
