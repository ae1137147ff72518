"""The summary of a spec, computed without jax, against the built model and its traced summary."""

from __future__ import annotations

import json
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

import eqxdsl.runtime as eqx
from eqxdsl.cli import main
from eqxdsl.compiler import driver
from eqxdsl.compiler.dims import Dim
from eqxdsl.summarise import from_json, report, spec_report

from .cases import CASES, EXAMPLES, build

# The input sizes each case's inputs give, and how many examples its call runs
# at once (BatchNorm's blocks run on a batch: the spec summary counts one example).
INPUT_SIZES = {
    "mlp": ({}, 1),
    "digits": ({}, 1),
    "resnet_block_projected": ({"H": 8, "W": 8}, 4),
    "resnet_block_identity": ({"H": 6, "W": 6}, 4),
    "gru_classifier": ({"T": 1}, 1),
    "gpt": ({"T": 16}, 1),
    "vae": ({}, 1),
}


def _spec_summary(name: str):
    case = CASES[name]
    sizes = {key: value for key, value in case.kwargs.items() if isinstance(value, int) and not isinstance(value, bool)}
    return spec_report(driver.check_file(EXAMPLES / f"{case.spec}.eqx"), case.model, {**sizes, **INPUT_SIZES[name][0]})


@pytest.mark.parametrize("name", CASES)
def test_totals_equal_the_built_model_and_its_traced_summary(name: str) -> None:
    case = CASES[name]
    model, inputs = build(case, "generated")
    traced = report(model, *inputs, call=case.call, **case.call_kwargs).totals
    spec = _spec_summary(name).totals
    leaves = sum(leaf.size for leaf in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)))
    assert spec.params == traced.params == leaves
    assert spec.param_bytes == traced.param_bytes
    assert spec.buffers == traced.buffers
    assert spec.buffer_bytes == traced.buffer_bytes
    assert spec.macs * INPUT_SIZES[name][1] == traced.macs


@pytest.mark.parametrize("name", ["gpt", "digits", "vae"])
def test_every_traced_layer_has_a_spec_row_with_its_counts(name: str) -> None:
    case = CASES[name]
    model, inputs = build(case, "generated")
    traced = {row.path: row for row in report(model, *inputs, call=case.call, **case.call_kwargs).rows}
    spec = {row.path: row for row in _spec_summary(name).rows}
    for path, row in traced.items():
        if path not in spec:
            # A table layer built of layers (attention's projections) is one row of the spec summary.
            parent = path.rpartition(".")[0]
            assert spec[parent].type == "MultiheadAttention", path
            continue
        assert spec[path].counts.params == row.counts.params, path
        assert spec[path].counts.macs == row.counts.macs, path
        assert spec[path].outputs[0].shape == row.outputs[0].shape, path


def test_gpt_formulas_hold_at_other_sizes() -> None:
    checked = driver.check_file(EXAMPLES / "gpt.eqx")
    at_default = spec_report(checked, "GPT", {"T": 16})
    blocks = next(row for row in at_default.rows if row.path == "blocks")
    assert blocks.type == "Block ×4"
    assert blocks.counts.params_formula == "4·depth·dim·heads·(dim//heads) + 8·depth·dim² + 9·depth·dim"
    sizes = {"dim": 128, "heads": 8, "depth": 6, "T": 1024, "vocab": 1000, "ctx": 1024}
    bigger = spec_report(checked, "GPT", sizes).totals
    names = {name: Dim.const(value) for name, value in sizes.items()}
    for formula, number in ((bigger.params_formula, bigger.params), (bigger.macs_formula, bigger.macs)):
        value = eval(formula.replace("·", "*").replace("²", "**2"), {}, {k: v.value for k, v in names.items()})
        assert value == number


def test_unset_sizes_leave_formulas_only() -> None:
    summary = spec_report(driver.check_file(EXAMPLES / "gpt.eqx"), "GPT")
    assert summary.totals.macs is None and summary.totals.params == 209_280
    assert summary.totals.macs_formula.startswith("4·T·depth")
    assert any("T not set" in note for note in summary.notes)
    embed = next(row for row in summary.rows if row.path == "embed")
    assert (embed.outputs[0].shape, embed.outputs[0].shape_symbolic, embed.source) == (None, "T×dim", "gpt.eqx:36")


