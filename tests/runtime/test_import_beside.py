"""`import_beside`: the module beside a file, by path, whatever else is on sys.path or imported."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import eqxdsl.runtime as eqx


@pytest.fixture(autouse=True)
def restore_sys_modules() -> Iterator[None]:
    """Forget the modules a test imported beside (only those: others may be shared)."""
    yield
    for name in [name for name in sys.modules if name.startswith("beside_")]:
        del sys.modules[name]


@pytest.fixture
def name() -> str:
    """A module name no other test (or installed package) uses."""
    return f"beside_{uuid.uuid4().hex[:12]}"


def _importer(folder: Path) -> str:
    """The `__file__` of a module in `folder` (it need not exist: only its folder is used)."""
    folder.mkdir(parents=True, exist_ok=True)
    return str(folder / "importer.py")


def _module_and_decoy(tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`models/NAME.py` (`WHERE = 'beside'`), and a decoy `decoys/NAME.py` (`WHERE = 'decoy'`) first on sys.path."""
    for folder, where in (("models", "beside"), ("decoys", "decoy")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"{name}.py").write_text(f"WHERE = {where!r}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "decoys"))


def test_the_module_beside_the_file_is_loaded_rather_than_one_on_sys_path(tmp_path, name, monkeypatch):
    _module_and_decoy(tmp_path, name, monkeypatch)
    module = eqx.import_beside(name, _importer(tmp_path / "models"), "importer")
    assert module.WHERE == "beside"
    assert module.__file__ == str(tmp_path / "models" / f"{name}.py")
    # Registered under its own name, so `import name` elsewhere shares its classes.
    assert sys.modules[name] is module


def test_importing_twice_returns_the_same_module_without_running_it_again(tmp_path, name):
    # Each run of the module appends a line to a file beside it.
    (tmp_path / f"{name}.py").write_text("with open(__file__[:-3] + '.runs', 'a') as runs:\n    runs.write('ran\\n')\n")
    first = eqx.import_beside(name, _importer(tmp_path), "importer")
    second = eqx.import_beside(name, _importer(tmp_path), "other_importer")
    assert second is first
    assert (tmp_path / f"{name}.runs").read_text() == "ran\n"


def test_a_missing_file_is_an_import_error_naming_the_importer_and_the_path(tmp_path, name):
    expected = tmp_path / f"{name}.py"
    with pytest.raises(ImportError, match=f"^gpt needs {expected}, which does not exist$") as caught:
        eqx.import_beside(name, _importer(tmp_path), "gpt")
    assert (caught.value.name, caught.value.path) == (name, str(expected))
    assert name not in sys.modules


@pytest.mark.parametrize("with_init", [True, False], ids=["package", "namespace package"])
def test_a_dotted_name_loads_the_package_from_the_folder(tmp_path, name, with_init, monkeypatch):
    package = tmp_path / "models" / name
    package.mkdir(parents=True)
    (package / "scale.py").write_text("FACTOR = 2\n")
    if with_init:
        (package / "__init__.py").write_text("")
    decoy = tmp_path / "decoys" / name
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the decoy package was imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "decoys"))
    module = eqx.import_beside(f"{name}.scale", _importer(tmp_path / "models"), "importer")
    assert module.FACTOR == 2
    assert module.__file__ == str(package / "scale.py")
    assert sys.modules[f"{name}.scale"] is module
    assert list(sys.modules[name].__path__) == [str(package)]


def test_a_missing_package_folder_is_an_import_error(tmp_path, name):
    expected = tmp_path / name
    with pytest.raises(ImportError, match=f"^scaled needs {expected}, which does not exist$"):
        eqx.import_beside(f"{name}.scale", _importer(tmp_path), "scaled")


def test_a_module_of_the_same_name_from_elsewhere_imported_already_is_refused(tmp_path, name, monkeypatch):
    _module_and_decoy(tmp_path, name, monkeypatch)
    __import__(name)
    expected = (
        f"gpt needs the module {name!r} from {tmp_path / 'models' / f'{name}.py'}, "
        f"but a module {name!r} from {tmp_path / 'decoys' / f'{name}.py'} is imported already"
    )
    with pytest.raises(ImportError) as caught:
        eqx.import_beside(name, _importer(tmp_path / "models"), "gpt")
    assert str(caught.value) == expected
    assert sys.modules[name].__file__ == str(tmp_path / "decoys" / f"{name}.py")


def test_a_module_that_fails_while_running_is_not_left_registered(tmp_path, name):
    (tmp_path / f"{name}.py").write_text("raise RuntimeError('broken sibling')\n")
    with pytest.raises(RuntimeError, match="broken sibling"):
        eqx.import_beside(name, _importer(tmp_path), "importer")
    assert name not in sys.modules
    # Once fixed, the next import runs it afresh rather than finding the broken half.
    (tmp_path / f"{name}.py").write_text("FIXED = True\n")
    assert eqx.import_beside(name, _importer(tmp_path), "importer").FIXED


@pytest.mark.parametrize("bad", ["", "../mlp", "a-b", "a..b", "mlp.", ".mlp", "m lp"])
def test_a_name_that_is_not_a_module_name_is_refused(tmp_path, bad):
    with pytest.raises(ValueError, match=f"gpt imports {bad!r} beside it, which is not a module name"):
        eqx.import_beside(bad, _importer(tmp_path), "gpt")
