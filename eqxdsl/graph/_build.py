"""`spec_graph`: the dataflow of a model, read off its checked spec without building or tracing it.

The builder walks the model's `forward` body as the model would run it, with
each variable bound to the nodes that produced its value: a call of a layer or
function becomes a node, an operator (`+`, `@`) a small node, and every array
argument an edge from its producers, labelled with the type the checker
inferred for it. A call of a nested model (or of another method) is walked in
turn, inside a cluster; a loop body is walked once, inside a cluster marked
with how many times it runs (folded into its one node or cluster when it holds
only that).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from ..compiler.check import CallRef, CallSite, CheckedModel, FieldInfo, LoopRef, MethodInfo, Ref, SizeError, StaticBranch, length_symbol, set_sizes
from ..compiler.dims import Dim
from ..compiler.library.layers import LayerShapeError
from ..compiler.parse import syntax as s
from ..compiler.values import TupleValue
from ._graph import Cluster, Edge, Graph, Location, Node, mark_skips
from ._labels import size_text, substitute, value_text, values_text
from ._types import TypedSpec, spec_of

__all__ = ["GraphError", "spec_graph"]

#: The producers of a value: ids of the nodes whose outputs it is made of.
Flow = tuple[str, ...]


class GraphError(Exception):
    """A graph that cannot be drawn as asked: an unknown model, or one without a forward method."""


@dataclasses.dataclass
class _Scope:
    """Where the walk is.

    Attributes:
        model: the model whose method body is walked.
        sizes: the caller's values for that model's sizes, so its shapes read in the caller's terms.
        functions: the activations its `fn` hyperparameters name, where known (`{"act": "gelu"}`).
        cluster: the cluster new nodes go in; None at the top.
        depth: how many nested models deep the walk is.
        env: each variable's producers.
        loop_start: inside a loop body, how many nodes there were before it; None outside loops.
    """

    model: CheckedModel
    sizes: Mapping[str, Dim]
    functions: Mapping[str, str]
    cluster: str | None
    depth: int
    env: dict[str, Flow]
    loop_start: int | None = None

    def inside(self, cluster: str | None, env: dict[str, Flow] | None = None) -> _Scope:
        return dataclasses.replace(self, cluster=cluster, env=self.env if env is None else env)


def _union(flows: Sequence[Flow]) -> Flow:
    return tuple(dict.fromkeys(node for flow in flows for node in flow))


class _Builder:
    """Walks method bodies, adding the graph's nodes, edges and clusters in the order the model computes them."""

    def __init__(self, typed: TypedSpec, depth: int | None):
        """`typed`: the checked spec with its expression values; `depth`: how many nested models to open."""
        self.typed = typed
        self.depth = depth
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.clusters: list[Cluster] = []
        self.params: dict[tuple[str | None, str], str] = {}
        self.order: dict[str, int] = {}
        self.sites: dict[int, dict[int, list[CallSite]]] = {}

    # -- the graph's parts ---------------------------------------------------

    def location(self, model: CheckedModel, node: s.Node | None) -> Location | None:
        if node is None:
            return None
        spec = spec_of(self.typed, model)
        lines = spec.source.splitlines()
        text = lines[node.pos.line - 1].strip() if node.pos.line <= len(lines) else ""
        return Location(spec.path, node.pos.line, text)

    def source_text(self, model: CheckedModel, node: s.Node) -> str:
        """The spec text of `node` when it lies on one line; else the text of its first line from it."""
        lines = spec_of(self.typed, model).source.splitlines()
        line = lines[node.pos.line - 1] if node.pos.line <= len(lines) else ""
        end = node.pos.end_column - 1 if node.pos.end_line == node.pos.line else len(line)
        return line[node.pos.column - 1 : end].strip()

    def node(self, scope: _Scope, kind: str, label: str, detail: str = "", at: s.Node | None = None, repeat: str | None = None) -> str:
        ident = f"n{len(self.nodes)}"
        self.order[ident] = len(self.nodes)
        self.nodes.append(Node(ident, kind, label, detail, self.location(scope.model, at), scope.cluster, repeat))
        return ident

    def cluster(self, scope: _Scope, label: str, at: s.Node | None, repeat: str | None = None) -> str:
        ident = f"cluster_{len(self.clusters)}"
        self.clusters.append(Cluster(ident, label, scope.cluster, self.location(scope.model, at), repeat))
        return ident

    def connect(self, flow: Flow, target: str, label: str) -> None:
        for source in flow:
            self.edges.append(Edge(source, target, label))

    def param(self, scope: _Scope, label: str, field: FieldInfo) -> Flow:
        """The node of an array a model holds, read directly (`pos`, `embed.weight`): one per cluster."""
        key = (scope.cluster, label)
        if key not in self.params:
            detail = "" if field.tensor is None else f"{field.kind} {value_text(substitute(field.tensor, scope.sizes))}"
            self.params[key] = self.node(scope, "param", label, detail, field.node)
        return (self.params[key],)

    # -- what the checker recorded -------------------------------------------

    def sites_at(self, model: CheckedModel, node: s.Node) -> list[CallSite]:
        by_node = self.sites.get(id(model))
        if by_node is None:
            by_node = {}
            for method in model.methods.values():
                for site in method.sites:
                    by_node.setdefault(id(site.node), []).append(site)
            self.sites[id(model)] = by_node
        return by_node.get(id(node), [])

    def label(self, scope: _Scope, expr: s.Node, flow: Flow = ()) -> str:
        """The type of `expr`, whose producers are `flow`, as the checker inferred it, in the caller's sizes.

        A value that enters a loop body from before the loop is what the first
        step sees: the checker's first value (an unrolled stack's later copies
        see what the earlier ones made, which the edges of the body show).
        """
        values = self.typed.types.values(expr) or [site.output for site in self.sites_at(scope.model, expr)]
        start = scope.loop_start
        if start is not None and flow and all(self.order[node] < start for node in flow):
            values = values[:1]
        return values_text([substitute(value, scope.sizes) for value in values])

    # -- statements ----------------------------------------------------------

    def method(self, scope: _Scope, method: MethodInfo, returns: list[list[tuple[Flow, str]]]) -> None:
        self.block(scope, method.node.body if method.node is not None else (), returns)

    def block(self, scope: _Scope, body: Sequence[s.Node], returns: list[list[tuple[Flow, str]]]) -> None:
        for stmt in body:
            self.statement(scope, stmt, returns)

    def statement(self, scope: _Scope, stmt: s.Node, returns: list[list[tuple[Flow, str]]]) -> None:
        if isinstance(stmt, s.Assign):
            if stmt.unpack or len(stmt.targets) > 1:
                for target, flow in zip(stmt.targets, self.items(scope, stmt.value, len(stmt.targets))):
                    scope.env[target.id] = flow
            else:
                scope.env[stmt.targets[0].id] = self.flow(scope, stmt.value)
        elif isinstance(stmt, s.AugAssign):
            op = self.node(scope, "op", stmt.op, at=stmt)
            for operand, flow in ((stmt.target, scope.env.get(stmt.target.id, ())), (stmt.value, self.flow(scope, stmt.value))):
                self.connect(flow, op, self.label(scope, operand, flow))
            scope.env[stmt.target.id] = (op,)
        elif isinstance(stmt, s.Append):
            scope.env[stmt.target.id] = _union([scope.env.get(stmt.target.id, ()), self.flow(scope, stmt.value)])
        elif isinstance(stmt, s.Return):
            returns.append([self.argument(scope, value) for value in stmt.values])
        elif isinstance(stmt, s.For):
            self.loop(scope, stmt, returns)
        elif isinstance(stmt, s.If):
            branch = scope.model.resolved.get(id(stmt))
            if isinstance(branch, StaticBranch):
                self.block(scope, stmt.body if branch.taken else stmt.orelse, returns)
                return
            self.flow(scope, stmt.test)
            envs = []
            for body in (stmt.body, stmt.orelse):
                env = dict(scope.env)
                self.block(scope.inside(scope.cluster, env), body, returns)
                envs.append(env)
            for name in {*envs[0], *envs[1]}:
                scope.env[name] = _union([env.get(name, ()) for env in envs])

    def loop(self, scope: _Scope, stmt: s.For, returns: list[list[tuple[Flow, str]]]) -> None:
        """A loop's body walked once, in a cluster marked with its count (see `fold`)."""
        loop = scope.model.resolved.get(id(stmt))
        count = None
        if isinstance(loop, LoopRef):
            length = loop.length
            if length is None and loop.stack is not None and loop.stack in scope.model.fields:
                length = scope.model.fields[loop.stack].count
            count = None if length is None else size_text(substitute(length, scope.sizes))
        over = self.flow(scope, stmt.iter)
        targets = stmt.targets or (stmt.target,)
        for target in targets:
            scope.env[target.id] = over
        names = ", ".join(target.id for target in targets)
        cluster = self.cluster(scope, f"for {names} in {self.source_text(scope.model, stmt.iter)}", stmt, count)
        self.block(dataclasses.replace(scope, cluster=cluster, loop_start=len(self.nodes)), stmt.body, returns)
        self.fold(cluster)

    def fold(self, cluster: str) -> None:
        """Put a loop cluster's count on its only node or cluster, when it holds nothing else."""
        index = next(i for i, c in enumerate(self.clusters) if c.id == cluster)
        loop = self.clusters[index]
        nodes = [i for i, node in enumerate(self.nodes) if node.cluster == cluster]
        inner = [i for i, c in enumerate(self.clusters) if c.parent == cluster]
        if len(nodes) + len(inner) != 1:
            return
        if nodes:
            self.nodes[nodes[0]] = dataclasses.replace(self.nodes[nodes[0]], cluster=loop.parent, repeat=loop.repeat)
        else:
            self.clusters[inner[0]] = dataclasses.replace(self.clusters[inner[0]], parent=loop.parent, repeat=loop.repeat)
        del self.clusters[index]

    # -- expressions ---------------------------------------------------------

    def items(self, scope: _Scope, expr: s.Node, count: int) -> list[Flow]:
        """The producers of each item of a value unpacked into `count` names."""
        if isinstance(expr, s.TupleExpr) and len(expr.elts) == count:
            return [self.flow(scope, item) for item in expr.elts]
        if isinstance(expr, s.Call):
            results = self.call(scope, expr)
            if len(results) == count:
                return list(results)
            return [_union(results)] * count
        return [self.flow(scope, expr)] * count

    def flow(self, scope: _Scope, expr: s.Node | None) -> Flow:
        """Walk `expr`, adding the nodes it computes; returns the producers of its value."""
        if expr is None:
            return ()
        resolved = scope.model.resolved.get(id(expr))
        if isinstance(expr, s.Name):
            if expr.id in scope.env:
                return scope.env[expr.id]
            field = scope.model.fields.get(expr.id)
            if isinstance(resolved, Ref) and resolved.kind == "field" and field is not None and field.kind in ("param", "buffer"):
                return self.param(scope, expr.id, field)
            return ()
        if isinstance(expr, s.Attribute):
            if isinstance(resolved, Ref) and resolved.kind == "weight" and resolved.name in scope.model.fields:
                return self.param(scope, self.source_text(scope.model, expr), scope.model.fields[resolved.name])
            return self.flow(scope, expr.value)
        if isinstance(expr, s.Subscript):
            return _union([self.flow(scope, expr.value), *(self.flow(scope, index) for index in expr.index)])
        if isinstance(expr, s.Call):
            return _union(self.call(scope, expr))
        if isinstance(expr, s.Pipeline):
            return self.pipeline(scope, expr)
        if isinstance(expr, s.BinOp):
            return self.operator(scope, expr.op, expr, (expr.left, expr.right))
        if isinstance(expr, s.UnaryOp):
            return self.operator(scope, expr.op, expr, (expr.operand,))
        if isinstance(expr, s.Compare):
            return self.operator(scope, " ".join(expr.ops), expr, expr.operands)
        if isinstance(expr, s.IfExp):
            self.flow(scope, expr.test)
            return _union([self.flow(scope, expr.body), self.flow(scope, expr.orelse)])
        if isinstance(expr, (s.TupleExpr, s.ListExpr)):
            return _union([self.flow(scope, item) for item in expr.elts])
        if isinstance(expr, s.BoolOp):
            return _union([self.flow(scope, item) for item in expr.values])
        return ()  # constants, slices, `...`

    def operator(self, scope: _Scope, op: str, expr: s.Node, operands: Sequence[s.Node]) -> Flow:
        flows = [self.flow(scope, operand) for operand in operands]
        if not any(flows):
            return ()  # arithmetic on sizes
        node = self.node(scope, "op", op, at=expr)
        for operand, flow in zip(operands, flows):
            self.connect(flow, node, self.label(scope, operand, flow))
        return (node,)

    def pipeline(self, scope: _Scope, expr: s.Pipeline) -> Flow:
        current, label = self.argument(scope, expr.source)
        for step in expr.steps:
            func = step.func if isinstance(step, s.Call) else step
            ref = scope.model.resolved.get(id(step)) or scope.model.resolved.get(id(func))
            given = self.arguments(scope, step) if isinstance(step, s.Call) else []
            current = _union(self.apply(scope, step, ref, func, [(current, label), *given]))
            label = self.label(scope, step)
        return current

    def argument(self, scope: _Scope, expr: s.Node) -> tuple[Flow, str]:
        """Walk `expr`; its producers and its type."""
        flow = self.flow(scope, expr)
        return flow, self.label(scope, expr, flow)

    def arguments(self, scope: _Scope, call: s.Call, skip: int = 0) -> list[tuple[Flow, str]]:
        """Each argument of `call` (after the first `skip`): its producers and its type.

        The items of a list or tuple (`concatenate([x, h])`) are arguments each, with their own types.
        """
        given = []
        for arg in call.args[skip:]:
            for item in arg.elts if isinstance(arg, (s.ListExpr, s.TupleExpr)) else (arg,):
                given.append(self.argument(scope, item))
        for keyword in call.keywords:
            flow, label = self.argument(scope, keyword.value)
            if flow:
                given.append((flow, f"{keyword.name}: {label}"))
        return given

    def call(self, scope: _Scope, call: s.Call) -> tuple[Flow, ...]:
        ref = scope.model.resolved.get(id(call)) or scope.model.resolved.get(id(call.func))
        if isinstance(ref, CallRef) and ref.kind == "map" and call.args:
            inner = call.args[0]
            inner_ref = ref.inner or scope.model.resolved.get(id(inner))
            return self.apply(scope, call, inner_ref, inner, self.arguments(scope, call, skip=1), mapped=True)
        return self.apply(scope, call, ref, call.func, self.arguments(scope, call))

    def apply(
        self, scope: _Scope, at: s.Node, ref: object, func: s.Node, args: list[tuple[Flow, str]], mapped: bool = False,
    ) -> tuple[Flow, ...]:
        """A call of the callable `func` (resolved as `ref`) at `at` on `args`; the producers of each output."""
        kind = ref.kind if isinstance(ref, CallRef) else None
        suffix = " · map" if mapped else ""
        if kind in ("layer", "stack", "submethod") and ref.target in scope.model.fields:
            field = scope.model.fields[ref.target]
            layer = field.layer
            name = self.source_text(scope.model, func) if isinstance(func, s.Subscript) else field.name
            class_name = getattr(layer, "class_name", None) or getattr(layer, "name", "")
            repeat = size_text(substitute(field.count, scope.sizes)) if kind == "stack" and field.count is not None else None
            sub = getattr(layer, "model", None)
            # The layer's own call: on the call, or (under `map`, in a pipeline) on the callable.
            sites = [site for site in (*self.sites_at(scope.model, at), *self.sites_at(scope.model, func)) if site.kind == "layer"]
            site = sites[0] if sites else None
            method_name = ref.method or (site.method if site is not None else None) or "forward"
            if sub is not None and method_name in sub.methods and (self.depth is None or scope.depth < self.depth):
                method = sub.methods[method_name]
                title = f"{name}: {class_name}" + (f".{method_name}" if method_name != "forward" else "") + suffix
                sizes, functions = self.nested_values(scope, field, method, site)
                return self.expand(scope, sub, method, args, title, field.node, sizes, functions, scope.depth + 1, repeat)
            node = self.node(scope, "layer", name, class_name + suffix, field.node, repeat)
        elif kind == "method" and ref.target in scope.model.methods:
            method = scope.model.methods[ref.target]
            site = next(iter(self.sites_at(scope.model, at)), None)
            bound = {name: substitute(size, scope.sizes) for name, size in (site.bound if site is not None else {}).items()}
            sizes = {**scope.sizes, **bound}
            return self.expand(scope, scope.model, method, args, f"{ref.target}(){suffix}", at, sizes, scope.functions, scope.depth)
        elif kind == "activation" and ref.target in scope.functions:
            node = self.node(scope, "function", scope.functions[ref.target], ref.target + suffix, at)
        else:
            name = ref.target if isinstance(ref, CallRef) and kind != "map" else self.source_text(scope.model, func)
            node = self.node(scope, "function", name, suffix.strip(" ·"), at)
        for flow, label in args:
            self.connect(flow, node, label)
        return ((node,),)

    def nested_values(
        self, scope: _Scope, field: FieldInfo, method: MethodInfo, site: CallSite | None,
    ) -> tuple[dict[str, Dim], dict[str, str]]:
        """A nested model's sizes in the caller's terms, and its activations; none for an unrolled stack, whose copies differ."""
        layer = field.layer
        if field.kind == "stack" and not field.scan:
            return {}, {}
        args = {arg.name: arg.default for arg in layer.args if not arg.required}
        args.update({name: value for name, (value, _) in field.given.items()})
        args.update(field.inferred or {})
        functions = {hyper.name: args[hyper.name] for hyper in layer.model.hypers if hyper.kind == "fn" and isinstance(args.get(hyper.name), str)}
        values: dict[str, object] = dict(layer._bindings(args))
        values.update({dim: args[dim] for dim in layer.model.init_dims if isinstance(args.get(dim), Dim)})
        if site is not None:
            try:
                values.update(layer.bind_inputs(method, args, site.inputs))
            except LayerShapeError:
                pass  # the checker accepted the call; sizes it cannot bind stay symbolic
        return {name: substitute(value, scope.sizes) for name, value in values.items() if isinstance(value, Dim)}, functions

    def expand(
        self, scope: _Scope, model: CheckedModel, method: MethodInfo, args: list[tuple[Flow, str]], title: str,
        at: s.Node, sizes: Mapping[str, Dim], functions: Mapping[str, str], depth: int, repeat: str | None = None,
    ) -> tuple[Flow, ...]:
        """Walk `method` of `model` inside a new cluster, its inputs bound to `args`; the producers of each output."""
        cluster = self.cluster(scope, title, at, repeat)
        env = {name: flow for (name, _), (flow, _) in zip(method.params, args)}
        inner = _Scope(model, sizes, functions, cluster, depth, env)
        returns: list[list[tuple[Flow, str]]] = []
        self.method(inner, method, returns)
        width = max((len(values) for values in returns), default=0)
        return tuple(_union([values[index][0] for values in returns if index < len(values)]) for index in range(width))


