"""The text, Markdown and JSON formats, and the depth option."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import pytest

import eqxdsl.runtime as eqx
from eqxdsl.summarise import (
    SCHEMA,
    Counts,
    LayerRow,
    Report,
    TensorInfo,
    format_report,
    from_json,
    report,
    summary,
)

from .cases import CASES, build


@pytest.fixture(scope="module")
def gpt_report() -> Report:
    case = CASES["gpt"]
    model, inputs = build(case, "handwritten", depth=2)
    return report(model, *inputs, inference=True)


def _column_starts(line: str, headings: list[str]) -> list[int]:
    return [line.index(heading) for heading in headings]


def test_text_table_aligns(gpt_report: Report) -> None:
    lines = summary(*_gpt_args(), inference=True).splitlines()
    header, rule = lines[0], lines[1]
    headings = ["Layer", "Type", "Output", "Params", "Bytes", "MACs"]
    assert header.split() == headings
    body = lines[2 : 2 + len(gpt_report.rows)]
    assert lines[2 + len(gpt_report.rows)] == rule == "-" * len(rule)
    # Left-aligned columns start where their heading starts; numbers end where theirs ends.
    type_start, output_start = header.index("Type"), header.index("Output")
    params_end, macs_end = header.index("Params") + len("Params"), len(header)
    for line, row in zip(body, gpt_report.rows):
        assert line[type_start:].startswith(row.type + " ")
        assert line[output_start:].startswith(f"f32[{','.join(map(str, row.outputs[0].shape))}]") or not row.outputs
        assert line[:params_end].endswith(f"{row.counts.params:,}")
        assert line[:macs_end].endswith(f"{row.counts.macs:,}") and len(line) == macs_end
        assert line.startswith("  " * row.depth + (row.path or "GPT"))
    totals = lines[3 + len(gpt_report.rows) :]
    assert totals[0].startswith(f"Parameters: {gpt_report.totals.params:,} (")
    assert totals[2] == f"Multiply-adds per call: {gpt_report.totals.macs:,}"


def _gpt_args() -> tuple:
    case = CASES["gpt"]
    model, inputs = build(case, "handwritten", depth=2)
    return (model, *inputs)


def test_depth_folds_nested_rows_into_their_parents(gpt_report: Report) -> None:
    shallow = format_report(gpt_report, "json", depth=1)
    rows = from_json(shallow).rows
    assert [row.path for row in rows] == ["", "embed", "blocks", "ln"]
    assert from_json(shallow).totals == gpt_report.totals
    text = format_report(gpt_report, depth=0).splitlines()
    assert text[2].startswith("GPT ") and text[3].startswith("---")
    with pytest.raises(ValueError, match="depth must be at least 0"):
        format_report(gpt_report, depth=-1)


def test_json_round_trips_with_the_documented_keys(gpt_report: Report) -> None:
    text = format_report(gpt_report, "json")
    data = json.loads(text)
    assert list(data) == ["schema", "model", "rows", "totals", "notes"]
    assert data["schema"] == SCHEMA and data["model"] == "GPT"
    row = data["rows"][0]
    assert list(row) == ["path", "depth", "type", "counts", "outputs", "calls", "stateful", "source"]
    assert list(row["counts"]) == [
        "trainable",
        "frozen",
        "buffers",
        "param_bytes",
        "buffer_bytes",
        "macs",
        "params_formula",
        "macs_formula",
    ]
    assert list(row["outputs"][0]) == ["shape", "dtype", "shape_symbolic", "vmapped_axes"]
    assert from_json(text) == gpt_report
    with pytest.raises(ValueError, match="not an eqxdsl summary"):
        from_json(json.dumps({"schema": "other"}))


def test_markdown_table(gpt_report: Report) -> None:
    lines = format_report(gpt_report, "markdown").splitlines()
    table = lines[: 2 + len(gpt_report.rows)]
    assert table[0] == "| Layer | Type | Output | Params | Bytes | MACs |"
    assert table[1] == "|---|---|---|---:|---:|---:|"
    assert all(line.count("|") == 7 for line in table)
    assert "&nbsp;&nbsp;&nbsp;&nbsp;`blocks.attn` | MultiheadAttention |" in "\n".join(table)
    assert lines[len(table)] == "" and lines[len(table) + 1].startswith("- Parameters: ")


def test_formulas_and_symbolic_shapes_from_a_spec_are_shown() -> None:
    """A report filled by the spec side: formulas next to numbers, numbers unknown."""
    counts = Counts(trainable=None, frozen=0, buffers=0, param_bytes=None, macs=None, params_formula="12·dim² + 13·dim")
    row = LayerRow("blocks", 1, "Block", counts, (TensorInfo(None, "float32", "T×dim"),), 1)
    known = dataclasses.replace(row, path="", depth=0, outputs=(TensorInfo((7, 8), "float32", "T×dim"),))
    text = format_report(Report("GPT", (known, row), counts), "text")
    assert "f32[T×dim]=[7,8]" in text and "f32[T×dim] " in text
    header = text.splitlines()[0].split("  ")
    assert [cell.strip() for cell in header if cell.strip()] == [
        "Layer",
        "Type",
        "Output",
        "Params",
        "Params formula",
        "Bytes",
        "MACs",
    ]
    assert "12·dim² + 13·dim" in text and "Parameters: ? (?)" in text
    assert from_json(format_report(Report("GPT", (known, row), counts), "json")).rows[1] == row


def test_stateful_rows_are_marked() -> None:
    case = CASES["resnet_block_identity"]
    model, inputs = build(case, "handwritten")
    text = summary(model, *inputs, call=case.call)
    assert "BasicBlock*" in text and "BatchNorm*" in text and "Conv2d*" not in text
    assert "Buffers" in text.splitlines()[0]
    assert "* stateful: called as (x, state) -> (y, state)" in text


def test_bad_format_and_model_are_reported() -> None:
    linear = eqx.nn.Linear(2, 2, key=jax.random.key(0))
    with pytest.raises(ValueError, match="format must be one of text, markdown, json; got 'html'"):
        summary(linear, jnp.ones(2), format="html")
    with pytest.raises(TypeError, match="the model must be callable, got int"):
        summary(3, jnp.ones(2))
