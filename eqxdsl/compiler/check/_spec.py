"""Checking a whole spec: its imports, then each model, in dependency order."""

from __future__ import annotations

import ast
import hashlib
import keyword
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from eqxdsl.compiler.check._adapters import ModelLayer, PythonLayer
from eqxdsl.compiler.check._axes import check_axes
from eqxdsl.compiler.check._declarations import ModelChecker
from eqxdsl.compiler.check._kinds import with_defaults
from eqxdsl.compiler.check._python_classes import (
    constructor_args,
    locate_module,
    signature_dim,
)
from eqxdsl.compiler.check._relations import declare_relations, facts_of
from eqxdsl.compiler.check._report import Reporter, check_identifier, did_you_mean
from eqxdsl.compiler.check._walk import model_conditions, names_in
from eqxdsl.compiler.check.checked import CheckedModel, CheckedSpec, ExpressionTypes, FieldInfo, PythonClass
from eqxdsl.compiler.diagnostics import CompileError, gc_paused
from eqxdsl.compiler.dims import DTYPES, Dim, TensorType, assuming
from eqxdsl.compiler.library.layers import LAYERS, LayerInfo, LayerShapeError
from eqxdsl.compiler.outputs import module_name
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.values import TupleValue, Value


class SpecChecker:
    def __init__(self, spec: s.SpecFile, load_import: Callable[[str, s.Node], CheckedSpec], recorder: ExpressionTypes | None = None):
        self.spec = spec
        self.recorder = recorder
        self.reporter = Reporter(spec.source, spec.path)
        self.load_import = load_import
        self.models: dict[str, CheckedModel] = {}
        self.checkers: dict[str, ModelChecker] = {}
        self.imported: dict[str, tuple[str, CheckedModel]] = {}
        self.python: dict[str, PythonClass] = {}
        self.python_layers: dict[str, PythonLayer] = {}
        self.failed_imports: set[str] = set()
        # Models of this spec checked again at the tuple lengths a call gives them, by (name, lengths).
        self.variants: dict[tuple, object] = {}
        # The checked models used as layers, by name: each use of a model shares its one adapter.
        self.model_layers: dict[str, ModelLayer] = {}

    def layer_names(self) -> list[str]:
        return list(LAYERS) + list(self.models) + list(self.imported) + list(self.python)

    def layer_class(self, name: str, current: CheckedModel):
        if name in self.models:
            model = self.models[name]
            if model is current:
                return None
            self.ensure_checked(model)
            if model.checking:
                return None
            return self._model_layer(model, name)
        if name in self.imported:
            module, model = self.imported[name]
            return self._model_layer(model, name)
        if name in self.python_layers:
            return self.python_layers[name]
        if name in self.failed_imports:
            # Poisoned: not the built-in layer of the same name, whose arguments would give follow-on errors.
            return None
        return LAYERS.get(name)

    def _model_layer(self, model: CheckedModel, name: str) -> ModelLayer:
        """The checked `model`, called `name` here, as a layer."""
        layer = self.model_layers.get(name)
        if layer is None:
            layer = self.model_layers[name] = ModelLayer(model, name)
        return layer

    def ensure_checked(self, model: CheckedModel, checker: ModelChecker | None = None) -> None:
        """Check `model` once; `checker` checks a copy of a model at other tuple lengths than its defaults'."""
        if model.checked or model.checking:
            return
        checker = checker if checker is not None else self.checkers[model.name]
        model.checking = True
        checker.declare()
        declare_relations(checker)
        with assuming(facts_of(model)):
            for info in model.methods.values():
                checker.statements.check_method(info)
            _finish_model(checker)
        check_axes(checker)
        model.checking = False
        model.checked = True

    def run(self) -> CheckedSpec:
        r = self.reporter
        for imp in self.spec.imports:
            if isinstance(imp, s.SpecImport):
                self._spec_import(imp)
            else:
                self._python_import(imp)
        for node in self.spec.models:
            if not check_identifier(r, node, node.name, "model name"):
                continue
            if node.name in self.models or node.name in self.imported or node.name in self.python:
                r.error(node, f"model {node.name!r} is defined twice", hint="give each model its own name")
                continue
            model = CheckedModel(node.name, node, node.docstring)
            self.models[node.name] = model
            self.checkers[node.name] = ModelChecker(self, model)
        for model in self.models.values():
            self.ensure_checked(model)
        if r.diagnostics:
            raise CompileError(r.diagnostics)
        path = self.spec.path
        source_name = os.path.basename(path) if path and not path.startswith("<") else path
        return CheckedSpec(
            path=path,
            source=self.spec.source,
            source_name=source_name,
            source_sha256=hashlib.sha256(self.spec.source.encode()).hexdigest(),
            spec=self.spec,
            models=self.models,
            imported_models=self.imported,
            python_classes=self.python,
            module_name=module_name(path),
        )

    def _spec_import(self, imp: s.SpecImport) -> None:
        try:
            checked = self.load_import(imp.path, imp)
        except CompileError as error:
            self.reporter.diagnostics.extend(error.diagnostics)
            self.failed_imports.update(item.local_name for item in imp.names)
            return
        for item in imp.names:
            model = checked.models.get(item.name)
            if model is None:
                self.reporter.error(item, f"{imp.path} has no model {item.name!r}", hint=did_you_mean(item.name, checked.models))
                self.failed_imports.add(item.local_name)
                continue
            local = item.local_name
            if not check_identifier(self.reporter, item, local, "imported name"):
                continue
            if local in self.imported or local in self.python:
                self.reporter.error(item, f"{local!r} is imported twice")
                continue
            self.imported[local] = (checked.module_name, model)

    def _python_import(self, imp: s.PythonImport) -> None:
        # Until the class is found, uses of its name are follow-on errors, not reported again.
        self.failed_imports.add(imp.local_name)
        self._read_python_class(imp)
        if imp.local_name in self.python_layers:
            self.failed_imports.discard(imp.local_name)

    def _read_python_class(self, imp: s.PythonImport) -> None:
        r = self.reporter
        local = imp.local_name
        if not check_identifier(r, imp, local, "imported name"):
            return
        if local in self.imported or local in self.python:
            r.error(imp, f"{local!r} is imported twice")
            return
        for part in imp.module.split("."):
            if keyword.iskeyword(part) or not part.isidentifier():
                r.error(imp, f"{imp.module!r} is not a valid module name")
                return
        spec_folder = os.path.dirname(os.path.abspath(self.spec.path)) if self.spec.path and not self.spec.path.startswith("<") else os.getcwd()
        located = locate_module(imp.module, spec_folder)
        if located is None:
            r.error(imp, f"cannot find the Python module {imp.module!r}", hint="it must be Python source, beside the spec or importable (on sys.path)")
            return
        origin, beside_spec = located
        try:
            tree = ast.parse(Path(origin).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError) as error:
            r.error(imp, f"cannot read {origin}: {error}")
            return
        cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == imp.name), None)
        if cls is None:
            names = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
            r.error(imp, f"module {imp.module} defines no class {imp.name!r}", hint=did_you_mean(imp.name, names))
            return
        args, init_key = constructor_args(cls)
        pyclass = PythonClass(imp.module, imp.name, local, args, init_key, imp, origin, beside_spec)
        self.python[local] = pyclass
        # The call signature, in the constructor arguments' names and new input dimensions.
        params: list[tuple[str, TensorType]] = []
        stochastic = stateful = False
        dims: set[str] = set()
        arg_names = {a.name for a in args}
        for param in imp.params:
            if param.type is None:
                if param.name == "key":
                    stochastic = True
                elif param.name == "state":
                    stateful = True
                else:
                    r.error(param, f"input {param.name} needs a type", hint="only key and state may be left untyped")
                continue
            tensor = self._signature_type(param.type, arg_names, dims)
            if tensor is not None:
                params.append((param.name, tensor))
        signature = [self._signature_type(t, arg_names, dims) for t in imp.returns]
        returns = [t for t in signature if t is not None]
        if len(returns) != len(signature):
            return
        result: Value = TupleValue(tuple(returns)) if imp.returns_tuple else returns[0]
        self.python_layers[local] = PythonLayer(pyclass, params, result, stochastic, stateful, dims)

    def _signature_type(self, node: s.TensorTypeExpr, arg_names: set[str], dims: set[str]) -> TensorType | None:
        if node.dtype not in DTYPES:
            self.reporter.error(node, f"unknown dtype {node.dtype!r}", hint=did_you_mean(node.dtype, DTYPES))
            return None
        shape = []
        for dim in node.dims:
            value = signature_dim(dim)
            if value is None:
                self.reporter.error(dim, "a dimension here is an int, a name, or +, -, *, // of those")
                return None
            dims |= set(value.symbols) - arg_names
            shape.append(value)
        return TensorType(node.dtype, tuple(shape))


