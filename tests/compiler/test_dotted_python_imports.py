"""Python modules in packages beside the spec (`from layers.scale import Scale`) are imported from there.

In a plain output folder the generated module loads the package `layers` from
the folder beside it, as it loads `layer.py`, so a `layers` package elsewhere
on sys.path is never picked up; a `layers` from elsewhere imported already is
an error naming both. A package without `__init__.py` (a namespace package)
works the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import eqxdsl

SPEC = """\
from layers.scale import Scale(x: f32[size]) -> f32[size]

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


def _python(script: str, cwd: Path) -> subprocess.CompletedProcess:
    """Runs `script` in a fresh interpreter in `cwd`, with PYTHONPATH unset."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=cwd, env=env, capture_output=True, text=True)


def _project(tmp_path: Path, with_init: bool) -> Path:
    """models/scaled.eqx beside models/layers/scale.py, and a decoy `layers` package in decoys/."""
    layers = tmp_path / "models" / "layers"
    layers.mkdir(parents=True)
    (layers / "scale.py").write_text(SCALE_PY)
    if with_init:
        (layers / "__init__.py").write_text("")
    (tmp_path / "models" / "scaled.eqx").write_text(SPEC)
    decoy = tmp_path / "decoys" / "layers"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the decoy package was imported')\n")
    (decoy / "scale.py").write_text("raise ImportError('the decoy module was imported')\n")
    return tmp_path / "models" / "scaled.eqx"


@pytest.mark.parametrize("with_init", [True, False], ids=["package", "namespace package"])
def test_a_package_beside_the_spec_is_loaded_from_there(tmp_path: Path, with_init: bool) -> None:
    spec = _project(tmp_path, with_init)
    output = eqxdsl.compile_file(spec)
    assert 'Scale = eqx.import_beside("layers.scale", __file__, __name__).Scale\n' in output.read_text()
    models = tmp_path / "models"
    # The decoy comes first on sys.path; `from layers.scale import Scale` would have taken it.
    result = _python(f"""
        import sys
        sys.path[:0] = [{str(tmp_path / "decoys")!r}, {str(models)!r}]
        import jax, scaled
        import layers.scale
        assert scaled.Scale is layers.scale.Scale, layers.scale.__file__
        assert layers.scale.__file__ == {str(models / "layers" / "scale.py")!r}
        print(scaled.Scaled(key=jax.random.key(0))(jax.numpy.ones(3)))
    """, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[2. 2. 2.]"


def test_a_package_of_the_same_name_from_elsewhere_imported_already_is_an_error(tmp_path: Path) -> None:
    spec = _project(tmp_path, with_init=True)
    eqxdsl.compile_file(spec)
    (tmp_path / "decoys" / "layers" / "__init__.py").write_text("")
    result = _python(f"""
        import sys
        sys.path[:0] = [{str(tmp_path / "decoys")!r}, {str(tmp_path / "models")!r}]
        import layers
        import scaled
    """, cwd=tmp_path)
    assert result.returncode != 0
    expected = (
        f"scaled needs the module 'layers' from {tmp_path / 'models' / 'layers'}, "
        f"but a module 'layers' from {tmp_path / 'decoys' / 'layers'} is imported already"
    )
    assert expected in result.stderr


def test_a_missing_package_says_which_folder_it_needs(tmp_path: Path) -> None:
    spec = _project(tmp_path, with_init=True)
    eqxdsl.compile_file(spec)
    (tmp_path / "models" / "layers" / "scale.py").unlink()
    (tmp_path / "models" / "layers" / "__init__.py").unlink()
    (tmp_path / "models" / "layers").rmdir()
    result = _python(f"""
        import sys
        sys.path[:0] = [{str(tmp_path / "models")!r}]
        import scaled
    """, cwd=tmp_path)
    assert result.returncode != 0
    assert f"scaled needs {tmp_path / 'models' / 'layers'}, which does not exist" in result.stderr


def test_written_elsewhere_the_module_imports_the_package_as_the_spec_names_it(tmp_path: Path) -> None:
    spec = _project(tmp_path, with_init=True)
    output = eqxdsl.compile_file(spec, tmp_path / "out")
    assert "from layers.scale import Scale\n" in output.read_text()
