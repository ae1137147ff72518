"""Generated methods check their inputs against the declared types, and the asserted relations."""

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

import eqxdsl.runtime as eqx
from eqxdsl.compiler import load

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

SPEC = '''model Pair(dim: int = 4, heads: int = 2, ctx: int = 8):
    """Two inputs that share T, a hyperparameter-sized axis and a bound."""
    assert dim % heads == 0
    assert T <= ctx
    input x: f32[T, dim]
    input mask: bool[T]
    forward:
        return where(mask[:, None], x, 0.0)
'''


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    path = tmp_path_factory.mktemp("specs") / "pair.eqx"
    path.write_text(SPEC)
    return load(path).Pair(key=jax.random.key(0))


def _line(pattern: str) -> int:
    return next(number for number, text in enumerate(SPEC.splitlines(), 1) if pattern in text)


def test_gpt_rejects_more_tokens_than_its_context():
    gpt = load(EXAMPLES / "gpt.eqx").GPT(key=jax.random.key(0))
    line = next(n for n, text in enumerate((EXAMPLES / "gpt.eqx").read_text().splitlines(), 1) if "assert T <= ctx" in text)
    message = f"GPT: tokens has 41 positions, but this model takes at most ctx = 32 (gpt.eqx:{line})"
    with pytest.raises(ValueError, match=re.escape(message)):
        gpt(jnp.zeros(41, jnp.int32), inference=True)
    assert gpt(jnp.zeros(32, jnp.int32), inference=True).shape == (32, 128)


@pytest.mark.parametrize(
    ("x", "mask", "message", "where"),
    [
        (jnp.zeros((3,)), jnp.ones(3, bool), "Pair: x must be f32[T, dim] (2 axes), got shape (3,)", "input x"),
        (jnp.zeros((3, 4), jnp.int32), jnp.ones(3, bool), "Pair: x must be a floating-point array (f32[T, dim]), got int32", "input x"),
        (jnp.zeros((3, 5)), jnp.ones(3, bool), "Pair: axis 1 of x must have size dim = 4, got 5", "input x"),
        (jnp.zeros((3, 4)), jnp.ones(3), "Pair: mask must be a boolean array (bool[T]), got float32", "input mask"),
        (jnp.zeros((3, 4)), jnp.ones(2, bool), "Pair: axis 0 of mask must have size T = 3 (axis 0 of x), got 2", "input mask"),
        (jnp.zeros((9, 4)), jnp.ones(9, bool), "Pair: x has 9 positions, but this model takes at most ctx = 8", "assert T"),
    ],
)
def test_each_input_is_checked_with_the_spec_line(pair, x, mask, message, where):
    with pytest.raises(ValueError, match=re.escape(f"{message} (pair.eqx:{_line(where)})")):
        pair(x, mask)


def test_a_relation_of_hyperparameters_is_checked_when_built(tmp_path):
    path = tmp_path / "pair.eqx"
    path.write_text(SPEC)
    message = f"Pair: the spec requires dim % heads == 0, but dim = 6 and heads = 4 (pair.eqx:{_line('assert dim')})"
    with pytest.raises(ValueError, match=re.escape(message)):
        load(path).Pair(dim=6, heads=4, key=jax.random.key(0))


def test_checks_read_static_shapes_so_jit_and_vmap_see_the_unbatched_type(pair):
    x, mask = jnp.ones((5, 4)), jnp.ones(5, bool)
    assert jnp.array_equal(eqx.filter_jit(pair)(x, mask), pair(x, mask))
    batched = jax.vmap(pair)(jnp.ones((2, 5, 4)), jnp.ones((2, 5), bool))
    assert batched.shape == (2, 5, 4)
    with pytest.raises(ValueError, match="at most ctx = 8"):
        eqx.filter_jit(pair)(jnp.ones((9, 4)), jnp.ones(9, bool))