def test_the_command_never_imports_jax() -> None:
    code = (
        "import sys\nfrom eqxdsl.cli import main\n"
        "status = main(['summary', 'examples/gpt.eqx', '--set', 'T=8', '--format', 'json'])\n"
        "assert 'jax' not in sys.modules, 'jax was imported'\nsys.exit(status)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=EXAMPLES.parent)
    assert result.returncode == 0, result.stderr
    assert from_json(result.stdout).totals.macs == spec_report(
        driver.check_file(EXAMPLES / "gpt.eqx"), "GPT", {"T": 8}
    ).totals.macs


def test_the_command_formats_and_depth(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", str(EXAMPLES / "gpt.eqx"), "--set", "T=16", "--depth", "1", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| Layer | Type | Output | Params | Params formula |")
    assert "`blocks`" in out and "`blocks.attn`" not in out
    assert main(["summary", str(EXAMPLES / "gpt.eqx"), "Block", "--set", "T=4", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == "Block"


@pytest.mark.parametrize(
    ("arguments", "status", "message"),
    [
        (["--set", "width=3"], 1, "GPT has no size 'width'; its sizes: vocab, ctx, dim, heads, depth, T"),
        (["--set", "T"], 2, "--set takes NAME=INTEGER"),
        (["Nope"], 1, "has no model 'Nope'; its models: Block, GPT"),
        (["--depth", "-1"], 2, "--depth must be at least 0"),
    ],
)
def test_the_command_reports_bad_input(capsys, arguments: list[str], status: int, message: str) -> None:
    assert main(["summary", str(EXAMPLES / "gpt.eqx"), *arguments]) == status
    assert message in capsys.readouterr().err


def test_a_missing_spec_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "no/such.eqx"]) == 2
    assert "no such .eqx file: no/such.eqx" in capsys.readouterr().err


def _table_args(name: str, **given: object) -> dict:
    from eqxdsl.compiler.library.layers import LAYERS

    values = {key: Dim.const(value) if isinstance(value, int) and not isinstance(value, bool) else value for key, value in given.items()}
    return LAYERS[name].with_defaults(values)


@pytest.mark.parametrize(
    ("name", "given", "build_layer"),
    [
        ("GRUCell", dict(input_size=5, hidden_size=7), lambda k: eqx.nn.GRUCell(5, 7, key=k)),
        ("LSTMCell", dict(input_size=5, hidden_size=7, use_bias=False), lambda k: eqx.nn.LSTMCell(5, 7, use_bias=False, key=k)),
        ("GroupNorm", dict(groups=2, channels=6), lambda k: eqx.nn.GroupNorm(2, 6)),
        ("PReLU", {}, lambda k: eqx.nn.PReLU()),
        ("Conv1d", dict(in_channels=4, out_channels=6, kernel_size=3, groups=2), lambda k: eqx.nn.Conv1d(4, 6, 3, groups=2, key=k)),
        ("MLP", dict(in_size=3, out_size=2, width_size=5, depth=2), lambda k: eqx.nn.MLP(3, 2, 5, 2, key=k)),
        ("LayerNorm", dict(shape=(Dim.const(3), Dim.const(4)), use_bias=False), lambda k: eqx.nn.LayerNorm((3, 4), use_bias=False)),
    ],
)
def test_cost_rules_count_what_the_runtime_layer_holds(name: str, given: dict, build_layer) -> None:
    from eqxdsl.compiler.library.layers import COSTS

    layer = build_layer(jax.random.key(0))
    leaves = sum(leaf.size for leaf in jax.tree_util.tree_leaves(eqx.filter(layer, eqx.is_inexact_array)))
    held = COSTS[name].holds(_table_args(name, **given))
    assert held.params.value == leaves
    assert held.param_bytes.value == 4 * leaves


def test_batch_norm_holds_its_running_statistics_as_buffers() -> None:
    from eqxdsl.compiler.library.layers import COSTS

    model, state = eqx.nn.make_with_state(eqx.nn.BatchNorm)(6, "batch", mode="batch")
    held = COSTS["BatchNorm"].holds(_table_args("BatchNorm", input_size=6, axis_name="batch"))
    assert held.params.value == sum(leaf.size for leaf in jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)))
    arrays = jax.tree_util.tree_leaves(state)
    assert held.buffers.value == sum(leaf.size for leaf in arrays)
    assert held.buffer_bytes.value == sum(leaf.nbytes for leaf in arrays)


CONVOLUTIONS = [
    (name, {"kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dilation, **extra})
    for name, extras in (
        ("Conv1d", ({}, {"padding_mode": "REFLECT"}, {"padding_mode": "CIRCULAR"}, {"groups": 2})),
        ("ConvTranspose1d", ({}, {"output_padding": 1}, {"groups": 2})),
    )
    for kernel, stride, dilation in ((1, 1, 1), (3, 1, 1), (3, 2, 1), (3, 3, 2), (4, 2, 1))
    for padding in (0, 2, ((1, 3),), "SAME", "SAME_LOWER", "VALID")
    for extra in extras
    if extra.get("output_padding", 0) < stride
] + [
    ("ConvTranspose1d", {"kernel_size": 3, "stride": 2, "padding": padding, "padding_mode": "CIRCULAR"})
    for padding in ("SAME", "SAME_LOWER")
] + [
    ("Conv2d", {"kernel_size": (3, 2), "stride": (2, 1), "padding": "SAME"}),
    ("ConvTranspose2d", {"kernel_size": 3, "stride": (2, 3), "padding": ((1, 0), (2, 2)), "output_padding": (1, 0)}),
]


@pytest.mark.parametrize(("name", "args"), CONVOLUTIONS, ids=lambda value: value if isinstance(value, str) else repr(value))
def test_convolution_macs_equal_the_traced_count(name: str, args: dict) -> None:
    from eqxdsl.compiler.dims import TensorType
    from eqxdsl.compiler.library.layers import COSTS
    from eqxdsl.summarise._macs import count_macs

    spatial = int(name[-2])
    shape, symbolic = (4, *(7,) * spatial), (4, *(Dim.symbol(f"n{axis}") for axis in range(spatial)))
    layer = getattr(eqx.nn, name)(4, 6, **args, key=jax.random.key(0))
    traced = sum(count_macs(jax.make_jaxpr(layer)(jnp.ones(shape)), lambda stack: None).by_scope.values())
    table_args = _table_args(name, in_channels=4, out_channels=6, **{k: _table_value(v) for k, v in args.items()})
    assert COSTS[name].macs(table_args, (TensorType.of("f32", shape),)).value == traced
    formula = COSTS[name].macs(table_args, (TensorType.of("f32", symbolic),))
    window_stride = 1 if "Transpose" in name else args["stride"]
    if window_stride in (1, (1,) * spatial):
        assert formula.substitute({f"n{axis}": 7 for axis in range(spatial)}).value == traced
    else:
        assert formula is None


def _table_value(value: object) -> object:
    if isinstance(value, tuple):
        return tuple(_table_value(item) for item in value)
    return Dim.const(value) if isinstance(value, int) else value
