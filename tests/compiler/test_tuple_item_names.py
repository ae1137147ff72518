"""Messages name the items of a tuple hyperparameter as a spec writes them (`widths[1]`), so a hint's
`assert` can be pasted into the spec as it is."""

from __future__ import annotations

import pytest

import eqxdsl
from eqxdsl.compiler.diagnostics import CompileError


def _diagnostic(spec: str):
    with pytest.raises(CompileError) as caught:
        eqxdsl.compile_source(spec, "m.eqx")
    (diagnostic,) = caught.value.diagnostics
    return diagnostic


def test_fixed_tuple_items_read_as_subscripts():
    diagnostic = _diagnostic(
        "model M(widths: tuple[int, int, int] = (8, 16, 32)):\n    input x: f32[widths[0]]\n"
        "    a = Linear(widths[0], widths[1])\n    b = Linear(widths[0], widths[2])\n\n    forward:\n        return b(a(x))\n"
    )
    assert (diagnostic.line, diagnostic.column) == (7, 16)
    assert diagnostic.message.endswith("axis 0 of the input f32[widths[1]] is widths[1], but in_features is widths[0]")
    assert diagnostic.hint.endswith("state the relation in the model: assert widths[1] == widths[0]")


def test_items_of_a_tuple_of_any_length_read_as_subscripts():
    diagnostic = _diagnostic(
        "model M(widths: tuple[int, ...] = (8, 16, 32)):\n    input x: f32[widths[0]]\n"
        "    blocks = repeat w in widths: Linear(w, w * 2)\n\n    forward:\n        h = x\n"
        "        for block in blocks:\n            h = block(h)\n        return h\n"
    )
    assert (diagnostic.line, diagnostic.column) == (8, 17)
    assert "the input f32[2*widths[0]] is 2*widths[0], but in_features is widths[1]" in diagnostic.message
    assert diagnostic.hint.endswith("assert 2 * widths[0] == widths[1]")


def test_the_suggested_assert_is_a_spec_the_compiler_reads():
    spec = (
        "model M(widths: tuple[int, int] = (8, 8)):\n    assert widths[1] == widths[0]\n    input x: f32[widths[0]]\n"
        "    a = Linear(widths[0], widths[1])\n    b = Linear(widths[0], 4)\n\n    forward:\n        return b(a(x))\n"
    )
    assert "class M(" in eqxdsl.compile_source(spec, "m.eqx")


def test_an_assert_on_tuple_items_is_checked_at_the_defaults_and_in_init():
    spec = "model M(widths: tuple[int, int] = ({}, 8)):\n    assert widths[1] == widths[0]\n    input x: f32[widths[0]]\n    a = Linear(widths[0], widths[1])\n\n    forward:\n        return a(x)\n"
    diagnostic = _diagnostic(spec.format(6))
    assert (diagnostic.line, diagnostic.column) == (2, 12)
    assert diagnostic.message == "widths[1] == widths[0] does not hold for the defaults (widths[1] = 8, widths[0] = 6)"
    source = eqxdsl.compile_source(spec.format(8), "m.eqx")
    assert "if widths[1] != widths[0]:  # m.eqx:2" in source
