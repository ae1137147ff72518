"""Logical axis names, shared by the `axes:` block and the `shard` function.

A spec names the axes of arrays with strings (`"embed"`) or `None` (an axis
never sharded), as `eqx.with_logical_constraint` and `__logical_axes__` take
them; rules given at run time map the names to mesh axes.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["repeated_name", "repeated_name_message"]


def repeated_name(names: Sequence[str | None]) -> tuple[int, int] | None:
    """The positions `(first, second)` of the first name used for two axes, or None.

    A name used twice would map two axes of one array to the same mesh axis,
    which no sharding can do.
    """
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if name is None:
            continue
        if name in seen:
            return seen[name], position
        seen[name] = position
    return None


def repeated_name_message(names: Sequence[str | None], first: int, second: int) -> str:
    """The message for `names[first] == names[second]`."""
    return (
        f"the logical axis name {names[second]!r} names two axes of one array (axes {first} and {second}); "
        "a mesh axis can shard only one axis of an array"
    )
