"""Comparisons and masks, array methods, `map` with axes, and the numpy vocabulary.

Each construct compiles to the Python the language reference shows and computes
what that Python computes; each misuse is a located error with a hint.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqxdsl
import eqxdsl.runtime as eqx
from eqxdsl.compiler.check import check_spec
from eqxdsl.compiler.diagnostics import CompileError
from eqxdsl.compiler.parse import parse_spec

ROOT = Path(__file__).resolve().parents[2]
KEY = jax.random.key(0)


def compiled(body: str, params: str = "x: f32[4, 3]", hypers: str = "n: int = 2") -> str:
    spec = f"model M({hypers}):\n    forward({params}):\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), " " * 8) + "\n"
    return eqxdsl.compile_source(spec, "m.eqx")


def built(spec: str, **hypers):
    namespace: dict = {}
    exec(compile(eqxdsl.compile_source(textwrap.dedent(spec).lstrip("\n"), "m.eqx"), "m.py", "exec"), namespace)
    return namespace["M"](**hypers, key=KEY)


# -- the padding mask of the reference ----------------------------------------------------


def test_the_reference_shows_the_padding_mask_spec():
    """docs/language.md shows tests/specs/padding_mask.eqx's forward, line for line."""
    spec = (ROOT / "tests/specs/padding_mask.eqx").read_text()
    docs = (ROOT / "docs/language.md").read_text()
    forward = spec[spec.index("    forward") :]
    assert textwrap.dedent(forward) in docs


def test_the_padding_mask_keeps_padding_out_of_attention():
    module = eqxdsl.load(ROOT / "tests/specs/padding_mask.eqx")
    model = module.PaddedAttention(key=KEY)
    tokens = jnp.array([3, 5, 0, 7, 0])
    # Padding neither attends nor is attended to: what the padding token embeds to changes nothing.
    changed = eqx.tree_at(lambda m: m.embed.weight, model, model.embed.weight.at[0].set(100.0))
    assert jnp.allclose(model(tokens), changed(tokens), atol=1e-6)
    keep = tokens != 0
    x = jax.vmap(model.embed)(tokens)
    expected = model.attn(x, x, x, mask=keep[:, None] & keep[None, :])
    assert jnp.allclose(model(tokens), jnp.where(keep[:, None], expected, 0.0).sum(0) / keep.sum())


# -- comparisons and logic ------------------------------------------------------------------


def test_comparisons_and_logic_on_arrays_become_the_same_python():
    source = compiled("""
        keep = (x > 0) & ~(x == 1.0) | (x <= -n)
        return where(keep, x, 0.0)
    """)
    assert "keep = (x > 0) & ~(x == 1.0) | (x <= -self.n)" in source
    assert "return jnp.where(keep, x, 0.0)" in source


def test_comparisons_broadcast_and_give_bool_arrays():
    model = built("""
        model M():
            forward(x: f32[4, 3], y: f32[3]) -> bool[4, 3]:
                return (x > y) | ~(x != 0)
    """)
    x = jnp.arange(12.0).reshape(4, 3) - 5
    y = jnp.array([0.0, 1.0, -1.0])
    assert (model(x, y) == ((x > y) | ~(x != 0))).all()


def test_masks_update_in_place_as_in_python():
    source = compiled("""
        keep = x > 0
        keep &= x < 1
        keep |= x == 5
        return where(keep, x, 0.0)
    """)
    assert "keep &= x < 1" in source and "keep |= x == 5" in source


# -- methods --------------------------------------------------------------------------------


def test_array_methods_are_the_functions_of_their_names():
    source = compiled("""
        h = x.reshape(2, -1).mean(0)
        return x.astype(bf16).sum(axis=1, keepdims=True).max() + h.std()
    """)
    assert "h = jnp.mean(jnp.reshape(x, (2, -1)), 0)" in source
    assert "jnp.max(\n            jnp.sum(jnp.astype(x, jnp.bfloat16), 1, keepdims=True)\n        ) + jnp.std(" in source


