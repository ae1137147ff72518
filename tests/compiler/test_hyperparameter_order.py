"""A hyperparameter without a default after one with a default is a located error, not generated Python that cannot compile."""

from __future__ import annotations

import pytest

import eqxdsl
from eqxdsl.compiler.diagnostics import CompileError


def _spec(params: str) -> str:
    return f"model Net({params}):\n    input x: f32[h1]\n    l = Linear(h1, h2)\n\n    forward:\n        return l(x)\n"


def test_a_required_hyperparameter_after_a_default_is_located_at_it():
    with pytest.raises(CompileError) as caught:
        eqxdsl.compile_source(_spec("h1: int = 4, h2: int"), "net.eqx")
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.column) == (1, 24)
    assert diagnostic.message == "hyperparameter h2 has no default, but comes after h1, which has one"
    assert diagnostic.hint == "give h2 a default, or move it before h1"


@pytest.mark.parametrize("params", ["h1: int, h2: int = 3", "h1: int, h2: int", "h1: int = 4, h2: int = 3"])
def test_required_hyperparameters_first_compile(params):
    namespace: dict = {}
    exec(compile(eqxdsl.compile_source(_spec(params), "net.eqx"), "net.py", "exec"), namespace)
    assert "Net" in namespace
