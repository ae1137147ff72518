"""Lower stage: a checked spec to `ir.ModuleFile`, the Python to write as data.

Every statement is built as an `ast` tree and turned into text with
`ast.unparse`; no text of the spec is ever pasted into the output. Names come
from the checked spec, whose checker rejected keywords, dunders and the names
the generated code relies on (`jax`, `jnp`, `eqx`, `self`, `key`, `state`,
`inference`).

The conventions (keys, state, stacks) are the ones in docs/language.md,
"Keys and state".
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

from eqxdsl.compiler import ir
from eqxdsl.compiler import syntax as s
from eqxdsl.compiler.check import (
    INITIALISERS,
    CallRef,
    CheckedModel,
    CheckedSpec,
    FieldInfo,
    LoopRef,
    MethodInfo,
    Ref,
    StaticBranch,
)
from eqxdsl.compiler._values import Static, TupleValue
from eqxdsl.compiler.diagnostics import gc_paused
from eqxdsl.compiler.dims import DTYPES, Dim
from eqxdsl.compiler.functions import FUNCTIONS, dotted, dtype_ast
from eqxdsl.compiler.layers import LayerArg, LayerInfo

__all__ = ["lower_spec"]

_BINOPS = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div, "//": ast.FloorDiv, "%": ast.Mod, "@": ast.MatMult, "**": ast.Pow}
_CMPOPS = {"==": ast.Eq, "!=": ast.NotEq, "<": ast.Lt, "<=": ast.LtE, ">": ast.Gt, ">=": ast.GtE}
_SIMPLE_POSITIONAL = {"int", "float", "bool", "any", "module", "shape", "dtype"}
_FN_ANNOTATION = "Callable[[jax.Array], jax.Array]"
#: Module-level names of every generated file.
_GENERATED_GLOBALS = frozenset({"jax", "jnp", "eqx", "Callable"})


def _name(identifier: str) -> ast.Name:
    if not identifier.isidentifier():
        raise ValueError(f"not an identifier: {identifier!r}")
    return ast.Name(identifier, ast.Load())


def _self(attr: str) -> ast.expr:
    return ast.Attribute(_name("self"), attr, ast.Load())


def _call(func: ast.expr, args=(), **keywords: ast.expr) -> ast.Call:
    return ast.Call(func, list(args), [ast.keyword(k, v) for k, v in keywords.items()])


def _const(value: object) -> ast.expr:
    if isinstance(value, float) and value < 0 or isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return ast.UnaryOp(ast.USub(), ast.Constant(-value))
    return ast.Constant(value)


def _code(node: ast.AST) -> str:
    # ast.unparse reads only a statement's own line number (for type comments);
    # filling in every location (ast.fix_missing_locations) would cost a full walk.
    if isinstance(node, ast.stmt) and not hasattr(node, "lineno"):
        node.lineno = 0
    return ast.unparse(node)


def _stmt(node: ast.stmt, origin: int | None = None) -> ir.Statement:
    return ir.Statement(_code(node), origin)


def _assign(target: str | list[str], value: ast.expr) -> ast.stmt:
    if isinstance(target, list):
        targets = ast.Tuple([ast.Name(t, ast.Store()) for t in target], ast.Store())
    else:
        targets = ast.Name(target, ast.Store())
    return ast.Assign([targets], value, lineno=0)


def _dim_ast(dim: Dim, rename: dict[str, str]) -> ast.expr:
    return ast.parse(dim.python(rename), mode="eval").body


def _tuple_of(dims, rename: dict[str, str]) -> ast.expr:
    return ast.Tuple([_dim_ast(d, rename) for d in dims], ast.Load())


def _header(code: str) -> str:
    """A compound statement's header line (`for ...:`) from a parsed one-body statement."""
    return code.split("\n", 1)[0]


def _compound(node: ast.stmt, origin: int | None, body: list[ir.Statement]) -> ir.Statement:
    if hasattr(node, "body"):
        node.body = [ast.Pass()]
    if getattr(node, "orelse", None):
        node.orelse = []
    return ir.Statement(_header(_code(node)), origin, tuple(body))


@dataclass
class _Names:
    """Allocates fresh local names that collide with nothing the method uses."""

    taken: set[str]

    def fresh(self, base: str) -> str:
        """A name not taken yet, from now on taken."""
        name = self.scoped(base)
        self.taken.add(name)
        return name

    def scoped(self, base: str) -> str:
        """A name not taken, for a variable that lives only inside one comprehension or lambda."""
        name = base
        counter = 1
        while name in self.taken:
            name = f"{base}_{counter}"
            counter += 1
        return name


# ---- model classes -----------------------------------------------------------------


def lower_spec(checked: CheckedSpec) -> ir.ModuleFile:
    """Build the module description of a checked spec.

    Args:
        checked: the result of `check.check_spec`.

    Returns:
        The generated module as data, ready for `render.render_module`.
    """
    with gc_paused():
        return _lower_spec(checked)


