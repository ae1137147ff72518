"""The VS Code extension: its manifest, language configuration and TextMate grammar are valid and agree.

The grammar's regular expressions are Oniguruma's; they are written in the
subset that Python's `re` reads the same way (no possessive quantifiers,
`\\h`, `\\G` or named groups), so `re` checks that each one compiles and
matches what it should.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from eqxdsl.tooling.highlight import DTYPES, FUNCTIONS, INITIALISERS, LAYERS

from ._specs import REPO

VSCODE = REPO / "editors" / "vscode"


def load(name: str) -> dict:
    return json.loads((VSCODE / name).read_text(encoding="utf-8"))


def grammar_regexes(node: object) -> list[str]:
    """Every `match`, `begin` and `end` pattern of a TextMate grammar."""
    if isinstance(node, dict):
        found = [node[key] for key in ("match", "begin", "end") if key in node]
        return found + [r for value in node.values() for r in grammar_regexes(value)]
    if isinstance(node, list):
        return [r for value in node for r in grammar_regexes(value)]
    return []


def test_the_manifest_declares_the_language_grammar_and_server_client():
    manifest = load("package.json")
    (language,) = manifest["contributes"]["languages"]
    assert language["id"] == "eqx" and language["extensions"] == [".eqx"]
    assert (VSCODE / language["configuration"]).is_file()
    (grammar,) = manifest["contributes"]["grammars"]
    assert grammar["language"] == "eqx" and grammar["scopeName"] == load(grammar["path"])["scopeName"] == "source.eqx"
    assert (VSCODE / manifest["main"]).is_file()
    assert "vscode-languageclient" in manifest["dependencies"]
    assert manifest["contributes"]["configuration"]["properties"]["eqxdsl.command"]["default"] == ["eqxdsl", "lsp"]


def test_every_grammar_regex_compiles():
    regexes = grammar_regexes(load("syntaxes/eqx.tmLanguage.json"))
    assert len(regexes) > 20
    for pattern in regexes:
        assert not re.search(r"\\[hGAz]|\(\?<[A-Za-z]|[*+?]\+", pattern), f"Oniguruma-only syntax in {pattern!r}"
        re.compile(pattern)


def test_every_grammar_include_exists():
    grammar = load("syntaxes/eqx.tmLanguage.json")
    includes = re.findall(r'"include": "#([\w-]+)"', json.dumps(grammar))
    assert includes and set(includes) <= set(grammar["repository"])


def rule(name: str) -> re.Pattern:
    node = load("syntaxes/eqx.tmLanguage.json")["repository"][name]
    return re.compile(node["match"] if "match" in node else node["patterns"][0]["match"])


def test_the_grammar_word_lists_match_the_pygments_lexer():
    repository = load("syntaxes/eqx.tmLanguage.json")["repository"]
    words = lambda pattern: set(re.search(r"\(([\w|]+)\)", pattern)[1].split("|"))  # noqa: E731
    assert words(repository["layer"]["match"]) == set(LAYERS)
    assert words(repository["function"]["match"]) == set(FUNCTIONS + INITIALISERS)
    assert words(repository["type"]["patterns"][0]["match"]) == set(DTYPES)


def test_grammar_rules_match_what_they_name():
    assert rule("type").search("    input x: f32[T, dim]")[0] == "f32"
    assert rule("type").search("f32 = 3") is None
    assert rule("layer").search("conv = Conv2d(out_channels=4)")[0] == "Conv2d"
    assert rule("layer").search("MyConv2d(4)") is None
    assert rule("comment").search('x = 1  # note')[0] == "# note"
    docstring = load("syntaxes/eqx.tmLanguage.json")["repository"]["docstring"]["patterns"][2]["match"]
    assert re.match(docstring, '    "A docstring."  # c') and not re.match(docstring, '    x = "not one"')


def test_the_language_configuration_indents_after_block_headers():
    configuration = load("language-configuration.json")
    increase = re.compile(configuration["indentationRules"]["increaseIndentPattern"])
    for header in ("model M(a: int):", "    forward:", "    def f(x: f32[n]) -> f32[n]:  # c", "        for l in ls:"):
        assert increase.match(header), header
    assert not increase.match("    x = y")
    re.compile(configuration["wordPattern"])
    assert configuration["comments"]["lineComment"] == "#"


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_extension_script_is_valid_javascript():
    subprocess.run(["node", "--check", str(VSCODE / "extension.js")], check=True, timeout=60)
