"""Model summaries: one row per layer with its output shapes, parameter counts
and multiply-adds, for any built Module (ours or Equinox's).

`summary(model, *inputs)` writes one as text, Markdown or JSON (it is
re-exported as `eqxdsl.summary`); `report` gives the `Report` itself, and
`format_report` writes a `Report` (one computed from a spec, say).
"""

from ._build import report
from ._json import SCHEMA, from_json, to_json
from ._markdown import to_markdown
from ._report import Counts, LayerRow, Report, TensorInfo, collapse
from ._summary import format_report, summary
from ._text import to_text

__all__ = [
    "Counts",
    "LayerRow",
    "Report",
    "SCHEMA",
    "TensorInfo",
    "collapse",
    "format_report",
    "from_json",
    "report",
    "summary",
    "to_json",
    "to_markdown",
    "to_text",
]

