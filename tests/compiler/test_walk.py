"""The one traversal of syntax (`parse.walk`): children in source order, pre-order walks, dispatch by class."""

from __future__ import annotations

from eqxdsl.compiler.parse import parse_spec
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse.walk import handler, iter_children, walk

SPEC = """\
model M(dim: int = 4):
    fc = Linear(dim, dim)

    def forward(x: f32[dim]) -> f32[dim]:
        h = fc(x) + relu(x * 2)
        return h
"""


def _forward() -> s.Method:
    (model,) = parse_spec(SPEC, "m.eqx").models
    return next(item for item in model.items if isinstance(item, s.Method))


def test_children_are_the_fields_in_source_order():
    assign = _forward().body[0]
    assert isinstance(assign, s.Assign)
    children = list(iter_children(assign))
    # The targets come before the value, as in the source; positions are not children.
    assert [type(c).__name__ for c in children] == ["Name", "BinOp"]
    assert children[0].id == "h"


def test_walk_is_pre_order_and_reaches_every_name():
    body = _forward().body
    names = [node.id for node in walk(body) if isinstance(node, s.Name)]
    assert names == ["h", "fc", "x", "relu", "x", "h"]
    first = next(walk(body))
    assert first is body[0]


def test_walk_flattens_nested_tuples_and_ignores_other_values():
    name = s.Name(pos=s.Pos(1, 1, 1, 2), id="a")
    assert list(walk(((name,), "text", 3))) == [name]


class _Visitor:
    def _visit_Name(self, node: s.Name) -> str:
        return node.id


def test_handler_dispatches_by_class_name_and_gives_none_without_one():
    name = s.Name(pos=s.Pos(1, 1, 1, 2), id="a")
    method = handler(_Visitor, "_visit_", s.Name)
    assert method is not None and method(_Visitor(), name) == "a"
    assert handler(_Visitor, "_visit_", s.Constant) is None
    # Looked up once: the same function object every time.
    assert handler(_Visitor, "_visit_", s.Name) is method
