"""The in-memory loader: compile a spec and the specs it imports, and import the result.

A spec at `/models/gpt.eqx` loaded for the target `eqxdsl` becomes the module
`eqxdsl.loaded.eqxdsl._2fmodels.gpt`: the target, then the spec's folder
encoded as one name (each character other than a letter or digit written as
`_` and its hex code), then the module name of the spec. The folder's package
has the folder as its `__path__`, so the generated relative imports
(`from .mlp import MLP`, `from .scale_layer import Scale`) find the specs and
Python modules beside the spec, and nothing else.

Because the name says where the spec is, any process can import it again:
importing `eqxdsl.loaded` installs a finder that compiles the spec when such a
name is imported, which is what unpickling a model made from a loaded spec
does. Spec text loaded with `load_source` is registered beside, as
`<name>__text_<digest of the text>`: only a process that loaded the same text
can import that name.

The generated source is served by the loader (`get_source`) and registered
with `linecache` under the module's `__file__`, a virtual name
`eqxdsl:/models/gpt.eqx@eqxdsl:DIGEST` (no such file exists), so tracebacks
and `inspect.getsource` show the generated lines with their `# gpt.eqx:N`
comments. The name is not written in angle brackets, which linecache never
asks a loader about: after `linecache.clearcache()` it gets the lines again
from the module's `__loader__`.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import linecache
import os
import re
import sys
import types
from collections.abc import Sequence
from pathlib import Path

from eqxdsl.compiler.build import Build
from eqxdsl.compiler.outputs import SPEC_SUFFIX, module_name, read_spec, spec_digest
from eqxdsl.compiler.session import Session
from eqxdsl.compiler.targets import DEFAULT_TARGET, TARGETS, target_named

#: The package under which loaded specs are registered.
ROOT = "eqxdsl.loaded"

#: Ends the name of a module made from spec text: `__text_` and 12 hex digits of the text's digest.
_TEXT_NAME = re.compile(r"__text_[0-9a-f]{12}$")


def load(path: str | os.PathLike, *, target: str = DEFAULT_TARGET) -> types.ModuleType:
    """Compile the spec at `path` in memory, with the specs it imports, and import the result.

    No file is written. The module is registered as
    `eqxdsl.loaded.<target>.<folder>.<name>` (see the module docstring), so
    models made from it can be pickled and unpickled in another process.
    Loading an unchanged spec again returns the same module; loading it after
    it (or a spec it imports) changed compiles it again.

    Args:
        path: the `.eqx` file.
        target: `"eqxdsl"` or `"equinox"`: the library the module uses as `eqx`.

    Raises:
        CompileError: the spec or one it imports has errors.
        FileNotFoundError: `path` does not exist.
        ValueError: `target` names no target.
    """
    target_named(target)
    install_finder()
    path = Path(path)
    read_spec(path)  # FileNotFoundError (or a CompileError for a file that is not text) before anything else
    return _current_module(path.resolve(), target, str(path))


def load_source(text: str, path: str | os.PathLike, *, target: str = DEFAULT_TARGET) -> types.ModuleType:
    """Compile spec text in memory as if it were the spec at `path`, and import the result, as `load` does.

    No file is read at `path` nor written: `path` names the spec in
    diagnostics (as given) and says where its imports, of specs and of Python
    modules, are found. The module is registered as
    `eqxdsl.loaded.<target>.<folder>.<name>__text_<digest>`, the digest being
    of `text`; loading the same text again returns the same module while the
    specs it imports are unchanged. Models made from it pickle; another
    process unpickles them once it has loaded the same text.

    Args:
        text: the `.eqx` source.
        path: where the spec would lie, as `notebook/cell.eqx`.
        target: `"eqxdsl"` or `"equinox"`: the library the module uses as `eqx`.

    Raises:
        CompileError: the text or a spec it imports has errors, each located in its text.
        ValueError: `target` names no target.
    """
    target_named(target)
    install_finder()
    path = Path(path)
    return _current_module(path.resolve(), target, str(path), text)


def loaded_name(spec: Path, target: str = DEFAULT_TARGET) -> str:
    """The name `load` registers the module of the resolved spec path `spec` under."""
    return f"{ROOT}.{target}.{_encode_folder(spec.parent)}.{module_name(spec)}"


def install_finder() -> None:
    """Let `import eqxdsl.loaded.<target>.<folder>.<name>` compile and import that spec, in this process."""
    if not any(isinstance(finder, _LoadedFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _LoadedFinder())


def _text_name(spec: Path, target: str, text: str) -> str:
    """The name `load_source` registers the module of `text`, as the spec `spec`, under."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{loaded_name(spec, target)}__text_{digest[:12]}"


