"""The `.eqx` formatter: one canonical layout for every spec (`eqxdsl fmt`).

`format_source` lays a spec out from its syntax tree (indentation, spacing,
wrapping at a line width, blank lines between sections), keeps its comments
and docstrings, and proves the result parses to the same tree and is stable
before returning it. The names are imported on first use, so the `eqxdsl`
command registers `fmt` without loading the parser.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._doc import DEFAULT_LINE_WIDTH
    from ._format import UnsafeFormatError, format_source

_EXPORTS = {
    "DEFAULT_LINE_WIDTH": "eqxdsl.format._doc",
    "UnsafeFormatError": "eqxdsl.format._format",
    "format_source": "eqxdsl.format._format",
}

__all__ = ["DEFAULT_LINE_WIDTH", "UnsafeFormatError", "format_source"]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'eqxdsl.format' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
