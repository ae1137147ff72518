"""The compiler's entry points that the tools (formatter, notebook loader) build on.

They are imported here and nowhere else in the tools, so a move inside the
compiler is a one-line change here.
"""

from __future__ import annotations

from eqxdsl.compiler import CompileError
from eqxdsl.compiler.loader import load_source as load_spec_text
from eqxdsl.compiler.parse import parse_spec, syntax
from eqxdsl.compiler.targets import DEFAULT_TARGET

__all__ = ["DEFAULT_TARGET", "CompileError", "load_spec_text", "parse_spec", "syntax"]
