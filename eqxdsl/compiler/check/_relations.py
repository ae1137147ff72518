"""Relations between sizes: a model's `assert`s, the facts they give the proofs, and what
the checker says when two sizes that must be equal are not proven so.

A model may state `assert dim % heads == 0` or `assert T <= ctx` (a message
string may follow, as in Python). Each becomes a `Relation`; together they are
the model's `Facts`, which every shape rule proves its equalities and bounds
under while the model is checked. Each relation is also checked against the
hyperparameters' defaults here, and against the values each use of the model
gives it (`require_relations`, called where a model is used as a layer).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from eqxdsl.compiler.check._report import Abort
from eqxdsl.compiler.check._sizes import default_sizes
from eqxdsl.compiler.check._walk import names_in
from eqxdsl.compiler.check.checked import CheckedModel, Relation, element_symbol
from eqxdsl.compiler.dims import Dim, Facts, TensorType, active_facts, assuming
from eqxdsl.compiler.library.layers import LayerShapeError
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse.walk import iter_model_items, walk
from eqxdsl.compiler.values import ShapeError, Static, describe

if TYPE_CHECKING:
    from eqxdsl.compiler.check._declarations import ModelChecker


def declare_relations(checker: ModelChecker) -> None:
    """Check the model's `assert`s and record them as `checker.model.relations`."""
    model = checker.model
    for item in iter_model_items(model.node.items):
        if not isinstance(item, s.ModelAssert):
            continue
        if item not in model.node.items:
            checker.r.error(item, "an assert cannot be inside an `if`", hint="state relations at the top level of the model")
            continue
        relation = _relation(checker, item)
        if relation is not None and _holds(checker, relation):
            model.relations.append(relation)


def facts_of(model: CheckedModel) -> Facts:
    """The facts a model's relations give its proofs."""
    return Facts((r.op, r.left, r.right) for r in model.relations)


def _relation(checker: ModelChecker, item: s.ModelAssert) -> Relation | None:
    test = item.test
    if not isinstance(test, s.Compare) or len(test.ops) != 1:
        checker.r.error(test, "an assert states one comparison of sizes, such as `dim % heads == 0` or `T <= ctx`")
        return None
    sides = []
    for operand in test.operands:
        try:
            value = checker.static_eval(operand)
        except Abort:
            return None
        if not (isinstance(value, Static) and value.kind == "int" and isinstance(value.value, Dim)):
            checker.r.error(operand, f"an assert compares sizes (ints), not {describe(value)}")
            return None
        sides.append(value.value)
    left, right = sides
    names = [n for n in _names_in_order(test) if n in left.symbols | right.symbols]
    return Relation(test.ops[0], left, right, item, _source_text(checker.r.lines, test), item.message, tuple(names))


def _holds(checker: ModelChecker, relation: Relation) -> bool:
    """Report a relation that can never hold, or fails for the defaults; True when it stays a fact of the proofs.

    A relation that only fails for the defaults (or divides by zero there)
    stays one: it says what its author means, and proofs that lean on it then
    raise no follow-on errors beside the one reported here.
    """
    if _refuted(Facts(), relation.op, relation.left, relation.right):
        checker.r.error(relation.node.test, f"{relation.text} never holds for positive sizes")
        return False
    defaults = default_sizes(checker.model.hypers)
    if set(relation.sizes) <= defaults.keys():
        try:
            left, right = relation.left.evaluate(defaults), relation.right.evaluate(defaults)
        except ZeroDivisionError:
            checker.defaults_refuted = True
            values = ", ".join(f"{name} = {defaults[name]}" for name in relation.sizes)
            checker.r.error(relation.node.test, f"{relation.text} divides by zero with the hyperparameters' defaults ({values})",
                            hint="give the divisor a default that is not zero")
            return True
        if not _compare(relation.op, left, right):
            checker.defaults_refuted = True
            values = ", ".join(f"{name} = {defaults[name]}" for name in relation.sizes)
            checker.r.error(
                relation.node.test,
                f"{relation.text} does not hold for the defaults ({values})",
                hint="change a default so that the relation holds",
            )
    return True


def branch_facts(checker: ModelChecker, test: s.Expr, holds: bool) -> Facts | None:
    """The active facts, plus what `test` says about sizes when it holds (or fails).

    A test of sizes (`stride != 1 or C != out`) gives its comparisons; a test
    of a layer's presence (`if proj`) gives the model-level condition that
    decides whether the layer exists (`proj` absent: `stride == 1`, `C == out`).
    None when that condition has an error (reported where it is written).
    """
    try:
        return active_facts().extended(_implied(checker, test, holds))
    except Abort:
        return None


