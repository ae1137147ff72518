"""The grammar and the parse stage: LALR without conflicts, positions, the syntax tree."""

import logging
from pathlib import Path

import lark
import pytest

from eqxdsl.compiler.parse import _parse as parse
from eqxdsl.compiler.parse import parse_spec
from eqxdsl.compiler.parse import syntax as s

SPECS = Path(__file__).resolve().parent.parent / "specs"


def test_grammar_has_no_lalr_conflicts(caplog):
    # Lark resolves shift/reduce conflicts silently unless asked; debug mode logs them.
    logger = lark.logger
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        with caplog.at_level(logging.DEBUG, logger=logger.name):
            lark.Lark(parse._grammar_text(), parser="lalr", postlex=parse.EqxIndenter(), debug=True)
    finally:
        logger.setLevel(previous)
    assert not [r for r in caplog.records if "conflict" in r.getMessage().lower()]


@pytest.mark.parametrize("path", sorted(SPECS.glob("*.eqx")), ids=lambda p: p.name)
def test_every_spec_parses(path):
    spec = parse_spec(path.read_text(), str(path))
    assert spec.models


def test_tree_and_positions():
    source = '''# leading comment
model M(a: int = 3, act: fn = relu, k: tuple[int, ...] = (1, 2)):
    """Doc
    string."""
    input x: f32[a, 2 * a]   # a comment
    l = Linear(out_features=a)
    s = repeat a scan: Linear(out_features=a)
    w = param f32[a] = normal(stddev=0.1)
    b = buffer f32[a]
    f = frozen Linear(out_features=a)

    forward:
        y = x -> l -> relu
        for layer in s:
            y = layer(y)
        return y[0, 1:], y
'''
    spec = parse_spec(source, "m.eqx")
    (model,) = spec.models
    assert model.docstring == "Doc\nstring."
    assert [p.name for p in model.params] == ["a", "act", "k"]
    assert str(model.params[2].type) == "tuple[int, ...]"
    kinds = [type(item).__name__ for item in model.items]
    assert kinds == ["InputDecl", "Definition", "RepeatDef", "ParamDef", "ParamDef", "FrozenDef", "Method"]
    assert model.items[2].scan and not model.items[4].trainable
    forward = model.items[-1]
    pipeline = forward.body[0].value
    assert isinstance(pipeline, s.Pipeline) and [step.id for step in pipeline.steps] == ["l", "relu"]
    assert pipeline.pos == s.Pos(13, 13, 13, 27)
    ret = forward.body[2]
    assert isinstance(ret.values[0], s.Subscript) and isinstance(ret.values[0].index[1], s.Slice)


def test_parser_is_cached_per_process():
    assert parse._parser() is parse._parser()


def test_cache_folder_is_private(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = parse._cache_file()
    assert path is not None and Path(path).parent.stat().st_mode & 0o077 == 0
    (tmp_path / "eqxdsl").chmod(0o777)
    assert parse._cache_file() is None
