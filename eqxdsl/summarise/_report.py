"""The report a summary is made of: one `LayerRow` per layer path, and the totals.

The same classes serve a summary computed from a built Module (every number
known) and one computed from a spec (numbers where the hyperparameters are
known, formulas in them always), so every number is optional and sits next to
an optional formula.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["TensorInfo", "Counts", "LayerRow", "Report", "collapse"]


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One output array of a layer.

    Attributes:
        shape: the numeric shape, or `None` where only `shape_symbolic` is known.
            Under `jax.vmap` it includes the mapped axes, first.
        dtype: the dtype's name (`"float32"`), or `None` when unknown.
        shape_symbolic: the shape in the spec's size names (`"T×dim"`), if any.
        vmapped_axes: how many leading axes of `shape` come from `jax.vmap`s
            around the call (the layer itself sees the shape without them).
    """

    shape: tuple[int, ...] | None
    dtype: str | None
    shape_symbolic: str | None = None
    vmapped_axes: int = 0


@dataclasses.dataclass(frozen=True)
class Counts:
    """What a layer holds and does, its sub-layers included.

    Attributes:
        trainable: elements of the parameters the trainable filter selects.
        frozen: elements of the other floating-point parameters.
        buffers: elements of non-trainable state: `StateIndex` values (such as
            BatchNorm's running statistics) and integer or boolean arrays.
        param_bytes: bytes of the trainable and frozen parameters.
        buffer_bytes: bytes of the buffers.
        macs: multiply-adds of one call (matrix products and convolutions).
        params_formula: the parameter count as a formula in the
            hyperparameters (`"12·dim² + 13·dim"`), if known.
        macs_formula: the multiply-add count as a formula, if known.
    """

    trainable: int | None = 0
    frozen: int | None = 0
    buffers: int | None = 0
    param_bytes: int | None = 0
    buffer_bytes: int | None = 0
    macs: int | None = 0
    params_formula: str | None = None
    macs_formula: str | None = None

    @property
    def params(self) -> int | None:
        """Trainable plus frozen parameters, or `None` if either is unknown."""
        if self.trainable is None or self.frozen is None:
            return None
        return self.trainable + self.frozen


@dataclasses.dataclass(frozen=True)
class LayerRow:
    """One layer of the model.

    Attributes:
        path: where the layer sits in the model, as attribute and index
            accesses from the model (`"blocks.attn.query_proj"`, `"hidden[0]"`);
            `""` for the model itself.
        depth: how many layers enclose this one (0 for the model itself).
        type: the layer's class name.
        counts: what the layer and its sub-layers hold and do.
        outputs: the arrays its first call returned (a `State` it returned is
            left out); empty when it was not called.
        calls: how many times it was called while tracing the model once.
        stateful: whether it or a sub-layer holds a `StateIndex`.
        source: where it is declared (`"gpt.eqx:9"`), if known.
    """

    path: str
    depth: int
    type: str
    counts: Counts
    outputs: tuple[TensorInfo, ...] = ()
    calls: int = 0
    stateful: bool = False
    source: str | None = None


@dataclasses.dataclass(frozen=True)
class Report:
    """A model summary.

    Attributes:
        model: the model's class name.
        rows: every layer, parents before their children, the model first.
        totals: the whole model's counts.
        notes: caveats about the numbers (a loop whose trip count is unknown).
    """

    model: str
    rows: tuple[LayerRow, ...]
    totals: Counts
    notes: tuple[str, ...] = ()


def collapse(report: Report, depth: int | None) -> Report:
    """`report` with the rows nested deeper than `depth` left out.

    Every row's counts include its sub-layers, so each kept row stands for
    everything folded into it and the totals do not change.

    Args:
        report: the report to collapse.
        depth: the deepest row kept (0 keeps only the model); `None` keeps all.
    """
    if depth is None:
        return report
    if depth < 0:
        raise ValueError(f"summary depth must be at least 0, got {depth}")
    rows = tuple(row for row in report.rows if row.depth <= depth)
    return dataclasses.replace(report, rows=rows)


def report_to_dict(report: Report) -> dict[str, Any]:
    """`report` as plain JSON values (the schema in `docs/summary.md`)."""
    return dataclasses.asdict(report)


def report_from_dict(data: dict[str, Any]) -> Report:
    """The `Report` that `report_to_dict` turned into `data`."""

    def tensor(item: dict[str, Any]) -> TensorInfo:
        shape = item["shape"]
        return TensorInfo(**{**item, "shape": None if shape is None else tuple(shape)})

    def row(item: dict[str, Any]) -> LayerRow:
        return LayerRow(
            **{
                **item,
                "counts": Counts(**item["counts"]),
                "outputs": tuple(tensor(output) for output in item["outputs"]),
            }
        )

    return Report(
        model=data["model"],
        rows=tuple(row(item) for item in data["rows"]),
        totals=Counts(**data["totals"]),
        notes=tuple(data["notes"]),
    )
