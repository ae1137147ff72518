"""Importing a module from the folder of the module that imports it, by path.

Output compiled for the Equinox target cannot import eqxdsl, so it carries
this same function as `_import_beside` (templates/module.py.j2);
tests/compiler/test_runtime_beside_imports.py holds the two to one behaviour.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path


def import_beside(name: str, file: str, importer: str) -> types.ModuleType:
    """The module `name` from the folder of the file `file`: `name`.py, or for `pkg.mod`, pkg/mod.py.

    This is how a generated module not in a package imports the modules beside it:
    `MLP = eqx.import_beside("mlp", __file__, __name__).MLP`. `import mlp` would
    take the first module of that name on `sys.path`, which may be an unrelated
    one. The module (for `pkg.mod`, the package `pkg`, with or without
    `__init__.py`) is registered in `sys.modules` under its own name, so that
    other imports of it share its classes; importing it again returns the same
    module.

    Args:
        name: the module's name, one identifier or several joined by dots.
        file: the path of the importing module (its `__file__`); the module
            `name` is looked for in this file's folder alone.
        importer: the importing module's name (its `__name__`), to say in
            errors which module needs the missing one.

    Returns:
        The module `name`.

    Raises:
        ValueError: `name` is not a dotted name of identifiers.
        ImportError: the file `name`.py (for `pkg.mod`, the folder `pkg`) is not
            beside `file`; or a module of the name `name` (for `pkg.mod`, `pkg`)
            from another place is imported already, which this refuses rather
            than mix the classes of the two.
    """
    if not (isinstance(name, str) and all(part.isidentifier() for part in name.split("."))):
        raise ValueError(f"{importer} imports {name!r} beside it, which is not a module name like 'mlp' or 'layers.scale'")
    top, dot, _ = name.partition(".")
    folder = Path(file).resolve().parent
    path = folder / top if dot else folder / f"{top}.py"
    module = sys.modules.get(top)
    if module is None:
        _load(top, path, folder, package=bool(dot), name=name, importer=importer)
    else:
        file_of_module = getattr(module, "__file__", None) or ""
        places = getattr(module, "__path__", None) or [file_of_module]
        if path not in {Path(place).resolve() for place in places}:
            raise ImportError(
                f"{importer} needs the module {top!r} from {path}, but a module {top!r} from "
                f"{', '.join(map(str, places))} is imported already",
                name=name,
                path=str(path),
            )
    return importlib.import_module(name)


def _load(top: str, path: Path, folder: Path, *, package: bool, name: str, importer: str) -> None:
    """Execute the module (or package) `top` at `path` and register it in `sys.modules`."""
    if not (path.is_dir() if package else path.is_file()):
        raise ImportError(f"{importer} needs {path}, which does not exist", name=name, path=str(path))
    if package:
        # Found in this folder alone, as a package with or without __init__.py.
        spec = importlib.machinery.PathFinder.find_spec(top, [str(folder)])
    else:
        spec = importlib.util.spec_from_file_location(top, path)
    loader = None
    if spec is not None:
        # This also gives a namespace package's spec its loader.
        module = importlib.util.module_from_spec(spec)
        loader = spec.loader
    if loader is None:
        raise ImportError(f"{importer} needs {path}, which Python cannot import", name=name, path=str(path))
    sys.modules[top] = module
    try:
        loader.exec_module(module)
    except BaseException:
        # A half-executed module must not be found by the next import of its name.
        del sys.modules[top]
        raise