def merge_branches(merge, then_value, else_value, then_facts: Facts | None, else_facts: Facts | None):
    """One type for the values two branches give, each proven under its own branch's facts, or None.

    Facts that are None come from a condition with an error: the branches are not compared.
    """
    if then_facts is None or else_facts is None:
        return then_value
    with assuming(else_facts):
        merged = merge(then_value, else_value)
    if merged is None:
        with assuming(then_facts):
            merged = merge(else_value, then_value)
    return merged


def _implied(checker: ModelChecker, test: s.Expr, holds: bool) -> list[tuple[str, Dim, Dim]]:
    """The size relations that follow from `test` holding (or failing): only those certain, never a disjunction."""
    if isinstance(test, s.UnaryOp) and test.op == "not":
        return _implied(checker, test.operand, not holds)
    if isinstance(test, s.BoolOp) and (test.op == "and") == holds:
        return [relation for value in test.values for relation in _implied(checker, value, holds)]
    if isinstance(test, s.Name) and test.id in checker.model.fields:
        conditions = _field_conditions(checker.model.node.items, test.id)
        known = set(checker.static_names()) | checker.model.fields.keys()
        if any(not names_in(condition) <= known for condition, _ in conditions):
            raise Abort
        if holds:
            return [relation for condition, branch in conditions for relation in _implied(checker, condition, branch)]
        if len(conditions) == 1:
            condition, branch = conditions[0]
            return _implied(checker, condition, not branch)
        return []
    if isinstance(test, s.Compare) and len(test.ops) == 1:
        if not names_in(test) <= set(checker.static_names()):
            raise Abort
        left, right = (checker.static_eval(operand) for operand in test.operands)
        if not all(isinstance(side, Static) and side.kind == "int" and isinstance(side.value, Dim) for side in (left, right)):
            return []
        op = test.ops[0] if holds else _NEGATION[test.ops[0]]
        return [(op, left.value, right.value)]
    return []


def _field_conditions(items, name: str, path: tuple = ()) -> list[tuple[s.Expr, bool]]:
    """The model-level `if` tests (with the branch taken) around the definition of `name`."""
    for item in items:
        if isinstance(item, s.ModelIf):
            for body, branch in ((item.body, True), (item.orelse, False)):
                found = _field_conditions(body, name, path + ((item.test, branch),))
                if found:
                    return found
        elif getattr(item, "name", None) == name and not isinstance(item, s.Method):
            return list(path)
    return []


_NEGATION = {"==": "!=", "!=": "==", "<=": ">", "<": ">=", ">=": "<", ">": "<="}


def require_relations(model: CheckedModel, values: Mapping[str, Dim], used_as: str) -> None:
    """Raise LayerShapeError unless each relation of `model` holds for the values a use gives it.

    `values` maps the model's hyperparameters and input sizes to the caller's
    sizes; relations naming a size without a value are left to the call's own
    checks. The proofs run under the caller's facts (the active ones).
    """
    facts = active_facts()
    for relation in model.relations:
        if not set(relation.sizes) <= values.keys():
            continue
        left, right = relation.left.substitute(values), relation.right.substitute(values)
        if _proven(facts, relation.op, left, right):
            continue
        given = ", ".join(f"{name} = {values[name]}" for name in relation.sizes)
        where = f"line {relation.node.pos.line}"
        if _refuted(facts, relation.op, left, right):
            raise LayerShapeError(f"{used_as} requires {relation.text} ({where}), which fails here: {given}")
        raise LayerShapeError(
            f"{used_as} requires {relation.text} ({where}), which this use does not show: {given}",
            hint=f"state it in this model: assert {_rewritten(relation, values)}",
        )


def error_hint(checker: ModelChecker, error: ShapeError | LayerShapeError) -> str | None:
    """The hint for a failed shape rule: where its two sizes come from when it names them."""
    if error.sizes is not None:
        return size_mismatch_hint(checker, *error.sizes) or error.hint
    return error.hint


def size_mismatch_hint(checker: ModelChecker, a: Dim, b: Dim) -> str | None:
    """Where sizes `a` and `b` come from, and how to make them agree, for an equality not proven.

    None when both are constants (the message's two numbers say it all).
    """
    if a.value is not None and b.value is not None:
        return None
    origins = _origins(checker, a, b)
    if active_facts().differ(a, b):
        return f"{a} and {b} differ for every size ({origins})"
    return (
        f"the compiler cannot prove {a} == {b} ({origins}); use the same name for both, "
        f"or state the relation in the model: assert {_written(a)} == {_written(b)}"
    )


