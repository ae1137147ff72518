"""`summary`: a built model's summary as text, Markdown or JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._build import report
from ._format import Format, format_report
from ._kinds import is_inexact

__all__ = ["format_report", "summary"]


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
