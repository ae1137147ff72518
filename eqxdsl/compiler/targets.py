"""Compile targets: the library a generated module imports as `eqx`.

`eqxdsl` (the default) imports `eqxdsl.runtime`; `equinox` imports Equinox
itself, so the output needs nothing from eqxdsl. The generated code is the same
text apart from that import (and, outside a package, the way it loads the
modules beside it: Equinox has no `import_beside`, so the output defines its
own `_import_beside`): every `eqx.` name it uses exists in both
libraries with the same signature and the same numerics, except the names a
target lists in `lacks`, which compiling for it reports as located errors.
docs/targets.md lists every difference a user of the output can meet.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from eqxdsl.compiler.diagnostics import Diagnostic, diagnostic_at, source_line_at

if TYPE_CHECKING:
    from eqxdsl.compiler.check.checked import CheckedSpec, PythonClass
    from eqxdsl.compiler.lower import ir

DEFAULT_TARGET = "eqxdsl"


@dataclass(frozen=True)
class Target:
    """One library generated code can be written against.

    Attributes:
        name: the name given to `--target` and `target=`.
        runtime: the module imported as `eqx`.
        lacks: the names under `eqx.` (as `"nn.dot_product_attention"`) that
            eqxdsl's runtime has and this library does not, each with what to
            do instead.
        foreign: the top-level package a Python class imported by a spec may not
            use, since its model would then depend on it (None: any).
        array_types: the module whose stand-ins for jaxtyping's names the output
            imports at run time, so that it runs without jaxtyping; None: the
            output imports jaxtyping itself (the library depends on it).
    """

    name: str
    runtime: str
    lacks: dict[str, str] = field(default_factory=dict)
    foreign: str | None = None
    array_types: str | None = None

    @property
    def restricts(self) -> bool:
        """Whether a spec that checks can still fail to compile for this target (see `target_errors`)."""
        return bool(self.lacks) or self.foreign is not None


_KEEP_EQXDSL = "compile for the eqxdsl target, or use it from Python beside the generated model"

TARGETS: dict[str, Target] = {
    "eqxdsl": Target("eqxdsl", "eqxdsl.runtime", array_types="eqxdsl.runtime.array_types"),
    "equinox": Target(
        "equinox",
        "equinox",
        lacks={
            "nn.dot_product_attention": "call equinox.nn.MultiheadAttention, or jax.nn.dot_product_attention",
            "nn.dot_product_attention_weights": "call equinox.nn.MultiheadAttention",
            "CheckpointError": _KEEP_EQXDSL,
            "save_safetensors": _KEEP_EQXDSL,
            "load_safetensors": _KEEP_EQXDSL,
            "ShardingError": _KEEP_EQXDSL,
            "check_sharding": _KEEP_EQXDSL,
            "from_process_local_data": _KEEP_EQXDSL,
            "logical_axes": _KEEP_EQXDSL,
            "logical_sharding": _KEEP_EQXDSL,
            "make_sharded": _KEEP_EQXDSL,
            "named_shardings": _KEEP_EQXDSL,
            "partition_specs": _KEEP_EQXDSL,
            "with_logical_constraint": _KEEP_EQXDSL,
            # Output for this target defines its own `_import_beside` instead.
            "import_beside": "import the module with importlib, by path",
        },
        foreign="eqxdsl",
    ),
}


def target_named(name: str) -> Target:
    """The target called `name`.

    Raises:
        ValueError: no target has that name (the message lists the targets).
    """
    try:
        return TARGETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown target {name!r}: choose one of {', '.join(map(repr, TARGETS))}") from None


@dataclass(frozen=True)
class MissingName:
    """A use, in generated code, of a runtime name the target lacks.

    Attributes:
        name: the name under `eqx.`, as `"nn.dot_product_attention"`.
        line: the spec line the using statement came from (None: unknown).
        hint: what to do instead, from the target's table.
    """

    name: str
    line: int | None
    hint: str


def missing_names(module: ir.ModuleFile, target: Target) -> list[MissingName]:
    """Every use in `module` of an `eqx.` name that `target` lacks, in the order of the module."""
    if not target.lacks:
        return []
    found: list[MissingName] = []
    for cls in module.classes:
        for fld in cls.fields:
            found += _missing_in(fld.annotation, "eval", cls.origin, target)
        for method in (cls.init, *cls.methods):
            for arg in method.args:
                for text in (arg.annotation, arg.default):
                    if text is not None:
                        found += _missing_in(text, "eval", cls.origin, target)
            if method.returns is not None:
                found += _missing_in(method.returns, "eval", cls.origin, target)
            found += _missing_in_statements(method.body, cls.origin, target)
    return found


def _missing_in_statements(body: tuple[ir.Statement, ...], fallback: int | None, target: Target) -> list[MissingName]:
    found: list[MissingName] = []
    for statement in body:
        line = statement.origin if statement.origin is not None else fallback
        code = statement.code
        if statement.body:
            # A compound statement's header: parse it as the `if`/`for`/`with` it opens.
            code = "" if code == "else:" else (code[2:] if code.startswith("elif ") else code) + " pass"
        found += _missing_in(code, "exec", line, target)
        found += _missing_in_statements(statement.body, line, target)
    return found


def _missing_in(code: str, mode: str, line: int | None, target: Target) -> list[MissingName]:
    found = []
    for node in ast.walk(ast.parse(code, mode=mode)):
        name = _eqx_name(node)
        if name is None:
            continue
        if name in target.lacks:
            found.append(MissingName(name, line, target.lacks[name]))
    return found


def _eqx_name(node: ast.AST) -> str | None:
    """`"nn.Linear"` for the expression `eqx.nn.Linear`; None for anything not rooted at `eqx`."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not parts or not isinstance(node, ast.Name) or node.id != "eqx":
        return None
    return ".".join(reversed(parts))


def foreign_classes(checked: CheckedSpec, target: Target) -> list[PythonClass]:
    """The Python classes `checked` imports whose modules import the package `target` may not use."""
    if target.foreign is None:
        return []
    return [cls for cls in checked.python_classes.values() if target.foreign in _imported_packages(cls.origin)]


def _imported_packages(path: str) -> set[str]:
    """The top-level packages the Python file at `path` imports (read, not run)."""
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return set()
    packages: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            packages.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            packages.add(node.module.partition(".")[0])
    return packages


def target_errors(checked: CheckedSpec, module: ir.ModuleFile, target: Target) -> list[Diagnostic]:
    """The located errors of compiling `checked` (lowered as `module`) for `target`: what the target lacks."""
    errors = []
    for cls in foreign_classes(checked, target):
        pos = cls.node.pos
        errors.append(diagnostic_at(
            checked.source, checked.path, pos.line, pos.column,
            f"the Python module {cls.module!r} imports {target.foreign}, "
            f"so a model compiled for the {target.name} target would depend on {target.foreign} through it",
            hint=f"write {cls.module} against `import {target.runtime} as eqx`, or compile for the {DEFAULT_TARGET} target",
            end_line=pos.end_line, end_column=pos.end_column,
        ))
    for missing in dict.fromkeys(missing_names(module, target)):
        line = missing.line or 1
        text = source_line_at(checked.source, line) or ""
        column = len(text) - len(text.lstrip()) + 1
        errors.append(diagnostic_at(
            checked.source, checked.path, line, column,
            f"the {target.name} target has no `eqx.{missing.name}`, which this line compiles to",
            hint=missing.hint, end_column=len(text.rstrip()) + 1,
        ))
    return errors
