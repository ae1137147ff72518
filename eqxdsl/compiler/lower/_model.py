"""Lowering one model: its fields with their annotations, and `__init__`, which builds every layer."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from eqxdsl.compiler.check.checked import CheckedModel, CheckedSpec, FieldInfo, element_symbol
from eqxdsl.compiler.dims import DTYPES
from eqxdsl.compiler.library.functions import dotted, dtype_ast
from eqxdsl.compiler.library.initialisers import INITIALISERS
from eqxdsl.compiler.library.layers import LayerArg, LayerInfo
from eqxdsl.compiler.lower import ir
from eqxdsl.compiler.lower._ast import (
    Names,
    _assign,
    _call,
    _code,
    _const,
    _dim_ast,
    _if_else,
    _name,
    _static_ast,
    _stmt,
    _table_ast,
    _tuple_of,
)
from eqxdsl.compiler.lower._axes import axes_attributes
from eqxdsl.compiler.lower._expressions import ExprLowerer
from eqxdsl.compiler.lower._input_checks import init_relation_checks
from eqxdsl.compiler.lower._method import MethodLowerer
from eqxdsl.compiler.lower._stacks import build_checks, per_copy_stack, variadic_rename
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.reserved import GENERATED_GLOBALS
from eqxdsl.compiler.values import Static

_SIMPLE_POSITIONAL = {"int", "float", "bool", "any", "module", "shape", "dtype"}


_FN_ANNOTATION = "Callable[[jax.Array], jax.Array]"


def _class_ref(layer) -> ast.expr:
    if isinstance(layer, LayerInfo):
        return dotted(f"eqx.nn.{layer.name}")
    return _name(layer.class_name)


def _class_annotation(layer) -> str:
    return _code(_class_ref(layer))


def _hyper_annotation(kind: str, length: int | None) -> str:
    if kind == "fn":
        return _FN_ANNOTATION
    if kind == "ints":
        return "tuple[int, ...]" if length is None else "tuple[" + ", ".join(["int"] * length) + "]"
    return kind


def _static_annotation(value: Static) -> str:
    return {"int": "int", "float": "float", "bool": "bool", "str": "str", "fn": _FN_ANNOTATION, "ints": "tuple[int, ...]"}.get(value.kind, "object")


def _random_init(field_info: FieldInfo) -> bool:
    name = field_info.init_name
    return name is not None and name not in ("zeros", "ones", "constant")


def _needs_key(info: FieldInfo) -> bool:
    if info.kind in ("param", "buffer"):
        return _random_init(info)
    return info.layer is not None and bool(info.layer.init_key)


class ModelLowerer:
    def __init__(self, checked: CheckedSpec, model: CheckedModel):
        self.checked = checked
        self.model = model
        self.resolved = model.resolved
        self.hyper_names = {h.name for h in model.hypers}
        # Module-level names (classes of this file, imports) are visible in every method.
        self.module_names = set(checked.models) | set(checked.imported_models) | set(checked.python_classes) | GENERATED_GLOBALS
        taken = set(model.fields) | set(model.methods) | set(model.constants) | {h.name for h in model.hypers}
        self.method_names = Names(taken | set(model.init_dims))
        self.tuple_symbols = {
            element_symbol(h.name, i): (h.name, i) for h in model.hypers if h.kind == "ints" and h.length is not None for i in range(h.length)
        }

    def lower(self) -> ir.ModuleClass:
        model = self.model
        fields: list[ir.Field] = []
        for info in model.fields.values():
            fields.append(ir.Field(info.name, self._field_annotation(info)))
        for hyper in model.hypers:
            fields.append(ir.Field(hyper.name, _hyper_annotation(hyper.kind, hyper.length), static=True))
        for name, (_, value) in model.constants.items():
            fields.append(ir.Field(name, _static_annotation(value), static=True))
        for dim in model.init_dims:
            fields.append(ir.Field(dim, "int", static=True))
        methods: list[ir.Method] = []
        for method_info in model.methods.values():
            lowerer = MethodLowerer(self, method_info)
            methods.append(lowerer.lower())
            methods.extend(lowerer.extra_methods)
        return ir.ModuleClass(
            name=model.name,
            docstring=model.docstring,
            fields=tuple(fields),
            init=self._init(),
            methods=tuple(methods),
            origin=model.node.pos.line,
            attributes=axes_attributes(model),
        )

    def _field_annotation(self, info: FieldInfo) -> str:
        if info.kind in ("param", "buffer"):
            annotation = "jax.Array"
        elif info.kind == "stack" and not info.scan:
            annotation = f"tuple[{_class_annotation(info.layer)}, ...]"
        else:
            annotation = _class_annotation(info.layer)
        return f"{annotation} | None" if info.conditional else annotation

    # -- __init__ ----------------------------------------------------------------------

    def _init_rename(self) -> dict[str, str]:
        rename = {symbol: f"{hyper}[{index}]" for symbol, (hyper, index) in self.tuple_symbols.items()}
        rename.update(variadic_rename(self.model))
        return rename

    def _init(self) -> ir.Method:
        model = self.model
        args = []
        for hyper in model.hypers:
            default = _code(_static_ast(hyper.default)) if hyper.default is not None else None
            args.append(ir.Arg(hyper.name, _hyper_annotation(hyper.kind, hyper.length), default))
        for dim in model.init_dims:
            args.append(ir.Arg(dim, "int", kw_only=True))
        args.append(ir.Arg("key", "jax.Array", kw_only=True))
        taken = {h.name for h in model.hypers} | set(model.constants) | set(model.init_dims) | {"key", "self"}
        names = Names(taken | self.module_names)
        body: list[ir.Statement] = build_checks(self)
        exprs = ExprLowerer(self, context="init", names=names)
        for name, (node, _) in model.constants.items():
            body.append(_stmt(_assign(name, exprs.expr(node.value, [])), node.pos.line))
        body.extend(init_relation_checks(self))
        keyed = [info for info in model.fields.values() if _needs_key(info)]
        key_names: dict[str, str] = {}
        if len(keyed) == 1:
            key_names[keyed[0].name] = "key"
        elif keyed:
            for info in keyed:
                key_names[info.name] = names.fresh(f"{info.name}_key")
            split = _call(dotted("jax.random.split"), [_name("key"), ast.Constant(len(keyed))])
            body.append(_stmt(_assign([key_names[i.name] for i in keyed], split)))
        body.extend(self._init_items(model.node.items, key_names, exprs))
        for hyper in model.hypers:
            body.append(_stmt(ast.Assign([ast.Attribute(_name("self"), hyper.name, ast.Store())], _name(hyper.name), lineno=0)))
        for name in list(model.constants) + list(model.init_dims):
            body.append(_stmt(ast.Assign([ast.Attribute(_name("self"), name, ast.Store())], _name(name), lineno=0)))
        return ir.Method("__init__", tuple(args), tuple(body), docstring=None)

    def _init_items(self, items, key_names: dict[str, str], exprs: ExprLowerer) -> list[ir.Statement]:
        body: list[ir.Statement] = []
        for item in items:
            if isinstance(item, s.ModelIf):
                then = self._init_items(item.body, key_names, exprs)
                orelse = self._init_items(item.orelse, key_names, exprs)
                # A field defined in one branch only is None in the other.
                then_names = set(_field_names(item.body))
                else_names = set(_field_names(item.orelse))
                then += [_none_field(n) for n in sorted(else_names - then_names)]
                orelse += [_none_field(n) for n in sorted(then_names - else_names)]
                body.extend(_if_else(exprs.expr(item.test, []), item.pos.line, then, orelse))
            elif isinstance(item, (s.Definition, s.RepeatDef, s.ParamDef, s.FrozenDef)) and item.name in self.model.fields:
                info = self.model.fields[item.name]
                value = self._field_value(info, key_names.get(info.name), exprs)
                target = ast.Attribute(_name("self"), info.name, ast.Store())
                statement = _stmt(ast.Assign([target], value, lineno=0), item.pos.line)
                if isinstance(value, ast.Call) and len(value.args) == 1 and isinstance(value.args[0], ast.GeneratorExp):
                    # `tuple(x for x in y)` rather than ast.unparse's `tuple((x for x in y))`.
                    generator = _code(value.args[0])[1:-1]
                    statement = ir.Statement(f"{_code(target)} = {_code(value.func)}({generator})", item.pos.line)
                body.append(statement)
        return body

    def _field_value(self, info: FieldInfo, key: str | None, exprs: ExprLowerer) -> ast.expr:
        if info.kind in ("param", "buffer"):
            return self._param_value(info, key, exprs)
        if info.kind == "stack" and info.targets:
            return per_copy_stack(self, info, key, exprs)
        if info.kind == "stack":
            return self._stack_value(info, key, exprs)
        return self._construct(info, info.inferred or {}, _name(key) if key else None, exprs)

    def _construct(self, info: FieldInfo, inferred: dict, key: ast.expr | None, exprs: ExprLowerer) -> ast.Call:
        layer = info.layer
        assert layer is not None and info.call is not None  # a layer or a stack, built by a call
        values: dict[str, ast.expr] = {}
        for name, (_, node) in info.given.items():
            values[name] = self._argument_ast(layer, name, node, exprs)
        rename = self._init_rename()
        for name, value in inferred.items():
            if name in values:
                continue
            values[name] = _table_ast(value, rename)
        positional_given = {layer_arg.name for layer_arg, _ in zip(_positional(layer), info.call.args)}
        args: list[ast.expr] = []
        keywords: list[ast.keyword] = []
        leading = True
        for arg in layer.args:
            if arg.name not in values:
                leading = False
                continue
            simple = arg.required and arg.kind in _SIMPLE_POSITIONAL
            if leading and not arg.keyword_only and (arg.name in positional_given or simple):
                args.append(values[arg.name])
            else:
                leading = False
                keywords.append(ast.keyword(arg.name, values[arg.name]))
        if key is not None and layer.init_key:
            keywords.append(ast.keyword("key", key))
        return ast.Call(_class_ref(layer), args, keywords)

    def _argument_ast(self, layer, name: str, node: s.Expr, exprs: ExprLowerer) -> ast.expr:
        arg = next(a for a in layer.args if a.name == name)
        if arg.kind == "module" and isinstance(node, s.Call):
            return self._nested_layer(node, exprs)
        if arg.kind == "dtype" and isinstance(node, s.Name) and node.id in DTYPES:
            return dtype_ast(node.id)
        return exprs.expr(node, [], as_tuple=arg.kind in ("ints", "shape", "padding"))

    def _nested_layer(self, node: s.Call, exprs: ExprLowerer) -> ast.expr:
        from eqxdsl.compiler.library.layers import LAYERS

        assert isinstance(node.func, s.Name)  # check accepts only a layer's name here
        layer = LAYERS[node.func.id]
        positional = _positional(layer)
        args = [self._argument_ast(layer, p.name, a, exprs) for p, a in zip(positional, node.args)]
        keywords = [ast.keyword(k.name, self._argument_ast(layer, k.name, k.value, exprs)) for k in node.keywords]
        if layer.init_key:
            keywords.append(ast.keyword("key", _call(dotted("jax.random.fold_in"), [_name("key"), ast.Constant(0)])))
        return ast.Call(_class_ref(layer), args, keywords)

    def _stack_value(self, info: FieldInfo, key: str | None, exprs: ExprLowerer) -> ast.expr:
        rename = self._init_rename()
        assert info.count is not None and info.layer is not None  # a stack
        count = _dim_ast(info.count, rename)
        first = info.inferred or {}
        rest = info.inferred_rest
        if info.scan or rest is None or all(rest.get(k) == v for k, v in first.items()):
            differing: dict = {}
        else:
            differing = {k: (v, rest.get(k)) for k, v in first.items() if rest.get(k) != v}
        # The comprehension's variables are fresh: a hyperparameter named `i` or `k`
        # used in the layer's arguments must not be captured by them.
        index_name = exprs.names.scoped("i") if differing else None
        key_name = exprs.names.scoped("k") if key else None
        if differing:
            assert index_name is not None
            merged = dict(first)
            copy = {}
            for name, (a, b) in differing.items():
                copy[name] = ast.IfExp(ast.Compare(_name(index_name), [ast.Eq()], [ast.Constant(0)]), _table_ast(a, rename), _table_ast(b, rename))
            constructed = self._construct(info, merged, _name(key_name) if key_name is not None else None, exprs)
            for keyword_node in constructed.keywords:
                if keyword_node.arg in copy:
                    keyword_node.value = copy[keyword_node.arg]
            positional_names = [a.name for a in info.layer.args if not a.keyword_only]
            for index, value in enumerate(list(constructed.args)):
                name = positional_names[index]
                if name in copy:
                    constructed.args[index] = copy[name]
            element = constructed
        else:
            element = self._construct(info, first, _name(key_name) if key_name is not None else None, exprs)
        if info.scan:
            source = _call(dotted("jax.random.split"), [_name(key), count]) if key else _call(dotted("jnp.arange"), [count])
            arg = key_name if key_name is not None else exprs.names.scoped("_")
            lam = ast.Lambda(ast.arguments([], [ast.arg(arg)], None, [], [], None, []), element)
            return _call(_call(dotted("eqx.filter_vmap"), [lam]), [source])
        target: ast.expr
        iterator: ast.expr
        if key and key_name is not None:
            keys = _call(dotted("jax.random.split"), [_name(key), count])
            if differing and index_name is not None:
                target = ast.Tuple([ast.Name(index_name, ast.Store()), ast.Name(key_name, ast.Store())], ast.Store())
                iterator = _call(_name("enumerate"), [keys])
            else:
                target = ast.Name(key_name, ast.Store())
                iterator = keys
        else:
            iterator = _call(_name("range"), [count])
            target = ast.Name(index_name or exprs.names.scoped("_"), ast.Store())
        generator = ast.GeneratorExp(element, [ast.comprehension(target, iterator, [], 0)])
        return _call(_name("tuple"), [generator])

    def _param_value(self, info: FieldInfo, key: str | None, exprs: ExprLowerer) -> ast.expr:
        rename = self._init_rename()
        tensor = info.tensor
        assert tensor is not None  # a parameter or a buffer has a type
        shape = _tuple_of(tensor.shape, rename)
        dtype = dtype_ast(tensor.dtype)
        init = info.init
        name = info.init_name or "zeros"
        spec = INITIALISERS[name]
        values: dict[str, ast.expr] = {}
        if isinstance(init, s.Call):
            for (param_name, _), node in zip(spec.params, init.args):
                values[param_name] = exprs.expr(node, [])
            for kw in init.keywords:
                values[kw.name] = exprs.expr(kw.value, [])
        key_ast = _name(key) if key else None
        if name in ("zeros", "ones"):
            return _call(dotted(f"jnp.{name}"), [shape], dtype=dtype)
        if name == "constant":
            return _call(dotted("jnp.full"), [shape, values["value"]], dtype=dtype)
        if name == "normal":
            sample = _call(dotted("jax.random.normal"), [key_ast, shape, dtype])
            scaled = ast.BinOp(values["stddev"], ast.Mult(), sample) if "stddev" in values else sample
            return ast.BinOp(values["mean"], ast.Add(), scaled) if "mean" in values else scaled
        if name == "truncated_normal":
            lower = values.get("lower", _const(-2.0))
            upper = values.get("upper", _const(2.0))
            sample = _call(dotted("jax.random.truncated_normal"), [key_ast, lower, upper, shape, dtype])
            return ast.BinOp(values["stddev"], ast.Mult(), sample) if "stddev" in values else sample
        if name == "uniform":
            return _call(dotted("jax.random.uniform"), [key_ast, shape, dtype], minval=values.get("minval", _const(0.0)), maxval=values.get("maxval", _const(1.0)))
        family = {"glorot": "glorot", "xavier": "glorot", "he": "he", "kaiming": "he"}[name.rsplit("_", 1)[0]]
        initializer = _call(dotted(f"jax.nn.initializers.{family}_{name.rsplit('_', 1)[1]}"))
        return _call(initializer, [key_ast, shape, dtype])


def _positional(layer) -> list[LayerArg]:
    return [a for a in layer.args if not a.keyword_only]


def _field_names(items) -> Iterator[str]:
    for item in items:
        if isinstance(item, s.ModelIf):
            yield from _field_names(item.body)
            yield from _field_names(item.orelse)
        elif isinstance(item, (s.Definition, s.RepeatDef, s.ParamDef, s.FrozenDef)):
            yield item.name


def _none_field(name: str) -> ir.Statement:
    return _stmt(ast.Assign([ast.Attribute(_name("self"), name, ast.Store())], ast.Constant(None), lineno=0))
