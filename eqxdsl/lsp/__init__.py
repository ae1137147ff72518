"""The `.eqx` language server (`eqxdsl lsp`): the compiler's diagnostics, types and names in the editor.

Over stdio, on pygls, it provides:
- diagnostics when a document opens and after every change: every error of
  the spec (and of the specs it imports), with its span and hint;
- hover: the inferred type and shape of a name or expression (`h: f32[T, dim]`),
  a field's definition and a layer's, function's or model's signature;
- go to definition: variables, inputs, fields, methods, hyperparameters,
  sizes, models, and models of imported specs in their own files;
- completion of layer names, functions, the models and fields in scope and,
  inside a call, the callee's arguments;
- document symbols (the outline: models, their fields, inputs and methods);
- formatting through `eqxdsl fmt`.

`Analyzer` (the checks, with their reuse of unchanged imports and top-level
items) needs no pygls; `serve` and `build_server` do, and are imported on
first use so that `eqxdsl` itself never loads pygls.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eqxdsl.lsp._analysis import Analyzer, DocumentAnalysis
    from eqxdsl.lsp._server import build_server, serve

_EXPORTS = {
    "Analyzer": "eqxdsl.lsp._analysis",
    "DocumentAnalysis": "eqxdsl.lsp._analysis",
    "build_server": "eqxdsl.lsp._server",
    "serve": "eqxdsl.lsp._server",
}

__all__ = ["Analyzer", "DocumentAnalysis", "build_server", "serve"]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'eqxdsl.lsp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
