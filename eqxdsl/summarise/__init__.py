"""Model summaries: one row per layer with its output shapes, parameter counts
and multiply-adds, for any built Module (ours or Equinox's).

`summary(model, *inputs)` writes one as text, Markdown or JSON (it is
re-exported as `eqxdsl.summary`); `report` gives the `Report` itself, and
`format_report` writes a `Report`; `spec_report` computes one from a
checked spec alone, with formulas in the hyperparameters (`eqxdsl summary`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._format import format_report
from ._json import SCHEMA, from_json, to_json
from ._markdown import to_markdown
from ._report import Counts, LayerRow, Report, TensorInfo, collapse
from ._spec import SpecSummaryError, spec_report
from ._text import to_text

if TYPE_CHECKING:
    from ._build import report
    from ._summary import summary

# These trace a built model with jax: imported on first use, so that a summary
# of a spec (`spec_report`, the `eqxdsl summary` command) never imports jax.
_TRACING = {"report": "._build", "summary": "._summary"}


def __getattr__(name: str) -> object:
    module = _TRACING.get(name)
    if module is None:
        raise AttributeError(f"module 'eqxdsl.summarise' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Counts",
    "LayerRow",
    "Report",
    "SCHEMA",
    "SpecSummaryError",
    "TensorInfo",
    "collapse",
    "format_report",
    "from_json",
    "report",
    "spec_report",
    "summary",
    "to_json",
    "to_markdown",
    "to_text",
]

