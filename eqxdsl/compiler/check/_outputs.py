"""The value of `outputs = []` before a loop over an array fills it with one value per step."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepOutputs:
    """An empty list waiting for `outputs.append(value)` in a loop over an array.

    After the loop it is an array: the appended values stacked on a new leading
    axis (what `jax.lax.scan` returns beside its carry).
    """

    def __str__(self) -> str:
        return "an empty list (a loop over an array fills it with append)"
