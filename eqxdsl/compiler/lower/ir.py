"""The lowered module: the Python that the render stage lays out, held as data.

The lower stage builds these from a checked spec; the render stage turns them
into source text through the templates. Every piece of code here was built by
the lower stage with the `ast` module, never by pasting spec text, so the
templates only arrange it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Statement:
    """One Python statement of a generated method.

    Attributes:
        code: the statement's source. For a compound statement (`for`, `if`,
            `with`), only its header line, ending in a colon.
        origin: the line of the spec this statement came from, written as a
            `# <file>.eqx:<line>` comment beside it; `None` for code the
            compiler adds on its own (key splitting, for instance).
        body: the nested statements of a compound statement; empty otherwise.
    """

    code: str
    origin: int | None = None
    body: tuple[Statement, ...] = ()


@dataclass(frozen=True)
class Arg:
    """One parameter of a generated method.

    Attributes:
        name: the parameter's name, a valid Python identifier.
        annotation: its type annotation as source text, or `None`.
        default: its default value as source text, or `None` when required.
        kw_only: whether it comes after the `*`.
    """

    name: str
    annotation: str | None = None
    default: str | None = None
    kw_only: bool = False


@dataclass(frozen=True)
class Method:
    """A method of a generated class (`__init__`, `__call__`, `encode`, ...).

    `args` excludes `self`. `returns` is the return annotation as source text.
    """

    name: str
    args: tuple[Arg, ...]
    body: tuple[Statement, ...]
    returns: str | None = None
    docstring: str | None = None


@dataclass(frozen=True)
class Field:
    """An annotated field of a generated Module class.

    `static` fields become `eqx.field(static=True)`: hyperparameters and other
    non-array values that live in the PyTree's structure.
    """

    name: str
    annotation: str
    static: bool = False


@dataclass(frozen=True)
class ClassAttribute:
    """A plain class attribute (not a field), such as the `__logical_axes__` table.

    `value` is its value as source text.
    """

    name: str
    value: str


@dataclass(frozen=True)
class ModuleClass:
    """One generated `eqx.Module` subclass, from one `model` of the spec.

    `attributes` are class attributes written before the fields.
    """

    name: str
    docstring: str | None
    fields: tuple[Field, ...]
    init: Method
    methods: tuple[Method, ...]
    origin: int | None = None
    attributes: tuple[ClassAttribute, ...] = ()


@dataclass(frozen=True)
class ArrayTypes:
    """How a generated module imports the jaxtyping names its annotations use.

    Attributes:
        checker_import: `from jaxtyping import Array, Float`: what type checkers (and readers) see.
        runtime_import: the import run instead when the module runs (stand-ins that
            import jaxtyping only when a checker reads an annotation), or None
            when `checker_import` itself is run.
    """

    checker_import: str
    runtime_import: str | None = None


@dataclass(frozen=True)
class ModuleFile:
    """One generated Python file, from one `.eqx` file.

    Attributes:
        source_name: the spec's file name as written in the header (no
            directories, so the output does not depend on where it was built).
        source_sha256: hex digest identifying the spec and the compiler that
            built it, so an up-to-date output can be recognised cheaply.
        imports: import statements beyond the standard three (jax, jax.numpy
            and the runtime): models imported from other specs or Python.
        classes: the generated classes, in the order of the spec.
        beside: assignments binding names from modules beside this one,
            loaded from their files
            (`MLP = eqx.import_beside("mlp", __file__, __name__).MLP`, or
            `MLP = _import_beside("mlp").MLP` with `defines_import_beside`).
        defines_import_beside: the module defines its own `_import_beside` for
            `beside`, as the target's runtime has no `import_beside`.
        uses_callable: an `fn` hyperparameter is annotated `Callable`, imported
            with the standard library's modules.
        target: the target's name, shown in the header unless it is the default.
        runtime_import: the import of the library used as `eqx`.
        array_types: the import of the names of the shape annotations; None when none is used.
    """

    source_name: str
    source_sha256: str
    imports: tuple[str, ...]
    classes: tuple[ModuleClass, ...]
    beside: tuple[str, ...] = ()
    defines_import_beside: bool = False
    uses_callable: bool = False
    target: str = "eqxdsl"
    runtime_import: str = "import eqxdsl.runtime as eqx"
    array_types: ArrayTypes | None = None
