"""The summary as an aligned plain-text table."""

from __future__ import annotations

from . import _cells
from ._report import LayerRow, Report


def layer_name(row: LayerRow, model: str) -> str:
    """The row's path indented by its depth; the model's class name for the model."""
    return "  " * row.depth + (row.path or model)


def to_text(report: Report) -> str:
    """`report` as a table with one line per row, columns aligned, then the totals."""
    columns = [("Layer", False, lambda row: layer_name(row, report.model)), *_cells.columns(report)]
    cells = [[heading for heading, _, _ in columns]]
    cells += [[cell(row) for _, _, cell in columns] for row in report.rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]

    def line(values: list[str]) -> str:
        padded = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, (_, right, _) in zip(values, widths, columns)
        ]
        return "  ".join(padded).rstrip()

    lines = [line(values) for values in cells]
    rule_width = max(len(text) for text in lines)
    table = [lines[0], "-" * rule_width, *lines[1:], "-" * rule_width]
    return "\n".join([*table, *_cells.totals(report)]) + "\n"
