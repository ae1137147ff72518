"""The summary of every example spec, generated and handwritten, against the model itself.

- The parameter total is the number of elements of the model's floating-point
  array leaves; the buffers are the elements of its `State`.
- The multiply-adds are at most, and within 10% of, half XLA's flop count of
  the compiled forward pass. XLA counts every elementwise operation
  (normalisations, activations, softmax, BatchNorm's statistics) as flops as
  well, which the summary does not count as multiply-adds; the cases are sized
  so that those stay a few percent of the work.
- XLA's cost analysis counts the body of a while loop once, whatever its trip
  count, so the scanned models (GPT's blocks, the GRU over time) are compared
  with one step, and a separate test checks that the summary counts each step.
"""

from __future__ import annotations

import jax
import pytest

import eqxdsl
import eqxdsl.runtime as eqx
from eqxdsl import summarise
from eqxdsl.summarise import report

from .cases import CASES, build, xla_macs

VARIANTS = ["generated", "handwritten"]


def _elements(tree: object, keep: object) -> int:
    return sum(leaf.size for leaf in jax.tree_util.tree_leaves(eqx.filter(tree, keep)))


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("name", CASES)
def test_parameter_totals_are_the_inexact_leaves(name: str, variant: str) -> None:
    case = CASES[name]
    model, inputs = build(case, variant)
    summary = report(model, *inputs, call=case.call, **case.call_kwargs)
    assert summary.totals.params == _elements(model, eqx.is_inexact_array) > 0
    assert summary.totals.trainable == summary.totals.params
    assert summary.totals.frozen == 0
    assert summary.totals.param_bytes == 4 * summary.totals.params  # float32
    state = inputs[-1] if case.stateful else None
    assert summary.totals.buffers == _elements(state, eqx.is_array)
    assert summary.rows[0].stateful == case.stateful
    # Each row counts its sub-layers: the children never hold more than their parent.
    for row in summary.rows[1:]:
        parent = max(
            (other for other in summary.rows if other.depth == row.depth - 1 and row.path.startswith(other.path)),
            key=lambda other: len(other.path),
        )
        assert row.counts.params <= parent.counts.params


@pytest.mark.parametrize("name", CASES)
def test_multiply_adds_match_xla(name: str) -> None:
    case = CASES[name]
    model, inputs = build(case, "generated")
    macs = report(model, *inputs, call=case.call, **case.call_kwargs).totals.macs
    xla = xla_macs(case.call, model, *inputs, **case.call_kwargs)
    assert 0.9 * xla <= macs <= xla, (macs, xla)


@pytest.mark.parametrize("variant", VARIANTS)
def test_scanned_blocks_count_every_step(variant: str) -> None:
    case = CASES["gpt"]
    one, inputs = build(case, variant, depth=1)
    three, _ = build(case, variant, depth=3)
    rows_one = {row.path: row for row in report(one, *inputs, inference=True).rows}
    rows_three = {row.path: row for row in report(three, *inputs, inference=True).rows}
    assert rows_three["blocks"].counts.macs == 3 * rows_one["blocks"].counts.macs > 0
    assert rows_three["blocks"].counts.params == 3 * rows_one["blocks"].counts.params
    assert rows_three["blocks.attn.query_proj"].counts.macs == 3 * 16 * 128 * 128
    assert rows_three["embed"].counts == rows_one["embed"].counts
    assert rows_three[""].calls == rows_three["blocks"].calls == 1


def test_recurrence_counts_every_time_step() -> None:
    case = CASES["gru_classifier"]
    model, _ = build(case, "generated")
    per_length = {
        length: {row.path: row.counts.macs for row in report(model, jax.numpy.zeros(length, "int32")).rows}
        for length in (1, 6)
    }
    hidden, dim = case.kwargs["hidden"], case.kwargs["dim"]
    assert per_length[1]["cell"] == 3 * hidden * (dim + hidden)
    assert per_length[6]["cell"] == 6 * per_length[1]["cell"]
    assert per_length[6]["head"] == per_length[1]["head"] == hidden * case.kwargs["classes"]


def test_gpt_rows() -> None:
    """Layer paths, types and output shapes, through the scan, the vmaps and the attention heads."""
    case = CASES["gpt"]
    model, inputs = build(case, "generated")
    rows = {row.path: row for row in report(model, *inputs, inference=True).rows}
    T, dim, vocab = 16, case.kwargs["dim"], case.kwargs["vocab"]
    expected = {
        "": ("GPT", 0, (T, vocab)),
        "embed": ("Embedding", 1, (T, dim)),
        "blocks": ("Block", 1, (T, dim)),
        "blocks.ln1": ("LayerNorm", 2, (T, dim)),
        "blocks.attn": ("MultiheadAttention", 2, (T, dim)),
        "blocks.attn.query_proj": ("Linear", 3, (T, dim)),
        "blocks.mlp": ("MLP", 2, (T, dim)),
        "blocks.mlp.hidden[0]": ("Linear", 3, (T, 4 * dim)),
        "ln": ("LayerNorm", 1, (T, dim)),
    }
    for path, (type_name, depth, shape) in expected.items():
        row = rows[path]
        assert (row.type, row.depth, row.outputs[0].shape, row.outputs[0].dtype) == (
            type_name,
            depth,
            shape,
            "float32",
        ), path
    assert rows["embed"].outputs[0].vmapped_axes == 1
    assert rows["blocks.mlp.hidden[0]"].outputs[0].vmapped_axes == 1
    assert rows[""].outputs[0].vmapped_axes == 0
    # The tied head (`... @ embed.weight.T`) is the model's own work.
    own = rows[""].counts.macs - sum(rows[path].counts.macs for path in ("embed", "blocks", "ln"))
    assert own == T * dim * vocab


def test_eqxdsl_summary_is_the_function() -> None:
    case = CASES["mlp"]
    model, inputs = build(case, "handwritten")
    text = eqxdsl.summary(model, *inputs)
    assert eqxdsl.summary is summarise.summary
    assert eqxdsl.summary(model, *inputs) == text
    assert text.splitlines()[0].split() == ["Layer", "Type", "Output", "Params", "Bytes", "MACs"]
