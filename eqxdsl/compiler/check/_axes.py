"""A model's `axes:` block: logical axis names for its arrays, inputs and scanned stacks.

Each entry `path: (names...)` names the axes of what `path` reaches from the
model, as the runtime's `__logical_axes__` contract reads it:

- a parameter or buffer (`pos`), or an array of a layer (`embed.weight`,
  `attn.query_proj.weight`, `mlp.hidden.0.weight` inside a model used as a
  layer, `hidden.*.weight` for every layer of an unrolled stack): one name per
  axis of the array;
- a scanned stack (`blocks`): one name, for the layer axis its parameters are
  stacked on; entries below it name one layer's arrays;
- an input of `forward` (`tokens`): the batch axis the caller maps over, then
  one name per axis of one example.

Everything is checked against the layer table and the models: the path
exists (an array the layer has with these arguments, a bias only with
`use_bias=True`), the rank matches, no name is used twice in one array, no
array is named twice (here and in the table of the model it belongs to), and a
scanned stack whose layers name their own arrays has its layer axis named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from eqxdsl.compiler.check._adapters import ModelLayer, PythonLayer
from eqxdsl.compiler.check._report import did_you_mean
from eqxdsl.compiler.check._walk import items_with_conditions
from eqxdsl.compiler.check.checked import CheckedModel, FieldInfo, LogicalAxesEntry
from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.library.layers import LayerInfo
from eqxdsl.compiler.library.logical_axes import repeated_name, repeated_name_message
from eqxdsl.compiler.parse import syntax as s

if TYPE_CHECKING:
    from eqxdsl.compiler.check._declarations import ModelChecker

__all__ = ["check_axes"]

Shape = tuple[Dim | None, ...]


class _Skip(Exception):
    """The path reaches a layer whose earlier error was reported: its arrays are unknown."""


class _PathError(Exception):
    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class _Target:
    """What an entry's path reaches.

    Attributes:
        kind: "array", "stack" (a scanned stack itself) or "input".
        shapes: for arrays, the shape of each array it names (None entries
            where a size is not modelled); None when the ranks are not known
            (arrays of a Python class).
        scan: for an array inside a scanned stack of this model, that stack's name.
    """

    kind: str
    shapes: tuple[Shape, ...] | None
    scan: str | None = None


def check_axes(checker: ModelChecker) -> None:
    """Check the model's `axes:` block and fill `model.logical_axes` and `model.input_axes`."""
    model = checker.model
    r = checker.r
    blocks = [(item, conditions) for item, conditions in items_with_conditions(model.node.items) if isinstance(item, s.AxesBlock)]
    for block, conditions in blocks[1:]:
        r.error(block, f"a model has one `axes:` block; the first is on line {blocks[0][0].pos.line}", hint="move these entries into it")
    if blocks:
        block, conditions = blocks[0]
        if conditions:
            r.error(block, "an `axes:` block cannot be inside an `if`", hint="write it at the top level of the model; `__logical_axes__` is one table for the class")
        _entries(checker, block.entries)
    named = {entry.path for block, _ in blocks for entry in block.entries}
    _check_scanned_stacks(checker, named)


def _entries(checker: ModelChecker, entries: tuple[s.AxesEntry, ...]) -> None:
    model = checker.model
    r = checker.r
    seen: list[s.AxesEntry] = []
    for entry in entries:
        earlier = next((e for e in seen if _overlap(e.path, entry.path)), None)
        if earlier is not None:
            r.error(_path_node(entry), f"{_dotted(entry.path)} is already named on line {earlier.pos.line} ({_dotted(earlier.path)})", hint="name each array once")
            continue
        seen.append(entry)
        if entry.path[0] in checker.broken | checker.failed_layers:
            continue  # its definition or call failed, already reported: its arrays are unknown
        names = _names(checker, entry.names)
        try:
            target = _target(model, entry.path)
        except _PathError as error:
            r.error(_path_node(entry), error.message, hint=error.hint)
            continue
        except _Skip:
            continue
        if names is None:
            continue
        if not _rank_fits(checker, entry, target, names):
            continue
        if target.scan is not None and not any(e.path == (target.scan,) for e in entries):
            r.error(
                _path_node(entry),
                f"{_dotted(entry.path)} is inside the scanned stack {target.scan}, whose layer axis has no name",
                hint=f"name it too: `{target.scan}: (\"layers\",)` (or `(None,)` to keep it unsharded)",
            )
            continue
        checked = LogicalAxesEntry(names, entry)
        (model.input_axes if target.kind == "input" else model.logical_axes)[_dotted(entry.path)] = checked


