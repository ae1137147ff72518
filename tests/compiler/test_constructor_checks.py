"""What a layer's runtime constructor refuses is a located compile error, whether or not a method calls the layer."""

import pytest

from eqxdsl.compiler import compile_source
from eqxdsl.compiler.diagnostics import CompileError


def _diagnostics(source: str):
    with pytest.raises(CompileError) as caught:
        compile_source(source, "spec.eqx")
    return caught.value.diagnostics


def _spec(fields: str, hypers: str = "", asserts: str = "") -> str:
    return (
        f"model M({hypers}):\n{asserts}{fields}\n"
        "    lin = Linear(3, 3)\n\n    forward(x: f32[3]):\n        return lin(x)\n"
    )


@pytest.mark.parametrize(
    ("field", "at", "message"),
    [
        ("    conv = Conv1d(6, 6, kernel_size=3, groups=4)", "4)", "in_channels (6) is not divisible by groups (4)"),
        ("    conv = Conv1d(4, 6, kernel_size=3, groups=4)", "4)", "out_channels (6) is not divisible by groups (4)"),
        (
            '    up = ConvTranspose2d(4, 2, kernel_size=3, stride=2, padding_mode="REFLECT")',
            '"REFLECT"',
            "a transposed convolution pads with 'ZEROS' or 'CIRCULAR', not 'REFLECT'",
        ),
        (
            "    up = ConvTranspose2d(2, 2, kernel_size=3, stride=2, output_padding=2)",
            "2)",
            "output_padding (2) must be smaller than the stride (2) on every axis",
        ),
        (
            '    up = ConvTranspose1d(2, 2, kernel_size=3, padding_mode="CIRCULAR", padding=1)',
            '"CIRCULAR"',
            "padding_mode 'CIRCULAR' needs padding 'SAME' or 'SAME_LOWER' and no output_padding",
        ),
        ("    norm = GroupNorm(4, 6)", "4, 6", "channels (6) is not divisible by groups (4)"),
        (
            '    wn = WeightNorm(Linear(3, 3, use_bias=False), weight_name="bias")',
            '"bias"',
            "WeightNorm: the wrapped Linear holds no array 'bias' (its arrays: 'weight')",
        ),
        ("    wn = WeightNorm(Linear(3, 3), axis=2)", "2)", "axis 2 is outside the wrapped Linear's weight f32[3, 3]"),
        (
            '    sn = SpectralNorm(LayerNorm(3), weight_name="weight")',
            "LayerNorm",
            "the wrapped LayerNorm's weight is f32[3], of rank 1; SpectralNorm needs rank 2 or more",
        ),
        ("    wn = WeightNorm(Conv1d(3, 4, 3, groups=2))", "Conv1d", "in_channels (3) is not divisible by groups (2)"),
        ("    drop = Dropout(p=1.0)", "1.0", "p is the probability of dropping each element and must be at least 0 and below 1, got 1.0"),
        ("    drop = Dropout(-0.5)", "-0.5", "must be at least 0 and below 1, got -0.5"),
        ("    attn = MultiheadAttention(8, 4)", "8", "num_heads (8) is more than query_size (4), and with more heads than features none are left per head"),
        ("    attn = MultiheadAttention(2, 4, dropout_p=1.0)", "1.0", "dropout_p is the probability of dropping each attention weight"),
    ],
)
def test_an_uncalled_layer_the_runtime_would_refuse(field, at, message):
    # The generated __init__ builds every field: these compiled, then failed when the model was built.
    (diagnostic,) = _diagnostics(_spec(field))
    assert (diagnostic.line, diagnostic.column) == (2, field.rindex(at) + 1)
    assert message in diagnostic.message


def test_a_called_layer_reports_at_the_argument_once():
    field = "    conv = Conv1d(out_channels=6, kernel_size=3, groups=4)"
    (diagnostic,) = _diagnostics(f"model M():\n{field}\n\n    forward(x: f32[6, 9]):\n        return conv(x)\n")
    assert (diagnostic.line, diagnostic.column) == (2, field.rindex("4)") + 1)
    assert "in_channels (6) is not divisible by groups (4)" in diagnostic.message


def test_symbolic_groups_must_be_proven_to_divide():
    field = "    conv = Conv1d(c, c, kernel_size=3, groups=g)"
    (diagnostic,) = _diagnostics(_spec(field, "c: int = 6, g: int = 3"))
    assert "in_channels (c) is not proven divisible by groups (g)" in diagnostic.message
    assert diagnostic.hint == "state it in the model: assert c % g == 0"
    compile_source(_spec(field, "c: int = 6, g: int = 3", "    assert c % g == 0\n"), "spec.eqx")


