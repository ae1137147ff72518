"""`ShardingError`: every mistake in logical axis names, rules or sizes, located."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ShardingError", "ShardingProblem"]


class ShardingProblem(NamedTuple):
    """One mistake.

    Attributes:
        where: what it is about: a parameter path (`"blocks.attn.query_proj.weight"`),
            a table entry (`"Block.__logical_axes__['fc.weight']"`) or a rule
            (`"rules[2]"`).
        message: what is wrong there.
    """

    where: str
    message: str

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
