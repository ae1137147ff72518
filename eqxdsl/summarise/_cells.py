"""The cells of a summary table, shared by the text and Markdown formats."""

from __future__ import annotations

from collections.abc import Callable

from ._report import Counts, LayerRow, Report, TensorInfo

_DTYPE_NAMES = {"float": "f", "bfloat": "bf", "int": "i", "uint": "u", "complex": "c"}


def dtype_name(dtype: str | None) -> str:
    """`float32` as `f32`, `bfloat16` as `bf16`, `bool` as `bool`; `?` when unknown."""
    if dtype is None:
        return "?"
    for long, short in sorted(_DTYPE_NAMES.items(), key=lambda item: -len(item[0])):
        if dtype.startswith(long) and dtype[len(long) :].isdigit():
            return short + dtype[len(long) :]
    return dtype


def tensor(info: TensorInfo) -> str:
    """`f32[7,16]`, `f32[T×dim]`, or `f32[T×dim]=[7,16]` when both are known."""
    numeric = None if info.shape is None else ",".join(str(size) for size in info.shape)
    if info.shape_symbolic is None:
        return f"{dtype_name(info.dtype)}[{numeric if numeric is not None else '?'}]"
    text = f"{dtype_name(info.dtype)}[{info.shape_symbolic}]"
    return text if numeric is None else f"{text}=[{numeric}]"


def outputs(row: LayerRow) -> str:
    return ", ".join(tensor(info) for info in row.outputs) or "-"


def number(value: int | None) -> str:
    """`1,234,567`; `?` when unknown."""
    return "?" if value is None else f"{value:,}"


def byte_size(value: int | None) -> str:
    """`512 B`, `4.0 KiB`, `1.5 MiB`; `?` when unknown."""
    if value is None:
        return "?"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{value} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def held_bytes(counts: Counts) -> int | None:
    if counts.param_bytes is None or counts.buffer_bytes is None:
        return None
    return counts.param_bytes + counts.buffer_bytes


def columns(report: Report) -> list[tuple[str, bool, Callable[[LayerRow], str]]]:
    """The table's columns as `(heading, right-aligned, cell of a row)`.

    Frozen, buffer and formula columns appear only when some row has one.
    """

    def any_row(test: Callable[[LayerRow], object]) -> bool:
        return any(test(row) for row in report.rows)

    chosen: list[tuple[str, bool, Callable[[LayerRow], str]]] = [
        ("Type", False, lambda row: row.type + ("*" if row.stateful else "")),
        ("Output", False, outputs),
        ("Params", True, lambda row: number(row.counts.params)),
    ]
    if any_row(lambda row: row.counts.params_formula):
        chosen.append(("Params formula", False, lambda row: row.counts.params_formula or ""))
    if any_row(lambda row: row.counts.frozen):
        chosen.append(("Frozen", True, lambda row: number(row.counts.frozen)))
    if any_row(lambda row: row.counts.buffers):
        chosen.append(("Buffers", True, lambda row: number(row.counts.buffers)))
    chosen.append(("Bytes", True, lambda row: byte_size(held_bytes(row.counts))))
    chosen.append(("MACs", True, lambda row: number(row.counts.macs)))
    if any_row(lambda row: row.counts.macs_formula):
        chosen.append(("MACs formula", False, lambda row: row.counts.macs_formula or ""))
    return chosen


def totals(report: Report) -> list[str]:
    """The lines under the table: parameters, buffers, multiply-adds, markers and notes."""
    counts = report.totals
    params = f"Parameters: {number(counts.params)} ({byte_size(counts.param_bytes)})"
    params += f": {number(counts.trainable)} trainable, {number(counts.frozen)} frozen"
    if counts.params_formula:
        params += f"; {counts.params_formula}"
    lines = [params, f"Buffers: {number(counts.buffers)} ({byte_size(counts.buffer_bytes)})"]
    macs = f"Multiply-adds per call: {number(counts.macs)}"
    if counts.macs_formula:
        macs += f"; {counts.macs_formula}"
    lines.append(macs)
    if any(row.stateful for row in report.rows):
        lines.append("* stateful: called as (x, state) -> (y, state)")
    lines.extend(f"Note: {note}" for note in report.notes)
    return lines
