"""Render stage: an `ir.ModuleFile` in, formatted Python source text out.

`render_module(module)` fills the Jinja2 template `templates/module.py.j2`,
checks that every piece of code is one well-formed Python statement or
expression naming nothing it should not, and formats the result with black.
A failure of those checks is a bug of the compiler: `InternalCompilerError`.
"""

from eqxdsl.compiler.render._render import (
    LINE_LENGTH,
    InternalCompilerError,
    render_module,
)

__all__ = ["LINE_LENGTH", "InternalCompilerError", "render_module"]
