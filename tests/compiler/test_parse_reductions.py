"""The parser builds syntax nodes as it reduces (`parse/_reduce.py`, `parse/_lalr.py`): what it
builds must agree with Lark's own tree of the same text, in depth and in where each node lies."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import lark
import pytest
from lark.lexer import LexerThread

from eqxdsl.compiler.parse import _parse, parse_spec
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse._reduce import CHAINED_CLAUSES, reduction_callbacks
from eqxdsl.compiler.parse.walk import iter_children, walk

ROOT = Path(__file__).resolve().parents[2]
SPECS = sorted([*ROOT.glob("examples/*.eqx"), *ROOT.glob("tests/specs/**/*.eqx")])

NESTED = {
    "elif chain": "model M(w: int = 3):\n    input x: f32[3]\n\n    forward:\n        if w == 0:\n            x = tanh(x)\n"
    + "".join(f"        elif w == {i}:\n            x = relu(x)\n" for i in range(1, 9))
    + "        else:\n            x = x\n        return x\n",
    "model if": "model M(deep: bool = True):\n    if deep:\n        a = Linear(3, 3)\n    elif False:\n        a = Linear(3, 4)\n"
    "    else:\n        a = Linear(3, 5)\n\n    forward(x: f32[3]):\n        return a(x)\n",
    "tokens": 'model M(scan: int = 2, forward: int = 3):\r\n    """A docstring\r\n    over lines."""\r\n'
    "    input x: f32[3]  # a comment\r\n    w = Linear(3, \\\r\n        3)\r\n\r\n    forward:\r\n"
    "        h = w(x)\t** 2 // scan\r\n        return h\r\n",
    "brackets and chains": "model M():\n    input x: f32[3]\n\n    forward:\n        h = relu(relu(((x + x) * -x)[0:2]))\n"
    "        a, = (h,)\n        return h\n",
}


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _lark_depth(tree: lark.Tree) -> int:
    """The depth of Lark's tree, with each `elif`/`else` nested in the clause before it."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        chained = 0
        for child in node.children:
            if isinstance(child, lark.Tree):
                chained += child.data in CHAINED_CLAUSES
                stack.append((child, depth + 1 + chained))
    return deepest


@pytest.mark.parametrize("text", [*map(_text, SPECS), *NESTED.values()], ids=[*(p.name for p in SPECS), *NESTED])
def test_the_nesting_height_is_the_depth_of_larks_tree(text):
    text = text if text.endswith("\n") else text + "\n"
    assert _parse._parser().parse(text).height == _lark_depth(_parse._tree_parser().parse(text))


@pytest.mark.parametrize("text", [*map(_text, SPECS), *NESTED.values()], ids=[*(p.name for p in SPECS), *NESTED])
def test_the_tokens_are_those_of_larks_contextual_lexer(text, monkeypatch):
    text = text if text.endswith("\n") else text + "\n"
    parser = _parse._parser()
    ours = parser.parse(text).value
    larks = parser.contextual_lexer
    monkeypatch.setattr(parser, "tokens", lambda text, context: LexerThread.from_text(larks, text).lex(context))
    assert parser.parse(text).value == ours


def _offset(lines: list[str], line: int, column: int) -> int:
    return sum(len(text) for text in lines[: line - 1]) + column - 1


def _span(source: str, pos: s.Pos) -> str:
    lines = source.splitlines(keepends=True)
    return source[_offset(lines, pos.line, pos.column) : _offset(lines, pos.end_line, pos.end_column)]


@pytest.mark.parametrize("text", [*map(_text, SPECS), *NESTED.values()], ids=[*(p.name for p in SPECS), *NESTED])
def test_every_node_lies_inside_its_parent_and_names_span_their_text(text):
    spec = parse_spec(text, "spec.eqx")
    for node in walk(spec):
        start, end = (node.pos.line, node.pos.column), (node.pos.end_line, node.pos.end_column)
        assert start <= end, node
        for child in iter_children(node):
            assert start <= (child.pos.line, child.pos.column), (node, child)
            assert (child.pos.end_line, child.pos.end_column) <= end, (node, child)
        if isinstance(node, s.Name):
            assert _span(text, node.pos) == node.id
        elif isinstance(node, s.Call):
            assert _span(text, node.pos).endswith(")")


def test_trailing_comma_and_variadic_tuple_types_are_read_from_their_tokens():
    spec = parse_spec(
        "model M(sizes: tuple[int, ...] = (1,), pair: tuple[int, int] = (1, 2)):\n    input x: f32[3]\n\n"
        "    forward:\n        a, = (x,)\n        b = x\n        return a + b\n",
        "spec.eqx",
    )
    (model,) = spec.models
    assert [param.type.variadic for param in model.params] == [True, False]
    first, second, _ = model.items[-1].body
    assert first.unpack and not second.unpack


def test_a_rule_that_inlines_one_of_several_symbols_is_refused():
    grammar = lark.Lark('start: item\n?item: "(" NAME ")"\nNAME: /[a-z]+/\n', parser="lalr", maybe_placeholders=True)
    with pytest.raises(ValueError, match="must be one rule name"):
        reduction_callbacks(grammar.rules, SimpleNamespace(start=lambda position, item: item))
