"""`summary` and `format_report`: a model summary as text, Markdown or JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from ._build import report
from ._json import to_json
from ._kinds import is_inexact
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


def summary(
    model: Any,
    *inputs: Any,
    depth: int | None = None,
    format: Format = "text",
    call: Callable[..., Any] | None = None,
    trainable: Any = is_inexact,
    **kwargs: Any,
) -> str:
    """A summary of `model` called on `inputs`: one row per layer, then the totals.

    Computed from one abstract trace (nothing is allocated); see `report` for
    the arguments `model`, `inputs`, `call`, `trainable` and `kwargs`, and
    `format_report` for `depth` and `format`.

    Returns:
        The summary as a string in `format`.
    """
    return format_report(report(model, *inputs, call=call, trainable=trainable, **kwargs), format, depth)