def type_mismatch_hint(checker: ModelChecker, a: object, b: object) -> str | None:
    """For two arrays of one rank whose sizes are not proven equal: the hint for the first such axis."""
    if isinstance(a, TensorType) and isinstance(b, TensorType) and a.rank == b.rank:
        for x, y in zip(a.shape, b.shape):
            if not active_facts().equal(x, y):
                return size_mismatch_hint(checker, x, y)
    return None


def bound_hint(checker: ModelChecker, small: Dim, large: Dim) -> str | None:
    """Where sizes come from, and how to state `small <= large`, for a bound not proven."""
    if small.value is not None and large.value is not None:
        return None
    if active_facts().at_most(large + 1, small):
        return f"{small} is larger than {large} for every size ({_origins(checker, small, large)})"
    return (
        f"the compiler cannot prove {small} <= {large} ({_origins(checker, small, large)}); "
        f"state the relation in the model: assert {_written(small)} <= {_written(large)}"
    )


def _origins(checker: ModelChecker, *dims: Dim) -> str:
    names = list(dict.fromkeys(name for d in dims for name in sorted(d.symbols)))
    return "; ".join(_origin(checker.model, name) for name in names if "__" not in name)


def _origin(model: CheckedModel, name: str) -> str:
    for hyper in model.hypers:
        if hyper.name == name:
            return f"{name} is a hyperparameter of {model.name} (line {hyper.node.pos.line})"
    if name in model.constants:
        return f"{name} is defined on line {model.constants[name][0].pos.line}"
    for item in iter_model_items(model.node.items):
        typed: list[tuple[str, s.TensorTypeExpr, s.Node]] = [(item.name, item.type, item)] if isinstance(item, s.InputDecl) else []
        if isinstance(item, s.Method):
            typed = [(p.name, p.type, p) for p in item.params or () if p.type is not None]
        for input_name, tensor_type, where in typed:
            for axis, dim in enumerate(tensor_type.dims):
                if name in _names_in_order(dim):
                    return f"{name} is axis {axis} of input {input_name} (line {where.pos.line})"
    return f"{name} is a size of {model.name}"


def _proven(facts: Facts, op: str, left: Dim, right: Dim) -> bool:
    return {
        "==": lambda: facts.equal(left, right),
        "!=": lambda: facts.differ(left, right),
        "<=": lambda: facts.at_most(left, right),
        "<": lambda: facts.at_most(left + 1, right),
        ">=": lambda: facts.at_most(right, left),
        ">": lambda: facts.at_most(right + 1, left),
    }[op]()


def _refuted(facts: Facts, op: str, left: Dim, right: Dim) -> bool:
    return _proven(facts, _NEGATION[op], left, right)


def _compare(op: str, left: int, right: int) -> bool:
    return {"==": left == right, "!=": left != right, "<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _written(dim: Dim) -> str:
    return dim.python()


def _rewritten(relation: Relation, values: Mapping[str, Dim]) -> str:
    """The relation's text with each of its sizes replaced by the value a use gives it."""

    def replace(match: re.Match) -> str:
        name = match.group(0)
        if name not in relation.sizes:
            return name
        text = values[name].python()
        return text if values[name].value is not None or text.isidentifier() else f"({text})"

    return re.sub(r"[A-Za-z_][A-Za-z0-9_]*", replace, relation.text)


def _names_in_order(node: s.Node | tuple) -> list[str]:
    """The names an expression reads, each once, in source order: the item `widths[0]` of a tuple as well as `widths`."""
    return list(dict.fromkeys(name for found in walk(node) if (name := _size_name(found)) is not None))


def _size_name(node: s.Node) -> str | None:
    if isinstance(node, s.Name):
        return node.id
    if isinstance(node, s.Subscript) and isinstance(node.value, s.Name) and len(node.index) == 1:
        index = node.index[0]
        if isinstance(index, s.Constant) and type(index.value) is int:
            return element_symbol(node.value.id, index.value)
    return None


def _source_text(lines: list[str], node: s.Node) -> str:
    pos = node.pos
    if pos.end_line == pos.line:
        return lines[pos.line - 1][pos.column - 1 : pos.end_column - 1]
    return lines[pos.line - 1][pos.column - 1 :].strip()