def _lower_spec(checked: CheckedSpec) -> ir.ModuleFile:
    imports: list[str] = []
    needs_callable = any(h.kind == "fn" for m in checked.models.values() for h in m.hypers)
    if needs_callable:
        imports.append(_code(ast.ImportFrom("collections.abc", [ast.alias("Callable")], 0)))
    for local, (module, model) in sorted(checked.imported_models.items()):
        alias = None if local == model.name else local
        imports.append(_code(ast.ImportFrom(module, [ast.alias(model.name, alias)], 0)))
    for local, cls in checked.python_classes.items():
        alias = None if local == cls.name else local
        imports.append(_code(ast.ImportFrom(cls.module, [ast.alias(cls.name, alias)], 0)))
    classes = tuple(_ModelLowerer(checked, model).lower() for model in checked.models.values())
    return ir.ModuleFile(
        source_name=checked.source_name,
        source_sha256=checked.source_sha256,
        imports=tuple(imports),
        classes=classes,
    )


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
    init = field_info.init
    if init is None:
        return False
    name = init.func.id if isinstance(init, s.Call) else init.id
    return name not in ("zeros", "ones", "constant")


def _needs_key(info: FieldInfo) -> bool:
    if info.kind in ("param", "buffer"):
        return _random_init(info)
    return bool(info.layer.init_key)


class _ModelLowerer:
    def __init__(self, checked: CheckedSpec, model: CheckedModel):
        self.checked = checked
        self.model = model
        self.resolved = model.resolved
        self.hyper_names = {h.name for h in model.hypers}
        # Module-level names (classes of this file, imports) are visible in every method.
        self.module_names = set(checked.models) | set(checked.imported_models) | set(checked.python_classes) | _GENERATED_GLOBALS
        taken = set(model.fields) | set(model.methods) | set(model.constants) | {h.name for h in model.hypers}
        self.method_names = _Names(taken | set(model.init_dims))
        self.tuple_symbols = {
            f"{h.name}_{i}": (h.name, i) for h in model.hypers if h.kind == "ints" and h.length is not None for i in range(h.length)
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
        for info in model.methods.values():
            lowerer = _MethodLowerer(self, info)
            methods.append(lowerer.lower())
            methods.extend(lowerer.extra_methods)
        return ir.ModuleClass(
            name=model.name,
            docstring=model.docstring,
            fields=tuple(fields),
            init=self._init(),
            methods=tuple(methods),
            origin=model.node.pos.line,
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
        return {symbol: f"{hyper}[{index}]" for symbol, (hyper, index) in self.tuple_symbols.items()}

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
        names = _Names(taken | self.module_names)
        body: list[ir.Statement] = []
        exprs = _ExprLowerer(self, context="init", names=names)
        for name, (node, _) in model.constants.items():
            body.append(_stmt(_assign(name, exprs.expr(node.value, [])), node.pos.line))
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

    def _init_items(self, items, key_names: dict[str, str], exprs: _ExprLowerer) -> list[ir.Statement]:
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

    def _field_value(self, info: FieldInfo, key: str | None, exprs: _ExprLowerer) -> ast.expr:
        if info.kind in ("param", "buffer"):
            return self._param_value(info, key, exprs)
        if info.kind == "stack":
            return self._stack_value(info, key, exprs)
        return self._construct(info, info.inferred or {}, _name(key) if key else None, exprs)

    def _construct(self, info: FieldInfo, inferred: dict, key: ast.expr | None, exprs: _ExprLowerer) -> ast.expr:
        layer = info.layer
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

    def _argument_ast(self, layer, name: str, node: s.Expr, exprs: _ExprLowerer) -> ast.expr:
        arg = next(a for a in layer.args if a.name == name)
        if arg.kind == "module" and isinstance(node, s.Call):
            return self._nested_layer(node, exprs)
        if arg.kind == "dtype" and isinstance(node, s.Name) and node.id in DTYPES:
            return dtype_ast(node.id)
        return exprs.expr(node, [], as_tuple=arg.kind in ("ints", "shape", "padding"))

    def _nested_layer(self, node: s.Call, exprs: _ExprLowerer) -> ast.expr:
        from eqxdsl.compiler.layers import LAYERS

        layer = LAYERS[node.func.id]
        positional = _positional(layer)
        args = [self._argument_ast(layer, p.name, a, exprs) for p, a in zip(positional, node.args)]
        keywords = [ast.keyword(k.name, self._argument_ast(layer, k.name, k.value, exprs)) for k in node.keywords]
        if layer.init_key:
            keywords.append(ast.keyword("key", _call(dotted("jax.random.fold_in"), [_name("key"), ast.Constant(0)])))
        return ast.Call(_class_ref(layer), args, keywords)

    def _stack_value(self, info: FieldInfo, key: str | None, exprs: _ExprLowerer) -> ast.expr:
        rename = self._init_rename()
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
            merged = dict(first)
            copy = {}
            for name, (a, b) in differing.items():
                copy[name] = ast.IfExp(ast.Compare(_name(index_name), [ast.Eq()], [ast.Constant(0)]), _table_ast(a, rename), _table_ast(b, rename))
            constructed = self._construct(info, merged, _name(key_name) if key else None, exprs)
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
            element = self._construct(info, first, _name(key_name) if key else None, exprs)
        if info.scan:
            source = _call(dotted("jax.random.split"), [_name(key), count]) if key else _call(dotted("jnp.arange"), [count])
            arg = key_name if key else exprs.names.scoped("_")
            lam = ast.Lambda(ast.arguments([], [ast.arg(arg)], None, [], [], None, []), element)
            return _call(_call(dotted("eqx.filter_vmap"), [lam]), [source])
        if key:
            keys = _call(dotted("jax.random.split"), [_name(key), count])
            if differing:
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

    def _param_value(self, info: FieldInfo, key: str | None, exprs: _ExprLowerer) -> ast.expr:
        rename = self._init_rename()
        tensor = info.tensor
        shape = _tuple_of(tensor.shape, rename)
        dtype = dtype_ast(tensor.dtype)
        init = info.init
        name = "zeros" if init is None else (init.func.id if isinstance(init, s.Call) else init.id)
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


def _static_ast(value: Static) -> ast.expr:
    """Python for a value the checker folded (a hyperparameter's default, `2 + 2` included)."""
    if value.kind == "int":
        return _const(value.value.value)
    if value.kind == "ints":
        return ast.Tuple([_const(d.value) for d in value.value], ast.Load())
    if value.kind == "fn":
        return dotted(FUNCTIONS[value.value].target)
    return _const(value.value)


def _if_else(test: ast.expr, origin: int | None, then: list[ir.Statement], orelse: list[ir.Statement]) -> list[ir.Statement]:
    """`if test:` with its `else:` branch; an `else:` holding only an if chain becomes `elif`."""
    if not then:
        return [_compound(ast.If(_negate(test), [ast.Pass()], []), origin, orelse)] if orelse else []
    out = [_compound(ast.If(test, [ast.Pass()], []), origin, then)]
    if _is_if_chain(orelse):
        first = orelse[0]
        out.append(ir.Statement("el" + first.code, first.origin, first.body))
        out.extend(orelse[1:])
    elif orelse:
        out.append(ir.Statement("else:", None, tuple(orelse)))
    return out


def _is_if_chain(block: list[ir.Statement]) -> bool:
    """Whether a block is exactly one `if` statement with its `elif`/`else` continuations."""
    if not block or not block[0].body or not block[0].code.startswith("if "):
        return False
    return all(statement.body and statement.code.startswith(("elif ", "else:")) for statement in block[1:])


def _negate(test: ast.expr) -> ast.expr:
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.IsNot, ast.Is)):
        flipped = ast.Is() if isinstance(test.ops[0], ast.IsNot) else ast.IsNot()
        return ast.Compare(test.left, [flipped], test.comparators)
    return ast.UnaryOp(ast.Not(), test)


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


