"""Leaf predicates and filter/partition/combine."""

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import pytest

from eqxdsl.runtime import (
    Module,
    combine,
    field,
    filter,
    is_array,
    is_array_like,
    is_inexact_array,
    is_inexact_array_like,
    partition,
    tree_at,
)

CASES = {
    "jax float": jnp.ones(2),
    "jax int": jnp.arange(2),
    "numpy float": np.ones(2),
    "numpy int scalar": np.int32(1),
    "python float": 1.0,
    "python int": 1,
    "python bool": True,
    "python complex": 1j,
    "string": "a",
    "function": jnp.sum,
    "shape struct": jax.ShapeDtypeStruct((2,), jnp.float32),
}


@pytest.mark.parametrize(
    "predicate, expected",
    [
        (is_array, {"jax float", "jax int", "numpy float", "numpy int scalar"}),
        (
            is_array_like,
            {"jax float", "jax int", "numpy float", "numpy int scalar", "python float", "python int", "python bool", "python complex"},
        ),
        (is_inexact_array, {"jax float", "numpy float"}),
        (is_inexact_array_like, {"jax float", "numpy float", "python float", "python complex"}),
    ],
)
def test_predicates(predicate, expected):
    assert {name for name, value in CASES.items() if predicate(value)} == expected


def test_tracers_are_arrays():
    jax.jit(lambda x: assert_true(is_array(x) and is_inexact_array(x)) or x)(jnp.ones(1))


def assert_true(value):
    assert value
    return None


class Pair(Module):
    w: jax.Array
    n: int
    tag: str = field(static=True, default="t")


def test_filter_with_callable_and_inverse_and_replace():
    tree = {"a": jnp.ones(2), "b": 3, "c": (np.zeros(1), "s")}
    kept = filter(tree, is_array)
    assert kept["b"] is None and kept["c"][1] is None and kept["a"] is tree["a"]
    dropped = filter(tree, is_array, inverse=True)
    assert dropped["a"] is None and dropped["b"] == 3
    replaced = filter(tree, is_array, replace=0)
    assert replaced["b"] == 0


def test_filter_spec_as_prefix_tree_of_bools_and_callables():
    tree = {"a": (jnp.ones(2), 1.0), "b": [2, jnp.zeros(1)]}
    spec = {"a": True, "b": is_array}
    kept = filter(tree, spec)
    assert kept["a"][1] == 1.0 and kept["b"][0] is None and kept["b"][1] is tree["b"][1]


def test_module_shaped_filter_spec_freezes_a_field():
    model = Pair(jnp.ones(2), 3)
    spec = tree_at(lambda m: m.w, jtu.tree_map(lambda _: False, model), True)
    trainable, frozen = partition(model, spec)
    assert trainable.w is model.w and trainable.n is None
    assert frozen.w is None and frozen.n == 3


def test_partition_then_combine_round_trips():
    tree = (jnp.ones(2), "x", [1, np.ones(3)], None)
    arrays, rest = partition(tree, is_array)
    assert jtu.tree_structure(combine(arrays, rest)) == jtu.tree_structure(tree)
    restored = combine(arrays, rest)
    assert restored[1] == "x" and restored[2][0] == 1 and restored[2][1] is tree[2][1]
    assert combine(None, 1, 2) == 1


def test_is_leaf_stops_descent():
    tree = {"pair": (1, 2), "x": jnp.ones(1)}
    kept = filter(tree, lambda leaf: isinstance(leaf, tuple), is_leaf=lambda node: isinstance(node, tuple))
    assert kept["pair"] == (1, 2) and kept["x"] is None


def test_bad_filter_specs_are_clear_errors():
    with pytest.raises(TypeError, match="bool or a callable"):
        filter({"a": 1}, {"a": 3})
    with pytest.raises(ValueError, match="prefix"):
        filter({"a": 1}, {"b": True})
    with pytest.raises(TypeError, match="must return a Python bool"):
        filter([1.0], lambda leaf: "yes")
    with pytest.raises(TypeError, match="at least one"):
        combine()
