"""Symbolic sizes take short paths for the common cases (a constant added or multiplied, a name
substituted by itself, a division by one); each must give the one canonical form the general
arithmetic gives, and the value the same integer arithmetic gives.
"""

from __future__ import annotations

import random

import pytest

from eqxdsl.compiler.dims import Dim, Facts

NAMES = ("a", "b", "c")


def _random_expression(rng: random.Random, depth: int):
    """A random expression over NAMES and small constants: nested tuples (op, left, right) or leaves."""
    if depth == 0 or rng.random() < 0.3:
        return rng.choice(NAMES) if rng.random() < 0.6 else rng.randint(-3, 5)
    op = rng.choice(("+", "-", "*", "//"))
    left = _random_expression(rng, depth - 1)
    right = _random_expression(rng, depth - 1)
    if op == "//":
        # Divide by a positive constant or a name: both are what sizes divide by.
        right = rng.choice((1, 2, 3, 4, rng.choice(NAMES)))
    return (op, left, right)


def _build(expression, leaf):
    if not isinstance(expression, tuple):
        return leaf(expression)
    op, left, right = expression
    a, b = _build(left, leaf), _build(right, leaf)
    return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "//": lambda: a // b}[op]()


def _as_dim(leaf):
    return Dim.symbol(leaf) if isinstance(leaf, str) else leaf


@pytest.mark.parametrize("seed", range(40))
def test_arithmetic_gives_the_value_of_integer_arithmetic(seed: int):
    rng = random.Random(seed)
    expression = _random_expression(rng, 4)
    dim = Dim.of(_build(expression, _as_dim))
    for _ in range(5):
        values = {name: rng.randint(1, 9) for name in NAMES}
        expected = _build(expression, lambda leaf: values[leaf] if isinstance(leaf, str) else leaf)
        assert dim.evaluate(values) == expected
        # Substituting names by themselves changes nothing; by values, gives the value.
        assert dim.substitute({name: Dim.symbol(name) for name in NAMES}) == dim
        assert dim.substitute(values) == expected


@pytest.mark.parametrize(
    ("built", "same"),
    [
        (lambda a, b: a + 1 + b, lambda a, b: b + (a + 1)),
        (lambda a, b: 2 * (a + b), lambda a, b: b * 2 + a * 2),
        (lambda a, b: (a + 3) - 3, lambda a, b: a),
        (lambda a, b: 3 + a - a, lambda a, b: Dim.const(3)),
        (lambda a, b: (a * b + 1) // 1, lambda a, b: 1 + b * a),
        (lambda a, b: (a + b) * 0, lambda a, b: Dim.const(0)),
        (lambda a, b: -(-(a - b)), lambda a, b: a - b),
        (lambda a, b: (2 * a + 1) // 2 + 1, lambda a, b: 1 + (1 + 2 * a) // 2),
        (lambda a, b: ((a - 1) // b + 1) * 1, lambda a, b: 1 + (a - 1) // b),
    ],
)
def test_one_polynomial_has_one_form_however_it_is_built(built, same):
    a, b = Dim.symbol("a"), Dim.symbol("b")
    left, right = Dim.of(built(a, b)), Dim.of(same(a, b))
    assert left == right
    assert hash(left) == hash(right)
    assert str(left) == str(right)


def test_a_name_alone_is_told_apart_from_other_sizes():
    assert Dim.symbol("width").as_name() == "width"
    assert (2 * Dim.symbol("width")).as_name() is None
    assert (Dim.symbol("width") + 1).as_name() is None
    assert (Dim.symbol("width") * Dim.symbol("width")).as_name() is None
    assert Dim.const(1).as_name() is None


def test_substituting_one_of_several_names_leaves_the_others():
    h, w, s = Dim.symbol("H"), Dim.symbol("W"), Dim.symbol("s")
    size = (h - 1) // s + w
    # `H` for itself, `s` for 2: only the division changes.
    assert size.substitute({"H": h, "s": Dim.const(2)}) == (h - 1) // 2 + w
    assert size.substitute({"H": h, "W": w, "s": s}) is size


def test_bounds_through_a_division_are_proven_or_refused():
    dim, heads = Dim.symbol("dim"), Dim.symbol("heads")
    facts = Facts()
    assert facts.at_most(0, dim // 2)
    assert facts.at_most(1, (dim + heads) // heads)
    assert Facts([("==", dim % heads, 0)]).at_most(dim // heads, dim)
    assert facts.differ(dim // heads + 1, 0)
    # Negative where every name is 1: never proven.
    assert not facts.at_most(dim // 2 + 1, 0)
    assert not facts.at_most(dim + 1, heads * (dim // heads))
    assert not facts.differ(dim % heads, 0)