def _table_ast(value: object, rename: dict[str, str]) -> ast.expr:
    """Python for an inferred layer-table value (a Dim, a tuple of them, a literal)."""
    if isinstance(value, Dim):
        return _dim_ast(value, rename)
    if isinstance(value, tuple):
        return ast.Tuple([_table_ast(v, rename) for v in value], ast.Load())
    if isinstance(value, str) and value in DTYPES:
        return dtype_ast(value)
    return _const(value)


# ---- methods --------------------------------------------------------------------------


class _MethodLowerer:
    def __init__(self, owner: _ModelLowerer, info: MethodInfo):
        self.owner = owner
        self.model = owner.model
        self.info = info
        self.resolved = owner.resolved
        taken = set(info.locals) | {name for name, _ in info.params} | set(info.call_dims) | {"key", "state", "inference", "self"}
        self.names = _Names(taken | owner.module_names)
        self.site_keys: dict[int, str] = {}
        self.extra_methods: list[ir.Method] = []
        self.public_name = "__call__" if info.name == "forward" else info.name

    def lower(self) -> ir.Method:
        info = self.info
        node = info.node
        stochastic = info.stochastic
        args = [ir.Arg(name, "jax.Array") for name, _ in info.params]
        if info.stateful:
            args.append(ir.Arg("state", "eqx.nn.State"))
        if stochastic:
            args.append(ir.Arg("key", "jax.Array | None", "None", kw_only=True))
        if stochastic or info.call_inference:
            # None leaves each layer's own `inference` field in charge (what
            # `eqx.nn.inference_mode` sets); True or False overrides it.
            args.append(ir.Arg("inference", "bool | None", "None", kw_only=True))
        body: list[ir.Statement] = []
        for dim in sorted(info.used_dims):
            if dim in info.call_dims and dim not in self.model.init_dims:
                param, axis = info.call_dims[dim]
                shape = ast.Subscript(ast.Attribute(_name(param), "shape", ast.Load()), ast.Constant(axis), ast.Load())
                body.append(_stmt(_assign(dim, shape)))
        sites = [ref_id for ref_id in _sites(node.body, self.resolved)]
        if sites:
            if len(sites) == 1:
                self.site_keys[sites[0][0]] = "key"
            else:
                for ref_id, base in sites:
                    self.site_keys[ref_id] = self.names.fresh(f"{base}_key")
                names = [self.site_keys[ref_id] for ref_id, _ in sites]
                split = _call(dotted("jax.random.split"), [_name("key"), ast.Constant(len(names))])
                nones = ast.Tuple([ast.Constant(None)] * len(names), ast.Load())
                value = ast.IfExp(ast.Compare(_name("key"), [ast.Is()], [ast.Constant(None)]), nones, split)
                body.append(_stmt(_assign(names, value)))
        exprs = _ExprLowerer(self.owner, context="method", names=self.names, method=self)
        body.extend(exprs.block(node.body))
        returns = self._return_annotation()
        return ir.Method(
            "__call__" if info.name == "forward" else info.name,
            tuple(args),
            tuple(body),
            returns=returns,
            docstring=node.docstring or self._docstring(),
        )

    def _return_annotation(self) -> str:
        value = self.info.returns
        base = "tuple[" + ", ".join(["jax.Array"] * len(value.items)) + "]" if isinstance(value, TupleValue) else "jax.Array"
        return f"tuple[{base}, eqx.nn.State]" if self.info.stateful else base

    def _docstring(self) -> str:
        info = self.info
        inputs = ", ".join(f"{name}: {tensor}" for name, tensor in info.params)
        result = info.returns
        text = f"Maps {inputs or 'nothing'} to {result}." if not isinstance(result, TupleValue) else f"Maps {inputs or 'nothing'} to {', '.join(map(str, result.items))}."
        notes = []
        if info.stochastic:
            notes.append("`key` drives the random parts; it may be None in inference mode.")
        if info.stochastic or info.call_inference:
            notes.append("`inference`, when True or False, overrides the layers' own `inference` fields (which `eqx.nn.inference_mode` sets).")
        if info.stateful:
            notes.append("`state` holds the running statistics; the updated state is returned beside the output.")
        # Wrapped so that, indented inside the method, the docstring stays within black's 88 columns.
        return text + ("\n\n" + textwrap.fill(" ".join(notes), width=78) if notes else "")


