"""A spec checked with the value of every expression noted, its imports' included."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from ..compiler.check import CheckedModel, CheckedSpec, ExpressionTypes
from ..compiler.outputs import read_spec
from ..compiler.session import Session


@dataclasses.dataclass(frozen=True)
class TypedSpec:
    """A checked spec and what the graph builder needs beside it.

    Attributes:
        checked: the spec itself.
        types: the values of the expressions of the spec and of every spec it imports.
        specs: by `id` of each model (the spec's and the imported ones), the spec defining it.
    """

    checked: CheckedSpec
    types: ExpressionTypes
    specs: dict[int, CheckedSpec]


class _RecordingSession(Session):
    """A session that notes expression values in every spec it checks, not only the first."""

    def __init__(self, types: ExpressionTypes):
        super().__init__()
        self.types = types

    def check(self, text: str, display_path: str, resolved: Path, recorder: ExpressionTypes | None = None) -> CheckedSpec:
        return super().check(text, display_path, resolved, self.types)


def check_with_types(path: str | os.PathLike) -> TypedSpec:
    """Parse and check the spec at `path` and its imports, noting every expression's value.

    Raises:
        CompileError: every problem found in the spec or its imports.
        OSError: the spec cannot be read.
    """
    path = Path(path)
    types = ExpressionTypes()
    session = _RecordingSession(types)
    checked = session.check(read_spec(path), str(path), path.resolve())
    specs: dict[int, CheckedSpec] = {}
    for spec in session.checked.values():
        for model in spec.models.values():
            specs[id(model)] = spec
    return TypedSpec(checked, types, specs)


def spec_of(typed: TypedSpec, model: CheckedModel) -> CheckedSpec:
    """The spec that defines `model`."""
    return typed.specs.get(id(model), typed.checked)
