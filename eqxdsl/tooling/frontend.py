"""The compiler's entry points that the tools (formatter, notebook loader) build on.

They are imported here and nowhere else in the tools, so a move inside the
compiler is a one-line change here.
"""

from __future__ import annotations

from eqxdsl.compiler import CompileError
from eqxdsl.compiler.outputs import module_name as spec_module_name
from eqxdsl.compiler.parse import parse_spec, syntax

__all__ = ["CompileError", "parse_spec", "spec_module_name", "syntax"]
