"""tree_at, tree_equal, apply_updates, tree_pformat/tree_pprint."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqxdsl.runtime import Module, apply_updates, field, tree_at, tree_equal, tree_pformat, tree_pprint


class Layer(Module):
    weight: jax.Array
    bias: jax.Array | None
    size: int = field(static=True)


class Net(Module):
    layers: tuple
    scale: float


def make_net():
    return Net((Layer(jnp.ones((2, 2)), jnp.zeros(2), 2), Layer(jnp.ones((1, 2)), None, 1)), 0.5)


def test_tree_at_replaces_a_leaf_without_touching_the_original():
    net = make_net()
    new = tree_at(lambda n: n.layers[0].weight, net, jnp.zeros((2, 2)))
    assert np.array_equal(new.layers[0].weight, np.zeros((2, 2)))
    assert np.array_equal(net.layers[0].weight, np.ones((2, 2)))
    assert new.layers[1] is not None and new.layers[0].size == 2 and isinstance(new, Net)


def test_tree_at_several_nodes_subtrees_none_and_python_leaves():
    net = make_net()
    new = tree_at(lambda n: (n.layers[1].bias, n.scale), net, (jnp.ones(1), 2.0))
    assert np.array_equal(new.layers[1].bias, np.ones(1)) and new.scale == 2.0
    swapped = tree_at(lambda n: n.layers[1], net, "replaced")
    assert swapped.layers == (net.layers[0], "replaced")
    emptied = tree_at(lambda t: t[1], (1, (), 3), "x")
    assert emptied == (1, "x", 3)


def test_tree_at_replace_fn_and_is_leaf():
    net = make_net()
    doubled = tree_at(lambda n: n.layers[0].weight, net, replace_fn=lambda w: 2 * w)
    assert np.array_equal(doubled.layers[0].weight, 2 * np.ones((2, 2)))
    tree = {"pair": (1, 2)}
    out = tree_at(lambda t: t["pair"], tree, replace_fn=lambda p: p[::-1], is_leaf=lambda x: isinstance(x, tuple))
    assert out == {"pair": (2, 1)}


@pytest.mark.parametrize(
    "where, message",
    [
        (lambda n: n.layers[0].size, "not a node of the PyTree"),
        (lambda n: n.layers[0].weight + 1, "failed"),
        (lambda n: n.missing, "failed"),
        (lambda n: (n.scale, n.scale), "same node twice"),
        (lambda n: (n.scale, 2.0), "item 1"),
    ],
)
def test_tree_at_bad_where_is_a_clear_error(where, message):
    with pytest.raises(ValueError, match=message):
        tree_at(where, make_net(), 0.0)


def test_tree_at_argument_errors():
    with pytest.raises(ValueError, match="exactly one"):
        tree_at(lambda n: n.scale, make_net())
    with pytest.raises(ValueError, match="sequence of 2"):
        tree_at(lambda n: (n.scale, n.layers), make_net(), 1.0)


def test_tree_equal():
    assert tree_equal(make_net(), make_net()) is True
    assert tree_equal(make_net(), tree_at(lambda n: n.scale, make_net(), 0.25)) is False
    assert tree_equal([jnp.ones(2)], [jnp.ones(3)]) is False
    assert tree_equal([jnp.ones(2)], [jnp.ones(2, dtype=jnp.int32)]) is False
    assert tree_equal([1.0], [jnp.ones(())]) is False
    assert tree_equal([jnp.ones(2)], [np.ones(2, np.float32)]) is True
    assert tree_equal([jnp.ones(2)], [np.ones(2, np.float32)], typematch=True) is False
    assert tree_equal({"a": 1}, {"b": 1}) is False
    assert tree_equal(jnp.ones(2), jnp.ones(2) + 1e-6) is False
    assert tree_equal(jnp.ones(2), jnp.ones(2) + 1e-6, rtol=1e-5, atol=1e-5) is True
    assert tree_equal(1, 1, 1) is True and tree_equal(1, 1, 2) is False


def test_tree_equal_under_jit_returns_a_traced_bool():
    out = jax.jit(lambda a, b: tree_equal(a, b))(jnp.ones(2), jnp.ones(2))
    assert isinstance(out, jax.Array) and bool(out)


def test_apply_updates_skips_none():
    net = make_net()
    updates = jax.tree_util.tree_map(lambda x: x, net)
    updates = tree_at(lambda n: (n.layers[0].weight, n.layers[0].bias, n.layers[1].weight, n.scale), updates, (jnp.ones((2, 2)), None, None, 1.0))
    updated = apply_updates(net, updates)
    assert np.array_equal(updated.layers[0].weight, 2 * np.ones((2, 2)))
    assert updated.layers[0].bias is net.layers[0].bias and updated.scale == 1.5


def test_pformat_short_arrays_and_breaking():
    assert tree_pformat(jnp.ones((3, 4))) == "f32[3,4]"
    assert tree_pformat(np.zeros(2, dtype=np.int64)) == "i64[2](numpy)"
    assert tree_pformat(jnp.asarray(1.0)) == "weak_f32[]"
    assert tree_pformat(jnp.zeros(2, jnp.bfloat16)) == "bf16[2]"
    assert tree_pformat({"a": [1, (2,)], "f": jax.nn.relu}) == "{'a': [1, (2,)], 'f': <function relu>}"
    assert tree_pformat(jnp.ones(2), short_arrays=False).startswith("Array(")
    text = tree_pformat(make_net(), width=30)
    assert text.splitlines()[:4] == ["Net(", "  layers=(", "    Layer(", "      weight=f32[2,2],"]
    assert tree_pformat(make_net(), truncate_leaf=lambda x: isinstance(x, Layer)) == "Net(layers=(Layer(...), Layer(...)), scale=0.5)"


def test_pprint_prints(capsys):
    tree_pprint([jnp.ones(1)])
    assert capsys.readouterr().out == "[f32[1]]\n"


def test_tree_at_does_not_rerun_a_custom_init():
    class Built(Module):
        weight: jax.Array
        calls: int = field(static=True)

        def __init__(self, size):
            self.weight = jnp.zeros(size)
            self.calls = 1

    built = Built(2)
    new = tree_at(lambda m: m.weight, built, jnp.ones(3))
    assert new.weight.shape == (3,) and new.calls == 1 and isinstance(new, Built)
