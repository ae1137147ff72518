"""A size mismatch the checker cannot disprove by the defaults alone is still reported, where it is, first."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eqxdsl.compiler.diagnostics import CompileError

from ._harness import compile_outcome
from ._profiles import examples
from ._sizedgen import BREAKABLE, Mismatch, mismatched_specs
from ._specgen import Expected


def check_mismatch(case: Mismatch) -> None:
    """The spec is rejected, and its first error is the mismatch: its line, column and message (shared with the fuzzer)."""
    outcome = compile_outcome(case.text, "generated.eqx")
    assert isinstance(outcome, CompileError), f"a {case.kind} mismatch was accepted:\n{case.text}"
    first = outcome.diagnostics[0]
    assert (first.line, first.column) == (case.line, case.column) and case.message in first.message, (
        f"a {case.kind} mismatch must be reported at {case.line}:{case.column} with {case.message!r}, "
        f"but the first error is\n{first.format()}\nin\n{case.text}"
    )


@pytest.mark.parametrize("kind", sorted(BREAKABLE))
@examples(ci=3)
@given(st.data())
def test_each_kind_of_mismatch_is_reported_first_at_its_place(kind, data):
    check_mismatch(data.draw(mismatched_specs(kind)))


@examples(ci=10)
@given(mismatched_specs())
def test_random_mismatches_are_reported_first_at_their_place(case):
    check_mismatch(case)


def test_the_expected_place_is_the_anchor_in_the_spec():
    # The location each case asserts is computed, not written: check the computation once by hand.
    text = "model Net(h1: int = 3):\n    forward:\n        x = w2 @ x\n"
    assert Expected("x = w2 @ x", "w2 @ x", "@").location(text) == (3, 13)