def _check_construction(checker: ModelChecker, info: FieldInfo, layer: LayerInfo, called: bool) -> None:
    """What the constructor of a table layer would refuse, reported at the argument at fault.

    A layer no method calls is still built, so it is checked here with the
    arguments it is given; a called one was checked at its call. Either is
    then checked with the hyperparameters' defaults, which `__init__` builds
    it with: a rule that takes symbolic sizes on trust refuses them there.
    """
    given = {name: value for name, (value, _) in info.given.items()}
    args = with_defaults(layer, {**given, **(info.inferred or {})})

    def report(error: LayerShapeError, at: str = "") -> None:
        where = info.given[error.argument][1] if error.argument in info.given else info.node
        checker.r.error(where, f"{info.name}{at}: {error.message}", hint=error.hint)

    try:
        layer.construct(args)
    except LayerShapeError as error:
        if not called:
            report(error)
        return
    if checker.defaults_refuted:
        return
    defaults = checker.stacks.defaults()
    used = sorted({name for value in args.values() for name in _symbols(value) if name in defaults})
    if not used:
        return
    try:
        at_defaults = {name: _substituted(value, defaults) for name, value in args.items()}
    except ZeroDivisionError:  # reported where the size is written
        return
    try:
        layer.construct(at_defaults)
    except LayerShapeError as error:
        report(error, ", with the hyperparameters' defaults (" + ", ".join(f"{name} = {defaults[name]}" for name in used) + ")")


