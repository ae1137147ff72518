"""Stateful layers inside stacks that are scanned: the state of every copy is threaded through
the scan, and the scanned stack computes what the same stack unrolled computes."""

import types

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import pytest

import eqxdsl.runtime as eqx
from eqxdsl.compiler.driver import compile_source

SPEC = """
model Block(d: int):
    fc = Linear(in_features=d, out_features=d)
    bn = BatchNorm(input_size=d, axis_name="batch")
    forward(x: f32[d]) -> f32[d]:
        return relu(bn(fc(x)))

model Scanned(d: int, n: int = 3):
    blocks = repeat n scan: Block(d=d)
    forward(x: f32[d]) -> f32[d]:
        for b in blocks:
            x = b(x)
        return x

model Unrolled(d: int, n: int = 3):
    blocks = repeat n: Block(d=d)
    forward(x: f32[d]) -> f32[d]:
        for b in blocks:
            x = b(x)
        return x

model ScannedWithNorm(d: int, n: int = 2):
    norm = BatchNorm(input_size=d, axis_name="batch")
    blocks = repeat n scan: Block(d=d)
    forward(x: f32[d]) -> f32[d]:
        for b in blocks:
            x = b(norm(x))
        return x

model UnrolledWithNorm(d: int, n: int = 2):
    norm = BatchNorm(input_size=d, axis_name="batch")
    blocks = repeat n: Block(d=d)
    forward(x: f32[d]) -> f32[d]:
        for b in blocks:
            x = b(norm(x))
        return x

model OverArray(d: int):
    bn = BatchNorm(input_size=d, axis_name="batch")
    forward(xs: f32[T, d]) -> f32[d]:
        total = xs[0]
        for x in xs:
            total = total + bn(x)
        return total
"""

D, N, BATCH = 4, 3, 5
KEY = jax.random.key(0)


@pytest.fixture(scope="module")
def module():
    namespace = types.ModuleType("stateful_scan")
    exec(compile(compile_source(SPEC, "stateful_scan.eqx"), "stateful_scan.py", "exec"), namespace.__dict__)  # noqa: S102
    return namespace


def batched(model, state, xs, inference=False):
    run = jax.vmap(lambda x, s: model(x, s, inference=inference), in_axes=(0, None), out_axes=(0, None), axis_name="batch")
    return run(xs, state)


def stacked(trees):
    """The leaves of `trees` (one tree per copy of a stack), stacked over the copies."""
    return [jnp.stack(leaves) for leaves in zip(*(jtu.tree_leaves(tree) for tree in trees))]


def assert_same_stack_state(scanned, scanned_state, unrolled, unrolled_state):
    """The scanned stack's state (one entry per slot, stacked over copies) holds the unrolled copies' states."""
    got = jtu.tree_leaves(scanned_state.substate(scanned.blocks))
    want = stacked(unrolled_state.substate(block) for block in unrolled.blocks)
    assert len(got) == len(want) > 0
    for got_leaf, want_leaf in zip(got, want):
        assert got_leaf.shape == want_leaf.shape
        assert jnp.allclose(got_leaf, want_leaf, atol=1e-6)


@pytest.mark.parametrize("inference", [False, True])
def test_scanned_stack_with_batch_norm_equals_the_unrolled_stack(module, inference):
    scanned, scanned_state = eqx.nn.make_with_state(module.Scanned)(D, N, key=KEY)
    unrolled, unrolled_state = eqx.nn.make_with_state(module.Unrolled)(D, N, key=KEY)
    # The same parameters, copy by copy.
    got = jtu.tree_leaves(eqx.filter(scanned.blocks, eqx.is_array))
    want = stacked(eqx.filter(block, eqx.is_array) for block in unrolled.blocks)
    assert len(got) == len(want) > 0
    for got_leaf, want_leaf in zip(got, want):
        assert jnp.array_equal(got_leaf, want_leaf)
    xs = jax.random.normal(jax.random.key(1), (BATCH, D))
    # Two steps, so that the second reads the running statistics the first wrote.
    for _ in range(2):
        scanned_out, scanned_state = batched(scanned, scanned_state, xs, inference)
        unrolled_out, unrolled_state = batched(unrolled, unrolled_state, xs, inference)
        assert jnp.allclose(scanned_out, unrolled_out, atol=1e-6)
        assert_same_stack_state(scanned, scanned_state, unrolled, unrolled_state)
    # The running statistics moved in training only.
    _, initial = eqx.nn.make_with_state(module.Scanned)(D, N, key=KEY)
    moved = any(not jnp.array_equal(a, b) for a, b in zip(jtu.tree_leaves(scanned_state), jtu.tree_leaves(initial)))
    assert moved == (not inference)


def test_scanned_stack_runs_under_jit(module):
    model, state = eqx.nn.make_with_state(module.Scanned)(D, N, key=KEY)
    xs = jnp.ones((BATCH, D))
    out, new_state = eqx.filter_jit(batched)(model, state, xs)
    assert out.shape == (BATCH, D)
    assert jtu.tree_structure(new_state) == jtu.tree_structure(state)


def test_another_stateful_layer_in_a_scanned_loop_is_carried(module):
    scanned, scanned_state = eqx.nn.make_with_state(module.ScannedWithNorm)(D, 2, key=KEY)
    unrolled, unrolled_state = eqx.nn.make_with_state(module.UnrolledWithNorm)(D, 2, key=KEY)
    xs = jax.random.normal(jax.random.key(2), (BATCH, D))
    scanned_out, scanned_state = batched(scanned, scanned_state, xs)
    unrolled_out, unrolled_state = batched(unrolled, unrolled_state, xs)
    assert jnp.allclose(scanned_out, unrolled_out, atol=1e-6)
    # The shared norm ran once per copy, its state carried from one step to the next.
    got = jtu.tree_leaves(scanned_state.substate(scanned.norm))
    want = jtu.tree_leaves(unrolled_state.substate(unrolled.norm))
    assert len(got) == len(want) > 0
    for got_leaf, want_leaf in zip(got, want):
        assert jnp.allclose(got_leaf, want_leaf, atol=1e-6)
    assert_same_stack_state(scanned, scanned_state, unrolled, unrolled_state)


def test_stateful_layer_in_a_loop_over_an_array_carries_the_state(module):
    model, state = eqx.nn.make_with_state(module.OverArray)(D, key=KEY)
    xs = jax.random.normal(jax.random.key(3), (BATCH, 2, D))
    out, new_state = batched(model, state, xs)
    expected = xs[:, 0]
    by_hand = state
    for step in range(2):
        normed, by_hand = jax.vmap(lambda x, s: model.bn(x, s), in_axes=(0, None), out_axes=(0, None), axis_name="batch")(xs[:, step], by_hand)
        expected = expected + normed
    assert jnp.allclose(out, expected, atol=1e-6)
    for got, want in zip(jtu.tree_leaves(new_state), jtu.tree_leaves(by_hand)):
        assert jnp.allclose(got, want, atol=1e-6)