def test_a_symbolic_output_padding_must_be_proven_below_the_stride():
    field = "    up = ConvTranspose1d(2, 2, kernel_size=3, stride=s, output_padding=1)"
    (diagnostic,) = _diagnostics(_spec(field, "s: int = 2"))
    assert "output_padding (1) is not proven smaller than the stride (s)" in diagnostic.message
    assert diagnostic.hint == "state it in the model: assert 1 < s"
    compile_source(_spec(field, "s: int = 2", "    assert 1 < s\n"), "spec.eqx")


def test_dropout_keeps_what_it_may_drop():
    # At p=1 every element is dropped and every gradient is NaN.
    compile_source(_spec("    drop = Dropout(p=0.0)"), "spec.eqx")
    compile_source(_spec("    drop = Dropout(0.99)"), "spec.eqx")


def test_group_norm_without_channels_needs_a_call_or_no_affine():
    (diagnostic,) = _diagnostics(_spec("    norm = GroupNorm(3)"))
    assert "channelwise_affine needs the channel count" in diagnostic.message
    compile_source(_spec("    norm = GroupNorm(3, channelwise_affine=False)"), "spec.eqx")
    called = "model M():\n    norm = GroupNorm(3)\n\n    forward(x: f32[6, 4]):\n        return norm(x)\n"
    compile_source(called, "spec.eqx")


INNER = """model Stage(out: int, pad: int = 1, depth: int = 1, hidden: int = 1):
    convs = repeat i in range(depth): Conv1d(out, out, kernel_size=2 * pad + 1, padding=pad)
    mlp = MLP(out, out, width_size=4, depth=hidden)

    forward(x: f32[out, L]):
        for conv in convs:
            x = conv(x)
        return map(mlp, x.T)

"""


@pytest.mark.parametrize(
    ("use", "at", "message"),
    [
        ("Stage(0)", "0", "argument out of Stage is 0, but it must be at least 1"),
        ("Stage(4, depth=0)", "0", "argument depth of Stage is 0, but it must be at least 1"),
        (
            "repeat w in widths: Stage(w)",
            "w)",
            "argument out of Stage is 0 with the hyperparameters' defaults, but it must be at least 1",
        ),
    ],
)
def test_a_model_used_as_a_layer_gets_the_sizes_its_layers_need(use, at, message):
    # Stage's shapes were checked with sizes of at least 1: a 0 would build, or run, something else.
    line = f"    stage = {use}"
    source = f"{INNER}model Net(widths: tuple[int, ...] = (4, 0)):\n{line}\n\n    forward(x: f32[2, 9]):\n        return x\n"
    (diagnostic,) = _diagnostics(source)
    assert (diagnostic.line, diagnostic.column) == (11, line.rindex(at) + 1)
    assert message in diagnostic.message


def test_a_model_hyperparameter_that_is_no_size_may_be_zero():
    # Padding and an MLP's depth may be 0: they are not sizes.
    source = f"{INNER}model Net():\n    stage = Stage(4, pad=0, hidden=0)\n\n    forward(x: f32[4, 9]):\n        return stage(x)\n"
    compile_source(source, "spec.eqx")


def test_symbolic_sizes_taken_on_trust_are_checked_at_the_defaults():
    # heads <= dim is not asked of the spec, but __init__ builds the layer with the defaults.
    source = "model M(heads: int = 16, dim: int = 8):\n    attn = MultiheadAttention(heads, dim)\n\n    forward(x: f32[5, dim]):\n        return attn(x, x, x)\n"
    (diagnostic,) = _diagnostics(source)
    assert (diagnostic.line, diagnostic.column) == (2, 31)
    assert diagnostic.message.startswith("attn, with the hyperparameters' defaults (dim = 8, heads = 16): ")
    assert "num_heads (16) is more than query_size (8)" in diagnostic.message
    compile_source(source.replace("heads: int = 16", "heads: int = 4"), "spec.eqx")


def test_an_assert_that_fails_at_the_defaults_is_the_one_error():
    field = "    conv = Conv1d(c, c, kernel_size=3, groups=g)"
    (diagnostic,) = _diagnostics(_spec(field, "c: int = 6, g: int = 4", "    assert c % g == 0\n"))
    assert diagnostic.message == "c % g == 0 does not hold for the defaults (c = 6, g = 4)"