def _symbols(value: object) -> set[str]:
    if isinstance(value, Dim):
        return set(value.symbols)
    if isinstance(value, tuple):
        return {name for item in value for name in _symbols(item)}
    return set()


def _substituted(value: object, sizes: Mapping[str, Dim]) -> object:
    """`value` (a layer argument) with `sizes` put in for the names it reads."""
    if isinstance(value, Dim):
        return value.substitute(sizes)
    if isinstance(value, tuple):
        return tuple(_substituted(item, sizes) for item in value)
    return value


def _finish_model(checker: ModelChecker) -> None:
    """After the methods: report layers whose sizes were never inferred, and find the init dims."""
    model = checker.model
    r = checker.r
    init_dims: list[str] = []
    checker.stacks.finish()

    def note(dims) -> None:
        for name in sorted({name for d in dims for name in d.symbols if name in model.input_dims}):
            if name not in init_dims:
                init_dims.append(name)

    for info in model.fields.values():
        if info.kind in ("param", "buffer"):
            if info.tensor is not None:
                note(info.tensor.shape)
            continue
        layer = info.layer
        assert layer is not None  # a layer or a stack
        missing = [a.name for a in layer.args if a.inferred and a.required and a.name not in info.given and (info.inferred is None or a.name not in info.inferred)]
        uncalled = info.name not in checker.reached and info.name not in checker.failed_layers
        if info.inferred is None and missing and uncalled:
            r.error(info.node, f"{info.name} is never called, so its {', '.join(missing)} cannot be inferred", hint="call it in a method, or give the sizes explicitly")
        elif isinstance(layer, LayerInfo) and info.name not in checker.failed_layers:
            _check_construction(checker, info, layer, called=info.name in checker.reached)
        copies = [values for copy in info.copies for values in ([v for v, _ in copy.given.values()], (copy.inferred or {}).values())]
        for values in ([v for v, _ in info.given.values()], (info.inferred or {}).values(), (info.inferred_rest or {}).values(), *copies):
            for value in values:
                if isinstance(value, Dim):
                    if value.value is None:  # a constant names no size
                        note([value])
                elif isinstance(value, tuple):
                    note([v for v in value if isinstance(v, Dim)])
        if info.count is not None:
            note([info.count])
    for name, (_, value) in model.constants.items():
        if value.kind == "int" and isinstance(value.value, Dim):
            note([value.value])
    # An input size tested by a model-level `if` decides which fields exist.
    for test in model_conditions(model.node.items):
        note([Dim.symbol(name) for name in names_in(test)])
    model.init_dims = init_dims
    for method in model.methods.values():
        for dim, where in method.used_dims.items():
            if dim not in init_dims and dim not in method.call_dims:
                r.error(where, f"the size {dim} is used in {method.name}, but no input of {method.name} has {dim} as one of its sizes", hint=f"declare an input with {dim} as a size of its own, such as f32[{dim}, ...]")


def check_spec(
    spec: s.SpecFile, load_import: Callable[[str, s.Node], CheckedSpec], recorder: ExpressionTypes | None = None
) -> CheckedSpec:
    """Check a parsed spec: names, types, arity and shapes; infer every size left out.

    Args:
        spec: the parsed file.
        load_import: resolves the path of an imported `.eqx` file (relative to
            `spec.path`), parses and checks it, and returns its CheckedSpec;
            `node` is the import, for diagnostics.
        recorder: if given, filled with the value inferred for every
            expression of a method or of a build-time value (for tools such as
            the language server; it is filled even when the check fails).

    Returns:
        The checked spec, ready for `lower.lower_spec`.

    Raises:
        CompileError: with every diagnostic found in the file.
    """
    with gc_paused():
        return SpecChecker(spec, load_import, recorder).run()
