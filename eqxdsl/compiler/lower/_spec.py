"""Lowering a whole checked spec: its imports and one class per model."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from eqxdsl.compiler.check.checked import CheckedSpec
from eqxdsl.compiler.diagnostics import gc_paused
from eqxdsl.compiler.lower import ir
from eqxdsl.compiler.lower._array_types import used_names
from eqxdsl.compiler.lower._ast import _code
from eqxdsl.compiler.lower._model import ModelLowerer

if TYPE_CHECKING:
    from eqxdsl.compiler.build import Build


def lower_spec(checked: CheckedSpec, build: Build | None = None) -> ir.ModuleFile:
    """Build the module description of a checked spec.

    Args:
        checked: the result of `check.check_spec`.
        build: the target and the import style (see `eqxdsl.compiler.build`);
            None: the eqxdsl target, siblings imported through `eqx.import_beside`.

    Returns:
        The generated module as data, ready for `render.render_module`.
    """
    with gc_paused():
        return _lower_spec(checked, build)


def _lower_spec(checked: CheckedSpec, build: Build | None) -> ir.ModuleFile:
    relative = build is not None and build.relative_imports
    python_beside = build is None or build.python_beside
    defines_import_beside = build is not None and "import_beside" in build.target.lacks
    imports: list[str] = []
    beside: list[str] = []

    def bind(module: str, name: str, local: str, sibling: bool) -> None:
        alias = None if local == name else local
        if sibling and relative:
            imports.append(_code(ast.ImportFrom(module, [ast.alias(name, alias)], 1)))
        elif sibling:
            loaded = _import_beside_call(module, defines_import_beside)
            beside.append(_code(ast.Assign([ast.Name(local, ast.Store())], ast.Attribute(loaded, name, ast.Load()), lineno=0)))
        else:
            imports.append(_code(ast.ImportFrom(module, [ast.alias(name, alias)], 0)))

    for local, (module, model) in sorted(checked.imported_models.items()):
        bind(module, model.name, local, sibling=True)
    for local, cls in checked.python_classes.items():
        bind(cls.module, cls.name, local, sibling=cls.beside_spec and python_beside)
    classes = tuple(ModelLowerer(checked, model).lower() for model in checked.models.values())
    lazy = "eqxdsl.runtime.array_types" if build is None else build.target.array_types
    return ir.ModuleFile(
        source_name=checked.source_name,
        source_sha256=checked.source_sha256,
        imports=tuple(imports),
        classes=classes,
        beside=tuple(beside),
        defines_import_beside=defines_import_beside and bool(beside),
        uses_callable=any(h.kind == "fn" for m in checked.models.values() for h in m.hypers),
        target="eqxdsl" if build is None else build.target.name,
        runtime_import=f"import {'eqxdsl.runtime' if build is None else build.target.runtime} as eqx",
        array_types=_array_types(used_names(classes), lazy),
    )


def _import_beside_call(module: str, defined_here: bool) -> ast.Call:
    """`eqx.import_beside("mlp", __file__, __name__)`, or `_import_beside("mlp")` when the module defines it."""
    if defined_here:
        return ast.Call(ast.Name("_import_beside", ast.Load()), [ast.Constant(module)], [])
    runtime = ast.Attribute(ast.Name("eqx", ast.Load()), "import_beside", ast.Load())
    here = [ast.Name("__file__", ast.Load()), ast.Name("__name__", ast.Load())]
    return ast.Call(runtime, [ast.Constant(module), *here], [])


def _array_types(names: tuple[str, ...], lazy: str | None) -> ir.ArrayTypes | None:
    """The imports of the annotations' names: jaxtyping for checkers, and `lazy`'s stand-ins at run time."""
    if not names:
        return None
    aliases = [ast.alias(name) for name in names]
    checker = _code(ast.ImportFrom("jaxtyping", aliases, 0))
    return ir.ArrayTypes(checker, None if lazy is None else _code(ast.ImportFrom(lazy, aliases, 0)))
