"""Lowering stacks built copy by copy (`repeat w, s in zip(widths, strides): ...`) and the
build-time checks of tuple hyperparameters.

A per-copy stack becomes one generator expression over the loop names, with the
construction keys zipped in:

    self.stages = tuple(
        Stage(w, s, C=widths[0] if i == 0 else widths[i - 1], key=k)
        for i, (w, s, k) in enumerate(zip(widths, strides, jax.random.split(stages_key, len(widths))))
    )
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from eqxdsl.compiler.check.checked import CheckedModel, CopyArgument, FieldInfo, Ref, element_symbol, length_symbol
from eqxdsl.compiler.dims import Dim
from eqxdsl.compiler.library.functions import dotted
from eqxdsl.compiler.lower import ir
from eqxdsl.compiler.lower._ast import Names, _call, _compound, _dim_ast, _name, _stmt, _table_ast
from eqxdsl.compiler.lower._sites import walk_nodes
from eqxdsl.compiler.parse import syntax as s

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from eqxdsl.compiler.lower._expressions import ExprLowerer
    from eqxdsl.compiler.lower._model import ModelLowerer


def _variadic(model: CheckedModel) -> dict[str, int]:
    """The `tuple[int, ...]` hyperparameters with a default, and the length they were checked at."""
    return {h.name: len(h.default.value) for h in model.hypers if h.kind == "ints" and h.length is None and h.default is not None}


def variadic_rename(model: CheckedModel) -> dict[str, str]:
    """Python for the symbols of tuples of any length: `widths[0]`, the last element as `widths[-1]`, `len(widths)`."""
    rename: dict[str, str] = {}
    for name, length in _variadic(model).items():
        for index in range(length):
            # What follows a stack over the tuple sees its last copy, whatever the length.
            rename[element_symbol(name, index)] = f"{name}[-1]" if index == length - 1 and length > 1 else f"{name}[{index}]"
        rename[length_symbol(name)] = f"len({name})"
    return rename


def per_copy_stack(owner: ModelLowerer, info: FieldInfo, key: str | None, exprs: ExprLowerer) -> ast.expr:
    """`tuple(Layer(...) for targets in sequence)`: one copy per element, each with its own key."""
    names = Names(set(exprs.names.taken) | set(info.targets))
    assert isinstance(info.node, s.RepeatDef) and info.count is not None  # `repeat ... in <sequence>:`
    iterable = info.node.count
    index = _index_name(info, iterable)
    needs_index = any(_uses_index(rule) for rule in info.copy_arguments.values())
    wrap = needs_index and index is None
    if wrap:
        index = names.fresh("i")
    rename = owner._init_rename()
    previous = {target: _previous(info, target, index, exprs) for target in info.targets} if needs_index and index is not None else {}
    replacements = {name: _argument_ast(info, rule, index, previous, rename, exprs) for name, rule in info.copy_arguments.items()}
    key_name = names.fresh("k") if key else None
    element = owner._construct(info, {name: rule.first for name, rule in info.copy_arguments.items()}, _name(key_name) if key_name else None, exprs)
    _replace_arguments(element, info, replacements)
    targets: list[ast.expr] = [ast.Name(t, ast.Store()) for t in info.targets]
    sequence = _sequence_ast(iterable, exprs)
    iterator: ast.expr
    if key and key_name is not None:
        keys = _call(dotted("jax.random.split"), [_name(key), _dim_ast(info.count, rename)])
        if _is_call(iterable, "range") and len(targets) == 1 and not wrap:
            pattern: ast.expr = ast.Tuple([targets[0], ast.Name(key_name, ast.Store())], ast.Store())
            iterator = _call(_name("enumerate"), [keys])
        elif _is_call(iterable, "zip"):
            assert isinstance(sequence, ast.Call)  # _sequence_ast keeps the zip
            pattern = ast.Tuple([*targets, ast.Name(key_name, ast.Store())], ast.Store())
            iterator = _call(_name("zip"), [*sequence.args, keys])
        else:
            own = targets[0] if len(targets) == 1 else ast.Tuple(targets, ast.Store())
            pattern = ast.Tuple([own, ast.Name(key_name, ast.Store())], ast.Store())
            iterator = _call(_name("zip"), [sequence, keys])
    else:
        pattern = targets[0] if len(targets) == 1 else ast.Tuple(targets, ast.Store())
        iterator = sequence
    if wrap and index is not None:
        pattern = ast.Tuple([ast.Name(index, ast.Store()), pattern], ast.Store())
        iterator = _call(_name("enumerate"), [iterator])
    generator = ast.GeneratorExp(element, [ast.comprehension(pattern, iterator, [], 0)])
    return _call(_name("tuple"), [generator])


def _negated(node: s.UnaryOp) -> int | float | None:
    """The number `-n` writes, or None when it is not a minus before a number."""
    operand = node.operand
    if node.op == "-" and isinstance(operand, s.Constant) and isinstance(operand.value, (int, float)):
        return -operand.value
    return None


def _is_call(node: s.Expr, name: str) -> TypeIs[s.Call]:
    return isinstance(node, s.Call) and isinstance(node.func, s.Name) and node.func.id == name


def _index_name(info: FieldInfo, iterable: s.Expr) -> str | None:
    """The loop name that already counts the copies: `i` of `range(n)` or of `enumerate(...)`."""
    if _is_call(iterable, "range") or _is_call(iterable, "enumerate"):
        return info.targets[0]
    return None


def _uses_index(rule: CopyArgument) -> bool:
    if rule.loop is None and rule.argument is None:
        return rule.first != rule.rest
    return rule.previous or not rule.first_too


def _sequence_ast(node: s.Expr, exprs: ExprLowerer) -> ast.expr:
    """What a repeat runs over, in Python: `range(n)`, `zip(a, b)`, `enumerate(t)` or a tuple."""
    for name in ("range", "zip", "enumerate"):
        if _is_call(node, name):
            inner = [_sequence_ast(arg, exprs) if name != "range" else exprs.expr(arg, []) for arg in node.args]
            return _call(_name(name), inner)
    return exprs.expr(node, [])


def _previous(info: FieldInfo, target: str, index: str, exprs: ExprLowerer) -> ast.expr:
    """The previous copy's value of a loop name: `i - 1` for the index, `widths[i - 1]` for an element."""
    before = ast.BinOp(_name(index), ast.Sub(), ast.Constant(1))
    source = info.sequences.get(target)
    if source is None:
        return before
    return ast.Subscript(_sequence_ast(source, exprs), before, ast.Load())


