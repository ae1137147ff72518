"""The formatter's proof of safety: the formatted spec parses to the same tree and keeps every comment."""

from __future__ import annotations

import dataclasses
from collections import Counter

from eqxdsl.tooling.frontend import syntax as s

# What a SpecFile records about its text rather than its meaning.
_TEXT_FIELDS = frozenset({"pos", "source", "path"})


def first_difference(original: s.Node, formatted: s.Node) -> s.Pos | None:
    """Where the two trees first differ, ignoring positions (every `Pos` field), as a position in `original`; None if nowhere.

    Literals must match in type as well as value (`1` is not `1.0` nor `True`).
    """
    stack: list[tuple[object, object, s.Pos]] = [(original, formatted, original.pos)]
    while stack:
        a, b, where = stack.pop()
        if isinstance(a, s.Node):
            if type(a) is not type(b):
                return a.pos
            for f in dataclasses.fields(a):
                value = getattr(a, f.name)
                if f.name not in _TEXT_FIELDS and not isinstance(value, s.Pos):
                    stack.append((value, getattr(b, f.name), a.pos))
        elif isinstance(a, tuple):
            if not isinstance(b, tuple) or len(a) != len(b):
                return where
            stack.extend((x, y, where) for x, y in zip(reversed(a), reversed(b)))
        elif type(a) is not type(b) or a != b:
            return where
    return None


def lost_comments(original: list[str], formatted: list[str]) -> list[str]:
    """The comments of `original` that `formatted` lacks or holds more often (each text once)."""
    before, after = Counter(original), Counter(formatted)
    return sorted(text for text in before.keys() | after.keys() if before[text] != after[text])