class _SpecLoader(importlib.abc.Loader):
    """Compiles one spec (after bringing the specs it imports up to date) and runs the result as its module.

    Args:
        spec: the resolved path of the spec.
        target: the target's name.
        display: the spec's path in diagnostics (default: `spec`).
        text: the spec's text (`load_source`); None: the text of the file `spec`.
    """

    def __init__(self, spec: Path, target: str, display: str | None = None, text: str | None = None):
        self.spec = spec
        self.target = target
        self.display = display if display is not None else str(spec)
        self.text = text
        # A package's module: the folder's package makes sibling imports relative.
        self.build = Build(target_named(target), relative_imports=True, python_beside=True)
        self.digest: str | None = None
        self.source: str | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        session = Session(self.build)
        text = self._text()
        source = session.compile(text, self.display, self.spec)
        folder = os.path.dirname(self.display)
        for imported in session.dependencies.get(self.spec, []):
            _current_module(imported, self.target, os.path.join(folder, imported.name))
        self.digest = _digest(text, self.spec, self.build)
        self.source = source
        filename = f"eqxdsl:{self.spec}@{self.target}:{self.digest[:12]}"
        module.__file__ = filename
        # `mtime` None: `linecache.checkcache` keeps the entry, since no file backs it.
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - our own generated code

    def get_source(self, fullname: str) -> str | None:
        return self.source

    def _text(self) -> str:
        return read_spec(self.spec) if self.text is None else self.text

    def is_current(self) -> bool:
        """Whether the module was built from the spec and imports as they are now."""
        try:
            text = self._text()
        except (OSError, ValueError):
            return False
        return self.digest is not None and _digest(text, self.spec, self.build) == self.digest


def _digest(text: str, spec: Path, build: Build) -> str:
    return spec_digest(text, spec, build_key=build.key)


def _current_module(spec: Path, target: str, display: str, text: str | None = None) -> types.ModuleType:
    """The module of `spec` built from its current text (or from `text`): the registered one, or a new one."""
    name = loaded_name(spec, target) if text is None else _text_name(spec, target, text)
    registered = sys.modules.get(name)
    loader = getattr(getattr(registered, "__spec__", None), "loader", None)
    if registered is not None and isinstance(loader, _SpecLoader) and loader.is_current():
        return registered
    package = importlib.import_module(name.rpartition(".")[0])
    module_spec = importlib.util.spec_from_loader(name, _SpecLoader(spec, target, display, text), origin=str(spec))
    assert module_spec is not None and module_spec.loader is not None  # given a loader, it always makes a spec
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        if registered is None:
            del sys.modules[name]
        else:
            sys.modules[name] = registered
        raise
    setattr(package, name.rpartition(".")[2], module)
    return module


class _LoadedFinder(importlib.abc.MetaPathFinder):
    """Finds `eqxdsl.loaded.<target>.<folder>.<name>` by compiling `<folder>/<spec>.eqx`."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        parts = fullname.split(".")
        if parts[:2] != ROOT.split(".") or len(parts) < 3 or len(parts) > 5:
            return None
        if parts[2] not in TARGETS:
            raise ImportError(f"{fullname}: {parts[2]!r} is not a target of eqxdsl.load", name=fullname)
        folder = _decode_folder(parts[3]) if len(parts) > 3 else None
        if len(parts) > 3 and folder is None:
            raise ImportError(f"{fullname}: {parts[3]!r} is not a folder name written by eqxdsl.load", name=fullname)
        if len(parts) < 5:
            # The target's package, and the folder's, whose `__path__` makes the Python modules there importable.
            package = importlib.machinery.ModuleSpec(fullname, None, is_package=True)
            package.submodule_search_locations = [] if folder is None else [str(folder)]
            return package
        assert folder is not None  # a fifth part comes after a folder's
        specs = [spec for spec in sorted(folder.glob(f"*{SPEC_SUFFIX}")) if module_name(spec) == parts[4]]
        if not specs:
            if (folder / f"{parts[4]}.py").is_file() or (folder / parts[4]).is_dir():
                return None  # a Python module beside the specs: the path finder imports it from the package's __path__
            if _TEXT_NAME.search(parts[4]):
                raise ImportError(
                    f"{fullname} is a module made by eqxdsl.load_source from spec text that this process has not "
                    "loaded; call eqxdsl.load_source with the same text and path first, or save the spec to a file "
                    "and load that",
                    name=fullname,
                )
            raise ImportError(
                f"{fullname} is a module made by eqxdsl.load from a spec named {parts[4]}{SPEC_SUFFIX} in {folder}, "
                "and there is no such spec now; load the spec again where it is, or compile it to a file and import that",
                name=fullname,
            )
        return importlib.util.spec_from_loader(fullname, _SpecLoader(specs[0].resolve(), parts[2]), origin=str(specs[0]))


def _encode_folder(folder: Path) -> str:
    """`folder` as one module name: letters and digits kept, every other byte written as `_xx` (hex)."""
    return "".join(
        chr(byte) if chr(byte).isascii() and chr(byte).isalnum() else f"_{byte:02x}"
        for byte in os.fsencode(str(folder))
    )


def _decode_folder(encoded: str) -> Path | None:
    """The folder `_encode_folder` wrote as `encoded`, or None if `encoded` is not such a name."""
    data = bytearray()
    index = 0
    try:
        while index < len(encoded):
            if encoded[index] == "_":
                data.append(int(encoded[index + 1 : index + 3], 16))
                index += 3
            else:
                data.extend(encoded[index].encode("ascii"))
                index += 1
    except (ValueError, UnicodeEncodeError):
        return None
    return Path(os.fsdecode(bytes(data)))
