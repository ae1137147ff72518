"""Hover: the inferred type and shape of the name or expression under the cursor, or what a name declares.

For a name the checker gave a value: `h: f32[T, dim]`. For a field: its
definition and its layer's signature. For a layer, function or model name:
its signature (from the layer and function tables, or the model's header).
For any other expression: its text and inferred type.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from eqxdsl.compiler.library.functions import FUNCTIONS, METHODS
from eqxdsl.compiler.library.layers import LAYERS
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse.walk import iter_model_items, iter_statements
from eqxdsl.compiler.values import TupleValue
from eqxdsl.lsp._analysis import DocumentAnalysis
from eqxdsl.lsp._definitions import Definition, Resolver
from eqxdsl.lsp._describe import function_signature, layer_signature, model_signature, value_text
from eqxdsl.lsp._tree import path_at, text_of


@dataclass(frozen=True)
class Hover:
    """What to show: `blocks` of spec-like text (each shown as code), over the span `span`."""

    blocks: tuple[str, ...]
    span: s.Pos

    def markdown(self) -> str:
        return "\n\n".join(f"```eqx\n{block}\n```" for block in self.blocks)


def hover_at(analysis: DocumentAnalysis, resolver: Resolver, line: int, column: int) -> Hover | None:
    """The hover for the cursor at (`line`, `column`) (1-based, code points), or None where there is nothing to say."""
    if analysis.tree is None:
        return None
    nodes = path_at(analysis.tree, line, column)
    lines = analysis.source.splitlines()
    node = nodes[-1]
    if isinstance(node, s.Name):
        blocks = _name_blocks(analysis, resolver, node, nodes, lines)
        if blocks:
            return Hover(tuple(blocks), node.pos)
    if isinstance(node, s.Attribute) and node.attr in METHODS and not analysis.types.values(node):
        return Hover((function_signature(METHODS[node.attr]),), node.pos)
    for inner in reversed(nodes):
        values = analysis.types.values(inner)
        if values:
            return Hover((f"{_one_line(text_of(lines, inner.pos))}: {value_text(values)}",), inner.pos)
        if isinstance(inner, (s.Method, s.Model)):
            break
    return None


def _name_blocks(analysis: DocumentAnalysis, resolver: Resolver, node: s.Name, nodes: list[s.Node], lines: list[str]) -> list[str]:
    model = next((n for n in nodes if isinstance(n, s.Model)), None)
    method = next((n for n in nodes if isinstance(n, s.Method)), None)
    definition = resolver.lookup(node.id, node.pos, model, method)
    values = analysis.types.values(node) or _assigned_values(analysis, definition)
    blocks = []
    if values:
        blocks.append(f"{node.id}: {value_text(values)}")
    elif definition is not None and definition.kind in ("input", "hyper"):
        blocks.append(text_of(definition.tree.source.splitlines(), definition.node.pos))
    elif definition is not None and definition.kind == "size":
        blocks.append(f"{node.id}: int (a size of an input, bound when the model is called or built)")
    if definition is not None and definition.kind == "field":
        field_lines = definition.tree.source.splitlines()
        blocks.append(_one_line(text_of(field_lines, definition.node.pos)))
        layer = _layer_call(definition.node)
        if layer is not None:
            blocks += _callable_blocks(resolver, layer.func.id)
    elif definition is not None and definition.kind in ("model", "method"):
        definition_lines = definition.tree.source.splitlines()
        if isinstance(definition.node, s.Model):
            blocks.append(model_signature(definition.node, definition_lines))
        else:
            blocks.append(_one_line(definition_lines[definition.node.pos.line - 1].strip()))
    elif definition is None:
        blocks += _callable_blocks(resolver, node.id)
    return blocks


def _callable_blocks(resolver: Resolver, name: str) -> list[str]:
    """The signature of the model, layer or function called `name` (a spec's models shadow the layer table)."""
    found = resolver.lookup(name, s.Pos(1, 1, 1, 1), None, None)
    if found is not None and isinstance(found.node, s.Model):
        return [model_signature(found.node, found.tree.source.splitlines())]
    if name in LAYERS:
        return [layer_signature(LAYERS[name])]
    if name in FUNCTIONS:
        return [function_signature(FUNCTIONS[name])]
    return []


def _layer_call(item: s.Node) -> s.Call | None:
    """The layer constructor call of a field's definition (`Linear(...)` in `out = repeat 2: Linear(...)`)."""
    value = getattr(item, "layer", None) or getattr(item, "value", None)
    if isinstance(value, s.Call) and isinstance(value.func, s.Name):
        return value
    return None


def _assigned_values(analysis: DocumentAnalysis, definition: Definition | None) -> list[object]:
    """For an assignment target, the values of what was assigned to it (its part, when unpacked)."""
    if definition is None or definition.kind != "local" or definition.tree is not analysis.tree:
        return []
    for node in _assignments(analysis.tree):
        index = next((i for i, target in enumerate(node.targets) if target is definition.node), None)
        if index is not None:
            values = analysis.types.values(node.value)
            if len(node.targets) == 1:
                return values
            return [value.items[index] for value in values
                    if isinstance(value, TupleValue) and len(value.items) == len(node.targets)]
    return []


def _assignments(tree: s.SpecFile) -> Iterator[s.Assign]:
    for model in tree.models:
        for item in iter_model_items(model.items):
            if isinstance(item, s.Method):
                yield from (st for st in iter_statements(item.body) if isinstance(st, s.Assign))


def _one_line(text: str) -> str:
    """A span's text on one line: its lines joined, runs of spaces collapsed."""
    return " ".join(text.split())