def test_array_methods_compute_what_numpy_methods_do():
    model = built("""
        model M():
            forward(x: f32[4, 3]):
                return x.reshape(3, 4).transpose(1, 0).cumsum(0).sort(axis=0).take(arange(2), axis=1).mean(1)
    """)
    x = jax.random.normal(KEY, (4, 3))
    expected = np.sort(np.asarray(x).reshape(3, 4).transpose(1, 0).cumsum(0), axis=0).take(np.arange(2), axis=1).mean(1)
    assert np.allclose(model(x), expected, atol=1e-6)


# -- map with axes ----------------------------------------------------------------------------


MIXER = """
    model M(tokens: int = 5, channels: int = 3):
        token_mix = MLP(tokens, tokens, 8, 1)
        drop = Dropout(0.5)

        forward(y: f32[tokens, channels]):
            z = map(token_mix, y, in_axes=1, out_axes=1)
            return map(drop, z, in_axes=1)
"""


def test_map_with_axes_is_vmap_with_axes():
    source = eqxdsl.compile_source(textwrap.dedent(MIXER).lstrip("\n"), "m.eqx")
    assert "z = jax.vmap(self.token_mix, in_axes=1, out_axes=1)(y)" in source
    assert "in_axes=(1, 0)" in source  # the dropout's keys are mapped over their leading axis
    model = built(MIXER)
    y = jax.random.normal(KEY, (5, 3))
    # The dropout maps over axis 1 and stacks its results first.
    assert jnp.allclose(model(y, inference=True), jax.vmap(model.token_mix, in_axes=1, out_axes=1)(y).T)
    assert jnp.allclose(model(y, inference=True), jax.vmap(model.token_mix)(y.T))
    assert model(y, key=KEY).shape == (3, 5)


def test_map_passes_an_unmapped_array_whole():
    model = built("""
        model M():
            forward(x: f32[4, 3], w: f32[3]) -> f32[3, 4]:
                return map(maximum, x, w, in_axes=(0, None), out_axes=1)
    """)
    x, w = jnp.arange(12.0).reshape(4, 3), jnp.array([3.0, 5.0, 7.0])
    assert (model(x, w) == jnp.maximum(x, w).T).all()


METHODS_MAPPED = """
    model Enc(d: int = 3):
        lin = Linear(d, 2)

        def encode(x: f32[d]) -> f32[2]:
            return lin(x)

        forward(x: f32[d]) -> f32[2]:
            return encode(x)

    model M():
        enc = Enc(3)

        def half(x: f32[3]) -> f32[3]:
            return x / 2

        forward(x: f32[4, 3]):
            return map(enc.encode, x, out_axes=1), map(half, x.T, in_axes=1)
"""


def test_methods_and_submodel_methods_can_be_mapped_with_axes():
    source = eqxdsl.compile_source(textwrap.dedent(METHODS_MAPPED).lstrip("\n"), "m.eqx")
    assert "jax.vmap(self.enc.encode, out_axes=1)(x)" in source
    assert "jax.vmap(self.half, in_axes=1)(x.T)" in source
    namespace: dict = {}
    exec(compile(source, "m.py", "exec"), namespace)
    model = namespace["M"](key=KEY)
    x = jax.random.normal(KEY, (4, 3))
    encoded, halved = model(x)
    assert encoded.shape == (2, 4) and jnp.allclose(encoded, jax.vmap(model.enc.encode)(x).T)
    assert jnp.allclose(halved, x / 2)


# -- the vocabulary ---------------------------------------------------------------------------


