"""Sizes are positive integers, and an operation that needs two sizes equal must prove it."""

import pytest

from eqxdsl.compiler import compile_source
from eqxdsl.compiler.diagnostics import CompileError
from eqxdsl.compiler.dims import Dim, Facts

n, m, dim, heads, T, ctx = (Dim.symbol(name) for name in ("n", "m", "dim", "heads", "T", "ctx"))


def _error(source: str):
    with pytest.raises(CompileError) as caught:
        compile_source(source, "spec.eqx")
    return caught.value.diagnostics[0]


def test_sizes_are_positive():
    assert (n + 1).definitely_differs(n)
    assert (2 * n).definitely_differs(n)
    assert not n.definitely_differs(1)
    assert not n.definitely_differs(m)


def test_facts_prove_equalities_bounds_and_divisibility():
    facts = Facts([("==", dim % heads, 0), ("<=", T, ctx), ("==", m, 2 * n)])
    assert facts.divides(heads, dim)
    assert facts.equal(dim // heads * heads, dim)
    assert facts.at_most(T, ctx)
    assert not facts.at_most(T + 1, ctx)
    assert facts.equal(m + n, 3 * n)
    assert facts.differ(m, n)
    assert not facts.equal(dim, heads)
    assert facts.extended([("<", ctx, T)]).at_most(T + 1, ctx) is False


MISMATCHES = [
    (  # a matrix product of hyperparameter-sized operands
        "model M(m: int, n: int):\n    input w: f32[m, n]\n    input x: f32[k]\n    forward:\n        return w @ x\n",
        5, 16, "@: the last axis of the left operand f32[m, n] has size n, but axis 0 of the right operand f32[k] has size k",
        "cannot prove n == k (n is a hyperparameter of M (line 1); k is axis 0 of input x (line 3))",
    ),
    (  # a residual around a layer that changes the size
        "model R(in_size: int = 8, hidden: int = 16):\n    input x: f32[in_size]\n    fc = Linear(in_size, hidden)\n"
        "    forward:\n        return x + relu(fc(x))\n",
        5, 16, "cannot broadcast f32[in_size] with f32[hidden]",
        "state the relation in the model: assert in_size == hidden",
    ),
    (  # a declared return type that the result does not have
        "model E(latent: int = 4):\n    input x: f32[latent]\n    forward -> f32[latent]:\n        return concatenate([x, x])\n",
        4, 9, "method forward is declared to return f32[latent] but returns f32[2*latent]",
        "latent and 2*latent differ for every size",
    ),
    (  # concatenation along the wrong axis
        "model C(a: int, b: int):\n    input x: f32[a, 4]\n    input y: f32[b, 4]\n    forward:\n        return concatenate([x, y], axis=1)\n",
        5, 28, "concatenate: array 1 has size b on axis 0, array 0 has a; only axis 1 may differ", "cannot prove a == b",
    ),
    (  # a reshape whose element count differs
        "model S(n: int):\n    input x: f32[n, 4]\n    forward:\n        return reshape(x, (n, 2, 3))\n",
        4, 27, "reshape: cannot reshape f32[n, 4] (4*n elements) into (n, 2, 3) (6*n elements)", "differ for every size",
    ),
    (  # an einsum whose subscripts disagree
        "model X(a: int, b: int):\n    input x: f32[a, b]\n    input y: f32[a, a]\n    forward:\n        return einsum(\"ij,jk->ik\", x, y)\n",
        5, 16, "einsum index 'j' has size b in one operand and a in operand 1", "cannot prove b == a",
    ),
    (  # a slice past the end of a literal axis
        "model P(dim: int = 8):\n    input x: f32[T]\n    pos = param f32[32, dim] = zeros\n    forward:\n        return pos[:40]\n",
        5, 20, "the slice ends at 40, past the end of axis 0 of f32[32, dim] (size 32)", None,
    ),
    (  # a slice by an input size, with no stated bound
        "model P(ctx: int = 32, dim: int = 8):\n    input tokens: i32[T]\n    pos = param f32[ctx, dim] = zeros\n"
        "    forward:\n        return pos[:T]\n",
        5, 20, "the slice ends at T, past the end of axis 0 of f32[ctx, dim] (size ctx)",
        "cannot prove T <= ctx (T is axis 0 of input tokens (line 2); ctx is a hyperparameter of P (line 1)); "
        "state the relation in the model: assert T <= ctx",
    ),
    (  # a relation that fails for the defaults
        "model D(dim: int = 10, heads: int = 4):\n    assert dim % heads == 0\n    input x: f32[dim]\n    forward:\n        return x\n",
        2, 12, "dim % heads == 0 does not hold for the defaults (dim = 10, heads = 4)", "change a default",
    ),
    (  # a relation that can never hold
        "model N(n: int):\n    assert n + 1 == n\n    input x: f32[n]\n    forward:\n        return x\n",
        2, 12, "n + 1 == n never holds for positive sizes", None,
    ),
    (  # a use of a model whose relation the caller does not show
        "model D(dim: int, heads: int):\n    assert dim % heads == 0\n    input x: f32[dim]\n    forward:\n        return x\n"
        "model U(w: int = 8):\n    input x: f32[w]\n    d = D(w, 3)\n    forward:\n        return d(x)\n",
        10, 16, "d: D requires dim % heads == 0 (line 2), which this use does not show: dim = w, heads = 3",
        "state it in this model: assert w % 3 == 0",
    ),
    (  # a use with literal values that break the relation
        "model D(dim: int, heads: int):\n    assert dim % heads == 0\n    input x: f32[dim]\n    forward:\n        return x\n"
        "model U():\n    input x: f32[8]\n    d = D(8, 3)\n    forward:\n        return d(x)\n",
        10, 16, "d: D requires dim % heads == 0 (line 2), which fails here: dim = 8, heads = 3", None,
    ),
]


@pytest.mark.parametrize(("source", "line", "column", "message", "hint"), MISMATCHES)
def test_unproven_equalities_are_reported_with_origins(source, line, column, message, hint):
    error = _error(source)
    assert (error.line, error.column) == (line, column), error
    assert message in error.message
    if hint is None:
        assert error.hint is None or "cannot prove" not in error.hint
    else:
        assert hint in (error.hint or ""), error.hint


ACCEPTED = [
    # A stated equality makes the residual well-typed.
    "model R(in_size: int = 8, hidden: int = 8):\n    assert hidden == in_size\n    input x: f32[in_size]\n"
    "    fc = Linear(in_size, hidden)\n    forward:\n        return x + relu(fc(x))\n",
    # A stated bound allows the slice; divisibility allows the reshape by heads.
    "model P(ctx: int = 32, dim: int = 8, heads: int = 2):\n    assert T <= ctx\n    assert dim % heads == 0\n"
    "    input tokens: f32[T, dim]\n    pos = param f32[ctx, dim] = zeros\n"
    "    forward:\n        x = tokens + pos[:T]\n        return reshape(x, (T, heads, dim // heads))\n",
    # The branch where a projection is absent knows the condition that left it out.
    "model B(out: int, stride: int = 1):\n    input x: f32[C, H]\n    conv = Conv1d(out_channels=out, kernel_size=1, stride=stride)\n"
    "    if stride != 1 or C != out:\n        proj = Conv1d(out_channels=out, kernel_size=1, stride=stride)\n"
    "    forward:\n        skip = proj(x) if proj else x\n        return conv(x) + skip\n",
]


@pytest.mark.parametrize("source", ACCEPTED)
def test_stated_relations_prove_what_the_operations_need(source):
    compile_source(source, "spec.eqx")


def test_an_assert_must_compare_sizes():
    error = _error("model A(p: float = 0.1):\n    assert p < 1\n    input x: f32[4]\n    forward:\n        return x\n")
    assert (error.line, error.column) == (2, 12)
    assert error.message == "an assert compares sizes (ints), not float"
    error = _error("model A(n: int):\n    assert n\n    input x: f32[n]\n    forward:\n        return x\n")
    assert error.message.startswith("an assert states one comparison of sizes")
