"""The in-memory loader: compile a spec and the specs it imports, and import the result."""

from __future__ import annotations

import contextlib
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path

from eqxdsl.compiler.outputs import module_name, read_spec, spec_digest
from eqxdsl.compiler.session import Session

# Modules made by `load`, by resolved spec path, with the digest they were built from.
_loaded: dict[Path, tuple[str, types.ModuleType]] = {}


def load(path: str | os.PathLike) -> types.ModuleType:
    """Compile the spec at `path` in memory, with the specs it imports, and import the result.

    No file is written. Each spec becomes a module named after its file
    (`blocks.eqx` -> `blocks`) and registered privately as
    `eqxdsl.loaded.<name>_<digest>`; while a module runs, the names of the
    modules it imports point to their loaded versions, so the generated
    `from blocks import Block` finds them. Loading the same unchanged spec
    again returns the same module.

    Raises:
        CompileError: the spec or one it imports has errors.
        FileNotFoundError: `path` does not exist.
    """
    path = Path(path)
    resolved = path.resolve()
    session = Session()
    return _load_resolved(session, read_spec(path), str(path), resolved)


def _load_resolved(session: Session, text: str, display: str, resolved: Path) -> types.ModuleType:
    digest = spec_digest(text, resolved)
    cached = _loaded.get(resolved)
    if cached is not None and cached[0] == digest:
        return cached[1]
    source = session.compile(text, display, resolved)
    dependencies = {}
    for imported in session.dependencies.get(resolved, []):
        dependencies[module_name(imported)] = _load_resolved(
            session, read_spec(imported), os.path.join(os.path.dirname(display), imported.name), imported
        )
    name = module_name(resolved)
    module = types.ModuleType(f"eqxdsl.loaded.{name}_{digest[:12]}")
    module.__file__ = str(resolved.with_suffix(".py"))
    sys.modules[module.__name__] = module
    with _aliased_modules(dependencies):
        try:
            exec(compile(source, str(resolved), "exec"), module.__dict__)  # noqa: S102 - our own generated code
        except BaseException:
            del sys.modules[module.__name__]
            raise
    _loaded[resolved] = (digest, module)
    return module


@contextlib.contextmanager
def _aliased_modules(modules: dict[str, types.ModuleType]) -> Iterator[None]:
    """Within the block, `sys.modules[name]` is the given module for each name; restored after."""
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