def _argument_ast(info: FieldInfo, rule: CopyArgument, index: str | None, previous: dict, rename: dict, exprs: ExprLowerer) -> ast.expr:
    first = _table_ast(rule.first, rename)
    if rule.loop is None and rule.argument is None:
        if rule.first == rule.rest:
            return first
        later = _table_ast(rule.rest, rename)
    elif rule.loop is not None and not rule.previous:
        later = _name(rule.loop)
        if rule.first_too:
            return later
    elif rule.loop is not None:
        later = previous[rule.loop]
    else:
        assert rule.argument is not None  # neither `loop` nor `argument` set returned above
        node = info.copies[0].given[rule.argument][1]
        later = _LoopNames(previous).visit(exprs.expr(node, []))
    assert index is not None  # a rule that tells copy 0 apart has the index (see `per_copy_stack`)
    first_copy = ast.Compare(_name(index), [ast.Eq()], [ast.Constant(0)])
    return ast.IfExp(first_copy, first, later)


class _LoopNames(ast.NodeTransformer):
    """Replaces the loop names of an argument by their previous copy's values."""

    def __init__(self, previous: dict[str, ast.expr]):
        self.previous = previous

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return self.previous.get(node.id, node)


def _replace_arguments(call: ast.Call, info: FieldInfo, replacements: dict[str, ast.expr]) -> None:
    """Put per-copy expressions in place of a constructor call's arguments, positional or keyword."""
    for keyword in call.keywords:
        if keyword.arg in replacements:
            keyword.value = replacements[keyword.arg]
    assert info.layer is not None
    positional = [a.name for a in info.layer.args if not a.keyword_only]
    for position, name in enumerate(positional[: len(call.args)]):
        if name in replacements:
            call.args[position] = replacements[name]


# -- build-time checks ----------------------------------------------------------------


