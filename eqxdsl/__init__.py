"""eqxdsl: a model-description language for JAX and the runtime its models run on.

`compile_source`, `compile_file` and `load` compile `.eqx` specs (see
`eqxdsl.compiler.driver`); `eqxdsl.runtime` holds what the generated code runs
on. They are imported on first use, so `import eqxdsl` stays light and the
command-line compiler never imports jax.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # For type checkers only; at run time `__getattr__` imports each on first use.
    from .compiler.diagnostics import CompileError as CompileError
    from .compiler.diagnostics import Diagnostic as Diagnostic
    from .compiler.driver import compile_file as compile_file
    from .compiler.driver import compile_source as compile_source
    from .compiler.loader import load as load
    from .compiler.outputs import OutputError as OutputError
    from .compiler.render import InternalCompilerError as InternalCompilerError
    from .summarise import summary as summary
    from .tooling.loading import load_source as load_source

_EXPORTS = {
    "compile_source": "eqxdsl.compiler.driver",
    "compile_file": "eqxdsl.compiler.driver",
    "load": "eqxdsl.compiler.loader",
    "OutputError": "eqxdsl.compiler.outputs",
    "CompileError": "eqxdsl.compiler.diagnostics",
    "Diagnostic": "eqxdsl.compiler.diagnostics",
    "InternalCompilerError": "eqxdsl.compiler.render",
    "summary": "eqxdsl.summarise",
    "load_source": "eqxdsl.tooling.loading",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'eqxdsl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


def load_ipython_extension(ipython) -> None:
    """`%load_ext eqxdsl`: enable the `%%eqx` cell magic (see `eqxdsl.ipython`); IPython is imported only then."""
    from .ipython import load_ipython_extension as load

    load(ipython)
