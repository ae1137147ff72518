"""A stated divisibility of a multiple of a name (`2 * n % 3 == 0`) proves what it implies about `n`."""

from eqxdsl.compiler import compile_source
from eqxdsl.compiler.dims import Dim, Facts

n, T = Dim.symbol("n"), Dim.symbol("T")


def test_a_multiple_of_a_name_divisible_by_a_constant():
    facts = Facts([("==", (2 * n) % 3, 0)])
    assert facts.equal(3 * T * ((2 * n) // 3), 2 * T * n)
    assert facts.divides(3, n)
    # `2 * n % 4` is simplified to `2 * (n % 2)`.
    assert Facts([("==", (2 * n) % 4, 0)]).equal(4 * T * ((2 * n) // 4), 2 * T * n)
    assert not Facts().equal(3 * ((2 * n) // 3), 2 * n)


def test_the_reshape_it_allows_compiles():
    compile_source(
        "model M(n: int = 6):\n    assert (2 * n) % 3 == 0\n    input x: f32[T, 2 * n]\n"
        "    forward:\n        return reshape(x, (T, 3, (2 * n) // 3))\n",
        "m.eqx",
    )
