"""The values of a model's size symbols: those its hyperparameters' defaults fix, and those set from
outside the spec (`--set dim=128`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from eqxdsl.compiler.check.checked import CheckedModel, HyperInfo, element_symbol, length_symbol
from eqxdsl.compiler.dims import Dim


class SizeError(ValueError):
    """A set size the model does not have, or a tuple set to another length than the spec was checked with."""


def default_sizes(hypers: Iterable[HyperInfo]) -> dict[str, int]:
    """The value of each size symbol the hyperparameters' defaults fix.

    `dim: int = 64` fixes `dim`; `widths: tuple[int, ...] = (8, 16)` fixes
    `widths[0]`, `widths[1]` and `len(widths)`. Hyperparameters without a
    default, and defaults the checker refused, fix nothing.
    """
    values: dict[str, int] = {}
    for hyper in hypers:
        default = hyper.default.value if hyper.default is not None else None
        if hyper.kind == "int" and isinstance(default, Dim) and default.value is not None:
            values[hyper.name] = default.value
        elif hyper.kind == "ints" and isinstance(default, tuple):
            values.update({element_symbol(hyper.name, index): item.value for index, item in enumerate(default) if item.value is not None})
            values[length_symbol(hyper.name)] = len(default)
    return values


def set_sizes(model: CheckedModel, sizes: Mapping[str, int | tuple[int, ...]]) -> dict[str, int]:
    """The value of each size symbol that `sizes` sets.

    Args:
        model: the checked model the sizes are for.
        sizes: by name, an int for an int hyperparameter or an input size
            (`dim`, `T`), a tuple of ints for a tuple hyperparameter (`widths`).

    Returns:
        The values by symbol: `dim=128` sets `dim`, `widths=(64, 128)` sets
        `widths[0]` and `widths[1]`.

    Raises:
        SizeError: a name that is not one of the model's sizes, or a tuple of
            another length than the one the spec was checked at.
    """
    symbols: dict[str, list[str]] = {}
    for hyper in model.hypers:
        if hyper.kind == "int":
            symbols[hyper.name] = [hyper.name]
        elif hyper.kind == "ints" and isinstance(hyper.value.value, tuple):
            symbols[hyper.name] = [element_symbol(hyper.name, index) for index in range(len(hyper.value.value))]
    for dim in sorted(model.input_dims | set(model.init_dims)):
        symbols.setdefault(dim, [dim])
    values: dict[str, int] = {}
    for name, value in sizes.items():
        if name not in symbols:
            raise SizeError(f"{model.name} has no size {name!r}; its sizes: {', '.join(symbols) or 'none'}")
        items = value if isinstance(value, tuple) else (value,)
        if len(items) != len(symbols[name]):
            raise SizeError(f"{name} takes {len(symbols[name])} value(s), as the spec was checked with; got {len(items)}")
        values.update(zip(symbols[name], items))
    return values
