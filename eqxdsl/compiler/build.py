"""What decides a generated module's text besides its spec and the compiler: the target and how it imports.

A generated module imports the modules generated from the specs it imports,
and Python modules found beside its spec. Plain `from mlp import MLP` would
take the first `mlp` on `sys.path`, which may be an unrelated module, so:

- in a package (the output folder has `__init__.py`, or the module is made by
  `load`), they are imported relatively: `from .mlp import MLP`;
- elsewhere, they are imported from the file beside the output, by path:
  `MLP = eqx.import_beside("mlp", __file__, __name__).MLP`, or, for a target
  whose library has no `import_beside` (Equinox), through the same function
  written into the module as `_import_beside`.

Python modules that were found on `sys.path` rather than beside the spec are
imported as the spec names them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from eqxdsl.compiler.targets import DEFAULT_TARGET, Target, target_named


@dataclass(frozen=True)
class Build:
    """How one spec is compiled, apart from the spec itself.

    Attributes:
        target: the library the output imports as `eqx`.
        relative_imports: import sibling modules relatively (the output is in a
            package); otherwise from their files, through `import_beside`.
        python_beside: the output is written beside the spec, so Python modules
            found beside the spec are siblings of the output too (otherwise they
            are imported as the spec names them).
    """

    target: Target
    relative_imports: bool = False
    python_beside: bool = True

    @property
    def key(self) -> str:
        """A text that differs whenever the output text may: part of the output's digest."""
        imports = "relative" if self.relative_imports else "beside"
        return f"target={self.target.name} imports={imports} python_beside={self.python_beside}"


def build_for(spec_path: str | os.PathLike, out: str | os.PathLike | None, target: str = DEFAULT_TARGET) -> Build:
    """The build of the spec at `spec_path` written into the folder `out` (None: beside the spec).

    Raises:
        ValueError: `target` names no target.
    """
    spec_folder = Path(spec_path).resolve().parent
    folder = spec_folder if out is None else Path(out).resolve()
    return Build(
        target=target_named(target),
        relative_imports=(folder / "__init__.py").is_file(),
        python_beside=folder == spec_folder,
    )