def _rank_fits(checker: ModelChecker, entry: s.AxesEntry, target: _Target, names: tuple[str | None, ...]) -> bool:
    path = _dotted(entry.path)
    if target.kind == "input":
        assert target.shapes is not None  # an input's type is always known
        (shape,) = target.shapes
        expected = len(shape) + 1
        if len(names) != expected:
            checker.r.error(
                entry.names,
                f"{len(names)} logical axis names for the input {path}, which the caller maps over a batch: "
                f"{expected} are needed, the batch axis first, then its {len(shape)} own",
                hint="e.g. " + _tuple_text(("batch",) + (None,) * len(shape)),
            )
            return False
        return True
    if target.kind == "stack":
        if len(names) != 1:
            checker.r.error(entry.names, f"{len(names)} logical axis names for the scanned stack {path}, which adds one axis (its layers)", hint='give one name, e.g. ("layers",)')
            return False
        return True
    for shape in target.shapes or ():
        if len(shape) != len(names):
            where = " one layer of" if target.scan else ""
            checker.r.error(
                entry.names,
                f"{len(names)} logical axis names for {path}, an array of rank {len(shape)}{where} ({_shape_text(shape)})",
                hint="give one name (or None) per axis",
            )
            return False
    return True


def _names(checker: ModelChecker, node: s.Expr) -> tuple[str | None, ...] | None:
    """The names of an entry's value, or None after reporting what is wrong with it."""
    r = checker.r
    if isinstance(node, s.Constant) and isinstance(node.value, str):
        r.error(node, "logical axis names are a tuple; a tuple of one name needs a trailing comma", hint=f"write ({node.value!r},)".replace("'", '"'))
        return None
    if not isinstance(node, s.TupleExpr):
        r.error(node, "logical axis names are a tuple of strings or None, one per axis", hint='e.g. ("vocab", "embed") or (None, "embed")')
        return None
    names: list[str | None] = []
    for element in node.elts:
        if isinstance(element, s.Constant) and (element.value is None or isinstance(element.value, str) and element.value):
            names.append(element.value)
            continue
        hint = f'write it as a string: "{element.id}"' if isinstance(element, s.Name) else None
        r.error(element, "a logical axis name is a string such as \"embed\", or None for an axis never sharded", hint=hint)
        return None
    repeated = repeated_name(names)
    if repeated is not None:
        r.error(node.elts[repeated[1]], repeated_name_message(names, *repeated), hint="use None for one of them, or another name")
        return None
    return tuple(names)


