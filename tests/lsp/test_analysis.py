"""The checks behind the server: chunked re-parsing equals a full parse, unchanged imports are reused, types are recorded."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from robustness._specgen import mutated_specs
from tooling._specs import repository_specs

from eqxdsl.compiler import CompileError, parse_spec
from eqxdsl.compiler.check import ExpressionTypes, check_spec
from eqxdsl.lsp import Analyzer
from eqxdsl.lsp._chunks import ChunkedParser, chunks

from .test_server import BLOCKS, NET


def _full_parse(text: str) -> object:
    try:
        return parse_spec(text, "spec.eqx")
    except CompileError as error:
        return [d.format() for d in error.diagnostics]


def _chunked_parse(parser: ChunkedParser, text: str) -> object:
    try:
        return parser.parse(text, "spec.eqx")
    except CompileError as error:
        return [d.format() for d in error.diagnostics]


@pytest.mark.parametrize("path", repository_specs(), ids=lambda path: path.name)
def test_chunked_parse_equals_the_full_parse_on_every_spec(path: Path):
    text = path.read_text(encoding="utf-8")
    parser = ChunkedParser()
    assert _chunked_parse(parser, text) == _full_parse(text)
    # Again after an edit of one line: the other items come from the cache.
    lines = text.splitlines(keepends=True)
    edited = "".join(lines[:-1] + [lines[-1].rstrip("\n") + "  # edited\n"]) if lines else text
    assert _chunked_parse(parser, edited) == _full_parse(edited)


@settings(max_examples=60, deadline=None)
@given(mutated_specs())
def test_chunked_parse_equals_the_full_parse_on_mutated_specs(case):
    _, text = case
    parser = ChunkedParser()
    assert _chunked_parse(parser, text) == _full_parse(text)


def test_chunks_cut_before_each_top_level_item_and_keep_line_numbers():
    text = "# header\n\nfrom \"a.eqx\" import A\nmodel B():\n    x = 1\n\n# between\nmodel C():\n    y = 2\n"
    assert chunks(text) == [(1, "# header\n\nfrom \"a.eqx\" import A\n"), (4, "model B():\n    x = 1\n\n# between\n"),
                            (8, "model C():\n    y = 2\n")]


def test_only_the_changed_items_are_parsed_again(monkeypatch):
    import eqxdsl.lsp._chunks as module

    text = "\n\n".join(f"model M{i}(dim: int = 8):\n    input x: f32[dim]\n    forward:\n        return x" for i in range(5))
    parser = ChunkedParser()
    parser.parse(text, "spec.eqx")
    parsed = []
    monkeypatch.setattr(module, "parse_spec", lambda source, path: parsed.append(source) or parse_spec(source, path))
    tree = parser.parse(text.replace("return x", "return x + 1", 1), "spec.eqx")
    assert len(parsed) == 1 and "x + 1" in parsed[0]
    assert tree == parse_spec(text.replace("return x", "return x + 1", 1), "spec.eqx")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "blocks.eqx").write_text(BLOCKS)
    (tmp_path / "net.eqx").write_text(NET)
    return tmp_path


def test_an_unchanged_import_is_reused_and_a_changed_one_checked_again(folder: Path):
    analyzer = Analyzer()
    net = str(folder / "net.eqx")
    first = analyzer.analyse(NET, net)
    second = analyzer.analyse(NET.replace("map(head, h)", "map(head, h + 1.0)"), net)
    assert first.diagnostics == second.diagnostics == ()
    assert second.checked.imported_models["MLP"][1] is first.checked.imported_models["MLP"][1]
    (folder / "blocks.eqx").write_text(BLOCKS.replace("out(h)", "out(h, h)"))
    third = analyzer.analyse(NET, net)
    assert third.checked is None
    assert [d.message for d in third.diagnostics][:2] == ["Linear takes 1 input (x), got 2", "the imported spec 'blocks.eqx' has errors"]


def test_an_open_import_is_read_from_the_editor(folder: Path):
    unsaved = {(folder / "blocks.eqx").resolve(): BLOCKS.replace("out(h)", "out(h, h)")}
    analysis = Analyzer(unsaved.get).analyse(NET, str(folder / "net.eqx"))
    assert analysis.diagnostics[0].message == "Linear takes 1 input (x), got 2"


def test_the_analysis_matches_a_plain_check(folder: Path):
    analysis = Analyzer().analyse(BLOCKS, str(folder / "blocks.eqx"))
    plain = check_spec(parse_spec(BLOCKS, str(folder / "blocks.eqx")), lambda path, node: None)
    assert analysis.checked.models["MLP"].fields.keys() == plain.models["MLP"].fields.keys()
    assert analysis.checked.models["MLP"].forward.returns == plain.models["MLP"].forward.returns


def test_the_recorder_sees_every_checked_expression_even_past_an_error():
    text = BLOCKS.replace("return out(h)", "y = h @ x\n        return out(h)")
    types = ExpressionTypes()
    tree = parse_spec(text, "blocks.eqx")
    with pytest.raises(CompileError):
        check_spec(tree, lambda path, node: None, types)
    names = {node.id: [str(v) for v in types.values(node)] for node in types.nodes() if hasattr(node, "id")}
    assert names["h"] == ["f32[width]"]
    assert names["x"] == ["f32[in_size]"]