def _input_node(model: CheckedModel, method: MethodInfo, name: str) -> s.Node | None:
    """Where an input is declared: the method's parameter, or the model's `input` line."""
    for param in (method.node.params or ()) if method.node is not None else ():
        if param.name == name:
            return param
    return next((item for item in model.node.items if isinstance(item, s.InputDecl) and item.name == name), None)


def spec_graph(
    typed: TypedSpec, model: str | None = None, depth: int | None = None, sizes: Mapping[str, int | tuple[int, ...]] | None = None
) -> Graph:
    """The dataflow graph of `model`'s forward method (default: the spec's last model).

    Args:
        typed: the spec, checked with its expression values (`check_with_types`).
        model: the model's name.
        depth: how many levels of nested models to open into clusters; None: all of them.
        sizes: values for some of the model's sizes (`dim=128`, `T=1024`, a
            tuple `widths=(64, 128)`), which shapes then show as numbers; the
            others stay the names the spec gives them.

    Raises:
        GraphError: an unknown model, one without a forward method, or a size
            it does not have.
    """
    checked = typed.checked
    if not checked.models:
        raise GraphError(f"{checked.source_name} defines no model")
    name = model if model is not None else list(checked.models)[-1]
    found = checked.models.get(name)
    if found is None:
        raise GraphError(f"{checked.source_name} has no model {name!r}; its models: {', '.join(checked.models)}")
    forward = found.forward
    if forward is None:
        raise GraphError(f"{name} has no forward method, so it has no dataflow to draw")
    try:
        given = {symbol: Dim.const(value) for symbol, value in set_sizes(found, sizes or {}).items()}
    except SizeError as error:
        raise GraphError(str(error)) from None
    builder = _Builder(typed, depth)
    defaults = {hyper.name: hyper.default.value for hyper in found.hypers if hyper.kind == "fn" and hyper.default is not None}
    functions = {name: value for name, value in defaults.items() if isinstance(value, str)}
    scope = _Scope(found, {**_tuple_lengths(found), **given}, functions, None, 0, {})
    for param, value in forward.params:
        scope.env[param] = (builder.node(scope, "input", param, value_text(value), _input_node(found, forward, param)),)
    returns: list[list[tuple[Flow, str]]] = []
    builder.method(scope, forward, returns)
    width = max((len(values) for values in returns), default=0)
    for index in range(width):
        returned = forward.returns.items[index] if isinstance(forward.returns, TupleValue) else forward.returns
        title = "output" if width == 1 else f"output {index}"
        node = builder.node(scope, "output", title, value_text(returned), forward.node)
        for values in returns:
            if index < len(values):
                flow, label = values[index]
                builder.connect(flow, node, label)
    edges = list(dict.fromkeys(builder.edges))
    return Graph(found.name, tuple(builder.nodes), mark_skips(edges), _kept_clusters(builder.nodes, builder.clusters))


def _tuple_lengths(model: CheckedModel) -> dict[str, Dim]:
    """The lengths of the model's tuple hyperparameters of any length, from their defaults:
    a loop over `dilations` runs `len(dilations)` times (the checker's `length_symbol`)."""
    lengths = {}
    for hyper in model.hypers:
        if hyper.kind == "ints" and hyper.length is None and hyper.default is not None and isinstance(hyper.default.value, tuple):
            lengths[length_symbol(hyper.name)] = Dim.const(len(hyper.default.value))
    return lengths


def _kept_clusters(nodes: Sequence[Node], clusters: Sequence[Cluster]) -> tuple[Cluster, ...]:
    """The clusters that hold a node, directly or through the clusters inside them."""
    full = {node.cluster for node in nodes}
    parents = {cluster.id: cluster.parent for cluster in clusters}
    for ident in list(full):
        while ident is not None:
            full.add(ident)
            ident = parents.get(ident)
    return tuple(cluster for cluster in clusters if cluster.id in full)
