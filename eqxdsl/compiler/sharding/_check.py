"""`check_sharding_of_spec`: a spec's logical axes against a mesh and rules, before anything runs.

Each model of the spec is taken as the root of a model built with its default
sizes (or those given): every annotated array, input and `shard` call is
resolved by the runtime's own rules check (`eqxdsl.sharding_rules`), and each
problem becomes a located error, at the name in the `axes:` entry (or the
`shard` call) it is about, or at the rule in the rules file.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import overload

from eqxdsl.compiler.build import build_for
from eqxdsl.compiler.check import CheckedModel, CheckedSpec, default_sizes, did_you_mean
from eqxdsl.compiler.diagnostics import CompileError, Diagnostic, diagnostic_at
from eqxdsl.compiler.dims import Dim
from eqxdsl.compiler.outputs import read_spec
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.session import Session
from eqxdsl.compiler.sharding._arrays import SpecArrays, spec_arrays
from eqxdsl.compiler.sharding._rules_file import RulesFile
from eqxdsl.compiler.targets import DEFAULT_TARGET
from eqxdsl.sharding_rules import (
    RuleTable,
    ShardingProblem,
    join_annotations,
    parse_rules,
    path_name,
    resolve_axes,
    unused_rules,
)

__all__ = ["check_file_sharding", "check_sharding_of_spec"]

_UNUSED_ADVICE = "nor does any input or shard call"

_RULE_HINTS = {
    "malformed": 'a rule maps a logical name to a mesh axis ("model"), a list of them (["data", "model"]) or null (replicated)',
    "axis_twice": "name each mesh axis once",
    "conflict": "keep one rule for each logical name",
    "unused_rule": "remove it, or fix the axes: entry meant to use it",
}


class _Located:
    """Diagnostics of several files, one per place: the first problem found there is the one shown."""

    def __init__(self, specs: Iterable[CheckedSpec]):
        self.files = {id(model): spec for spec in specs for model in spec.models.values()}
        self.diagnostics: list[Diagnostic] = []
        self._places: set[tuple[str, int, int]] = set()

    def add(self, diagnostic: Diagnostic) -> None:
        place = (diagnostic.path, diagnostic.line, diagnostic.column)
        if place not in self._places:
            self._places.add(place)
            self.diagnostics.append(diagnostic)

    def at(self, model: CheckedModel, node: s.Node, message: str, hint: str | None) -> None:
        spec = self.files[id(model)]
        pos = node.pos
        self.add(diagnostic_at(
            spec.source, spec.path, pos.line, pos.column, message, hint=hint, end_line=pos.end_line, end_column=pos.end_column
        ))


def _root_values(model: CheckedModel, sizes: Mapping[str, int]) -> dict[str, int]:
    """The root's sizes: its hyperparameters' defaults, then those of `sizes` it has."""
    values = default_sizes(model.hypers)
    values.update({name: value for name, value in sizes.items() if name in _size_names(model)})
    return values


def _sizes_unusable(located: _Located, checked: CheckedSpec, sizes: Mapping[str, object]) -> bool:
    """Report the sizes of `sizes` that are not one integer or that no model has; whether there were any."""
    models = list(checked.models.values())
    if not models:
        return False
    names = sorted(set().union(*map(_size_names, models)))
    for name, value in sizes.items():
        if not isinstance(value, int):
            located.at(models[-1], models[-1].node, f"--set {name}: the sharding check takes one integer per size, got {value!r}", None)
        elif name not in names:
            located.at(models[-1], models[-1].node, f"--set {name}: no model of this spec has a size {name!r}", f"its sizes: {', '.join(names) or 'none'}")
    return bool(located.diagnostics)


def _size_names(model: CheckedModel) -> set[str]:
    """The sizes `--set` can give a model: its integer hyperparameters and input sizes."""
    return {hyper.name for hyper in model.hypers if hyper.kind == "int"} | model.input_dims | set(model.init_dims)


@overload
def _numbers(shape: tuple[Dim, ...], values: Mapping[str, int]) -> tuple[int | None, ...]: ...
@overload
def _numbers(shape: None, values: Mapping[str, int]) -> None: ...
def _numbers(shape: tuple[Dim, ...] | None, values: Mapping[str, int]) -> tuple[int | None, ...] | None:
    return None if shape is None else tuple(size.substitute(values).value for size in shape)


def check_sharding_of_spec(
    checked: CheckedSpec,
    specs: Iterable[CheckedSpec],
    rules: RulesFile,
    mesh: Mapping[str, int] | None,
    sizes: Mapping[str, int] | None = None,
) -> list[Diagnostic]:
    """Every sharding problem of `checked`'s models under `rules` on a mesh of `mesh`'s sizes.

    Args:
        checked: the checked spec.
        specs: every checked spec of the run (the spec and what it imports), to
            locate entries of imported models.
        rules: the rules file.
        mesh: mesh axis name -> size; None checks names only (no divisibility,
            no unknown mesh axes).
        sizes: sizes that replace the defaults (`{"dim": 96}`), for every model
            that has them.

    Returns:
        The diagnostics, in the spec's order then the rules file's; empty when all is well.

    A size of `sizes` that is not one integer, or that no model has, is an
    error at the spec's last model.
    """
    sizes = dict(sizes or {})
    located = _Located([checked, *specs])
    if _sizes_unusable(located, checked, sizes):
        return located.diagnostics
    # The file's values are JSON as written: parse_rules reports those that are not mesh axes.
    table, index, rule_problems = parse_rules(rules.rules, mesh)  # type: ignore[arg-type]
    used: set[str] = set()
    for model in checked.models.values():
        found = spec_arrays(model)
        values = _root_values(model, sizes)
        used |= {name for annotation in found.annotations for name in annotation.axes if name is not None}
        _check_arrays(located, model, found, values, table, mesh, rules)
        for name, entry in model.input_axes.items():
            # An entry names an input only of a model with a forward method, and is a tuple once checked.
            assert model.forward is not None and isinstance(entry.node.names, s.TupleExpr)
            used |= {axis for axis in entry.names if axis is not None}
            shape = (None,) + _numbers(tuple(dict(model.forward.params)[name].shape), values)
            _check_names(located, model, entry.node.names, f"{model.name}'s input {name}", shape, entry.names, table, mesh, rules)
        for activation in found.activations:
            # The checker took each name of a `shard` call as a string or None.
            names = tuple(
                element.value for element in activation.names.elts
                if isinstance(element, s.Constant) and (element.value is None or isinstance(element.value, str))
            )
            used |= {axis for axis in names if axis is not None}
            shape = _numbers(activation.shape, values) or (None,) * len(names)
            where = f"shard in {activation.model.name}"
            _check_names(located, activation.model, activation.names, where, shape, names, table, mesh, rules)
    for problem in rule_problems + unused_rules(table, index, used, advice=_UNUSED_ADVICE):
        located.add(rules.diagnostic(problem.rule, problem.message, _rule_hint(problem, mesh)))
    return located.diagnostics


def check_file_sharding(
    path: str | Path,
    rules: RulesFile,
    mesh: Mapping[str, int] | None,
    sizes: Mapping[str, int] | None = None,
    *,
    target: str = DEFAULT_TARGET,
) -> CheckedSpec:
    """Check the spec at `path` (and its imports), then its sharding (see `check_sharding_of_spec`).

    `target` is the library the spec is checked for, as for `eqxdsl.compiler.driver.check_file`.

    Returns:
        The checked spec.

    Raises:
        CompileError: the spec's problems, or else every sharding problem.
        FileNotFoundError: `path` does not exist.
    """
    path = Path(path)
    session = Session(build_for(path, None, target))
    checked = session.check(read_spec(path), str(path), path.resolve())
    diagnostics = check_sharding_of_spec(checked, session.checked.values(), rules, mesh, sizes)
    if diagnostics:
        raise CompileError(diagnostics)
    return checked


def _check_arrays(
    located: _Located, root: CheckedModel, found: SpecArrays, values: Mapping[str, int],
    table: RuleTable, mesh: Mapping[str, int] | None, rules: RulesFile,
) -> None:
    annotations = [annotation for annotation in found.annotations if found.known(annotation)]
    arrays = {path: _numbers(shape, values) for path, shape in found.arrays.items()}
    joined, problems = join_annotations(arrays, annotations)
    by_where = {annotation.where: annotation for annotation in annotations}
    for problem in problems:
        annotation = by_where.get(problem.where)
        model, node = (annotation.source[0], annotation.source[1].node) if annotation else (root, root.node)
        located.at(model, node, f"{root.name}: {problem}", None)
    for path, axes in joined.items():
        if axes.axes is None:
            continue
        where = f"{root.name}.{path_name(path)}"
        for problem in resolve_axes(where, arrays[path], axes.axes, table, mesh)[1]:
            named = axes.annotation_of_axis(problem.axis) if problem.axis is not None else None
            annotation, position = named if named else (axes.annotations[-1], None)
            model, entry = annotation.source
            node = entry.node.names.elts[position] if position is not None else entry.node.names
            located.at(model, node, str(problem), _axis_hint(problem, axes.axes, arrays[path], table, mesh, rules))


def _check_names(
    located: _Located, model: CheckedModel, node: s.TupleExpr, where: str, shape: tuple[int | None, ...],
    names: tuple[str | None, ...], table: RuleTable, mesh: Mapping[str, int] | None, rules: RulesFile,
) -> None:
    """Check the names of an input or a `shard` call (sizes mostly unknown: the batch, `T`)."""
    for problem in resolve_axes(where, shape, names, table, mesh)[1]:
        target = node.elts[problem.axis] if problem.axis is not None else node
        located.at(model, target, str(problem), _axis_hint(problem, names, shape, table, mesh, rules))


def _axis_hint(
    problem: ShardingProblem, names: tuple[str | None, ...], shape: tuple[int | None, ...],
    table: RuleTable, mesh: Mapping[str, int] | None, rules: RulesFile,
) -> str | None:
    name = names[problem.axis] if problem.axis is not None else None
    if problem.kind == "unknown_name":
        close = did_you_mean(name, table) if name is not None else None
        return f"add a rule for {name!r} to {rules.path}" + (f", or fix the name ({close})" if close else "")
    if problem.kind == "axis_twice":
        return "map one of the two names to another mesh axis (or null) in the rules, or use None for one of the axes"
    if problem.kind == "not_divisible" and mesh is not None and name is not None:
        parts = math.prod(mesh[axis] for axis in table[name])
        return f"this size must be a multiple of {parts}: change the sizes (--set NAME=VALUE tries others), or map {name!r} to other mesh axes"
    return None


def _rule_hint(problem: ShardingProblem, mesh: Mapping[str, int] | None) -> str | None:
    if problem.kind == "unknown_mesh_axis" and mesh is not None:
        return f"the mesh (--mesh) has the axes {', '.join(mesh)}"
    return _RULE_HINTS.get(problem.kind)
