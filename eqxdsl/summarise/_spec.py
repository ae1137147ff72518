"""`spec_report`: the summary of a model of a checked spec, computed without building or tracing it.

Every count is a formula in the model's hyperparameters and input sizes (a
`Dim`), read off the checked spec: what each layer holds and costs from the
layer table's cost rules, how often each call runs from the method bodies.
Each formula gets a number where the sizes it names are known (defaults, or
values the caller sets). Nothing here imports jax.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path

from ..compiler.check import CheckedModel, CheckedSpec, FieldInfo, SizeError, default_sizes, set_sizes
from ..compiler.dims import DTYPES, Dim, TensorType
from ..compiler.library.layers import COSTS, ITEMSIZE, BoundLayer, Holdings, LayerInfo, einsum_macs, matmul_macs
from ..compiler.parse import syntax as s
from ..compiler.values import TupleValue
from ._report import Counts, LayerRow, Report, TensorInfo
from ._spec_calls import WeightedCall, weighted_calls
from ._spec_conditions import absent_fields

__all__ = ["SpecSummaryError", "spec_report"]

ZERO, ONE = Dim.const(0), Dim.const(1)
_COUNT_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError, ZeroDivisionError)


class SpecSummaryError(Exception):
    """A summary that cannot be made as asked: an unknown model, or a size that cannot be set."""


def _substitute(value: object, values: Mapping[str, Dim | int]) -> object:
    """`value` (an argument or a layer input) with the sizes in `values` put in."""
    if isinstance(value, Dim):
        return value.substitute(values)
    if isinstance(value, TensorType):
        return TensorType(value.dtype, tuple(size.substitute(values) for size in value.shape))
    if isinstance(value, tuple):
        return tuple(_substitute(item, values) for item in value)
    if isinstance(value, dict):
        return {name: _substitute(item, values) for name, item in value.items()}
    if isinstance(value, BoundLayer):
        return BoundLayer(value.info, {name: _substitute(arg, values) for name, arg in value.args.items()})
    return value


@dataclasses.dataclass
class _Amount:
    """A count as a formula (None when unknown) and as a number (None unless every size is known)."""

    formula: Dim | None
    number: int | None

    def __add__(self, other: _Amount) -> _Amount:
        formula = None if self.formula is None or other.formula is None else self.formula + other.formula
        number = None if self.number is None or other.number is None else self.number + other.number
        return _Amount(formula, number)


def _zero() -> _Amount:
    return _Amount(ZERO, 0)


@dataclasses.dataclass
class _Row:
    path: str
    depth: int
    type: str
    source: str | None
    stateful: bool
    trainable: _Amount = dataclasses.field(default_factory=_zero)
    frozen: _Amount = dataclasses.field(default_factory=_zero)
    buffers: _Amount = dataclasses.field(default_factory=_zero)
    param_bytes: _Amount = dataclasses.field(default_factory=_zero)
    buffer_bytes: _Amount = dataclasses.field(default_factory=_zero)
    macs: _Amount = dataclasses.field(default_factory=_zero)
    outputs: tuple[TensorInfo, ...] = ()
    calls: int = 0
    parent: _Row | None = None


def _join(parent: str, child: str) -> str:
    return child if not parent else f"{parent}.{child}" if not child.startswith("[") else parent + child


class _Builder:
    """Walks a model's fields (what it holds) and forward method (what it does), submodels included."""

    def __init__(self, values: Mapping[str, int], files: Mapping[str, str]):
        """`values`: the known sizes; `files`: the file name of each imported model, by model name."""
        self.values = {name: Dim.const(value) for name, value in values.items()}
        self.files = files
        self.rows: list[_Row] = []
        self.notes: list[str] = []

    def amount(self, rule: Callable[[Mapping[str, object], tuple], Dim | None], args: dict, inputs: tuple, times: Dim) -> _Amount:
        """`rule(args, inputs) * times`, as a formula and, with every size known, as a number."""
        try:
            formula = rule(args, inputs)
        except _COUNT_ERRORS:
            formula = None
        formula = None if formula is None else Dim.of(formula) * times
        number = None if formula is None else formula.substitute(self.values).value
        if number is None:
            try:
                numeric = rule(_substitute(args, self.values), _substitute(inputs, self.values))  # type: ignore[arg-type]
            except _COUNT_ERRORS:
                numeric = None
            counted = None if numeric is None else Dim.of(numeric) * times.substitute(self.values)
            number = None if counted is None else counted.value
        return _Amount(formula, number)

    def row(self, path: str, type_name: str, node: s.Node, file: str, parent: _Row | None, stateful: bool) -> _Row:
        row = _Row(path, 0 if parent is None else parent.depth + 1, type_name, f"{file}:{node.pos.line}", stateful, parent=parent)
        self.rows.append(row)
        return row

    def hold(self, row: _Row, held: Holdings | None, times: Dim, frozen: bool = False) -> None:
        """Add what a layer holds to `row` and the rows above it."""
        parts = (
            ("frozen" if frozen else "trainable", None if held is None else held.params),
            ("buffers", None if held is None else held.buffers),
            ("param_bytes", None if held is None else held.param_bytes),
            ("buffer_bytes", None if held is None else held.buffer_bytes),
        )
        while row is not None:
            for name, count in parts:
                formula = None if count is None else count * times
                setattr(row, name, getattr(row, name) + _Amount(formula, None if formula is None else formula.substitute(self.values).value))
            row = row.parent

    def spend(self, row: _Row, macs: _Amount) -> None:
        while row is not None:
            row.macs = row.macs + macs
            row = row.parent

    # -- what a model holds --------------------------------------------------

    def model(self, model: CheckedModel, file: str, row: _Row, env: Mapping[str, Dim], times: Dim, frozen: bool) -> dict[str, object]:
        """Rows for `model`'s fields under `row`; returns, by field, the rows its calls are charged to."""
        targets: dict[str, object] = {}
        known = {name: size.substitute(self.values).value for name, size in env.items()}
        known.update({name: size.value for name, size in self.values.items() if name not in env})
        known.update({h.name: h.default.value for h in model.hypers if h.default is not None and h.kind in ("bool", "str")})
        absent = set(absent_fields(model.node.items, known))
        for field in model.fields.values():
            if field.name in absent:
                continue
            if field.kind in ("param", "buffer"):
                if field.tensor is not None:
                    tensor = _substitute(field.tensor, env)
                    count = _elements(tensor.shape)
                    inexact = tensor.is_floating or tensor.dtype == "c64"
                    held = Holdings(params=count, param_bytes=count * ITEMSIZE[tensor.dtype]) if inexact else Holdings(
                        buffers=count, buffer_bytes=count * ITEMSIZE[tensor.dtype]
                    )
                    self.hold(row, held, times, frozen=frozen or field.kind == "buffer")
                continue
            targets[field.name] = self.field(field, file, row, env, times, frozen or field.frozen)
        return targets

    def field(self, field: FieldInfo, file: str, parent: _Row, env: Mapping[str, Dim], times: Dim, frozen: bool) -> object:
        layer = field.layer
        path = _join(parent.path, field.name)
        stateful = bool(getattr(layer, "stateful", False))
        type_name = getattr(layer, "class_name", None) or layer.name
        if field.kind == "layer":
            row = self.row(path, type_name, field.node, file, parent, stateful)
            return self.instance(layer, self.args(layer, field.given, field.inferred), file, row, env, times, frozen)
        count = _substitute(field.count, env)
        known = count.substitute(self.values).value
        stack = self.row(path, f"{type_name} ×{known if known is not None else count.formula()}", field.node, file, parent, stateful)
        if field.scan:
            return self.instance(layer, self.args(layer, field.given, field.inferred), file, stack, env, times * count, frozen)
        if field.copies and known is not None:
            # Checked at another count (a submodel's default), the copies after the
            # first that were checked stand for the others: they take the same arguments.
            copies = []
            for index in range(known):
                copy = field.copies[min(index, len(field.copies) - 1)]
                row = self.row(f"{path}[{index}]", type_name, field.node, file, stack, stateful)
                args = self.args(layer, {name: value for name, (value, _) in copy.given.items()}, copy.inferred)
                copies.append(self.instance(layer, args, file, row, env, times, frozen))
            return copies
        first = self.row(f"{path}[0]", type_name, field.node, file, stack, stateful)
        rest = self.row(f"{path}[1:]", f"{type_name} ×{(count - 1).formula()}", field.node, file, stack, stateful)
        given = {name: value for name, (value, _) in field.given.items()}
        return [
            self.instance(layer, self.args(layer, field.given, field.inferred), file, first, env, times, frozen),
            self.instance(layer, self.args(layer, given, field.inferred_rest or field.inferred), file, rest, env, times * (count - 1), frozen),
        ]

    def args(self, layer: object, given: Mapping[str, object], inferred: Mapping[str, object] | None) -> dict[str, object]:
        given = {name: value[0] if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], s.Node) else value for name, value in given.items()}
        full = {arg.name: arg.default for arg in layer.args if not arg.required}
        return {**full, **given, **(inferred or {})}

    def instance(self, layer: object, args: dict, file: str, row: _Row, env: Mapping[str, Dim], times: Dim, frozen: bool) -> _Instance:
        """One built layer: its holdings added to `row`; what its calls need to be counted."""
        args = {name: _substitute(value, env) for name, value in args.items()}
        if isinstance(layer, LayerInfo):
            try:
                held = COSTS[layer.name].holds(args)
            except _COUNT_ERRORS:
                held = None
            self.hold(row, held, times, frozen)
            return _Instance(layer, args, row, None, env)
        model = getattr(layer, "model", None)
        if model is None:  # a Python class: what it holds is not known from the spec
            self.hold(row, None, times, frozen)
            self.notes.append(f"{row.path}: a Python class ({layer.name}); its parameters are not counted")
            return _Instance(layer, args, row, None, env)
        sub_env = {**layer._bindings(args), **{dim: args[dim] for dim in model.init_dims if isinstance(args.get(dim), Dim)}}
        targets = self.model(model, self.files.get(model.name, file), row, sub_env, times, frozen)
        return _Instance(layer, args, row, targets, sub_env)

    # -- what a model does ---------------------------------------------------

    def calls(
        self, model: CheckedModel, method_name: str, instance: _Instance, times: Dim, bound: Mapping[str, Dim],
        mapped: tuple[Dim, ...] = (),
    ) -> None:
        """Count the calls of `model`'s method `method_name` run `times` times, in `instance`,
        under `map`s of sizes `mapped`."""
        env = {**instance.env, **bound}
        for call in weighted_calls(model, model.methods[method_name]):
            call = dataclasses.replace(call, mapped=mapped + tuple(_substitute(size, env) for size in call.mapped))
            self.call(model, call, instance, env, times * _substitute(call.times, env))

    def call(self, model: CheckedModel, call: WeightedCall, instance: _Instance, env: Mapping[str, Dim], times: Dim) -> None:
        site = call.site
        inputs = _substitute(site.inputs, env)
        if site.kind == "method":
            bound = {name: _substitute(size, env) for name, size in site.bound.items()}
            self.calls(model, site.target, dataclasses.replace(instance, env=env), times, bound, call.mapped)
            return
        if site.kind == "matmul":
            self.spend(instance.row, self.amount(lambda _, x: matmul_macs(*x, _substitute(site.output, env)), {}, inputs, times))
            return
        if site.kind == "function":
            if site.target == "einsum" and isinstance(site.node, s.Call) and isinstance(site.node.args[0], s.Constant):
                subscripts = site.node.args[0].value
                self.spend(instance.row, self.amount(lambda _, x: einsum_macs(subscripts, x), {}, inputs, times))
            return
        target = instance.targets.get(site.target)
        if target is None:
            return  # a conditional field these sizes leave out
        if isinstance(target, list):
            checked = len(model.fields[site.target].copies) or 2
            if site.copy is not None and site.copy >= len(target):
                return  # a copy the spec's default count has and these sizes do not
            last = site.copy is not None and site.copy == checked - 1 and not site.rest
            for copy in target[site.copy or 0 :] if last else [target[site.copy or 0]]:
                self.layer_call(site, call, copy, env, inputs, times)
            return
        self.layer_call(site, call, target, env, inputs, times)

    def layer_call(self, site, call: WeightedCall, target: _Instance, env: Mapping[str, Dim], inputs: tuple, times: Dim) -> None:
        """Charge one call of the layer `target` to its row."""
        self.record_output(target.row, site.output, call.mapped, env)
        if isinstance(target.layer, LayerInfo):
            self.spend(target.row, self.amount(COSTS[target.layer.name].macs, target.args, inputs, times))
        elif target.targets is not None:
            method = site.method or "forward"
            sub = target.layer.model
            raw_inputs = tuple(site.inputs)
            try:
                bound = target.layer.bind_inputs(sub.methods[method], target.args, _substitute(raw_inputs, env))
            except Exception:  # the checker accepted this call: its sizes bind
                bound = {}
            self.calls(sub, method, target, times, bound, call.mapped)
        else:
            self.spend(target.row, _Amount(None, None))

    def record_output(self, row: _Row, output: object, mapped: tuple[Dim, ...], env: Mapping[str, Dim]) -> None:
        row.calls += 1
        if row.outputs:
            return
        items = output.items if isinstance(output, TupleValue) else output if isinstance(output, tuple) else (output,)
        infos = []
        for item in items:
            if isinstance(item, TensorType):
                shape = tuple(_substitute(size, env) for size in (*mapped, *item.shape))
                numeric = tuple(size.substitute(self.values).value for size in shape)
                infos.append(
                    TensorInfo(
                        None if None in numeric else numeric,  # type: ignore[arg-type]
                        DTYPES[item.dtype],
                        "×".join(_axis(size) for size in shape) or "scalar",
                        len(mapped),
                    )
                )
        row.outputs = tuple(infos)


