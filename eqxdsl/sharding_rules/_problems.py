"""`ShardingError`: every mistake in logical axis names, rules or sizes, located."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["KINDS", "ShardingError", "ShardingProblem", "raise_problems"]

KINDS = {
    "malformed": "a table, annotation or rule that is not of the documented form",
    "no_match": "an annotation that matches no array (a renamed layer)",
    "twice": "an array annotated by two entries",
    "rank": "an annotation whose rank differs from its array's",
    "unknown_name": "a logical name no rule maps",
    "axis_twice": "a mesh axis sharding two axes of one array, or named twice by one rule",
    "not_divisible": "a size not divisible by the sizes of its mesh axes",
    "unknown_mesh_axis": "a rule naming a mesh axis the mesh does not have",
    "conflict": "two rules mapping one logical name differently",
    "unused_rule": "a rule that no annotation, input or activation uses",
    "no_mesh": "sharding data with no mesh and rules active",
}
"""Each `ShardingProblem.kind`, and what it means."""


class ShardingProblem(NamedTuple):
    """One mistake.

    Attributes:
        where: what it is about: a parameter path (`"blocks.attn.query_proj.weight"`),
            a table entry (`"Block.__logical_axes__['fc.weight']"`) or a rule
            (`"rules[2]"`).
        message: what is wrong there.
        kind: which check found it, one of `KINDS` (so that a tool can say how
            to fix it).
        axis: for a problem with one axis of an array, that axis' index (so a
            compiler can point at the name given to it); None otherwise.
        rule: for a problem with one rule, its position in the rules; None otherwise.
    """

    where: str
    message: str
    kind: str
    axis: int | None = None
    rule: int | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ShardingError(ValueError):
    """Logical axis annotations, rules and mesh do not fit together.

    Raised before anything is placed on a device, with every problem found at
    once (one per line), so that nothing is ever silently replicated.

    Attributes:
        problems: the `ShardingProblem`s, in the order of the parameters.
    """

    def __init__(self, problems: list[ShardingProblem]):
        self.problems = tuple(problems)
        count = f"{len(problems)} problems" if len(problems) > 1 else "1 problem"
        super().__init__(f"sharding: {count}:\n" + "\n".join(f"  {problem}" for problem in problems))


def raise_problems(problems: list[ShardingProblem]) -> None:
    """Raise a `ShardingError` when `problems` is not empty."""
    if problems:
        raise ShardingError(problems)
