"""Mutated and pathological specs end in a located error or a clean success: never another exception, never a hang."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given

from ._harness import CASE_SECONDS, SPECS, compile_outcome
from ._profiles import examples
from ._specgen import EXAMPLES, WHOLE_FILE_CASES, mutated_specs, whole_file


@contextlib.contextmanager
def specs_importable() -> Iterator[None]:
    """The example specs import a Python class from their folder (`from scale_layer import Scale`)."""
    sys.path.insert(0, str(SPECS))
    try:
        yield
    finally:
        sys.path.remove(str(SPECS))


def check_mutant(example: str, text: str) -> None:
    """One mutant, compiled as if it sat beside the example it came from (so its imports resolve)."""
    # The parser reads about 50 kB a second: a file of a megabyte gets a bound to match.
    seconds = max(CASE_SECONDS, len(text) / 10_000)
    with specs_importable():
        compile_outcome(text, str(SPECS / f"mutant_{example}"), seconds)


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_every_example_compiles_unchanged(example):
    check_mutant(example, EXAMPLES[example])


@pytest.mark.parametrize("kind", WHOLE_FILE_CASES)
def test_pathological_files(kind):
    check_mutant("mlp.eqx", whole_file(kind))


@examples(ci=150)
@given(mutated_specs())
def test_random_mutations_of_the_examples(case):
    check_mutant(*case)


@pytest.mark.parametrize("argument", ["stride=0", "dilation=0", "stride=(1, 0)"])
def test_zero_window_sizes_are_located_errors(argument):
    text = (
        "model M(c: int = 2):\n"
        "    input x: f32[1, 8, 8]\n"
        f"    conv = Conv2d(out_channels=c, kernel_size=3, {argument})\n\n"
        "    forward:\n"
        "        return conv(x)\n"
    )
    outcome = compile_outcome(text, "m.eqx")
    assert not isinstance(outcome, str), f"Conv2d with {argument} compiled"
