"""Sizes set from outside the spec (`--set dim=128`), as the values of the checker's size symbols."""

from __future__ import annotations

from collections.abc import Mapping

from eqxdsl.compiler.check.checked import CheckedModel, element_symbol


class SizeError(ValueError):
    """A set size the model does not have, or a tuple set to another length than the spec was checked with."""


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
