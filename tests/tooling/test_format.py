"""`format_source`: the canonical layout, its safety (same tree, same comments) and its stability.

Properties run over every spec of the repository, over the robustness suite's
generated and mutated specs, over specs whose layout was scrambled (they must
format exactly as the originals do) and over specs with comments strewn about.
"""

from __future__ import annotations

import io
import re
import tokenize

import pytest
from hypothesis import given
from hypothesis import strategies as st
from robustness._profiles import examples
from robustness._specgen import EXAMPLES, mutated_specs, valid_specs

from eqxdsl.format import DEFAULT_LINE_WIDTH, UnsafeFormatError, _format, format_source
from eqxdsl.format._source import SourceMap
from eqxdsl.tooling.frontend import CompileError

from ._specs import REPO, kept_formatted, meaning, repository_specs


def comments(text: str) -> list[str]:
    """The comments of a spec, found by Python's own tokenizer (the languages share strings and comments)."""
    tokens = tokenize.generate_tokens(io.StringIO(text.removeprefix("\ufeff")).readline)
    return sorted(token.string.rstrip() for token in tokens if token.type == tokenize.COMMENT)


def assert_safe_and_stable(text: str, width: int = DEFAULT_LINE_WIDTH) -> str:
    formatted = format_source(text, line_width=width)
    assert meaning(formatted) == meaning(text)
    assert format_source(formatted, line_width=width) == formatted
    return formatted


# ---- the repository's specs ---------------------------------------------------------------


@pytest.mark.parametrize("spec", repository_specs(), ids=lambda p: str(p.relative_to(REPO)))
@pytest.mark.parametrize("width", [DEFAULT_LINE_WIDTH, 40, 8])
def test_every_repository_spec_keeps_its_meaning_and_is_stable(spec, width):
    text = spec.read_text(encoding="utf-8")
    formatted = assert_safe_and_stable(text, width)
    assert comments(formatted) == comments(text)


@pytest.mark.parametrize("spec", kept_formatted(), ids=lambda p: str(p.relative_to(REPO)))
def test_the_examples_are_kept_formatted(spec):
    text = spec.read_text(encoding="utf-8")
    assert format_source(text) == text, f"run `eqxdsl fmt {spec.relative_to(REPO)}`"


# ---- generated specs ----------------------------------------------------------------------


@examples(ci=40)
@given(valid_specs())
def test_generated_specs_keep_their_meaning_and_are_stable(spec):
    assert_safe_and_stable(spec.text)
    assert_safe_and_stable(spec.text, width=30)


@examples(ci=150)
@given(mutated_specs())
def test_mutated_specs_either_format_safely_or_report_a_syntax_error(case):
    _, text = case
    try:
        meaning(text)
    except (CompileError, RecursionError):
        with pytest.raises(CompileError):
            format_source(text)
        return
    assert_safe_and_stable(text)


@st.composite
def scrambled(draw, text: str) -> str:
    """`text` with extra spaces between tokens and line breaks inside brackets (lines with comments untouched)."""
    source = SourceMap(text)
    commented = {c.line for c in source.comments}
    out: list[str] = []
    position = depth = 0
    for token in source.tokens:
        gap = text[position : token.start]
        if out and "\n" not in gap and source.line_of(token.start) not in commented:
            if depth and out[-1] in ("(", "[", ",") and draw(st.booleans()):
                gap = "\n" + " " * draw(st.integers(0, 12))
            elif draw(st.booleans()):
                gap += " " * draw(st.integers(1, 3))
        out += [gap, token.text]
        depth += token.text in "([" and token.kind == "op"
        depth -= token.text in ")]" and token.kind == "op"
        position = token.end
    return "".join(out) + text[position:]


@st.composite
def commented(draw, text: str) -> str:
    """`text` with comments after some lines and on lines of their own, at any indentation."""
    lines = []
    for number, line in enumerate(text.split("\n")):
        if line.strip() and '"""' not in line and draw(st.integers(0, 3)) == 0:
            line += f"  # after {number}"
        lines.append(line)
        if draw(st.integers(0, 6)) == 0:
            lines.append(" " * draw(st.integers(0, 12)) + f"# alone {number}")
    return "\n".join(lines)


_SPEC_TEXTS = st.one_of(valid_specs().map(lambda spec: spec.text), st.sampled_from(sorted(EXAMPLES.values())))


@examples(ci=60)
@given(_SPEC_TEXTS.flatmap(lambda text: st.tuples(st.just(text), scrambled(text))))
def test_the_layout_does_not_depend_on_the_original_layout(case):
    text, messy = case
    assert format_source(messy) == format_source(text)


@examples(ci=60)
@given(_SPEC_TEXTS.flatmap(lambda text: scrambled(text).flatmap(commented)))
def test_comments_anywhere_are_kept_and_stable(text):
    try:
        meaning(text)
    except CompileError:
        return  # a comment made a line end inside an expression that cannot continue
    formatted = assert_safe_and_stable(text)
    assert comments(formatted) == comments(text)


