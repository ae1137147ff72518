"""Symbolic dimensions: canonical forms, evaluation against Python arithmetic, text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqxdsl.compiler.dims import DTYPES, Dim, TensorType

width = Dim.symbol("width")
size = Dim.symbol("size")
T = Dim.symbol("T")

NAMES = ("a", "b", "c")


def test_products_of_constants_fold_into_one_coefficient():
    assert 2 * width * 4 * 4 == 32 * width
    assert str(2 * width * 4 * 4) == "32*width"
    assert (2 * width * 4 * 4).python() == "32 * width"


def test_exact_division_cancels():
    assert (2 * width) // 2 == width
    assert (width * size) // width == size
    assert (6 * width * size) // (3 * size) == 2 * width
    assert (3 * width + 3) // (width + 1) == 3


def test_inexact_division_stays_opaque_and_simplifies():
    conv = (size + 2 * 1 - 3) // 2 + 1
    assert conv == (size + 1) // 2
    assert conv.python() == "(size + 1) // 2"
    assert conv.value is None
    # two stride-2 steps collapse into one division
    assert ((size + 1) // 2 + 1) // 2 == (size + 3) // 4
    assert (size // 2) // 2 == size // 4


def test_constants_behave_like_ints():
    assert Dim.const(7) == 7
    assert hash(Dim.const(7)) == hash(7)
    assert {Dim.const(7): "x"}[7] == "x"
    assert Dim.const(7) // 2 == 3
    assert Dim.const(-7) // 2 == -4
    assert Dim.const(7) % 3 == 1
    assert (width - width).value == 0
    assert list(range(Dim.const(3))) == [0, 1, 2]


def test_constant_value_and_symbols():
    assert Dim.const(3).value == 3
    assert width.value is None
    assert ((size + width) // T).symbols == {"size", "width", "T"}
    assert Dim.const(4).symbols == frozenset()


def test_truth_value_of_symbolic_dim_is_an_error():
    with pytest.raises(TypeError, match="symbolic dimension width"):
        bool(width)
    assert not Dim.const(0)
    assert Dim.const(2)


def test_bad_construction_is_rejected():
    with pytest.raises(TypeError):
        Dim.const(True)
    with pytest.raises(TypeError):
        Dim.const(2.0)
    with pytest.raises(ValueError):
        Dim.symbol("not a name")
    with pytest.raises(ZeroDivisionError):
        width // 0


def test_definitely_differs():
    assert width.definitely_differs(width + 1)
    assert Dim.const(3).definitely_differs(4)
    assert (2 * width + 1).definitely_differs(0)
    assert width.definitely_differs(2 * width)  # sizes are positive: never equal
    assert not width.definitely_differs(1)
    assert not width.definitely_differs(size)
    assert not width.definitely_differs(width)
    assert not (size // 2).definitely_differs(1)


def test_substitute_simplifies():
    expression = (size + 1) // width
    assert expression.substitute({"width": 2}) == (size + 1) // 2
    assert expression.substitute({"width": 2, "size": 9}) == 5
    assert (2 * width).substitute({"width": size + 1}) == 2 * size + 2
    assert expression.evaluate({"width": 3, "size": 8}) == 3
    with pytest.raises(KeyError, match="width"):
        expression.evaluate({"size": 8})


def test_python_text():
    assert (width - 1).python() == "width - 1"
    assert (3 - width).python() == "3 - width"
    assert (-width).python() == "-width"
    assert (-(size // 2)).python() == "-(size // 2)"
    assert (3 * (size // 2)).python() == "3 * (size // 2)"
    assert (width * width).python() == "width * width"
    assert Dim.const(0).python() == "0"
    assert (size // width).python() == "size // width"
    assert (size // (width + 1)).python() == "size // (width + 1)"
    assert (2 * width).python({"width": "self.width"}) == "2 * self.width"
    assert (2 * width).python({"width": "a + b"}) == "2 * (a + b)"
    assert (size + 1).python({"size": "x.shape[0]"}) == "x.shape[0] + 1"


def test_tensor_type():
    t = TensorType("f32", (T, 2 * width))
    assert str(t) == "f32[T, 2*width]"
    assert t.rank == 2
    assert str(TensorType.of("i32", ())) == "i32[]"
    assert TensorType.of("f32", (3,)) == TensorType("f32", (Dim.const(3),))
    assert TensorType.of("bf16", ()).is_floating and TensorType.of("u8", ()).is_integer
    assert set(DTYPES) == {"f16", "bf16", "f32", "f64", "i8", "i16", "i32", "i64", "u8", "u32", "bool", "c64"}
    with pytest.raises(ValueError, match="unknown dtype"):
        TensorType.of("float32", ())


# -- property tests: a Dim evaluates like the Python arithmetic it stands for ------------


def _expressions():
    """Pairs (Dim, function of an environment giving the int the same Python expression gives)."""
    leaves = st.one_of(
        st.integers(-20, 20).map(lambda n: (Dim.const(n), lambda env, n=n: n)),
        st.sampled_from(NAMES).map(lambda name: (Dim.symbol(name), lambda env, name=name: env[name])),
    )

    def combine(children):
        pairs = st.tuples(children, children)

        def binary(op):
            return pairs.map(lambda p, op=op: (op(p[0][0], p[1][0]), lambda env, p=p, op=op: op(p[0][1](env), p[1][1](env))))

        def divide(p):
            # Denominators that can never be zero: a positive constant, or a name plus one.
            (num, num_fn), (den, den_fn) = p
            return num // den, lambda env: num_fn(env) // den_fn(env)

        positive = st.one_of(
            st.integers(1, 7).map(lambda n: (Dim.const(n), lambda env, n=n: n)),
            st.sampled_from(NAMES).map(lambda name: (Dim.symbol(name) + 1, lambda env, name=name: env[name] + 1)),
        )
        return st.one_of(
            binary(lambda x, y: x + y),
            binary(lambda x, y: x - y),
            binary(lambda x, y: x * y),
            st.tuples(children, positive).map(divide),
        )

    return st.recursive(leaves, combine, max_leaves=8)


environments = st.fixed_dictionaries({name: st.integers(0, 30) for name in NAMES})


@settings(max_examples=300, deadline=None)
@given(_expressions(), environments)
def test_dim_evaluates_like_python(pair, env):
    dim, reference = pair
    assert dim.evaluate(env) == reference(env)


@settings(max_examples=200, deadline=None)
@given(_expressions(), environments)
def test_python_text_evaluates_like_the_dim(pair, env):
    dim, reference = pair
    assert eval(dim.python(), {}, dict(env)) == reference(env)  # noqa: S307 - our own generated text
    # the message form differs only in spacing
    assert eval(str(dim), {}, dict(env)) == reference(env)  # noqa: S307


@settings(max_examples=200, deadline=None)
@given(_expressions(), _expressions())
def test_equal_dims_hash_alike_and_differing_dims_differ(left, right):
    a, b = left[0], right[0]
    if a == b:
        assert hash(a) == hash(b)
    if a.definitely_differs(b):
        for values in ({n: 1 for n in NAMES}, {n: 5 for n in NAMES}, {"a": 1, "b": 2, "c": 3}):
            assert a.evaluate(values) != b.evaluate(values)


@settings(max_examples=200, deadline=None)
@given(_expressions(), environments)
def test_substitution_commutes_with_evaluation(pair, env):
    dim, reference = pair
    partial = dim.substitute({"a": env["a"]})
    assert "a" not in partial.symbols
    assert partial.evaluate(env) == reference(env)
