"""`load_source`: compile spec text in memory and import the result, as `eqxdsl.load` does for a file."""

from __future__ import annotations

import os
import types
from pathlib import Path

from eqxdsl.tooling.frontend import DEFAULT_TARGET, load_spec_text

__all__ = ["load_source"]


def load_source(
    text: str, name: str = "spec", *, folder: str | os.PathLike | None = None, target: str = DEFAULT_TARGET
) -> types.ModuleType:
    """Compile the text of a spec and import the generated module; no file is read or written.

    Args:
        text: the `.eqx` source.
        name: the spec's name, a file stem: diagnostics read `name.eqx:line:col`
            (`folder/name.eqx:line:col` when `folder` is given), and the
            module's models are those of a spec file `name.eqx`.
        folder: the folder the spec's imports (`from "blocks.eqx" import Block`,
            and Python modules) are looked up in, as if the spec lay there; the
            current folder by default.
        target: `"eqxdsl"` or `"equinox"`: the library the module uses as `eqx`.

    Returns:
        The module holding the spec's models as classes (`module.MLP`); the
        same module again for the same text while the specs it imports are
        unchanged (see `eqxdsl.compiler.loader.load_source`).

    Raises:
        CompileError: every problem in the spec (and in the specs it imports),
            each located in its text.
        ValueError: `target` names no target.
    """
    path = Path(f"{name}.eqx") if folder is None else Path(folder) / f"{name}.eqx"
    return load_spec_text(text, path, target=target)