def _sites(body, resolved) -> Iterator[tuple[int, str]]:
    """Stochastic calls in source order: (id of the call node, base name for its key)."""
    for node in _walk_nodes(body):
        ref = resolved.get(id(node))
        if isinstance(ref, CallRef) and ref.stochastic:
            if ref.kind == "map":
                continue
            base = ref.target if ref.kind != "submethod" else f"{ref.target}_{ref.method}"
            yield id(node), base


def _walk_nodes(obj) -> Iterator[s.Node]:
    """Every node under `obj` in source order (pre-order, fields in declaration order)."""
    if isinstance(obj, tuple):
        for item in obj:
            yield from _walk_nodes(item)
    elif isinstance(obj, s.Node):
        if isinstance(obj, s.Pipeline):
            # Steps run after their source, left to right.
            yield from _walk_nodes(obj.source)
            for step in obj.steps:
                yield step
                if isinstance(step, s.Call):
                    yield from _walk_nodes(step.args)
                    yield from _walk_nodes(step.keywords)
            return
        if isinstance(obj, s.Call):
            # Arguments run before the call itself.
            yield from _walk_nodes(obj.args)
            yield from _walk_nodes(obj.keywords)
            yield obj
            return
        yield obj
        for name, value in vars(obj).items():
            if name != "pos":
                yield from _walk_nodes(value)


