"""What the tooling tests share: the repository's specs, and trees compared without positions."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from eqxdsl.tooling.frontend import parse_spec, syntax

REPO = Path(__file__).resolve().parents[2]


def repository_specs() -> list[Path]:
    """Every `.eqx` file of the repository (hidden folders skipped), in a stable order."""
    return [
        path
        for path in sorted(REPO.rglob("*.eqx"))
        if not any(part.startswith(".") for part in path.relative_to(REPO).parts)
    ]


def kept_formatted() -> list[Path]:
    """The specs the repository keeps in the canonical layout."""
    return [*sorted((REPO / "examples").glob("*.eqx")), *sorted((REPO / "tests" / "specs").glob("*.eqx"))]


def meaning(text: str) -> object:
    """The syntax tree of `text` as nested tuples, without positions or the text itself."""

    def strip(value: object) -> object:
        if isinstance(value, syntax.Node):
            fields = dataclasses.fields(value)
            return (type(value).__name__,) + tuple(
                strip(getattr(value, f.name))
                for f in fields
                if f.name not in ("source", "path") and not isinstance(getattr(value, f.name), syntax.Pos)
            )
        if isinstance(value, tuple):
            return tuple(strip(item) for item in value)
        return (type(value).__name__, value)

    return strip(parse_spec(text, "spec.eqx"))