def _target(model: CheckedModel, path: tuple[str, ...]) -> _Target:
    """What `path` reaches from `model`; raises `_PathError`."""
    head, rest = path[0], path[1:]
    forward = model.forward
    inputs = dict(forward.params) if forward is not None else {}
    if head in inputs and head not in model.fields:
        if rest:
            raise _PathError(f"{head} is an input (an array): nothing lies below it")
        return _Target("input", (inputs[head].shape,))
    info = model.fields.get(head)
    if info is None:
        candidates = list(model.fields) + list(inputs)
        raise _PathError(f"{model.name} has no field or input {head!r}", hint=did_you_mean(head, candidates) or ("fields: " + ", ".join(model.fields) if model.fields else None))
    if info.conditional:
        raise _PathError(f"{head} exists only when its `if` holds, and the axes table is fixed for the class", hint="name only fields that always exist")
    if info.kind in ("param", "buffer"):
        if rest:
            raise _PathError(f"{head} is a {info.kind} (an array): nothing lies below it")
        return _Target("array", (tuple(info.tensor.shape),) if info.tensor is not None else None)
    assert info.layer is not None  # a layer or a stack
    if info.kind == "stack" and info.scan:
        if not rest:
            return _Target("stack", None)
        inner = _layer_target(info, rest, _dotted(path), copies=(False,))
        if inner.scan is not None:
            raise _PathError(f"{_dotted(path)} is inside two scanned stacks", hint=f"name it in the axes: block of {info.layer.name}")
        return _Target(inner.kind, inner.shapes, scan=head)
    if info.kind == "stack":
        if not rest:
            raise _PathError(f"{head} is an unrolled stack (a tuple of layers) with no axis of its own", hint=f"name its layers' arrays: {head}.*.weight, or {head}.0.weight for the first")
        index, rest = rest[0], rest[1:]
        count = info.count.value if info.count is not None else None
        if index != "*" and not index.isdigit():
            raise _PathError(f"{head} is a tuple of layers: after it comes an index (0, 1, ...) or *, not {index!r}")
        if index != "*" and count is not None and int(index) >= count:
            raise _PathError(f"{head} has {count} layers: there is no layer {index}")
        # Copies after the first may see other sizes (an MLP's first Linear reads the input size).
        copies = (False, True) if index == "*" else (int(index) > 0,)
        return _layer_target(info, rest, _dotted(path), copies)
    if not rest:
        raise _PathError(f"{head} is a layer: name one of its arrays", hint=_arrays_hint(info, head))
    return _layer_target(info, rest, _dotted(path), copies=(False,))


def _layer_target(info: FieldInfo, rest: tuple[str, ...], path: str, copies: tuple[bool, ...]) -> _Target:
    layer = info.layer
    if not rest:
        raise _PathError(f"{path} is a layer: name one of its arrays", hint=_arrays_hint(info, path))
    if isinstance(layer, ModelLayer):
        inner = _target(layer.model, rest)
        if inner.kind == "input":
            raise _PathError(f"{path} is an input of {layer.name}, not an array it holds")
        if inner.kind == "stack":
            raise _PathError(f"{path} is a scanned stack of {layer.name}: name its layer axis in {layer.name}'s axes: block")
        own = next((e for key, e in layer.model.logical_axes.items() if _overlap(tuple(key.split(".")), rest)), None)
        if own is not None:
            raise _PathError(f"{path} is already named by {layer.name}'s axes: block, on line {own.node.pos.line}", hint="name each array once")
        if inner.scan is not None:
            raise _PathError(f"{path} is inside the scanned stack {inner.scan} of {layer.name}", hint=f"name it in {layer.name}'s axes: block")
        return inner
    if isinstance(layer, LayerInfo) and _never_inferred(info, layer):
        raise _Skip
    if isinstance(layer, PythonLayer) or not isinstance(layer, LayerInfo):
        # A Python class's arrays are not known here; the runtime checks them when the model is built.
        return _Target("array", None)
    wanted = ".".join(rest)
    shapes: list[Shape] = []
    unmodelled = False
    known: set[str] = set()
    for rest_copy in copies:
        arrays = layer.all_arrays(_layer_args(info, rest_copy))
        known |= set(arrays)
        for name, value in arrays.items():
            if _matches(rest, tuple(name.split("."))):
                if isinstance(value, TensorType):
                    shapes.append(tuple(value.shape))
                else:
                    unmodelled = True
    if not shapes and not unmodelled:
        raise _PathError(f"{path}: {layer.name} has no array {wanted!r} with these arguments", hint=_missing_hint(info, layer, wanted, known))
    if unmodelled:
        return _Target("array", None)
    return _Target("array", tuple(dict.fromkeys(shapes)))