@dataclasses.dataclass(frozen=True)
class _Instance:
    """A built layer inside the model: its class, arguments and row; for a model, its fields' instances."""

    layer: object
    args: dict
    row: _Row
    targets: dict[str, object] | None
    env: Mapping[str, Dim]


def _axis(size: Dim) -> str:
    """One axis of a shape: `T`, `2·dim`, or `((H - 1)//2 + 1)` in parentheses when it has spaces."""
    text = size.formula()
    return f"({text})" if " " in text else text


def _elements(shape: tuple[Dim, ...]) -> Dim:
    total = ONE
    for size in shape:
        total = total * size
    return total


def spec_report(checked: CheckedSpec, model: str | None = None, sizes: Mapping[str, int] | None = None) -> Report:
    """The summary of `model` (default: the spec's last model), from the checked spec alone.

    Args:
        checked: the checked spec (`eqxdsl.compiler.driver.check_file`).
        model: the model's name.
        sizes: values for hyperparameters and input sizes (`{"dim": 128, "T": 1024}`);
            hyperparameters left out take their defaults.

    Returns:
        The `Report`, each count with its formula and, where every size it
        names is known, its number.

    Raises:
        SpecSummaryError: an unknown model, or a size it does not have.
    """
    if not checked.models:
        raise SpecSummaryError(f"{checked.source_name} defines no model")
    name = model if model is not None else list(checked.models)[-1]
    found = checked.models.get(name)
    if found is None:
        raise SpecSummaryError(f"{checked.source_name} has no model {name!r}; its models: {', '.join(checked.models)}")
    values = _values(found, dict(sizes or {}))
    builder = _Builder(values, {imported.name: Path(path).name for path, imported in checked.imported_models.values()})
    file = Path(checked.source_name).name
    root = builder.row("", found.name, found.node, file, None, found.stateful)
    instance = _Instance(found, {}, root, builder.model(found, file, root, {}, ONE, False), {})
    if found.forward is not None:
        builder.record_output(root, found.forward.returns, (), {})
        builder.calls(found, "forward", instance, ONE, {})
    unset = sorted({symbol for symbol in (root.macs.formula.symbols if root.macs.formula is not None else ()) if symbol not in values})
    if unset:
        builder.notes.append(f"{', '.join(unset)} not set (--set NAME=VALUE): counts that depend on them are formulas only")
    rows = tuple(_layer_row(row) for row in builder.rows)
    return Report(model=found.name, rows=rows, totals=rows[0].counts, notes=tuple(dict.fromkeys(builder.notes)))


def _values(model: CheckedModel, sizes: dict[str, int]) -> dict[str, int]:
    """The sizes' values: the hyperparameters' defaults, then `sizes` (checked against the model's names)."""
    values = default_sizes(model.hypers)
    try:
        values.update(set_sizes(model, sizes))
    except SizeError as error:
        raise SpecSummaryError(str(error)) from None
    return values


def _counts(row: _Row) -> Counts:
    def formula(amount: _Amount) -> str | None:
        return None if amount.formula is None or amount.formula.value is not None else amount.formula.formula()

    params = row.trainable + row.frozen
    return Counts(
        trainable=row.trainable.number,
        frozen=row.frozen.number,
        buffers=row.buffers.number,
        param_bytes=row.param_bytes.number,
        buffer_bytes=row.buffer_bytes.number,
        macs=row.macs.number,
        params_formula=formula(params),
        macs_formula=formula(row.macs),
    )


def _layer_row(row: _Row) -> LayerRow:
    return LayerRow(
        path=row.path,
        depth=row.depth,
        type=row.type,
        counts=_counts(row),
        outputs=row.outputs,
        calls=row.calls,
        stateful=row.stateful,
        source=row.source,
    )
