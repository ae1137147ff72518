"""Generated modules import their siblings (other specs' outputs, Python modules beside the spec) safely.

In a package they import relatively; elsewhere they load the file beside them
by path, so an unrelated module of the same name elsewhere on sys.path is
never picked up. Python modules named by a spec are found beside the spec
first, then on sys.path, for the CLI and for `load()`, with no PYTHONPATH set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import eqxdsl
from eqxdsl.compiler import CompileError
from tests.compiler._specs import MLP_SPEC

GPT_SPEC = """\
from "mlp.eqx" import MLP

model GPT(size: int = 4):
    input x: f32[size]
    mlp = MLP(size)

    forward:
        return mlp(x)
"""

LAYER_SPEC = """\
from layer import Scale(x: f32[size]) -> f32[size]

model Scaled(size: int = 3):
    input x: f32[size]
    scale = Scale(size)

    forward:
        return scale(x)
"""

SCALE_PY = """\
import jax
import jax.numpy as jnp

import eqxdsl.runtime as eqx


class Scale(eqx.Module):
    weight: jax.Array

    def __init__(self, size: int, *, key: jax.Array):
        self.weight = jnp.full((size,), 2.0)

    def __call__(self, x):
        return x * self.weight
"""

DECOY = "raise ImportError('the decoy module was imported')\n"


def _python(script: str, cwd: Path) -> subprocess.CompletedProcess:
    """Runs `script` in a fresh interpreter in `cwd`, with PYTHONPATH unset."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=cwd, env=env, capture_output=True, text=True)


def _specs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mlp.eqx").write_text(MLP_SPEC)
    (folder / "gpt.eqx").write_text(GPT_SPEC)
    return folder / "gpt.eqx"


def test_a_package_imports_its_siblings_relatively(tmp_path: Path) -> None:
    package = tmp_path / "project" / "pkg"
    spec = _specs(package)
    (package / "__init__.py").write_text("")
    output = eqxdsl.compile_file(spec)
    assert "from .mlp import MLP\n" in output.read_text()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mlp.py").write_text(DECOY)
    result = _python(f"""
        import sys
        sys.path[:0] = ["", {str(tmp_path / "project")!r}]
        import jax
        import pkg.gpt
        assert pkg.gpt.MLP.__module__ == "pkg.mlp", pkg.gpt.MLP.__module__
        print(pkg.gpt.GPT(key=jax.random.key(0))(jax.numpy.ones(4)).shape)
    """, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(4,)"


def test_a_plain_folder_loads_its_siblings_from_their_files(tmp_path: Path) -> None:
    spec = _specs(tmp_path / "models")
    output = eqxdsl.compile_file(spec)
    text = output.read_text()
    assert 'MLP = eqx.import_beside("mlp", __file__, __name__).MLP\n' in text
    decoys = tmp_path / "decoys"
    decoys.mkdir()
    (decoys / "mlp.py").write_text(DECOY)
    # The decoy comes first on sys.path; `from mlp import MLP` would have taken it.
    result = _python(f"""
        import sys
        sys.path[:0] = [{str(decoys)!r}, {str(tmp_path / "models")!r}]
        import gpt, mlp
        assert gpt.MLP is mlp.MLP and mlp.__file__ == {str(tmp_path / "models" / "mlp.py")!r}
    """, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_an_unrelated_module_of_the_same_name_already_imported_is_an_error(tmp_path: Path) -> None:
    spec = _specs(tmp_path / "models")
    eqxdsl.compile_file(spec)
    decoys = tmp_path / "decoys"
    decoys.mkdir()
    (decoys / "mlp.py").write_text("")
    result = _python(f"""
        import sys
        sys.path[:0] = [{str(decoys)!r}, {str(tmp_path / "models")!r}]
        import mlp
        import gpt
    """, cwd=tmp_path)
    assert result.returncode != 0
    assert f"gpt needs the module 'mlp' from {tmp_path / 'models' / 'mlp.py'}, but a module 'mlp' from" in result.stderr
    assert "is imported already" in result.stderr


def test_the_import_style_is_part_of_the_digest(tmp_path: Path) -> None:
    spec = _specs(tmp_path / "pkg")
    output = eqxdsl.compile_file(spec)
    assert "eqx.import_beside" in output.read_text()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    assert not eqxdsl.compiler.driver.is_up_to_date(spec)
    eqxdsl.compile_file(spec)
    assert "from .mlp import MLP" in output.read_text()


def _layer_spec(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "layer.py").write_text(SCALE_PY)
    (folder / "scaled.eqx").write_text(LAYER_SPEC)
    return folder / "scaled.eqx"


def test_the_cli_finds_python_modules_beside_the_spec(tmp_path: Path) -> None:
    spec = _layer_spec(tmp_path / "models")
    decoys = tmp_path / "decoys"
    decoys.mkdir()
    (decoys / "layer.py").write_text(DECOY)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    compiled = subprocess.run([sys.executable, "-m", "eqxdsl", "compile", str(spec)], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr
    assert 'Scale = eqx.import_beside("layer", __file__, __name__).Scale\n' in (tmp_path / "models" / "scaled.py").read_text()
    result = _python(f"""
        import sys
        sys.path[:0] = [{str(decoys)!r}, {str(tmp_path / "models")!r}]
        import jax, scaled
        print(scaled.Scaled(key=jax.random.key(0))(jax.numpy.ones(3)))
    """, cwd=elsewhere)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[2. 2. 2.]"


def test_load_finds_python_modules_beside_the_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _layer_spec(tmp_path / "models")
    decoys = tmp_path / "decoys"
    decoys.mkdir()
    (decoys / "layer.py").write_text(DECOY)
    monkeypatch.syspath_prepend(str(decoys))
    monkeypatch.chdir(tmp_path)
    import jax

    module = eqxdsl.load(spec)
    model = module.Scaled(key=jax.random.key(0))
    assert model(jax.numpy.ones(3)).tolist() == [2.0, 2.0, 2.0]
    assert type(model.scale).__module__ == module.__name__.rpartition(".")[0] + ".layer"


def test_python_modules_fall_back_to_sys_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    library = tmp_path / "library"
    library.mkdir()
    (library / "layer.py").write_text(SCALE_PY)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "scaled.eqx").write_text(LAYER_SPEC)
    with pytest.raises(CompileError) as raised:
        eqxdsl.compile_source(LAYER_SPEC, str(tmp_path / "models" / "scaled.eqx"))
    assert ":1:1: error: cannot find the Python module 'layer'" in str(raised.value)
    monkeypatch.syspath_prepend(str(library))
    source = eqxdsl.compile_source(LAYER_SPEC, str(tmp_path / "models" / "scaled.eqx"))
    assert "from layer import Scale\n" in source