def _never_inferred(info: FieldInfo, layer: LayerInfo) -> bool:
    """Whether the sizes of `layer` (the field's) were never inferred (reported where the model is finished)."""
    inferred = info.inferred or {}
    return any(a.inferred and a.required and a.name not in info.given and a.name not in inferred for a in layer.args)


def _layer_args(info: FieldInfo, rest_copy: bool) -> dict[str, object]:
    args = {name: value for name, (value, _) in info.given.items()}
    inferred = info.inferred_rest if rest_copy and info.inferred_rest is not None else info.inferred
    args.update(inferred or {})
    return args


def _missing_hint(info: FieldInfo, layer: LayerInfo, wanted: str, known: set[str]) -> str | None:
    """How to reach the array `wanted` that the field's `layer` lacks; `known` are the arrays it has."""
    args = _layer_args(info, False)
    for arg in layer.args:
        if arg.kind == "bool" and arg.name.startswith("use_") and args.get(arg.name, arg.default) is False:
            if wanted in layer.all_arrays({**args, arg.name: True}):
                return f"it has one only with {arg.name}=True"
    if not known:
        return f"the compiler knows no arrays of {layer.name}; name them in Python, in the class's __logical_axes__"
    return did_you_mean(wanted, known) or "its arrays: " + ", ".join(sorted(known))


def _arrays_hint(info: FieldInfo, path: str) -> str | None:
    layer = info.layer
    if isinstance(layer, LayerInfo):
        arrays = sorted(layer.all_arrays(_layer_args(info, False)))
        return f"e.g. {path}.{arrays[0]}; its arrays: {', '.join(arrays)}" if arrays else None
    if isinstance(layer, ModelLayer):
        return f"e.g. {path}.<field>.weight, or give {layer.name} an axes: block of its own"
    return None


def _check_scanned_stacks(checker: ModelChecker, named: set[tuple[str, ...]]) -> None:
    """A scanned stack of a model that names its arrays must name its layer axis: their ranks differ by it.

    `named` holds the paths of the model's entries (checked or not: a wrong one was reported).
    """
    model = checker.model
    for info in model.fields.values():
        if not (info.kind == "stack" and info.scan and isinstance(info.layer, ModelLayer)):
            continue
        if (info.name,) in named or not _names_arrays(info.layer.model):
            continue
        checker.r.error(
            info.node,
            f"{info.name} stacks {info.layer.name}, whose axes: block names the arrays of one layer, "
            f"but the stack's layer axis has no name",
            hint=f"add `{info.name}: (\"layers\",)` to {model.name}'s axes: block (or `(None,)` to keep it unsharded)",
        )


def _names_arrays(model: CheckedModel) -> bool:
    """Whether `model` or a model inside it names any array."""
    if model.logical_axes:
        return True
    return any(isinstance(info.layer, ModelLayer) and _names_arrays(info.layer.model) for info in model.fields.values())


def _matches(pattern: tuple[str, ...], path: tuple[str, ...]) -> bool:
    return len(pattern) == len(path) and all(want in ("*", have) for want, have in zip(pattern, path))


def _overlap(first: tuple[str, ...], second: tuple[str, ...]) -> bool:
    """Whether two paths (with `*`) can name the same array."""
    return len(first) == len(second) and all("*" in (a, b) or a == b for a, b in zip(first, second))


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


def _path_node(entry: s.AxesEntry) -> s.Node:
    return s.Name(id=_dotted(entry.path), pos=entry.path_pos)


def _tuple_text(names: tuple[str | None, ...]) -> str:
    """Names as a spec writes them: `("batch", None)`, `("layers",)`."""
    parts = [f'"{name}"' if name is not None else "None" for name in names]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _shape_text(shape: Shape) -> str:
    return "[" + ", ".join("?" if dim is None else str(dim) for dim in shape) + "]"

