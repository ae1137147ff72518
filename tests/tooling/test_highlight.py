"""The Pygments lexer: found through its entry point, and right about every kind of token."""

from __future__ import annotations

import inspect
import re
from importlib.metadata import entry_points

import pytest
from pygments import lex
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, Operator, String

from eqxdsl.tooling.highlight import FUNCTIONS, INITIALISERS, LAYERS, EqxLexer

from ._specs import REPO, repository_specs

SPEC = '''# a comment with "quotes"
from "blocks.eqx" import Residual
model Net(width: int = 1_000, p: float = 2.5e-3, sizes: tuple[int, ...] = (1, 2)):
    """The docstring."""
    input x: f32[T, 2 * width]
    w = param bf16[width] = normal(stddev=0.02)
    blocks = repeat 2 scan: Residual()
    lin = frozen Linear(out_features=width)   # trailing

    forward:
        y = x -> lin -> relu
        return where(y > 0, y, 0.0), einsum("i#j->i", y)
'''


def tokens(text: str) -> list[tuple[object, str]]:
    return [(kind, value) for kind, value in lex(text, EqxLexer()) if value.strip()]


def kind_of(text: str, value: str) -> object:
    return next(kind for kind, v in tokens(text) if v == value)


def test_the_entry_point_registers_the_lexer_by_alias_and_file_name():
    registered = {point.name: point.value for point in entry_points(group="pygments.lexers")}
    assert registered.get("eqx") == "eqxdsl.tooling.highlight:EqxLexer", "reinstall with `pip install -e .`"
    assert isinstance(get_lexer_by_name("eqx"), EqxLexer)
    assert isinstance(get_lexer_for_filename("models/gpt.eqx"), EqxLexer)


@pytest.mark.parametrize(
    "value, kind",
    [
        ("model", Keyword.Declaration),
        ("Net", Name.Class),
        ("from", Keyword.Namespace),
        ("input", Keyword),
        ("param", Keyword),
        ("repeat", Keyword),
        ("scan", Keyword),
        ("frozen", Keyword),
        ("forward", Keyword),
        ("return", Keyword),
        ("Linear", Name.Class),
        ("Residual", Name),
        ("relu", Name.Builtin),
        ("normal", Name.Builtin),
        ("f32", Keyword.Type),
        ("bf16", Keyword.Type),
        ("int", Keyword.Type),
        ("tuple", Keyword.Type),
        ("T", Name),
        ("1_000", Number.Integer),
        ("2.5e-3", Number.Float),
        ("0.0", Number.Float),
        ("->", Operator),
        ('"blocks.eqx"', String),
        ('"i#j->i"', String),
        ('"""The docstring."""', String.Doc),
        ('# a comment with "quotes"', Comment.Single),
        ("# trailing", Comment.Single),
    ],
)
def test_tokens(value, kind):
    assert kind_of(SPEC, value) in kind


@pytest.mark.parametrize("spec", repository_specs(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_repository_spec_lexes_without_errors_and_round_trips(spec):
    text = spec.read_text(encoding="utf-8")
    pieces = list(lex(text, EqxLexer()))
    assert [value for kind, value in pieces if kind in Error] == []
    # Pygments drops a byte-order mark and ends the text with a newline.
    expected = text.removeprefix("\ufeff")
    assert "".join(value for _, value in pieces) == (expected if expected.endswith("\n") else expected + "\n")


def test_a_character_outside_the_language_is_an_error_token():
    assert any(kind in Error for kind, _ in tokens("x = $\n"))


def test_the_layer_list_is_the_runtime_layers():
    import eqxdsl.runtime as eqx

    not_layers = {"Lambda", "Sequential", "Shared", "StatefulLayer", "StateIndex"}
    runtime = {
        name for name, value in vars(eqx.nn).items()
        if inspect.isclass(value) and issubclass(value, eqx.Module) and not name.startswith("_")
    }
    assert set(LAYERS) == runtime - not_layers


def test_the_functions_are_the_compilers():
    from eqxdsl.compiler.library.functions import FUNCTIONS as TABLE
    from eqxdsl.compiler.library.initialisers import INITIALISERS as INITIALISER_TABLE

    assert set(FUNCTIONS) == set(TABLE) | {"map"}
    assert set(INITIALISERS) <= set(INITIALISER_TABLE)


def test_every_function_and_initialiser_is_documented():
    language = (REPO / "docs" / "language.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`?\b([a-z_]+)\b", language))
    assert set(FUNCTIONS + INITIALISERS) <= documented
