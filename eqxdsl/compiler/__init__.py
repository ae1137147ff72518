"""The .eqx compiler: text -> parse -> check -> lower -> render -> Python (see docs/compiler.md).

The stages are packages, read in this order: `parse` (text to a syntax tree),
`check` (names, types and shapes; a `CheckedSpec`), `lower` (an `ir` of
classes and statements), `render` (formatted Python). `library` holds the
tables of everything a spec can name. `session` runs the stages on one spec
and the specs it imports; `driver`, `outputs` and `loader` turn that into
files and modules.

The public API is re-exported here and imported on first use, so that
`import eqxdsl.compiler` does not load the parser, jax or black.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eqxdsl.compiler.check import CheckedSpec, check_spec
    from eqxdsl.compiler.diagnostics import CompileError, Diagnostic
    from eqxdsl.compiler.driver import check_file, compile_file, compile_source
    from eqxdsl.compiler.loader import load, load_source
    from eqxdsl.compiler.outputs import OutputError
    from eqxdsl.compiler.parse import parse_spec
    from eqxdsl.compiler.render import InternalCompilerError

_EXPORTS = {
    "compile_source": "eqxdsl.compiler.driver",
    "compile_file": "eqxdsl.compiler.driver",
    "check_file": "eqxdsl.compiler.driver",
    "load": "eqxdsl.compiler.loader",
    "load_source": "eqxdsl.compiler.loader",
    "parse_spec": "eqxdsl.compiler.parse",
    "check_spec": "eqxdsl.compiler.check",
    "CheckedSpec": "eqxdsl.compiler.check",
    "CompileError": "eqxdsl.compiler.diagnostics",
    "Diagnostic": "eqxdsl.compiler.diagnostics",
    "OutputError": "eqxdsl.compiler.outputs",
    "InternalCompilerError": "eqxdsl.compiler.render",
}

__all__ = [
    "CheckedSpec",
    "CompileError",
    "Diagnostic",
    "InternalCompilerError",
    "OutputError",
    "check_file",
    "check_spec",
    "compile_file",
    "compile_source",
    "load",
    "load_source",
    "parse_spec",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'eqxdsl.compiler' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
