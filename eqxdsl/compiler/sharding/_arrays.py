"""Every array a model of a checked spec builds, with its shape, and every logical axes entry on the way.

This is the spec-side twin of flattening a built model: paths are those of
`jax.tree_util` key paths (`blocks.attn.query_proj.weight`, `hidden.0.weight`),
a scanned stack adds its count as a leading axis, and each model's `axes:`
entries are made absolute by the path of the model that declares them, as the
runtime joins `__logical_axes__` tables. Shapes are `Dim`s over the root
model's sizes. What the spec cannot know (a Python class's arrays, a
conditional field, an unrolled stack of unknown length) is an *opaque*
subtree: entries below it are left to the runtime's check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from eqxdsl.compiler.check import ModelLayer
from eqxdsl.compiler.check.checked import CheckedModel, FieldInfo, LogicalAxesEntry
from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.library.layers import LayerInfo
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.sharding_rules import Annotation, Path, path_name

__all__ = ["Activation", "SpecArrays", "spec_arrays"]

Shape = tuple[Dim, ...]


@dataclass(frozen=True)
class Activation:
    """A `shard(x, names)` call: the model it is in, the names' tuple and `x`'s shape."""

    model: CheckedModel
    names: s.TupleExpr
    shape: Shape | None


@dataclass
class SpecArrays:
    """What a root model holds.

    Attributes:
        arrays: every known array's path -> its shape over the root's sizes.
        annotations: every `axes:` entry, absolute; `source` is `(model, LogicalAxesEntry)`.
        opaque: subtrees whose arrays are not known from the spec.
        activations: every `shard` call of every model inside.
    """

    arrays: dict[Path, Shape] = field(default_factory=dict)
    annotations: list[Annotation] = field(default_factory=list)
    opaque: list[Path] = field(default_factory=list)
    activations: list[Activation] = field(default_factory=list)

    def known(self, annotation: Annotation) -> bool:
        """Whether the arrays `annotation` can name are all known (none below an opaque subtree)."""
        return not any(
            len(opaque) <= len(annotation.pattern)
            and all(want in ("*", have) for want, have in zip(annotation.pattern, opaque))
            for opaque in self.opaque
        )


def spec_arrays(model: CheckedModel) -> SpecArrays:
    """The arrays, entries and `shard` calls of `model` and everything inside it."""
    found = SpecArrays()
    _Walker(found).model(model, (), {}, ())
    return found


def _shape(tensor: TensorType, env: Mapping[str, Dim]) -> Shape:
    return tuple(size.substitute(env) for size in tensor.shape)


def _field_args(given: Mapping[str, tuple[object, s.Expr]], inferred: Mapping[str, object] | None) -> dict[str, object]:
    return {**{name: value for name, (value, _) in given.items()}, **(inferred or {})}


class _Walker:
    def __init__(self, found: SpecArrays):
        self.found = found

    def model(self, model: CheckedModel, prefix: Path, env: Mapping[str, Dim], leading: Shape) -> None:
        """Walk `model` built at `prefix`, its sizes given by `env`, under stacks adding `leading` axes."""
        for key, entry in model.logical_axes.items():
            self.found.annotations.append(_annotation(model, prefix, key, entry))
        for method in model.methods.values():
            for site in method.sites:
                if site.kind == "function" and site.target == "shard" and isinstance(site.node, s.Call):
                    names = site.node.args[1] if len(site.node.args) > 1 else None
                    if isinstance(names, s.TupleExpr):
                        x = site.inputs[0] if site.inputs else None
                        shape = _shape(x, env) if isinstance(x, TensorType) else None
                        self.found.activations.append(Activation(model, names, shape))
        for info in model.fields.values():
            self.field(info, prefix + (info.name,), env, leading)

    def field(self, info: FieldInfo, path: Path, env: Mapping[str, Dim], leading: Shape) -> None:
        if info.conditional:
            self.found.opaque.append(path)
        elif info.kind in ("param", "buffer"):
            if info.tensor is None:
                self.found.opaque.append(path)
            else:
                self.found.arrays[path] = leading + _shape(info.tensor, env)
        elif info.kind == "layer":
            self.layer(info.layer, _field_args(info.given, info.inferred), path, env, leading)
        elif info.scan:
            count = info.count.substitute(env) if info.count is not None else None
            if count is None:
                self.found.opaque.append(path)
            else:
                self.layer(info.layer, _field_args(info.given, info.inferred), path, env, leading + (count,))
        else:
            self.unrolled(info, path, env, leading)

    def unrolled(self, info: FieldInfo, path: Path, env: Mapping[str, Dim], leading: Shape) -> None:
        count = info.count.substitute(env).value if info.count is not None else None
        if count is None:
            self.found.opaque.append(path)
            return
        for index in range(count):
            if info.copies:
                copy = info.copies[min(index, len(info.copies) - 1)]
                args = _field_args(copy.given, copy.inferred)
            else:
                # Copies after the first may see other sizes (an MLP's first Linear reads the input size).
                inferred = info.inferred_rest if index and info.inferred_rest is not None else info.inferred
                args = _field_args(info.given, inferred)
            self.layer(info.layer, args, path + (str(index),), env, leading)

    def layer(self, layer: object, args: dict[str, object], path: Path, env: Mapping[str, Dim], leading: Shape) -> None:
        if isinstance(layer, ModelLayer):
            bindings = {**layer._bindings(args), **{dim: size for dim in layer.model.init_dims if isinstance(size := args.get(dim), Dim)}}
            self.model(layer.model, path, {name: size.substitute(env) for name, size in bindings.items()}, leading)
            return
        if not isinstance(layer, LayerInfo):
            self.found.opaque.append(path)  # a Python class: its arrays are known when it is built
            return
        for name, value in layer.all_arrays(args).items():
            array = path + tuple(name.split("."))
            if isinstance(value, TensorType):
                self.found.arrays[array] = leading + _shape(value, env)
            else:
                self.found.opaque.append(array)


def _annotation(model: CheckedModel, prefix: Path, key: str, entry: LogicalAxesEntry) -> Annotation:
    where = f"{model.name}'s axes: entry {key}" + (f" (the {model.name} at {path_name(prefix)})" if prefix else "")
    return Annotation(prefix + tuple(key.split(".")), entry.names, where, (model, entry))