def build_checks(owner: ModelLowerer) -> list[ir.Statement]:
    """`__init__`'s checks of the tuples the spec could not check: their lengths, when built.

    A `tuple[int, int]` must hold two ints; tuples zipped into one stack must
    agree in length; a tuple of any length must be long enough for the indices
    the model reads.
    """
    model = owner.model
    checks: list[ir.Statement] = []
    rename = owner._init_rename()
    for hyper in model.hypers:
        if hyper.kind == "ints" and hyper.length is not None:
            length = _len(hyper.name)
            checks.append(_raise_if(ast.Compare(length, [ast.NotEq()], [ast.Constant(hyper.length)]), hyper.node.pos.line,
                                    [f"{model.name}: {hyper.name} must hold {hyper.length} ints, got ", length]))
    for name, least in sorted(_shortest(model).items()):
        length = _len(name)
        hyper = next(h for h in model.hypers if h.name == name)
        checks.append(_raise_if(ast.Compare(length, [ast.Lt()], [ast.Constant(least)]), hyper.node.pos.line,
                                [f"{model.name}: {name} needs at least {least} value{'s' if least != 1 else ''}, got ", length]))
    for info in model.fields.values():
        lengths = [length for length in info.zipped if length is not None]
        for other in lengths[1:]:
            if (other - lengths[0]).value is not None:
                continue
            first, second = _dim_ast(lengths[0], rename), _dim_ast(other, rename)
            words = [ast.unparse(first), ast.unparse(second)]
            checks.append(_raise_if(ast.Compare(second, [ast.NotEq()], [first]), info.node.pos.line,
                                    [f"{model.name}: {info.name} zips values of different lengths: {words[0]} is ", first, f", {words[1]} is ", second]))
    return checks


def _len(name: str) -> ast.expr:
    return _call(_name("len"), [_name(name)])


def _raise_if(test: ast.expr, origin: int, message: list) -> ir.Statement:
    """`if test: raise ValueError(message)`, the message's strings and values joined (an f-string when it has values)."""
    if all(isinstance(part, str) for part in message):
        text: ast.expr = ast.Constant("".join(message))
    else:
        text = ast.JoinedStr([ast.Constant(p) if isinstance(p, str) else ast.FormattedValue(p, -1, None) for p in message])
    error = ast.Raise(_call(_name("ValueError"), [text]), None)
    return _compound(ast.If(test, [ast.Pass()], []), origin, [_stmt(error)])


def _shortest(model: CheckedModel) -> dict[str, int]:
    """For each tuple of any length, the fewest values the generated code can index."""
    variadic = _variadic(model)
    least: dict[str, int] = {}

    def need(name: str, count: int) -> None:
        least[name] = max(least.get(name, 0), count)

    for name in _iterated(model):
        need(name, 1)

    for info in model.fields.values():
        values = [*(info.inferred or {}).values(), *(info.inferred_rest or {}).values()]
        values += [v for rule in info.copy_arguments.values() for v in (rule.first, rule.rest)]
        values += [v for v, _ in info.given.values()]
        for value in values:
            for dim in value if isinstance(value, tuple) else (value,):
                if not isinstance(dim, Dim):
                    continue
                for symbol in dim.symbols:
                    hyper, _, index = symbol.rpartition("_")
                    if hyper in variadic and index.isdigit() and int(index) < variadic[hyper] - 1:
                        need(hyper, int(index) + 1)
    for node in walk_nodes(model.node.items):
        if isinstance(node, s.Subscript) and isinstance(node.value, s.Name) and node.value.id in variadic:
            ref = model.resolved.get(id(node.value))
            item = node.index[0] if len(node.index) == 1 else None
            if isinstance(ref, Ref) and ref.kind == "hyper" and isinstance(item, (s.Constant, s.UnaryOp)):
                value = item.value if isinstance(item, s.Constant) else _negated(item)
                if isinstance(value, int) and not isinstance(value, bool):
                    need(node.value.id, value + 1 if value >= 0 else -value)
    return least


def _iterated(model: CheckedModel) -> set[str]:
    """The tuples of any length that a stack runs over: each needs at least one value."""
    names = set()
    variadic = _variadic(model)
    for info in model.fields.values():
        for source in info.sequences.values():
            for node in walk_nodes(source) if source is not None else ():
                if isinstance(node, s.Name) and node.id in variadic:
                    names.add(node.id)
    return names
