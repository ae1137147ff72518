"""`load_source`: compile spec text in memory and import the result, as `eqxdsl.load` does for a file."""

from __future__ import annotations

import hashlib
import linecache
import os
import sys
import types
from pathlib import Path

from eqxdsl import compiler
from eqxdsl.tooling.frontend import parse_spec, spec_module_name, syntax

__all__ = ["load_source"]


def load_source(text: str, name: str = "spec", *, folder: str | os.PathLike | None = None) -> types.ModuleType:
    """Compile the text of a spec and import the generated module; no file is written.

    Args:
        text: the `.eqx` source.
        name: the spec's name, a file stem: diagnostics read `name.eqx:line:col`,
            and the module is `name` (made an identifier, as for a file).
        folder: the folder the spec's imports (`from "blocks.eqx" import Block`)
            are looked up in, as if the spec lay there; the current folder by default.

    Returns:
        A new module holding the spec's models as classes (`module.MLP`). The
        specs it imports are loaded with `eqxdsl.load`.

    Raises:
        CompileError: every problem in the spec (and in the specs it imports),
            each located in its text.
    """
    base = Path.cwd() if folder is None else Path(folder)
    filename = f"{name}.eqx" if folder is None else str(base / f"{name}.eqx")
    source = compiler.compile_source(text, filename)
    imports = [item for item in parse_spec(text, filename).imports if isinstance(item, syntax.SpecImport)]
    siblings = {spec_module_name(item.path): _sibling(compiler.load(base / item.path), base, item.path) for item in imports}
    module_name = spec_module_name(filename)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    module = types.ModuleType(f"eqxdsl.loaded.{module_name}_{digest}")
    # Where the output would lie: the generated code finds its sibling modules next to its `__file__`.
    module.__file__ = str(base.resolve() / f"{module_name}.py")
    # Tracebacks through the generated code show its lines, though no file holds them.
    linecache.cache[module.__file__] = (len(source), None, source.splitlines(keepends=True), module.__file__)
    sys.modules[module.__name__] = module
    saved = {alias: sys.modules.get(alias) for alias in siblings}
    sys.modules.update(siblings)
    try:
        exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102 - code the compiler generated
    except BaseException:
        del sys.modules[module.__name__]
        raise
    finally:
        for alias, previous in saved.items():
            if previous is None:
                sys.modules.pop(alias, None)
            else:
                sys.modules[alias] = previous
    return module


def _sibling(loaded: types.ModuleType, folder: Path, path: str) -> types.ModuleType:
    """The loaded module of an imported spec, as the generated code expects to find it: the module of
    the output file beside the spec (`blocks.py` for `blocks.eqx`), which in memory no file holds."""
    sibling = types.ModuleType(spec_module_name(path))
    sibling.__dict__.update({key: value for key, value in vars(loaded).items() if not key.startswith("__")})
    sibling.__file__ = str((folder / path).resolve().with_name(f"{spec_module_name(path)}.py"))
    return sibling
