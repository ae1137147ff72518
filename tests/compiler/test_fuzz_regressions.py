"""Specs the robustness fuzzer found: each was built wrongly or crashed the compiler.

Each is compiled here; a valid one is built at other sizes than its defaults and
run, and an invalid one must be one located error, never an internal error.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

import eqxdsl
from eqxdsl.compiler.diagnostics import CompileError
from tests.robustness._harness import check_generated


def model(header: str, items: str, body: str) -> str:
    indented = "".join(f"    {line}\n" for line in items.strip("\n").splitlines())
    steps = "".join(f"        {line}\n" for line in body.strip("\n").splitlines())
    return f"model Net({header}):\n{indented}\n    forward:\n{steps}"


def error(source: str):
    """The one diagnostic of compiling `source` (which must fail with exactly one)."""
    with pytest.raises(CompileError) as caught:
        eqxdsl.compile_source(source, "spec.eqx")
    (diagnostic,) = caught.value.diagnostics
    return diagnostic


ONE_COPY_BY_DEFAULT = model(
    "h1: int = 5, h2: int = 1, h3: int = 4",
    "input x: f32[2 * h1]\nf4 = repeat h2: Linear(out_features=2 * h3)",
    "for layer in f4:\n    x = sigmoid(layer(x))\nreturn x",
)


def test_a_stack_of_one_copy_by_default_infers_the_later_copies_sizes(tmp_path: Path):
    assert "eqx.nn.Linear(2 * h1 if i == 0 else 2 * h3, 2 * h3, key=k)" in eqxdsl.compile_source(ONE_COPY_BY_DEFAULT, "spec.eqx")
    path = tmp_path / "spec.eqx"
    path.write_text(ONE_COPY_BY_DEFAULT)
    net = eqxdsl.load(path).Net(h1=3, h2=2, h3=2, key=jax.random.PRNGKey(0))
    assert [layer.in_features for layer in net.f4] == [6, 4]
    assert net(jnp.ones(6)).shape == (4,)


def test_a_stack_of_one_copy_by_default_keeps_its_index_and_slice_bounds():
    items = "input x: f32[4]\nf4 = repeat h2: Linear(out_features=4)"
    index = error(model("h2: int = 1", items, "return f4[1](x)"))
    assert "index 1 is out of range for f4, which has 1 copies" in index.message
    assert (index.line, index.column) == (6, 19)
    sliced = error(model("h2: int = 1", items, "for layer in f4[1:]:\n    x = layer(x)\nreturn x"))
    assert "this slice of f4 holds no copy" in sliced.message
    assert (sliced.line, sliced.column) == (6, 22)
    # Calling the one copy of the defaults alone still infers its size.
    assert "eqx.nn.Linear(4, 4, key=k)" in eqxdsl.compile_source(model("h2: int = 1", items, "return f4[-1](x)"), "spec.eqx")


@pytest.mark.parametrize(
    ("items", "body", "message", "line", "column"),
    [
        ("input x: f32[3]\nf4 = repeat 10**12: Linear(out_features=4)", "for layer in f4:\n    x = layer(x)\nreturn x",
         "the compiler checks each copy of f4 one by one, and 1000000000000 copies is more than the 1000 it walks", 3, 5),
        ("input x: f32[3]\nf4 = repeat i in range(10**12): Linear(out_features=4 + i)", "for layer in f4:\n    x = layer(x)\nreturn x",
         "each copy of range(1000000000000) one by one", 3, 22),
        ("input x: f32[4]\nf4 = repeat 3: Linear(out_features=4)", "for layer in f4[::0]:\n    x = layer(x)\nreturn x",
         "a slice's step cannot be zero", 6, 27),
        ("input x: f32[h1 // 0]\nf4 = Linear(out_features=3)", "return f4(x)", "division by zero", 2, 18),
        ("input x: f32[h1]\nf4 = Linear(out_features=h1 // h2)", "return f4(x)",
         "argument out_features of Linear divides by zero with the hyperparameters' defaults", 3, 30),
        ("input x: f32[h1]\nf4 = repeat i in range(h1 // h2): Linear(out_features=3)", "for layer in f4:\n    x = layer(x)\nreturn x",
         "the count of range(h1//h2) (h1//h2) divides by zero with the hyperparameters' defaults", 3, 22),
        ("input x: f32[h1]\nf4 = Dropout(p=10**400)", "return f4(x)", "argument p of Dropout must be a number", 3, 20),
    ],
)
def test_what_crashed_the_compiler_is_a_located_error(items, body, message, line, column):
    diagnostic = error(model("h1: int = 4, h2: int = 0", items, body))
    assert message in diagnostic.message
    assert (diagnostic.line, diagnostic.column) == (line, column)


def test_the_robustness_harness_accepts_the_sibling_import_helper(tmp_path: Path):
    (tmp_path / "block.eqx").write_text(model("n: int = 4", "input x: f32[n]\nlin = Linear(out_features=n)", "return lin(x)").replace("Net", "Block"))
    main = 'from "block.eqx" import Block\n' + model("n: int = 4", "input x: f32[n]\nb = Block(n)", "return b(x)")
    (tmp_path / "main.eqx").write_text(main)
    source = eqxdsl.compile_source(main, str(tmp_path / "main.eqx"), target="equinox")
    assert "def _import_beside(" in source
    check_generated(source, target="equinox")
    tampered = source.replace("folder = Path(__file__).resolve().parent", "folder = Path('/')")
    with pytest.raises(AssertionError, match="_import_beside differs"):
        check_generated(tampered, target="equinox")


def test_a_model_whose_output_size_divides_by_a_zero_argument_is_a_located_error():
    source = (
        "model Down(stride: int = 0):\n"
        "    input x: f32[C, H, W]\n"
        "    conv = Conv2d(out_channels=4, kernel_size=3, stride=stride, padding=1)\n\n"
        "    forward:\n"
        "        return conv(x)\n\n"
        "model Net():\n"
        "    input x: f32[3, 8, 8]\n"
        "    down = Down()\n\n"
        "    forward:\n"
        "        return x -> down\n"
    )
    diagnostic = error(source)
    assert "Down's output size divides by zero with these arguments (stride = 0)" in diagnostic.message
    assert (diagnostic.line, diagnostic.column) == (13, 21)


EMPTY_BY_DEFAULT = model(
    "width: int = 4, depth: int = 0",
    "input x: f32[width]\nhidden = repeat depth: Linear(width, width)",
    "for layer in hidden:\n    x = relu(layer(x))\nreturn x",
)


def test_a_loop_over_a_stack_empty_by_default_compiles_and_runs_at_other_depths(tmp_path: Path):
    path = tmp_path / "spec.eqx"
    path.write_text(EMPTY_BY_DEFAULT)
    loaded = eqxdsl.load(path)
    assert loaded.Net(key=jax.random.PRNGKey(0))(jnp.ones(4)).shape == (4,)
    net = loaded.Net(depth=2, key=jax.random.PRNGKey(0))
    assert len(net.hidden) == 2 and net(jnp.ones(4)).shape == (4,)


def test_an_assert_that_divides_by_zero_at_the_defaults_is_one_located_error():
    diagnostic = error(model(
        "dim: int = 4, heads: int = 0",
        "assert dim % heads == 0\nhead_dim = dim // heads\ninput x: f32[T, dim]",
        "return reshape(x, (T, heads, head_dim))",
    ))
    assert diagnostic.message == "dim % heads == 0 divides by zero with the hyperparameters' defaults (dim = 4, heads = 0)"
    assert (diagnostic.line, diagnostic.column) == (2, 12)
