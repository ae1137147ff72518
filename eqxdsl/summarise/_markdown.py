"""The summary as a Markdown (GitHub) table."""

from __future__ import annotations

from . import _cells
from ._report import Report


def _escape(cell: str) -> str:
    return cell.replace("|", "\\|")


def to_markdown(report: Report) -> str:
    """`report` as a Markdown table, paths in code spans, then the totals as a list."""
    columns = _cells.columns(report)
    headings = ["Layer", *(heading for heading, _, _ in columns)]
    lines = [
        "| " + " | ".join(headings) + " |",
        "|" + "|".join(["---", *("---:" if right else "---" for _, right, _ in columns)]) + "|",
    ]
    for row in report.rows:
        name = "&nbsp;&nbsp;" * row.depth + f"`{row.path or report.model}`"
        cells = [name, *(_escape(cell(row)) for _, _, cell in columns)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.extend(f"- {line}" for line in _cells.totals(report))
    return "\n".join(lines) + "\n"
