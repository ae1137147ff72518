"""Lowering a whole checked spec: its imports and one class per model."""

from __future__ import annotations

import ast

from eqxdsl.compiler.check.checked import CheckedSpec
from eqxdsl.compiler.diagnostics import gc_paused
from eqxdsl.compiler.lower import ir
from eqxdsl.compiler.lower._ast import _code
from eqxdsl.compiler.lower._model import ModelLowerer


def lower_spec(checked: CheckedSpec) -> ir.ModuleFile:
    """Build the module description of a checked spec.

    Args:
        checked: the result of `check.check_spec`.

    Returns:
        The generated module as data, ready for `render.render_module`.
    """
    with gc_paused():
        return _lower_spec(checked)


def _lower_spec(checked: CheckedSpec) -> ir.ModuleFile:
    imports: list[str] = []
    needs_callable = any(h.kind == "fn" for m in checked.models.values() for h in m.hypers)
    if needs_callable:
        imports.append(_code(ast.ImportFrom("collections.abc", [ast.alias("Callable")], 0)))
    for local, (module, model) in sorted(checked.imported_models.items()):
        alias = None if local == model.name else local
        imports.append(_code(ast.ImportFrom(module, [ast.alias(model.name, alias)], 0)))
    for local, cls in checked.python_classes.items():
        alias = None if local == cls.name else local
        imports.append(_code(ast.ImportFrom(cls.module, [ast.alias(cls.name, alias)], 0)))
    classes = tuple(ModelLowerer(checked, model).lower() for model in checked.models.values())
    return ir.ModuleFile(
        source_name=checked.source_name,
        source_sha256=checked.source_sha256,
        imports=tuple(imports),
        classes=classes,
    )
