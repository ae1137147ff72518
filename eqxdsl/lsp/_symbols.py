"""Document symbols: the outline of a spec, its models with their hyperparameters, inputs, fields and methods."""

from __future__ import annotations

from dataclasses import dataclass

from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse.walk import iter_model_items
from eqxdsl.lsp._tree import declared_name, name_span, text_of


@dataclass(frozen=True)
class Symbol:
    """One entry of the outline.

    Attributes:
        name: the declared name.
        kind: "model", "hyper", "input", "field", "param" (a parameter or buffer), "stack" or "method".
        detail: the declaration's text on one line (`Linear(out_features=width)`).
        span: the whole declaration.
        name_span: the name within it.
        children: for a model, its items.
    """

    name: str
    kind: str
    detail: str
    span: s.Pos
    name_span: s.Pos
    children: tuple[Symbol, ...] = ()


_KINDS = {s.InputDecl: "input", s.Definition: "field", s.FrozenDef: "field", s.ParamDef: "param",
          s.RepeatDef: "stack", s.Method: "method"}


def document_symbols(tree: s.SpecFile) -> list[Symbol]:
    """The outline of `tree`, one symbol per model."""
    lines = tree.source.splitlines()
    symbols = []
    for model in tree.models:
        children = [Symbol(param.name, "hyper", str(param.type), param.pos, name_span(lines, param.pos, param.name))
                    for param in model.params]
        for item in iter_model_items(model.items):
            name = declared_name(item)
            if name is None:
                continue
            detail = " ".join(text_of(lines, item.pos).splitlines()[0].split()) if item.pos.line <= len(lines) else name
            children.append(Symbol(name, _KINDS[type(item)], detail, item.pos, name_span(lines, item.pos, name)))
        span = name_span(lines, model.pos, model.name)
        symbols.append(Symbol(model.name, "model", model.docstring or "", model.pos, span, tuple(children)))
    return symbols
