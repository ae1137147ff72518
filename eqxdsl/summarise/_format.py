"""`format_report`: a `Report` as text, Markdown or JSON (no jax needed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from ._json import to_json
from ._markdown import to_markdown
from ._report import Report, collapse
from ._text import to_text

Format = Literal["text", "markdown", "json"]
_FORMATTERS: dict[str, Callable[[Report], str]] = {"text": to_text, "markdown": to_markdown, "json": to_json}


def format_report(report: Report, format: Format = "text", depth: int | None = None) -> str:
    """Write `report` as `format`, rows deeper than `depth` folded into their parents.

    Args:
        report: the summary.
        format: `"text"` (an aligned table), `"markdown"` or `"json"`.
        depth: the deepest row kept (0: only the model); `None` keeps every row.
    """
    formatter = _FORMATTERS.get(format)
    if formatter is None:
        raise ValueError(f"summary format must be one of {', '.join(_FORMATTERS)}; got {format!r}")
    return formatter(collapse(report, depth))
