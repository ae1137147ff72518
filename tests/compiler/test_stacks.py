"""Stacks built copy by copy, loops over stacks and tuples, tuple hyperparameters of any length,
and per-step outputs of loops over arrays.

Each construct is compiled, and the generated code is built and run on tiny
inputs against what the construct means in plain JAX; each misuse is a located
error with a hint.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqxdsl
import eqxdsl.runtime as eqx
from eqxdsl.compiler.diagnostics import CompileError

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(tmp_path: Path, source: str, name: str = "spec.eqx"):
    path = tmp_path / name
    path.write_text(source)
    return eqxdsl.load(path)


def generated(source: str) -> str:
    return eqxdsl.compile_source(source, "spec.eqx")


def error(source: str):
    """The one diagnostic of compiling `source` (which must fail with exactly one)."""
    with pytest.raises(CompileError) as caught:
        eqxdsl.compile_source(source, "spec.eqx")
    (diagnostic,) = caught.value.diagnostics
    return diagnostic


def model(header: str, items: str, body: str) -> str:
    indented = "".join(f"    {line}\n" for line in items.strip("\n").splitlines())
    steps = "".join(f"        {line}\n" for line in body.strip("\n").splitlines())
    return f"model M({header}):\n{indented}\n    forward:\n{steps}"


# -- per-copy arguments ----------------------------------------------------------------------


DILATED = model(
    "depth: int = 3",
    "input x: f32[2, T]\nlayers = repeat i in range(depth): Conv1d(out_channels=2, kernel_size=2, dilation=2 ** i, padding=((2 ** i, 0),))",
    "for layer in layers:\n    x = relu(layer(x))\nreturn x",
)


def test_the_copy_index_reaches_each_constructor(tmp_path):
    assert "for i, k in enumerate(jax.random.split(key, depth))" in generated(DILATED)
    net = load(tmp_path, DILATED).M(depth=4, key=jax.random.key(0))
    assert [layer.dilation for layer in net.layers] == [(1,), (2,), (4,), (8,)]
    x = jax.random.normal(jax.random.key(1), (2, 9))
    expected = x
    for layer in net.layers:
        expected = jax.nn.relu(layer(expected))
    np.testing.assert_array_equal(net(x), expected)


ZIPPED = model(
    "widths: tuple[int, ...] = (8, 16, 32), drops: tuple[int, ...] = (1, 0, 1)",
    "input x: f32[4]\nlayers = repeat w, d in zip(widths, drops): Linear(out_features=w, use_bias=d == 1)\nhead = Linear(out_features=2)",
    "for layer in layers:\n    x = tanh(layer(x))\nreturn head(x)",
)


def test_zipped_tuples_give_each_copy_its_values_and_chain_the_sizes(tmp_path):
    code = generated(ZIPPED)
    assert "eqx.nn.Linear(4 if i == 0 else widths[i - 1], w, use_bias=d == 1, key=k)" in code
    assert "zip(widths, drops, jax.random.split(layers_key, len(widths)))" in code
    assert "eqx.nn.Linear(widths[-1], 2, key=head_key)" in code
    net = load(tmp_path, ZIPPED).M(widths=(3, 5), drops=(0, 1), key=jax.random.key(0))
    assert [(layer.in_features, layer.out_features, layer.use_bias) for layer in net.layers] == [(4, 3, False), (3, 5, True)]
    assert net(jnp.ones(4)).shape == (2,)


def test_a_stack_checked_at_two_copies_builds_at_any_length(tmp_path):
    # Two copies show one later size, which could pass for a constant: the loop name's rule wins.
    source = model("ws: tuple[int, ...] = (2, 3)", "input x: f32[4]\nlins = repeat w in ws: Linear(out_features=w)", "for l in lins:\n    x = l(x)\nreturn x")
    assert "eqx.nn.Linear(4 if i == 0 else ws[i - 1], w, key=k)" in generated(source)
    net = load(tmp_path, source).M(ws=(2, 3, 5), key=jax.random.key(0))
    assert net(jnp.ones(4)).shape == (5,)


def test_zipped_tuples_of_different_lengths_fail_when_built(tmp_path):
    module = load(tmp_path, ZIPPED)
    with pytest.raises(ValueError, match=r"M: layers zips values of different lengths: len\(widths\) is 2, len\(drops\) is 3"):
        module.M(widths=(3, 5), drops=(0, 1, 1), key=jax.random.key(0))


def test_a_tuple_of_any_length_must_hold_what_the_model_indexes(tmp_path):
    source = model("widths: tuple[int, ...] = (2, 4, 6)", "input x: f32[3]\nfirst = Linear(out_features=widths[1])", "return first(x)")
    module = load(tmp_path, source)
    assert module.M(widths=(1, 7), key=jax.random.key(0))(jnp.ones(3)).shape == (7,)
    with pytest.raises(ValueError, match=r"M: widths needs at least 2 values, got 1"):
        module.M(widths=(1,), key=jax.random.key(0))


def test_len_of_a_tuple_of_any_length_is_computed_when_built(tmp_path):
    source = model("widths: tuple[int, ...] = (2, 4, 6)", "input x: f32[3]\nhead = Linear(out_features=len(widths))", "return head(x)")
    assert "eqx.nn.Linear(3, len(widths), key=key)" in generated(source)
    assert load(tmp_path, source).M(widths=(1, 1, 1, 1, 1), key=jax.random.key(0))(jnp.ones(3)).shape == (5,)


def test_a_fixed_length_tuple_checks_its_length_when_built(tmp_path):
    source = model("kernel: tuple[int, int] = (3, 3)", "input x: f32[1, 6, 6]\nconv = Conv2d(out_channels=2, kernel_size=kernel)", "return conv(x)")
    module = load(tmp_path, source)
    with pytest.raises(ValueError, match=r"M: kernel must hold 2 ints, got 3"):
        module.M(kernel=(3, 3, 3), key=jax.random.key(0))


TOWER = """model Tower(widths: tuple[int, ...] = (8, 16)):
    input x: f32[4]
    layers = repeat w in widths: Linear(out_features=w)
{extra}
    forward:
        for layer in layers:
            x = layer(x)
        return {result}

