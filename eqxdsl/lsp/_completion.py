"""Completion: layer names, functions, the models and fields in scope; inside a call, the callee's arguments.

Completion works on the text, not the syntax tree, since the line being typed
rarely parses (`Linear(out_` has no closing bracket); the last tree that did
parse supplies the models and fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from eqxdsl.compiler.library.functions import FUNCTIONS, METHODS
from eqxdsl.compiler.library.layers import LAYERS
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse.walk import iter_model_items
from eqxdsl.lsp._describe import function_signature, layer_argument_text, layer_signature, model_signature
from eqxdsl.lsp._tree import declared_name, text_of

#: How far back (in characters) to look for the bracket of the call the cursor is in.
_CALL_LOOKBACK = 4000

_CALLEE = re.compile(r"([A-Za-z_][\w.]*)\s*$")
_STATEMENT_START = re.compile(r"[ \t]*(?:[A-Za-z_][\w, \t]*=(?!=)|(?:return|for|if|elif|else|def|forward|model|input|from)\b)")
_GIVEN_KEYWORD = re.compile(r"(?<![=!<>])\b([A-Za-z_]\w*)\s*=(?!=)")


@dataclass(frozen=True)
class Completion:
    """One suggestion.

    Attributes:
        label: what is inserted (`Linear`, `out_features=`).
        kind: "layer", "function", "model", "argument", "field", "input", "method", "hyper" or
            "array method".
        detail: one line shown beside it (a signature or the argument's type).
        documentation: longer text, or None.
        rank: lower comes first (a call's arguments before everything else).
    """

    label: str
    kind: str
    detail: str
    documentation: str | None = None
    rank: int = 1


def completions_at(text: str, offset: int, tree: s.SpecFile | None) -> list[Completion]:
    """The suggestions for the cursor at character `offset` of `text`, with `tree` a recent parse of the document."""
    before = text[:offset]
    word = re.search(r"[\w]*$", before)
    start = word.start() if word else offset
    if start > 0 and before[start - 1] == ".":
        return [Completion(name, "array method", function_signature(function).splitlines()[0], function.doc)
                for name, function in METHODS.items()]
    lines = tree.source.splitlines() if tree is not None else []
    found: list[Completion] = []
    call = _enclosing_call(before[:start])
    if call is not None:
        callee, given = call
        found += _arguments(callee, given, tree, lines)
    found += [Completion(name, "layer", layer_signature(layer).splitlines()[0]) for name, layer in LAYERS.items()]
    found += [Completion(name, "function", function_signature(function).splitlines()[0], function.doc or None)
              for name, function in FUNCTIONS.items()]
    if tree is not None:
        found += _in_scope(tree, lines, before.count("\n") + 1)
    return found


def _enclosing_call(before: str) -> tuple[str, set[str]] | None:
    """The callee of the innermost call left open before the cursor, and the keywords it already has."""
    depth = 0
    floor = max(0, len(before) - _CALL_LOOKBACK)
    for index in range(len(before) - 1, floor - 1, -1):
        char = before[index]
        if char in ")]":
            depth += 1
        elif char in "([":
            if depth == 0:
                callee = _CALLEE.search(before, 0, index) if char == "(" else None
                if callee is None:
                    return None
                inside = before[index + 1 :]
                return callee[1], set(_GIVEN_KEYWORD.findall(_top_level(inside)))
            depth -= 1
        elif char == "\n" and depth == 0 and _STATEMENT_START.match(before, index + 1):
            return None  # the line after starts a statement: a bracket open above it was left unclosed
    return None


def _top_level(inside: str) -> str:
    """The text of a call's arguments with nested brackets' contents removed (so their keywords do not count)."""
    kept = []
    depth = 0
    for char in inside:
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif depth == 0:
            kept.append(char)
    return "".join(kept)


def _arguments(callee: str, given: set[str], tree: s.SpecFile | None, lines: list[str]) -> list[Completion]:
    name = callee.rsplit(".", 1)[-1]
    model = next((m for m in tree.models if m.name == name), None) if tree is not None else None
    if model is not None:
        return [Completion(f"{param.name}=", "argument", text_of(lines, param.pos), rank=0)
                for param in model.params if param.name not in given]
    if callee in LAYERS:
        return [Completion(f"{arg.name}=", "argument", layer_argument_text(arg), rank=0)
                for arg in LAYERS[callee].args if arg.name not in given]
    if callee in FUNCTIONS:
        return [Completion(f"{param.name}=", "argument", f"{param.name}: {param.kind}", rank=0)
                for param in FUNCTIONS[callee].params if param.name not in given and param.kind != "key"]
    return []


def _in_scope(tree: s.SpecFile, lines: list[str], line: int) -> list[Completion]:
    """The models of the file, its imported names, and the enclosing model's fields, methods and hyperparameters."""
    found = [Completion(model.name, "model", model_signature(model, lines).splitlines()[0], model.docstring)
             for model in tree.models]
    for imp in tree.imports:
        names = [imp.local_name] if isinstance(imp, s.PythonImport) else [item.local_name for item in imp.names]
        found += [Completion(name, "model", f"imported from {imp.path if isinstance(imp, s.SpecImport) else imp.module}")
                  for name in names]
    model = next((m for m in tree.models if m.pos.line <= line < m.pos.end_line), None)
    if model is None:
        return found
    for param in model.params:
        default = f" = {text_of(lines, param.default.pos)}" if param.default is not None else ""
        found.append(Completion(param.name, "hyper", f"{param.name}: {param.type}{default}"))
    for item in iter_model_items(model.items):
        name = declared_name(item)
        if name is None:
            continue
        kind = "method" if isinstance(item, s.Method) else "input" if isinstance(item, s.InputDecl) else "field"
        found.append(Completion(name, kind, " ".join(text_of(lines, item.pos).splitlines()[0].split())))
    return found