def test_the_new_functions_compute_what_jax_does():
    model = built("""
        model M(classes: int = 4):
            forward(tokens: i32[6], x: f32[6, 3]):
                a = one_hot(tokens, classes) + cumsum(x, axis=0).sum() + logsumexp(x, axis=0).sum()
                b = pad(x, ((1, 1), (0, 2)), mode="edge").sum() + floor(x).sum() + ceil(x).sum() + round(x, 1).sum()
                c = squeeze(expand_dims(x, 0), 0) + stop_gradient(std(x)) + swish(x)
                return a, b, c, argsort(tokens), arange(1, 7, 2)
    """)
    tokens = jnp.array([3, 1, 0, 2, 2, 1])
    x = jax.random.normal(KEY, (6, 3))
    a, b, c, order, steps = model(tokens, x)
    assert jnp.allclose(a, jax.nn.one_hot(tokens, 4) + jnp.cumsum(x, 0).sum() + jax.nn.logsumexp(x, 0).sum())
    assert jnp.allclose(b, jnp.pad(x, ((1, 1), (0, 2)), mode="edge").sum() + jnp.floor(x).sum() + jnp.ceil(x).sum() + jnp.round(x, 1).sum())
    assert jnp.allclose(c, x + jnp.std(x) + jax.nn.silu(x))
    assert (order == jnp.argsort(tokens)).all() and (steps == jnp.array([1, 3, 5])).all()


# -- misuse -----------------------------------------------------------------------------------


def diagnose(body: str, params: str = "x: f32[4, 3], t: i32[4]", hypers: str = "n: int = 2"):
    spec = f"model M({hypers}):\n    forward({params}):\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), " " * 8) + "\n"
    with pytest.raises(CompileError) as caught:
        check_spec(parse_spec(spec, "bad.eqx"), lambda path, node: None)
    return caught.value.diagnostics[0]