# ---- the layout, rule by rule -------------------------------------------------------------


def fmt(text: str, width: int = DEFAULT_LINE_WIDTH) -> str:
    return assert_safe_and_stable(text, width)


HEADER = "model M(a: int = 1):\n    input x: f32[a]\n\n    forward:\n"


def body(*lines: str) -> str:
    return HEADER + "".join(f"        {line}\n" for line in lines)


def test_spacing_around_operators_arrows_colons_and_commas():
    messy = (
        "model  M( a:int=1,b : float=2.5e-3 ):\n"
        "  input x : f32[ a,a ]\n"
        "  w = param f32[a,a]=normal( stddev = 0.02 )\n"
        "  forward :\n"
        "    y=x->relu ->sum( axis=0 )\n"
        "    return-y**2+y[ 1 : 3 ]*w[a+1 :, ...]\n"
    )
    assert fmt(messy) == (
        "model M(a: int = 1, b: float = 2.5e-3):\n"
        "    input x: f32[a, a]\n"
        "    w = param f32[a, a] = normal(stddev=0.02)\n"
        "\n"
        "    forward:\n"
        "        y = x -> relu -> sum(axis=0)\n"
        "        return -y ** 2 + y[1:3] * w[a + 1 :, ...]\n"
    )


def test_long_lines_wrap_on_one_indented_line_then_one_item_per_line():
    call = "y = Linear(out_features=a, use_bias=False, dtype=f32, name='long')"
    assert fmt(body(call, "return y"), width=70).splitlines()[4:7] == [
        "        y = Linear(",
        '            out_features=a, use_bias=False, dtype=f32, name="long"',
        "        )",
    ]
    narrow = fmt(body(call, "return y"), width=40).splitlines()[4:10]
    assert narrow == [
        "        y = Linear(",
        "            out_features=a,",
        "            use_bias=False,",
        "            dtype=f32,",
        '            name="long",',
        "        )",
    ]


def test_a_long_expression_breaks_inside_parentheses_of_its_own_before_each_operator():
    text = fmt(body("return alpha_value -> first_layer -> second_layer -> third_layer"), width=40)
    assert text.endswith(
        "        return (\n"
        "            alpha_value\n"
        "            -> first_layer\n"
        "            -> second_layer\n"
        "            -> third_layer\n"
        "        )\n"
    )


def test_parentheses_are_kept_inside_expressions_added_where_needed_and_dropped_around_a_statement():
    text = fmt(body("y = (x + 1)", "z = (x -> relu) if a else x", "return (y * (z + 1)) - (y - z)"))
    assert text.endswith("        y = x + 1\n        z = (x -> relu) if a else x\n        return (y * (z + 1)) - (y - z)\n")


def test_tuples_keep_the_comma_that_makes_them_and_lose_the_parentheses_an_assignment_does_not_need():
    text = fmt(body("t = (x, x)", "u = (x,)", "k, = split(x, 1)", "return (t, u)"))
    assert "        t = x, x\n        u = (x,)\n        k, = split(x, 1)\n        return (t, u)\n" in text


def test_else_holding_only_an_if_becomes_elif():
    text = fmt(body("if a:", "    y = x", "else:", "    if a == 2:", "        y = x", "    else:", "        y = x", "return y"))
    assert "        if a:\n            y = x\n        elif a == 2:\n            y = x\n        else:\n            y = x\n" in text


def test_strings_take_double_quotes_when_that_needs_no_escape():
    text = fmt("model M():\n    '''Doc.'''\n    input x: f32[2]\n\n    forward:\n        return einsum('i->i', x), 'a\"b'\n")
    assert '    """Doc."""\n' in text
    assert "return einsum(\"i->i\", x), 'a\"b'\n" in text


def test_blank_lines_one_before_models_and_around_methods_none_at_block_starts():
    text = (
        'from "blocks.eqx" import Residual\n'
        "model A():\n\n\n"
        "    input x: f32[2]\n\n\n\n"
        "    w = Linear(out_features=2)\n"
        "    forward:\n"
        "        return w(x)\n"
        "    v = Linear(out_features=2)\n"
        "    def f(y: f32[2]) -> f32[2]:\n\n"
        "        return y\n"
        "# about B\n"
        "model B():\n"
        "    input x: f32[2]\n"
        "    forward:\n"
        "        return x\n"
    )
    assert fmt(text) == (
        'from "blocks.eqx" import Residual\n'
        "\n"
        "model A():\n"
        "    input x: f32[2]\n"
        "\n"
        "    w = Linear(out_features=2)\n"
        "\n"
        "    forward:\n"
        "        return w(x)\n"
        "\n"
        "    v = Linear(out_features=2)\n"
        "\n"
        "    def f(y: f32[2]) -> f32[2]:\n"
        "        return y\n"
        "\n"
        "# about B\n"
        "model B():\n"
        "    input x: f32[2]\n"
        "\n"
        "    forward:\n"
        "        return x\n"
    )


