"""Go to definition: what a name under the cursor refers to, found in the syntax tree by the language's scoping.

A name in a method is, in this order: a variable it assigned or a loop name,
one of its inputs, a field, constant, input or method of its model, one of
the model's hyperparameters, an input size (declared where an input's type
first names it), a model of the file, or an imported model. `vae.encode`
names a method of the model that the field `vae` is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse.walk import iter_model_items, iter_statements
from eqxdsl.lsp._tree import contains, declared_name, name_span, path_at

#: Reads the syntax tree of the spec at a resolved path (for imports), or None if it cannot.
TreeLoader = Callable[[Path], "s.SpecFile | None"]


@dataclass(frozen=True)
class Definition:
    """Where a name is declared.

    Attributes:
        path: the file that declares it.
        span: the declared name's span there.
        node: the declaring node: a model item, `Param`, `HyperParam`, `Model`, `Name` (an assignment target).
        kind: "local", "input", "field", "method", "hyper", "size", "model", "class" (imported from
            Python: its import) or "spec".
        model: the model that declares it (None for a model or spec).
        tree: the syntax tree of `path`.
    """

    path: str
    span: s.Pos
    node: s.Node
    kind: str
    model: s.Model | None
    tree: s.SpecFile


class Resolver:
    """Resolves names in one document's syntax tree (and, through `load_tree`, in the specs it imports).

    Args:
        tree: the document's syntax tree.
        path: the document's file path.
        load_tree: reads an imported spec's tree by resolved path.
    """

    def __init__(self, tree: s.SpecFile, path: str, load_tree: TreeLoader):
        self.tree = tree
        self.path = path
        self.lines = tree.source.splitlines()
        self._load_tree = load_tree

    def at(self, line: int, column: int) -> Definition | None:
        """The definition of what the cursor at (`line`, `column`) (1-based, code points) names, or None."""
        nodes = path_at(self.tree, line, column)
        node = nodes[-1]
        model = next((n for n in nodes if isinstance(n, s.Model)), None)
        method = next((n for n in nodes if isinstance(n, s.Method)), None)
        if isinstance(node, s.ImportName):
            imp = next(n for n in nodes if isinstance(n, s.SpecImport))
            return self._imported_model(imp, node.name)
        if isinstance(node, s.SpecImport):
            return self._imported_spec(node)
        if isinstance(node, s.Attribute) and (line, column) > (node.value.pos.end_line, node.value.pos.end_column):
            return self._layer_method(node, model, method)
        if isinstance(node, s.Name):
            return self.lookup(node.id, node.pos, model, method)
        name = node.name if isinstance(node, (s.Model, s.HyperParam, s.Param)) else declared_name(node)
        if name is not None:
            span = name_span(self.lines, node.pos, name)
            if contains(span, line, column):
                return self.lookup(name, span, model, method)
        return None

    def lookup(self, name: str, where: s.Pos, model: s.Model | None, method: s.Method | None) -> Definition | None:
        """The definition of `name` used at `where`, inside `model` and `method` (either may be None)."""
        if method is not None:
            found = self._in_method(name, where, method, model)
            if found is not None:
                return found
        if model is not None:
            found = self._in_model(name, where, model)
            if found is not None:
                return found
        for candidate in self.tree.models:
            if candidate.name == name:
                return self._definition(candidate, name, "model", None)
        for imp in self.tree.imports:
            if isinstance(imp, s.PythonImport):
                if imp.local_name == name:
                    return self._definition(imp, name, "class", None)
                continue
            for item in imp.names:
                if item.local_name == name:
                    return self._imported_model(imp, item.name)
        return None

    def _definition(self, node: s.Node, name: str, kind: str, model: s.Model | None) -> Definition:
        return Definition(self.path, name_span(self.lines, node.pos, name), node, kind, model, self.tree)

    def _in_method(self, name: str, where: s.Pos, method: s.Method, model: s.Model | None) -> Definition | None:
        targets: list[s.Name] = []
        for statement in iter_statements(method.body):
            if isinstance(statement, s.Assign):
                targets += [t for t in statement.targets if t.id == name]
            elif isinstance(statement, s.For):
                targets += [t for t in (statement.targets or (statement.target,)) if t.id == name]
        before = [t for t in targets if (t.pos.line, t.pos.column) <= (where.line, where.column)]
        if before or targets:
            target = (before or targets)[-1 if before else 0]
            return Definition(self.path, target.pos, target, "local", model, self.tree)
        for param in method.params or ():
            if param.name == name:
                return self._definition(param, name, "input", model)
        return None

    def _in_model(self, name: str, where: s.Pos, model: s.Model) -> Definition | None:
        for item in iter_model_items(model.items):
            if isinstance(item, s.RepeatDef) and contains(item.pos, where.line, where.column):
                for target in item.targets:
                    if target.id == name:
                        return Definition(self.path, target.pos, target, "local", model, self.tree)
            if declared_name(item) == name:
                kind = {s.Method: "method", s.InputDecl: "input"}.get(type(item), "field")
                return self._definition(item, name, kind, model)
        for param in model.params:
            if param.name == name:
                return self._definition(param, name, "hyper", model)
        return self._size(name, model)

    def _size(self, name: str, model: s.Model) -> Definition | None:
        """The first place an input's type names the size `name`: the model's inputs, then each method's."""
        types = [item.type for item in iter_model_items(model.items) if isinstance(item, s.InputDecl)]
        for item in iter_model_items(model.items):
            if isinstance(item, s.Method):
                types += [param.type for param in item.params or () if param.type is not None]
        for tensor in types:
            for dim in tensor.dims:
                if isinstance(dim, s.Name) and dim.id == name:
                    return Definition(self.path, dim.pos, dim, "size", model, self.tree)
        return None

    def _layer_method(self, node: s.Attribute, model: s.Model | None, method: s.Method | None) -> Definition | None:
        """`vae.encode`: the method `encode` of the model that the field `vae` is."""
        if not isinstance(node.value, s.Name) or model is None:
            return None
        field = self.lookup(node.value.id, node.value.pos, model, method)
        if field is None or field.kind != "field":
            return None
        layer = getattr(field.node, "layer", None) or getattr(field.node, "value", None)
        if not isinstance(layer, s.Call) or not isinstance(layer.func, s.Name):
            return None
        layer_model = self.lookup(layer.func.id, layer.func.pos, None, None)
        if layer_model is None or not isinstance(layer_model.node, s.Model):
            return None
        for item in iter_model_items(layer_model.node.items):
            if isinstance(item, s.Method) and item.name == node.attr:
                lines = layer_model.tree.source.splitlines()
                return Definition(layer_model.path, name_span(lines, item.pos, item.name), item, "method",
                                  layer_model.node, layer_model.tree)
        return None

    def _imported_spec(self, imp: s.SpecImport) -> Definition | None:
        resolved = (Path(self.path).parent / imp.path).resolve()
        tree = self._load_tree(resolved)
        if tree is None:
            return None
        return Definition(str(resolved), s.Pos(1, 1, 1, 1), tree, "spec", None, tree)

    def _imported_model(self, imp: s.SpecImport, name: str) -> Definition | None:
        resolved = (Path(self.path).parent / imp.path).resolve()
        tree = self._load_tree(resolved)
        if tree is None:
            return None
        for model in tree.models:
            if model.name == name:
                span = name_span(tree.source.splitlines(), model.pos, name)
                return Definition(str(resolved), span, model, "model", None, tree)
        return None
