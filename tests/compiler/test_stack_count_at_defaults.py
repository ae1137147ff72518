"""A stack's count is evaluated at the hyperparameters' defaults: `__init__` builds that many copies.

A count that divides by zero there (`repeat h1 // h2:` with `h2 = 0`) would make
the generated `__init__` raise ZeroDivisionError, so it is a located error.
"""

from __future__ import annotations

import pytest

import eqxdsl
from eqxdsl.compiler.diagnostics import CompileError


def net(header: str, repeat: str, body: str) -> str:
    steps = "".join(f"        {line}\n" for line in body.splitlines())
    return f"model Net({header}):\n    input x: f32[h1]\n    f4 = {repeat}: Linear(out_features=h1)\n\n    forward:\n{steps}"


LOOP = "for layer in f4:\n    x = layer(x)\nreturn x"


@pytest.mark.parametrize(
    ("repeat", "body"),
    [
        ("repeat h1 // h2", LOOP),
        ("repeat h1 // h2 scan", LOOP),
        ("repeat h1 // h2", "return f4[0](x)"),
        ("repeat (h1 + 1) // h2", LOOP),
    ],
)
def test_a_count_that_divides_by_zero_at_the_defaults_is_one_located_error(repeat: str, body: str):
    with pytest.raises(CompileError) as caught:
        eqxdsl.compile_source(net("h1: int = 4, h2: int = 0", repeat, body), "spec.eqx")
    (diagnostic,) = caught.value.diagnostics
    count = repeat.removeprefix("repeat ").removesuffix(" scan")
    written = count.replace(" // ", "//")
    assert diagnostic.message == f"the count of f4 ({written}) divides by zero with the hyperparameters' defaults"
    assert diagnostic.hint == "choose defaults that give a count"
    # Located at the count expression, after `    f4 = repeat `.
    assert (diagnostic.line, diagnostic.column) == (3, 17)


def test_a_count_that_divides_by_a_nonzero_default_compiles():
    source = eqxdsl.compile_source(net("h1: int = 4, h2: int = 2", "repeat h1 // h2", LOOP), "spec.eqx")
    assert "jax.random.split(key, h1 // h2)" in source


def test_a_count_whose_divisor_has_no_default_is_not_evaluated():
    # Without a default there is no value to divide by: the count stays symbolic.
    source = eqxdsl.compile_source(net("h2: int, h1: int = 4", "repeat h1 // h2", LOOP), "spec.eqx")
    assert "jax.random.split(key, h1 // h2)" in source