class _ExprLowerer:
    """Lowers spec expressions and statements; `context` is "init" or "method"."""

    def __init__(self, owner: _ModelLowerer, context: str, names: _Names, method: _MethodLowerer | None = None):
        self.owner = owner
        self.model = owner.model
        self.resolved = owner.resolved
        self.context = context
        self.names = names
        self.method = method
        self.stack_vars: dict[str, str] = {}

    # -- statements ---------------------------------------------------------------------

    def block(self, body) -> list[ir.Statement]:
        out: list[ir.Statement] = []
        for stmt in body:
            out.extend(self.statement(stmt))
        return out

    def statement(self, stmt) -> list[ir.Statement]:
        line = stmt.pos.line
        pre: list[ir.Statement] = []
        if isinstance(stmt, s.Assign):
            if len(stmt.targets) == 1 and not stmt.unpack:
                target = stmt.targets[0].id
                value = self.expr(stmt.value, pre, target=target, line=line)
                if isinstance(value, ast.Name) and value.id == target:
                    return pre  # the statements in `pre` assigned it already
                return pre + [_stmt(_assign(target, value), line)]
            value = self.expr(stmt.value, pre, line=line)
            return pre + [_stmt(_assign([t.id for t in stmt.targets], value), line)]
        if isinstance(stmt, s.AugAssign):
            value = self.expr(stmt.value, pre, line=line)
            node = ast.AugAssign(ast.Name(stmt.target.id, ast.Store()), _BINOPS[stmt.op](), value)
            return pre + [_stmt(node, line)]
        if isinstance(stmt, s.Return):
            values = [self.expr(v, pre, line=line, target=self._return_target(stmt)) for v in stmt.values]
            result = values[0] if len(values) == 1 else ast.Tuple(values, ast.Load())
            if self.method.info.stateful:
                result = ast.Tuple([result, _name("state")], ast.Load())
            return pre + [_stmt(ast.Return(result), line)]
        if isinstance(stmt, s.If):
            branch = self.resolved.get(id(stmt))
            if isinstance(branch, StaticBranch):
                # The checker checked only the branch a compile-time test selects.
                return self.block(stmt.body if branch.taken else stmt.orelse)
            test = self.expr(stmt.test, pre, line=line)
            return pre + _if_else(test, line, self.block(stmt.body), self.block(stmt.orelse))
        if isinstance(stmt, s.For):
            return pre + self.for_statement(stmt)
        return [ir.Statement("pass", line)]

    def _free_variables(self, stmt: s.For, target: str) -> list[str]:
        """Variables of the method that a loop body reads but does not assign."""
        assigned = {target}
        read: list[str] = []
        for node in _walk_nodes(stmt.body):
            if isinstance(node, s.Assign):
                assigned.update(t.id for t in node.targets)
            elif isinstance(node, s.AugAssign):
                assigned.add(node.target.id)
            elif isinstance(node, s.Name):
                ref = self.resolved.get(id(node))
                local = isinstance(ref, Ref) and (ref.kind == "local" or ref.kind == "dim" and node.id not in self.model.init_dims)
                if local and node.id not in read:
                    read.append(node.id)
        return [n for n in read if n not in assigned]

    def _return_target(self, stmt: s.Return) -> str | None:
        if len(stmt.values) == 1 and isinstance(stmt.values[0], s.Pipeline) and isinstance(stmt.values[0].source, s.Name):
            source = stmt.values[0].source
            if isinstance(self.resolved.get(id(source)), Ref) and self.resolved[id(source)].kind == "local":
                return source.id
        return None

    def for_statement(self, stmt: s.For) -> list[ir.Statement]:
        loop: LoopRef = self.resolved[id(stmt)]
        line = stmt.pos.line
        inner_sites = [(ref_id, self.method.site_keys[ref_id]) for ref_id, _ in _sites(stmt.body, self.resolved)]
        out: list[ir.Statement] = []
        target = stmt.target.id
        if loop.kind == "unrolled":
            stack = _self(loop.stack)
            self.stack_vars[target] = loop.stack
            body = self.block(stmt.body)
            if not inner_sites:
                node = ast.For(ast.Name(target, ast.Store()), stack, [ast.Pass()], [])
                return [_compound(node, line, body)]
            count = _call(_name("len"), [stack])
            targets = [ast.Name(target, ast.Store())]
            iterables: list[ast.expr] = [stack]
            for _, key_name in inner_sites:
                keys_name = self.names.fresh(f"{key_name}s")
                split = _call(dotted("jax.random.split"), [_name(key_name), count])
                nones = ast.BinOp(ast.Tuple([ast.Constant(None)], ast.Load()), ast.Mult(), count)
                value = ast.IfExp(ast.Compare(_name(key_name), [ast.Is()], [ast.Constant(None)]), nones, split)
                out.append(_stmt(_assign(keys_name, value)))
                targets.append(ast.Name(key_name, ast.Store()))
                iterables.append(_name(keys_name))
            node = ast.For(ast.Tuple(targets, ast.Store()), _call(_name("zip"), iterables), [ast.Pass()], [])
            return out + [_compound(node, line, body)]
        # Scans: over a stacked stack, or over the leading axis of an array.
        carries = list(loop.carries)
        step_name = self.owner.method_names.fresh(f"_{loop.stack or target}_step")
        if loop.kind == "scan":
            params_name = self.names.fresh(f"{loop.stack}_params")
            static_name = self.names.fresh(f"{loop.stack}_static")
            partition = _call(dotted("eqx.partition"), [_self(loop.stack), dotted("eqx.is_array")])
            out.append(_stmt(_assign([params_name, static_name], partition), line))
            element = self.names.fresh(f"{target}_params")
            xs: list[ast.expr] = [_name(params_name)]
            element_names = [element]
            length: ast.expr = _call(_name("len"), [ast.Subscript(_call(dotted("jax.tree_util.tree_leaves"), [_name(params_name)]), ast.Constant(0), ast.Load())])
            if loop.length is not None and not (loop.length.symbols - self.owner.hyper_names):
                length = _dim_ast(loop.length, {n: f"self.{n}" for n in self.owner.hyper_names})
        else:
            element = target
            xs = [self.expr(stmt.iter, out, line=line)]
            if not isinstance(xs[0], ast.Name):
                sequence = self.names.fresh(f"{target}s")
                out.append(_stmt(_assign(sequence, xs[0]), line))
                xs = [_name(sequence)]
            element_names = [element]
            length = ast.Subscript(ast.Attribute(xs[0], "shape", ast.Load()), ast.Constant(0), ast.Load())
        for _, key_name in inner_sites:
            keys_name = self.names.fresh(f"{key_name}s")
            split = _call(dotted("jax.random.split"), [_name(key_name), length])
            value = ast.IfExp(ast.Compare(_name(key_name), [ast.Is()], [ast.Constant(None)]), ast.Constant(None), split)
            out.append(_stmt(_assign(keys_name, value)))
            xs.append(_name(keys_name))
            element_names.append(key_name)
        body: list[ir.Statement] = []
        carry_arg = carries[0] if len(carries) == 1 else self.names.fresh("carry")
        xs_arg = element_names[0] if len(element_names) == 1 else self.names.fresh("xs")
        if len(carries) > 1:
            body.append(_stmt(_assign(carries, _name(carry_arg))))
        if len(element_names) > 1:
            body.append(_stmt(_assign(element_names, _name(xs_arg))))
        if loop.kind == "scan":
            combined = _call(dotted("eqx.combine"), [_name(element), _name(static_name)])
            body.append(_stmt(_assign(target, combined)))
            self.stack_vars[target] = loop.stack
        body.extend(self.block(stmt.body))
        carry_out = _name(carries[0]) if len(carries) == 1 else ast.Tuple([_name(c) for c in carries], ast.Load())
        body.append(_stmt(ast.Return(ast.Tuple([carry_out, ast.Constant(None)], ast.Load()))))
        # The step is a private method; what the body reads from the method's
        # variables is passed to it explicitly.
        free = self._free_variables(stmt, target)
        if loop.kind == "scan":
            free.insert(0, static_name)
        if self.method.info.stochastic or self.method.info.call_inference:
            free.append("inference")
        step_args = tuple(ir.Arg(n) for n in [carry_arg, xs_arg, *free])
        kind = f"the layers of {loop.stack}" if loop.stack else f"the leading axis of the loop in {self.method.public_name}"
        self.method.extra_methods.append(
            ir.Method(step_name, step_args, tuple(body), docstring=f"One step of the scan over {kind} (line {line} of the spec).")
        )
        lam_args = ast.arguments([], [ast.arg(carry_arg), ast.arg(xs_arg)], None, [], [], None, [])
        step_call = _call(_self(step_name), [_name(carry_arg), _name(xs_arg), *[_name(n) for n in free]])
        xs_value = xs[0] if len(xs) == 1 else ast.Tuple(xs, ast.Load())
        init = _name(carries[0]) if len(carries) == 1 else ast.Tuple([_name(c) for c in carries], ast.Load())
        scan = _call(dotted("jax.lax.scan"), [ast.Lambda(lam_args, step_call), init, xs_value])
        result_target = ast.Tuple([ast.Name(carries[0], ast.Store()) if len(carries) == 1 else ast.Tuple([ast.Name(c, ast.Store()) for c in carries], ast.Store()), ast.Name(self.names.fresh("_"), ast.Store())], ast.Store())
        out.append(_stmt(ast.Assign([result_target], scan, lineno=0), line))
        return out

    # -- expressions ---------------------------------------------------------------------

    def expr(self, node: s.Expr, pre: list, target: str | None = None, line: int | None = None, as_tuple: bool = False) -> ast.expr:
        line = line if line is not None else node.pos.line
        if isinstance(node, s.Pipeline):
            return self.pipeline(node, pre, target, line)
        if isinstance(node, s.Name):
            return self.name(node)
        if isinstance(node, s.Constant):
            return _const(node.value)
        if isinstance(node, (s.TupleExpr, s.ListExpr)):
            elts = [self.expr(e, pre, line=line) for e in node.elts]
            if isinstance(node, s.TupleExpr) or as_tuple:
                return ast.Tuple(elts, ast.Load())
            return ast.List(elts, ast.Load())
        if isinstance(node, s.BinOp):
            return ast.BinOp(self.expr(node.left, pre, line=line), _BINOPS[node.op](), self.expr(node.right, pre, line=line))
        if isinstance(node, s.UnaryOp):
            operand = self.expr(node.operand, pre, line=line)
            op = {"-": ast.USub, "+": ast.UAdd, "not": ast.Not}[node.op]()
            return ast.UnaryOp(op, operand)
        if isinstance(node, s.BoolOp):
            return ast.BoolOp(ast.And() if node.op == "and" else ast.Or(), [self.expr(v, pre, line=line) for v in node.values])
        if isinstance(node, s.Compare):
            operands = [self.expr(o, pre, line=line) for o in node.operands]
            return ast.Compare(operands[0], [_CMPOPS[o]() for o in node.ops], operands[1:])
        if isinstance(node, s.IfExp):
            return self.if_exp(node, pre, target, line)
        if isinstance(node, s.Attribute):
            return self.attribute(node, pre, line)
        if isinstance(node, s.Subscript):
            value = self.expr(node.value, pre, line=line)
            items = [self.index_item(i, pre, line) for i in node.index]
            index = items[0] if len(items) == 1 else ast.Tuple(items, ast.Load())
            return ast.Subscript(value, index, ast.Load())
        if isinstance(node, s.Call):
            return self.call(node, node.func, [self.expr(a, pre, line=line) for a in node.args if not _is_key(a)], pre, line, target)
        raise AssertionError(f"unexpected node {type(node).__name__}")

    def index_item(self, item, pre: list, line: int) -> ast.expr:
        if isinstance(item, s.Slice):
            parts = [self.expr(p, pre, line=line) if p is not None else None for p in (item.lower, item.upper, item.step)]
            return ast.Slice(*parts)
        if isinstance(item, s.EllipsisExpr):
            return ast.Constant(Ellipsis)
        return self.expr(item, pre, line=line)

    def name(self, node: s.Name) -> ast.expr:
        ref = self.resolved.get(id(node))
        name = node.id
        if self.context == "init":
            if isinstance(ref, Ref) and ref.kind == "function":
                return dotted(FUNCTIONS[name].target)
            if isinstance(ref, Ref) and ref.kind == "dtype":
                return dtype_ast(name)
            return _name(name)
        kind = ref.kind if isinstance(ref, Ref) else None
        if kind == "local":
            return _name(name)
        if kind in ("hyper", "const"):
            return _self(name)
        if kind == "dim":
            return _self(name) if name in self.model.init_dims else _name(name)
        if kind == "field":
            return self.field(name)
        if kind == "presence":
            return ast.Compare(_self(name), [ast.IsNot()], [ast.Constant(None)])
        if kind == "function":
            return dotted(FUNCTIONS[name].target)
        if kind == "dtype":
            return dtype_ast(name)
        if isinstance(ref, CallRef):
            return self.callable(node, ref)
        return _name(name)

    def field(self, name: str) -> ast.expr:
        info = self.model.fields[name]
        value = _self(name)
        if info.kind == "buffer":
            return _call(dotted("jax.lax.stop_gradient"), [value])
        if info.frozen:
            arrays = _call(dotted("eqx.filter"), [value, dotted("eqx.is_array")])
            return _call(dotted("eqx.combine"), [_call(dotted("jax.lax.stop_gradient"), [arrays]), value])
        return value

    def attribute(self, node: s.Attribute, pre: list, line: int) -> ast.expr:
        ref = self.resolved.get(id(node))
        if isinstance(ref, Ref) and ref.kind == "weight":
            base = self.field(ref.name)
            return ast.Attribute(base, node.attr, ast.Load())
        return ast.Attribute(self.expr(node.value, pre, line=line), node.attr, ast.Load())

    def if_exp(self, node: s.IfExp, pre: list, target: str | None, line: int) -> ast.expr:
        branch = self.resolved.get(id(node))
        if isinstance(branch, StaticBranch):
            # The checker checked only the branch a compile-time test selects.
            return self.expr(node.body if branch.taken else node.orelse, pre, target, line)
        test = self.expr(node.test, pre, line=line)
        body_pre: list = []
        body = self.expr(node.body, body_pre, line=line)
        else_pre: list = []
        orelse = self.expr(node.orelse, else_pre, line=line)
        if not body_pre and not else_pre:
            return ast.IfExp(test, body, orelse)
        # A branch needs statements (a stateful call): write an if statement.
        result = target or self.names.fresh("branch")
        then_block = body_pre + [_stmt(_assign(result, body), line)]
        else_block = else_pre + [_stmt(_assign(result, orelse), line)]
        pre.extend(_if_else(test, line, then_block, else_block))
        return _name(result)

    def pipeline(self, node: s.Pipeline, pre: list, target: str | None, line: int) -> ast.expr:
        value = self.expr(node.source, pre, line=line)
        if target is None:
            for step in node.steps:
                value = self.step(step, value, pre, line, None)
            return value
        # At statement level, one assignment per step: `x = self.conv1(x)`.
        for index, step in enumerate(node.steps):
            value = self.step(step, value, pre, line, target)
            if index < len(node.steps) - 1:
                if not (isinstance(value, ast.Name) and value.id == target):
                    pre.append(_stmt(_assign(target, value), line))
                value = _name(target)
        return value

    def step(self, step: s.Expr, value: ast.expr, pre: list, line: int, target: str | None) -> ast.expr:
        if isinstance(step, s.Call):
            args = [value] + [self.expr(a, pre, line=line) for a in step.args if not _is_key(a)]
            return self.call(step, step.func, args, pre, line, target)
        return self.call(step, step, [value], pre, line, target)

    def callable(self, node: s.Expr, ref: CallRef) -> ast.expr:
        """A layer, method or function as a value (what map applies)."""
        if ref.kind == "layer":
            return self._layer_callee(node, ref)
        if ref.kind == "method":
            return _self(ref.target)
        if ref.kind == "function":
            return dotted(FUNCTIONS[ref.target].target)
        if ref.kind == "activation":
            return _self(ref.target)
        raise AssertionError(ref)

    def _layer_callee(self, func: s.Expr, ref: CallRef) -> ast.expr:
        if isinstance(func, s.Name) and func.id in self.stack_vars:
            return _name(func.id)
        if isinstance(func, s.Call):
            return self._layer_callee(func.func, ref)
        return self.field(ref.target)

    def call(self, node: s.Expr, func: s.Expr, args: list[ast.expr], pre: list, line: int, target: str | None) -> ast.expr:
        ref = self.resolved.get(id(node))
        if not isinstance(ref, CallRef):
            raise AssertionError(f"unresolved call at line {node.pos.line}")
        keywords: dict[str, ast.expr] = {}
        if isinstance(node, s.Call) and ref.kind in ("layer", "submethod"):
            for kw in node.keywords:
                keywords[kw.name] = self.expr(kw.value, pre, line=line)
        if ref.kind == "map":
            return self.map_call(node, ref, args, pre, line)
        if ref.kind == "function":
            return self.function_call(node, ref, args, pre, line)
        if ref.kind == "activation":
            return _call(_self(ref.target), args)
        if ref.kind == "layer":
            callee = self._layer_callee(func, ref)
        elif ref.kind == "submethod":
            callee = ast.Attribute(self.field(ref.target), ref.method, ast.Load())
        else:
            callee = _self(ref.target)
        if ref.stateful:
            args = args + [_name("state")]
        if ref.stochastic:
            keywords["key"] = _name(self.method.site_keys[id(node)])
        if ref.stochastic or ref.call_inference:
            keywords["inference"] = _name("inference")
        call = _call(callee, args, **keywords)
        if not ref.stateful:
            return call
        result = target or self.names.fresh(f"{ref.target}_out")
        pre.append(_stmt(_assign([result, "state"], call), line))
        return _name(result)

    def function_call(self, node: s.Expr, ref: CallRef, args: list[ast.expr], pre: list, line: int) -> ast.expr:
        function = FUNCTIONS[ref.target]
        params = list(function.params)
        if function.stochastic:
            params = [p for p in params if p.kind != "key"]
        bound: dict[str, ast.expr] = {}
        for param, value in zip(params, args):
            bound[param.name] = value
        if isinstance(node, s.Call):
            for kw in node.keywords:
                bound[kw.name] = self.expr(kw.value, pre, line=line, as_tuple=True)
        for param in function.params:
            if param.kind == "shape" and isinstance(bound.get(param.name), ast.List):
                bound[param.name] = ast.Tuple(bound[param.name].elts, ast.Load())
            if param.kind == "dtype" and isinstance(bound.get(param.name), ast.Name) and bound[param.name].id in DTYPES:
                bound[param.name] = dtype_ast(bound[param.name].id)
        if function.stochastic:
            bound["key"] = _name(self.method.site_keys[id(node)])
        if function.lowering is not None:
            return function.lowering(bound)
        if function.name == "einsum":
            return _call(dotted(function.target), args)
        positional = []
        keywords = {}
        leading = True
        for param in function.params:
            if param.name not in bound:
                leading = False
                continue
            if leading:
                positional.append(bound[param.name])
            else:
                keywords[param.name] = bound[param.name]
        return _call(dotted(function.target), positional, **keywords)

    def map_call(self, node: s.Call, ref: CallRef, args: list[ast.expr], pre: list, line: int) -> ast.expr:
        piped = len(args) - len(node.args)
        callee_node = node.args[0]
        arrays = args[:piped] + args[piped + 1 :]
        inner = ref.inner
        if inner is None or not (inner.stochastic or inner.call_inference or isinstance(callee_node, s.Call)):
            function = self.callable(callee_node, inner) if inner is not None else self.expr(callee_node, pre, line=line)
            return _call(_call(dotted("jax.vmap"), [function]), arrays)
        # A lambda: the mapped callable needs a key per element, inference, or extra arguments.
        element_names = [self.names.fresh(f"{_base(a)}_i") for a in arrays]
        element_args: list[ast.expr] = [_name(n) for n in element_names]
        lam_args = [ast.arg(n) for n in element_names]
        mapped = list(arrays)
        inner_pre: list = []
        if isinstance(callee_node, s.Call):
            extra = [self.expr(a, inner_pre, line=line) for a in callee_node.args]
            body = self.call(callee_node, callee_node.func, element_args + extra, inner_pre, line, None)
        else:
            if inner.stochastic:
                site = self.method.site_keys[id(callee_node)]
                keys_name = self.names.fresh(f"{site}s")
                length = ast.Subscript(ast.Attribute(arrays[0], "shape", ast.Load()), ast.Constant(0), ast.Load())
                split = _call(dotted("jax.random.split"), [_name(site), length])
                value = ast.IfExp(ast.Compare(_name(site), [ast.Is()], [ast.Constant(None)]), ast.Constant(None), split)
                pre.append(_stmt(_assign(keys_name, value), line))
                lam_args.append(ast.arg(site))
                mapped.append(_name(keys_name))
            body = self.call(callee_node, callee_node, element_args, inner_pre, line, None)
        lam = ast.Lambda(ast.arguments([], lam_args, None, [], [], None, []), body)
        return _call(_call(dotted("jax.vmap"), [lam]), mapped)


def _base(value: ast.expr) -> str:
    return value.id if isinstance(value, ast.Name) else "x"


def _is_key(node: s.Expr) -> bool:
    return isinstance(node, s.Name) and node.id == "key"