model Uses():
    input x: f32[4]
    t = Tower(widths=(3, 5, 7))
    head = Linear(out_features=2)

    forward:
        return head(t(x))
"""


def test_a_model_is_checked_again_at_the_tuple_lengths_the_spec_gives_it():
    code = generated(TOWER.format(extra="", result="x"))
    assert "self.head = eqx.nn.Linear(7, 2, key=head_key)" in code


def test_a_model_that_fails_at_a_given_length_is_reported_at_the_call():
    source = TOWER.format(extra="    pick = Linear(out_features=widths[1])\n", result="x + pick(x)")
    with pytest.raises(CompileError) as caught:
        eqxdsl.compile_source(source, "spec.eqx")
    first, call = caught.value.diagnostics
    assert first.line == 9 and "cannot broadcast" in first.message
    assert (call.line, call.column) == (13, 9)
    assert call.message == "Tower does not check with widths of length 3 (the errors above)"
    assert "fix the model for this length" in call.hint


def test_a_stack_whose_copies_change_shape_is_checked_copy_by_copy():
    source = model(
        "",
        "input x: f32[1, 16]\ndown = repeat 3: Conv1d(out_channels=4, kernel_size=2, stride=2)\nhead = Linear(out_features=1)",
        "for layer in down:\n    x = layer(x)\nreturn head(flatten(x))",
    )
    code = generated(source)
    # 16 -> 8 -> 4 -> 2 positions: the head reads 4 channels of 2.
    assert "eqx.nn.Linear(8, 1, key=head_key)" in code
    assert "eqx.nn.Conv1d(1 if i == 0 else 4, 4, kernel_size=2, stride=2, key=k)" in code


# -- loops over stacks and tuples ----------------------------------------------------------


LOOPS = model(
    "scales: tuple[int, ...] = (1, 2, 3)",
    "input x: f32[3]\nblocks = repeat 3: Linear(out_features=3)",
    "for block, s in zip(blocks, scales):\n    x = block(x) * s\nfor i, block in enumerate(blocks[1:]):\n    x = block(x) + i\nreturn blocks[0](x)",
)


def test_zip_enumerate_slices_and_indices_of_stacks(tmp_path):
    code = generated(LOOPS)
    assert "for block, s in zip(self.blocks, self.scales):" in code
    assert "for i, block in enumerate(self.blocks[1:]):" in code
    assert "return self.blocks[0](x)" in code
    net = load(tmp_path, LOOPS).M(key=jax.random.key(0))
    x = jnp.arange(3.0)
    expected = x
    for block, s in zip(net.blocks, (1, 2, 3)):
        expected = block(expected) * s
    for i, block in enumerate(net.blocks[1:]):
        expected = block(expected) + i
    np.testing.assert_array_equal(net(x), net.blocks[0](expected))


# -- per-step outputs ----------------------------------------------------------------------------


EVERY_STATE = model(
    "hidden: int = 5",
    "input xs: f32[T, 3]\ncell = GRUCell(hidden_size=hidden)",
    "h = zeros(hidden)\nhs = []\nfor x in xs:\n    h = cell(x, h)\n    hs.append(h)\nreturn hs",
)


def test_a_loop_over_an_array_returns_every_step(tmp_path):
    code = generated(EVERY_STATE)
    assert "h, hs = jax.lax.scan(lambda h, x: self._x_step(h, x), h, xs)" in code
    assert "return (h, h)" in code
    net = load(tmp_path, EVERY_STATE).M(key=jax.random.key(0))
    xs = jax.random.normal(jax.random.key(1), (4, 3))
    h = jnp.zeros(5)
    expected = []
    for x in xs:
        h = net.cell(x, h)
        expected.append(h)
    np.testing.assert_allclose(net(xs), jnp.stack(expected), rtol=1e-6, atol=1e-6)


def test_per_step_outputs_without_carries_and_from_expressions():
    source = model("", "input xs: f32[T, 3]", "ys = []\nzs = []\nfor x in xs:\n    ys.append(x * 2.0)\n    zs.append(sum(x))\nreturn ys + zs[:, None]")
    code = generated(source)
    assert "_, (ys, zs) = jax.lax.scan(\n            lambda carry, x: self._x_step(carry, x), None, xs\n" in code
    assert "ys_step = x * 2.0" in code
    assert "return (None, (ys_step, zs_step))" in code


# -- the examples ----------------------------------------------------------------------------------


def test_resnet_stages_of_two_blocks_match_the_handwritten_twin():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from handwritten import resnet

    spec = eqxdsl.load(EXAMPLES / "resnet.eqx")
    kwargs = dict(classes=3, widths=(4, 6, 8), strides=(1, 2, 2), depth=2)
    ours, _ = eqx.nn.make_with_state(spec.ResNet)(**kwargs, key=jax.random.key(0))
    theirs, _ = eqx.nn.make_with_state(resnet.ResNet)(**kwargs, key=jax.random.key(0))
    leaves = jax.tree_util.tree_leaves_with_path(eqx.filter(ours, eqx.is_array))
    expected = dict(jax.tree_util.tree_leaves_with_path(eqx.filter(theirs, eqx.is_array)))
    assert len(leaves) == len(expected)
    for path, leaf in leaves:
        np.testing.assert_array_equal(leaf, expected[path])
    assert [len(stage.blocks) for stage in ours.stages] == [2, 2, 2]
    assert ours.stages[1].blocks[0].proj is not None and ours.stages[1].blocks[1].proj is None


def test_resnet_18_is_at_most_thirty_spec_lines():
    lines = [line.strip() for line in (EXAMPLES / "resnet.eqx").read_text().splitlines()]
    assert len([line for line in lines if line and not line.startswith("#")]) <= 30


# -- diagnostics ---------------------------------------------------------------------------------


ONE_INPUT = "input x: f32[4]\n"
LOOP = "for l in s:\n    x = l(x)\nreturn x"
ROWS = "input x: f32[3, 4]\n"

MISUSES = {
    "names for values": (
        model("w: tuple[int, ...] = (1, 2)", ONE_INPUT + "s = repeat a, b in w: Linear(out_features=a)", LOOP),
        3, 24, "2 loop names for 1 value per copy", "zip(x, y)",
    ),
    "zip of unequal tuples": (
        model("", ONE_INPUT + "s = repeat a, b in zip((1, 2), (3, 4, 5)): Linear(out_features=a)", LOOP),
        3, 36, "zip's arguments differ in length: (1, 2) has 2, (3, 4, 5) has 3", "drop the extra items",
    ),
    "loop name of the model": (
        model("w: int = 2", ONE_INPUT + "s = repeat w in range(3): Linear(out_features=4)", LOOP),
        3, 16, "the loop name 'w' is already a name of the model", "choose another name",
    ),
    "scan with per-copy values": (
        model("", ONE_INPUT + "s = repeat i in range(3) scan: Linear(out_features=4)", LOOP),
        3, 5, "cannot take per-copy values (i)", "drop `scan`",
    ),
    "range from a start": (
        model("", ONE_INPUT + "s = repeat i in range(1, 3): Linear(out_features=4)", LOOP),
        3, 21, "range takes one count here: range(n)", "numbered from 0",
    ),
    "tuple without a default": (
        model("w: tuple[int, ...]", ONE_INPUT + "s = repeat a in w: Linear(out_features=a)", LOOP),
        3, 21, "so it needs to know its length", "give w a default",
    ),
    "count without a default": (
        model("n: int", ONE_INPUT + "s = repeat i in range(n): Linear(out_features=4)", LOOP),
        3, 21, "the compiler checks each copy of range(n)", "give n a default",
    ),
    "not a sequence": (
        model("", ONE_INPUT + "s = repeat i in 2.5: Linear(out_features=4)", LOOP),
        3, 21, "not float 2.5", "repeat d in (1, 2, 4):",
    ),
    "sizes no rule gives": (
        model("", ONE_INPUT + "s = repeat i in range(3): Linear(out_features=4)", "for l in s:\n    x = concatenate([l(x), x])\nreturn x"),
        3, 5, "the copies of s infer in_features as 4, 8, 12", "give in_features explicitly",
    ),
    "zip over a scanned stack": (
        model("w: tuple[int, ...] = (1, 2)", ONE_INPUT + "s = repeat 2 scan: Linear(out_features=4)", "for l, a in zip(s, w):\n    x = l(x)\nreturn x"),
        6, 25, "s is a scanned stack", "drop `scan`",
    ),
    "index out of range": (
        model("", ONE_INPUT + "s = repeat 2: Linear(out_features=4)", "return s[2](x)"),
        6, 18, "index 2 is out of range for s, which has 2 copies", "s[0] to s[1]",
    ),
    "index into a scanned stack": (
        model("", ONE_INPUT + "s = repeat 2 scan: Linear(out_features=4)", "return s[0](x)"),
        6, 16, "its copies are not separate layers", "drop `scan`",
    ),
    "calling a slice": (
        model("", ONE_INPUT + "s = repeat 2: Linear(out_features=4)", "return s[0:1](x)"),
        6, 16, "call one copy of s by its index", "for layer in s[1:]:",
    ),
    "empty slice": (
        model("", ONE_INPUT + "s = repeat 2: Linear(out_features=4)", "for l in s[2:]:\n    x = l(x)\nreturn x"),
        6, 18, "this slice of s holds no copy", "at least one copy",
    ),
    "unpacking a stack": (
        model("", ONE_INPUT + "s = repeat 2: Linear(out_features=4)", "for a, b in s:\n    x = a(x)\nreturn x"),
        6, 21, "2 loop names for 1 value per step", "for a, b in zip(x, y):",
    ),
    "output depends on an open count": (
        model("n: int = 2", ONE_INPUT + "s = repeat i in range(n): Linear(out_features=4 + i)", LOOP),
        6, 9, "each copy changes x (f32[4], then f32[5]), so what the loop gives depends on the count n", "run the loop over a tuple",
    ),
    "copies change shape, count unknown": (
        model("n: int", "input x: f32[1, 16]\ns = repeat n: Conv1d(out_channels=4, kernel_size=2, stride=2)", LOOP),
        6, 9, "and its count n is not known in the spec", "give the count a default",
    ),
    "enumerate of two": (
        model("", ONE_INPUT + "s = repeat i, j in enumerate((1, 2), (3, 4)): Linear(out_features=4)", LOOP),
        3, 24, "enumerate takes one tuple or stack", "zip(a, b)",
    ),
    "append outside a loop over an array": (
        model("", ONE_INPUT, "ys = []\nys.append(x)\nreturn x"),
        6, 9, "ys.append(...) collects the steps of a loop over an array, but it is not in one", "loops over stacks",
    ),
    "append to an array": (
        model("", ROWS, "y = x[0]\nfor r in x:\n    y.append(r)\nreturn y"),
        7, 13, "y is f32[4], not a list made by `y = []` before the loop", "write `y = []`",
    ),
    "append twice": (
        model("", ROWS, "ys = []\nfor r in x:\n    ys.append(r)\n    ys.append(r)\nreturn ys"),
        8, 13, "ys is appended to twice in one step", "lists of their own",
    ),
    "append under an if": (
        model("f: bool = True", ROWS, "ys = []\nfor r in x:\n    if f:\n        ys.append(r)\n    else:\n        ys.append(-r)\nreturn ys"),
        8, 17, "append must stand at the top of the loop's body", "a if flag else b",
    ),
    "append a build-time value": (
        model("", ROWS, "ys = []\nfor r in x:\n    ys.append(2)\nreturn ys"),
        7, 23, "a loop's outputs are arrays, not int 2", "same at every step",
    ),
    "a call as a statement": (
        model("", ONE_INPUT, "x.mean(0)\nreturn x"),
        5, 9, "a call alone is not a statement", "outputs.append(value)",
    ),
    "append of two values": (
        model("", ROWS, "ys = []\nfor r in x:\n    ys.append(r, r)\nreturn ys"),
        7, 13, "append takes one value", "one value per step",
    ),
    "tuple of the wrong length": (
        "model B(k: tuple[int, int] = (1, 1)):\n    input x: f32[4]\n    l = Linear(out_features=4)\n\n    forward:\n        return l(x)\n\n"
        + model("", ONE_INPUT + "b = B(k=(1, 2, 3))", "return b(x)"),
        10, 13, "argument k of B is a tuple[int, int] (2 ints), not a tuple of 3", "tuple[int, ...]",
    ),
    "len of a number": (
        model("", ONE_INPUT + "n = len(2)", "return x"),
        3, 13, "len takes a tuple, a stack or an array, not int 2", "len(blocks)",
    ),
}


@pytest.mark.parametrize("name", MISUSES)
def test_each_misuse_is_a_located_error_with_a_hint(name):
    source, line, column, message, hint = MISUSES[name]
    diagnostic = error(source)
    assert (diagnostic.line, diagnostic.column) == (line, column)
    assert message in diagnostic.message
    assert hint in diagnostic.hint


def test_the_transformer_classifier_ignores_its_padding():
    spec = eqxdsl.load(EXAMPLES / "transformer_classifier.eqx")
    net = spec.TransformerClassifier(vocab=12, ctx=8, dim=8, heads=2, depth=2, classes=3, key=jax.random.key(0))
    tokens = jnp.array([3, 7, 5])
    padded = jnp.array([3, 7, 5, 0, 0])
    np.testing.assert_allclose(net(tokens, inference=True), net(padded, inference=True), rtol=1e-5, atol=1e-6)
    assert not np.allclose(net(tokens, inference=True), net(jnp.array([3, 7, 5, 4, 4]), inference=True))
