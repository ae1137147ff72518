"""The nodes under the cursor (`eqxdsl.lsp._tree.path_at`), found with the compiler's one traversal (`parse.walk`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eqxdsl.compiler.parse import parse_spec
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse.walk import iter_children, walk
from eqxdsl.lsp._tree import path_at

ROOT = Path(__file__).resolve().parents[2]

SPEC = '''\
model M(width: int = 8, classes: int = 4):
    input x: f32[width]
    head = Linear(out_features=classes)
    axes:
        head.weight: ("mlp", None)
    forward:
        h = x -> head
        for i in range(2):
            h = h * 2
        return h
'''


@pytest.mark.parametrize(
    ("line", "column", "classes", "innermost"),
    [
        # Through a keyword argument: keywords are children of their call.
        (3, 32, ["SpecFile", "Model", "Definition", "Call", "Keyword", "Name"], "classes"),
        (7, 18, ["SpecFile", "Model", "Method", "Assign", "Pipeline", "Name"], "head"),
        # Into a loop's body.
        (9, 17, ["SpecFile", "Model", "Method", "For", "Assign", "BinOp", "Name"], "h"),
        # An axes entry's path is a position, not a node: the entry is the innermost.
        (5, 10, ["SpecFile", "Model", "AxesBlock", "AxesEntry"], None),
    ],
)
def test_the_path_runs_from_the_file_to_the_innermost_node(line, column, classes, innermost):
    path = path_at(parse_spec(SPEC, "m.eqx"), line, column)
    assert [type(node).__name__ for node in path] == classes
    assert getattr(path[-1], "id", None) == innermost
    for outer, inner in zip(path, path[1:]):
        assert any(child is inner for child in iter_children(outer))


def test_a_cursor_outside_every_model_stays_at_the_file():
    tree = parse_spec(SPEC, "m.eqx")
    assert path_at(tree, 40, 1) == [tree]


@pytest.mark.parametrize("spec", [*sorted((ROOT / "examples").glob("*.eqx")), *sorted((ROOT / "tests" / "specs").glob("*.eqx"))],
                         ids=lambda path: path.name)
def test_every_name_is_found_at_its_first_character(spec: Path):
    tree = parse_spec(spec.read_text(encoding="utf-8"), str(spec))
    names = [node for node in walk(tree) if isinstance(node, s.Name)]
    assert names
    for name in names:
        assert path_at(tree, name.pos.line, name.pos.column)[-1] is name, name