MISUSES = [
    ("where with a float condition", "return where(x, x, 0.0)", 3, 22, "the condition must be a bool array, not f32[4, 3]", "where(x > 0, x, 0.0)"),
    ("chained array comparison", "return 0 < x < 1", 3, 16, "a chain of comparisons cannot compare arrays", "(a < b) & (b < c)"),
    ("comparison that does not broadcast", "return x == x[0:2]", 3, 16, "==: cannot broadcast", "aligned from the right"),
    ("& on floats", "return x & (x > 0)", 3, 16, "& combines bool (or integer) arrays, not f32[4, 3]", "(x > 0) & mask"),
    ("& on build-time numbers", "return x if n & 1 else x", 3, 21, "& combines bool arrays elementwise, not int and int 1", "write `and`"),
    ("| on numbers", "return x * (n | 1)", 3, 21, "| combines bool arrays elementwise, not int and int 1", "write `or`"),
    ("~ on floats", "return ~x", 3, 16, "~ negates bool (or integer) arrays, not f32[4, 3]", "~(x > 0)"),
    ("~ on a build-time bool", "return x if ~(n > 1) else x", 3, 21, "~ negates bool (or integer) arrays, not bool", "write `not`"),
    ("not on an array", "return not (x > 0)", 3, 16, "`not` applies to a condition fixed at build time", "~mask"),
    ("and on arrays", "return x if (x > 0) and (x < 1) else x", 3, 22, "a condition must be fixed when the model is built", "&, | and ~"),
    ("unknown method", "return x.exp()", 3, 16, "arrays have no method 'exp'", "exp(x, ...)"),
    ("method from another library", "return x.view(12)", 3, 16, "arrays have no method 'view'", "x.reshape(...)"),
    ("misspelt method", "return x.meen(0)", 3, 16, "arrays have no method 'meen'", "did you mean 'mean'?"),
    ("method of a number", "return x * n.sum()", 3, 20, "int has no methods", "sum(...)"),
    ("method used as an attribute", "return x.mean", 3, 16, "has no attribute 'mean'", "x.mean(...)"),
    ("bad method argument", "return x.mean(axis=5)", 3, 23, "mean: axis 5 is out of range for an array of rank 2", "-2 to 1"),
    ("function from another library", "return cat([x, x])", 3, 16, "unknown function or layer 'cat'", "'concatenate'"),
    ("map with a bad keyword", "return map(relu, x, axis=1)", 3, 29, "map has no argument 'axis'", "in_axes"),
    ("map in_axes out of range", "return map(relu, x, in_axes=2)", 3, 29, "in_axes 2 is out of range for an array of rank 2", "-2 to 1"),
    ("map in_axes of the wrong length", "return map(relu, x, in_axes=(0, 1))", 3, 29, "in_axes names 2 axes for 1 arrays", "in_axes=(0, None)"),
    ("map of nothing", "return map(relu, x, in_axes=None)", 3, 29, "in_axes maps none of the arrays", "at least one array"),
    ("map out_axes None", "return map(relu, x, out_axes=None)", 3, 29, "out_axes must give every result an axis", "gains the mapped axis"),
    ("map out_axes out of range", "return map(relu, x, out_axes=3)", 3, 29, "out_axes 3 is out of range for an array of rank 2", "-2 to 1"),
    ("one_hot of floats", "return one_hot(x, 3)", 3, 24, "one_hot takes integer class indices, not f32[4, 3]", "argmax"),
    ("squeeze of a size that is not 1", "return squeeze(x, 0)", 3, 27, "axis 0 of f32[4, 3] has size 4, not 1", "or reshape"),
    ("pad with bad widths", "return pad(x, (1, 2, 3))", 3, 23, "pad widths must be an int, a (before, after) pair", "pad(x, ((1, 2), (0, 0)))"),
    ("pad with an unknown mode", "return pad(x, 1, mode=\"mirror\")", 3, 26, "mode must be one of", "jnp.pad"),
    ("pad constant_values with edge", "return pad(x, 1, mode=\"edge\", constant_values=1.0)", 3, 39, "constant_values goes with mode 'constant'", "drop constant_values"),
    ("take with float indices", "return take(x, x)", 3, 24, "take's indices must be integers", "argsort"),
    ("arange with a bool dtype", "return arange(3, dtype=bool)", 3, 26, "arange counts in numbers", "i32"),
    ("cumsum over several axes", "return cumsum(x, (0, 1))", 3, 26, "axis must be one int or None", "flattened"),
    ("sample of ints", "return normal([3], dtype=i32)", 3, 28, "dtype must be a float type", "astype"),
    ("silu of an int array", "return silu(t)", 3, 21, "silu: needs a floating-point array, not i32[4]", "astype(x, f32)"),
    ("softmax of a mask", "return softmax(t > 0)", 3, 24, "softmax: needs a number array, not bool[4]", "astype(x, f32)"),
    ("&= on floats", "x &= x > 0", 3, 9, "& combines bool (or integer) arrays, not f32[4, 3]", "(x > 0) & mask"),
]


@pytest.mark.parametrize(("name", "body", "line", "column", "message", "hint"), MISUSES, ids=[m[0] for m in MISUSES])
def test_misuse_is_a_located_error_with_a_hint(name, body, line, column, message, hint):
    diagnostic = diagnose(body)
    assert message in diagnostic.message, diagnostic.format()
    assert (diagnostic.line, diagnostic.column) == (line, column), diagnostic.format()
    assert diagnostic.hint is not None and hint in diagnostic.hint, diagnostic.format()
    assert re.match(rf"bad\.eqx:{line}:{column}: error: ", diagnostic.format())


def test_attention_masks_must_be_bool():
    spec = "model M():\n    attn = MultiheadAttention(1, 3)\n\n    forward(x: f32[4, 3]):\n        return attn(x, x, x, mask=x @ x.T)\n"
    with pytest.raises(CompileError) as caught:
        check_spec(parse_spec(spec, "bad.eqx"), lambda path, node: None)
    (diagnostic,) = caught.value.diagnostics
    assert "takes a boolean mask, got f32[4, 4]" in diagnostic.message
    assert (diagnostic.line, diagnostic.column) == (5, 30)
    assert "tokens != pad" in diagnostic.hint
