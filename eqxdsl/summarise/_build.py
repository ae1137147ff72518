"""`report`: the summary of a built model, from one abstract trace of one call."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.tree_util as jtu

from ..runtime import combine, partition
from ._calls import CallRecorder, innermost_token, tensor_infos
from ._kinds import current_kinds, is_array_or_struct, is_inexact
from ._macs import count_macs
from ._report import Counts, LayerRow, Report
from ._tree import read_tree

__all__ = ["report"]


def _call_model(model: Any, *args: Any, **kwargs: Any) -> Any:
    return model(*args, **kwargs)


def report(
    model: Any,
    *inputs: Any,
    call: Callable[..., Any] | None = None,
    trainable: Any = is_inexact,
    **kwargs: Any,
) -> Report:
    """Summarise `model` by tracing `model(*inputs, **kwargs)` once, abstractly.

    Nothing is computed or allocated: like `filter_eval_shape`, the call runs on
    abstract values only. Works for Modules of this runtime and of Equinox.

    Args:
        model: the model, a Module (its leaves may be arrays or
            `jax.ShapeDtypeStruct`s, so a model made by `filter_eval_shape`
            works too).
        *inputs: one example of each positional argument, as arrays or
            `jax.ShapeDtypeStruct`s: unbatched, as a layer takes them. A
            stateful model takes its `State` here as well.
        call: how to apply the model, `call(model, *inputs, **kwargs)`; by
            default `model(*inputs, **kwargs)`. Use it for a model that must run
            under a named `jax.vmap` (BatchNorm) or for a method other than
            `__call__`.
        trainable: a filter spec (as `eqxdsl.runtime.filter` takes) selecting
            the trainable parameters; the other floating-point arrays count as
            frozen. By default every floating-point array is trainable.
        **kwargs: keyword arguments of the model's call (`key=`, `inference=`).

    Returns:
        The `Report`: one row per layer, the model first.
    """
    if not callable(model):
        raise TypeError(f"summary: the model must be callable, got {type(model).__name__}")
    call = _call_model if call is None else call
    kinds = current_kinds()
    states = [
        leaf for leaf in jtu.tree_leaves((inputs, kwargs), is_leaf=kinds.is_state) if kinds.is_state(leaf)
    ]
    tree = read_tree(model, kinds, states, trainable)
    recorder = CallRecorder(kinds, frozenset(tree.layers))
    layer_types = {type(layer.module) for layer in tree.layers.values() if kinds.is_layer(layer.module)}

    dynamic, static = partition((model, inputs, kwargs), is_array_or_struct)
    returned: list[Any] = []
    with recorder.recording(layer_types) as set_root:

        def traced(dynamic: Any) -> Any:
            traced_model, traced_inputs, traced_kwargs = combine(dynamic, static)
            set_root(traced_model)
            output = call(traced_model, *traced_inputs, **traced_kwargs)
            returned.append(tensor_infos(output, kinds))
            return partition(output, is_array_or_struct)[0]

        jaxpr = jax.make_jaxpr(traced)(dynamic)
    macs = count_macs(jaxpr, innermost_token)
    return _assemble(model, tree, recorder, macs, returned[-1])


def _assemble(model: Any, tree: Any, recorder: CallRecorder, macs: Any, outputs: Any) -> Report:
    """Put the tree's layers, the recorded calls and the multiply-adds together as rows."""
    parents = {path: layer.parent for path, layer in tree.layers.items()}
    depths = {path: layer.depth for path, layer in tree.layers.items()}
    types = {path: type(layer.module).__name__ for path, layer in tree.layers.items()}
    for path, call in recorder.calls.items():
        if path not in parents:  # a layer built during the call: not in the tree
            parents[path] = call.parent
            depths[path] = depths[call.parent] + 1
            types[path] = call.type
    self_macs = dict.fromkeys(parents, 0)
    for token, count in macs.by_scope.items():
        self_macs[recorder.tokens.get(token, "")] += count
    total_macs = dict(self_macs)
    children: dict[str | None, list[str]] = {}
    for path, parent in parents.items():
        children.setdefault(parent, []).append(path)
    for path in sorted(parents, key=lambda p: -depths[p]):
        if parents[path] is not None:
            total_macs[parents[path]] += total_macs[path]

    rows = []

    def visit(path: str) -> None:
        tally = tree.tallies.get(path)
        counts = Counts(macs=total_macs[path])
        if tally is not None:
            counts = Counts(
                tally.trainable, tally.frozen, tally.buffers, tally.param_bytes, tally.buffer_bytes, total_macs[path]
            )
        call = recorder.calls.get(path)
        rows.append(
            LayerRow(
                path=path,
                depth=depths[path],
                type=types[path],
                counts=counts,
                outputs=call.outputs if call is not None else outputs if path == "" else (),
                calls=call.calls if call is not None else 0,
                stateful=path in tree.stateful,
            )
        )
        for child in children.get(path, []):
            visit(child)

    visit("")
    notes = list(macs.notes)
    if tree.missing_state:
        notes.append(
            f"{tree.missing_state} StateIndex value(s) not counted as buffers: pass the model's "
            "State among the inputs"
        )
    return Report(model=type(model).__name__, rows=tuple(rows), totals=rows[0].counts, notes=tuple(notes))