def test_comments_stay_where_they_were_written():
    text = (
        "# file comment\n"
        "model M(a: int = 1):  # header\n"
        "    input x: f32[a]\n"
        "    lin = Linear(out_features=a,  # the width\n"
        "        use_bias=False)\n"
        "    if a > 1:\n"
        "        extra = Linear(out_features=a)\n"
        "        # last of the block\n"
        "    # back at model level\n"
        "\n"
        "    forward:\n"
        "        y = f(  # after the bracket\n"
        "            x)\n"
        "        return y  # done\n"
    )
    assert fmt(text) == (
        "# file comment\n"
        "model M(a: int = 1):  # header\n"
        "    input x: f32[a]\n"
        "    lin = Linear(\n"
        "        out_features=a,  # the width\n"
        "        use_bias=False,\n"
        "    )\n"
        "    if a > 1:\n"
        "        extra = Linear(out_features=a)\n"
        "        # last of the block\n"
        "    # back at model level\n"
        "\n"
        "    forward:\n"
        "        y = f(\n"
        "            # after the bracket\n"
        "            x,\n"
        "        )\n"
        "        return y  # done\n"
    )


def test_trailing_comments_of_consecutive_lines_are_aligned():
    text = fmt(body("y = x  # one", "yy = x   # two", "", "z = x    # alone", "return y"))
    assert "        y = x   # one\n        yy = x  # two\n\n        z = x  # alone\n" in text


def test_a_comment_stays_inside_brackets_and_moves_above_its_line_where_none_can_break():
    assert fmt(body("return x + (", "    # why", "    x), x")).endswith("        return x + (\n            # why\n            x\n        ), x\n")
    # After `x,` a line cannot break: the values of a return are not in brackets.
    assert fmt(body("return x, max(  # why", "    x)")).endswith("        # why\n        return x, max(x)\n")


def test_docstrings_are_kept_and_their_lines_move_with_the_block():
    text = "model M():\n  '''First.\n\n    Indented more.\n  '''\n  input x: f32[2]\n  forward:\n    return x\n"
    assert fmt(text).startswith('model M():\n    """First.\n\n      Indented more.\n    """\n')


def test_byte_order_mark_tabs_and_windows_line_endings():
    text = "\ufeffmodel M():\r\n\tinput x: f32[2]\r\n\tforward:\r\n\t\treturn x  # c\r\n"
    assert fmt(text) == "\ufeffmodel M():\r\n    input x: f32[2]\r\n\r\n    forward:\r\n        return x  # c\r\n"


def test_empty_and_comment_only_files():
    assert format_source("") == ""
    assert format_source("\n\n") == ""
    assert format_source("# just a note\n\n\n# another") == "# just a note\n\n# another\n"


def test_a_spec_that_does_not_parse_is_a_located_compile_error():
    with pytest.raises(CompileError) as caught:
        format_source("model M(:\n", path="bad.eqx")
    assert caught.value.diagnostics[0].format().startswith("bad.eqx:1:9: error: unexpected ':'")


def test_a_layout_that_would_change_the_meaning_is_refused(monkeypatch):
    real = _format.layout
    monkeypatch.setattr(_format, "layout", lambda *args: re.sub(r"\* 2\b", "* 3", real(*args)))
    with pytest.raises(UnsafeFormatError, match="would not mean the same .* line 5"):
        format_source(body("return x * 2"))


def test_a_layout_that_would_lose_a_comment_is_refused(monkeypatch):
    real = _format.layout
    monkeypatch.setattr(_format, "layout", lambda *args: real(*args).replace("  # gone", ""))
    with pytest.raises(UnsafeFormatError, match="keep the comment '# gone'"):
        format_source(body("return x  # gone"))


def test_asserts_axes_blocks_loops_over_several_names_and_elementwise_logic():
    messy = (
        "model M(dim: int = 4, widths: tuple[int, ...] = (2, 3)):\n"
        "    assert dim%2==0 ,  'dim must be even'\n"
        "    input x: f32[T,dim]\n"
        "    layers = repeat w , i in zip(widths, range(2)) scan : Linear(out_features=w)\n"
        "    axes :\n"
        '        layers . * . weight : ( "mlp","embed" )   # c\n'
        "    forward:\n"
        "        outs = []\n"
        "        for a , b in zip(x, x):\n"
        "            outs.append( a )\n"
        "        return (x > 0) & ~(x < 1) | (x == 2), (x > 0) & (x | x)\n"
    )
    assert fmt(messy) == (
        "model M(dim: int = 4, widths: tuple[int, ...] = (2, 3)):\n"
        '    assert dim % 2 == 0, "dim must be even"\n'
        "    input x: f32[T, dim]\n"
        "    layers = repeat w, i in zip(widths, range(2)) scan: Linear(out_features=w)\n"
        "    axes:\n"
        '        layers.*.weight: ("mlp", "embed")  # c\n'
        "\n"
        "    forward:\n"
        "        outs = []\n"
        "        for a, b in zip(x, x):\n"
        "            outs.append(a)\n"
        "        return (x > 0) & ~(x < 1) | (x == 2), (x > 0) & (x | x)\n"
    )
