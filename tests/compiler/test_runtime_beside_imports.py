"""How a generated module outside a package imports its siblings, per target.

For the eqxdsl target it calls the runtime, one line per name:
`MLP = eqx.import_beside("mlp", __file__, __name__).MLP`. Equinox has no such
function, so for the Equinox target the module defines its own `_import_beside`.
Either way the module loads the sibling file beside it, whatever is on sys.path.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import eqxdsl
from tests.compiler._specs import MLP_SPEC
from tests.robustness._harness import check_generated

GPT_SPEC = """\
from "{mlp}.eqx" import MLP as Inner

model GPT(size: int = 4):
    input x: f32[size]
    mlp = Inner(size)

    forward:
        return mlp(x)
"""


@pytest.fixture(autouse=True)
def restore_sys_modules() -> Iterator[None]:
    """Forget the generated modules a test imported (only those: others may be shared)."""
    yield
    for name in [name for name in sys.modules if name.startswith(("mlp_", "gpt_"))]:
        del sys.modules[name]


def _project(folder: Path) -> tuple[str, Path]:
    """A spec importing a sibling spec of a name no other test uses: (the sibling's name, the spec)."""
    mlp = f"mlp_{uuid.uuid4().hex[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{mlp}.eqx").write_text(MLP_SPEC)
    (folder / "gpt.eqx").write_text(GPT_SPEC.format(mlp=mlp))
    return mlp, folder / "gpt.eqx"


def _import_file(path: Path):
    """Import the module at `path` under a fresh name, as `python -c 'import gpt'` beside it would."""
    spec = importlib.util.spec_from_file_location(f"gpt_{uuid.uuid4().hex[:12]}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_eqxdsl_target_imports_a_sibling_with_one_runtime_call(tmp_path: Path) -> None:
    mlp, spec = _project(tmp_path)
    text = eqxdsl.compile_file(spec).read_text()
    assert f'Inner = eqx.import_beside("{mlp}", __file__, __name__).MLP\n' in text
    assert "_import_beside" not in text and "import importlib" not in text and "from pathlib" not in text
    check_generated(text)


def test_the_equinox_target_defines_its_own_helper(tmp_path: Path) -> None:
    mlp, spec = _project(tmp_path)
    text = eqxdsl.compile_file(spec, target="equinox").read_text()
    assert f'Inner = _import_beside("{mlp}").MLP\n' in text
    assert "def _import_beside(name: str):" in text and "eqx.import_beside" not in text
    check_generated(text, target="equinox")


def test_a_module_without_siblings_neither_calls_nor_defines_the_helper(tmp_path: Path) -> None:
    (tmp_path / "mlp.eqx").write_text(MLP_SPEC)
    for target in ("eqxdsl", "equinox"):
        text = eqxdsl.compile_file(tmp_path / "mlp.eqx", target=target, force=True).read_text()
        assert "import_beside" not in text and "importlib" not in text, target


@pytest.mark.parametrize("target", ["eqxdsl", "equinox"])
def test_the_sibling_beside_the_output_is_imported_rather_than_one_on_sys_path(
    tmp_path: Path, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jax

    mlp, spec = _project(tmp_path / "models")
    output = eqxdsl.compile_file(spec, target=target)
    (tmp_path / "decoys").mkdir()
    (tmp_path / "decoys" / f"{mlp}.py").write_text("raise ImportError('the decoy was imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path / "decoys"))
    gpt = _import_file(output)
    assert gpt.Inner is sys.modules[mlp].MLP
    assert sys.modules[mlp].__file__ == str(tmp_path / "models" / f"{mlp}.py")
    assert gpt.GPT(key=jax.random.key(0))(jax.numpy.ones(4)).shape == (4,)


@pytest.mark.parametrize("target", ["eqxdsl", "equinox"])
def test_a_missing_sibling_says_which_file_the_module_needs(tmp_path: Path, target: str) -> None:
    mlp, spec = _project(tmp_path)
    output = eqxdsl.compile_file(spec, target=target)
    (tmp_path / f"{mlp}.py").unlink()
    with pytest.raises(ImportError, match=f"^gpt_[0-9a-f]{{12}} needs {tmp_path / f'{mlp}.py'}, which does not exist$"):
        _import_file(output)


@pytest.mark.parametrize(
    "tampered",
    [
        'Inner = eqx.import_beside("mlp", "/", __name__).MLP',
        'Inner = eqx.import_beside("mlp", __file__, __name__, extra).MLP',
        'Inner = eqx.import_beside("..", __file__, __name__).MLP',
        'Inner = eqx.import_beside(name, __file__, __name__).MLP',
        "Inner = eqx.import_beside",
        "Inner = __file__",
    ],
)
def test_the_harness_refuses_a_runtime_import_of_another_shape(tmp_path: Path, tampered: str) -> None:
    mlp, spec = _project(tmp_path)
    text = eqxdsl.compile_file(spec).read_text()
    line = f'Inner = eqx.import_beside("{mlp}", __file__, __name__).MLP'
    assert line in text
    with pytest.raises(AssertionError):
        check_generated(text.replace(line, tampered))


def test_the_harness_refuses_the_inline_helper_for_the_eqxdsl_target(tmp_path: Path) -> None:
    _, spec = _project(tmp_path)
    equinox_text = eqxdsl.compile_file(spec, target="equinox").read_text()
    as_eqxdsl = equinox_text.replace("import equinox as eqx", "import eqxdsl.runtime as eqx")
    with pytest.raises(AssertionError, match="_import_beside defined for the eqxdsl target"):
        check_generated(as_eqxdsl)
