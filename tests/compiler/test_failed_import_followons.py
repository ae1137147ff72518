"""A model or class from a failed import is poisoned: its uses give no follow-on errors.

Before, a failed `from "mlp.eqx" import MLP` left the name `MLP` to the table
of built-in layers, whose `MLP` takes other arguments, so every use of it was
reported again ("MLP has no argument 'width'").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from eqxdsl.compiler import CompileError
from eqxdsl.compiler.driver import check_file

BROKEN_MLP = """\
model MLP(out_size: int, width: int = 4):
    input x: f32[n]
    fc = Linear(out_features=width)

    forward:
        return fc(x) + undefined_thing
"""

NET = """\
from "mlp.eqx" import MLP

model Net():
    input x: f32[3]
    body = MLP(out_size=8, width=16)
    stack = repeat 2: MLP(out_size=8, width=16)

    forward:
        y = body(x)
        for layer in stack:
            y = layer(y)
        return y
"""

MISSING_PYTHON_CLASS = """\
from nowhere import Linear(x: f32[n]) -> f32[n]

model Net():
    input x: f32[3]
    lin = Linear(3, width=3)

    forward:
        return lin(x)
"""

MISSING_MODEL = """\
from "mlp.eqx" import Linear

model Net():
    input x: f32[3]
    lin = Linear(width=3)

    forward:
        return lin(x)
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "mlp.eqx").write_text(BROKEN_MLP)
    (tmp_path / "net.eqx").write_text(NET)
    return tmp_path


def _located(error: CompileError) -> list[tuple[str, int, int, str]]:
    return [(Path(d.path).name, d.line, d.column, d.message) for d in error.diagnostics]


def test_a_model_from_an_imported_spec_with_errors_reports_only_the_import(folder: Path) -> None:
    with pytest.raises(CompileError) as raised:
        check_file(folder / "net.eqx")
    assert _located(raised.value) == [
        ("mlp.eqx", 6, 24, "unknown name 'undefined_thing'"),
        ("net.eqx", 1, 1, "the imported spec 'mlp.eqx' has errors"),
    ]


def test_the_cli_reports_only_the_import_too(folder: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "eqxdsl", "check", "net.eqx"], cwd=folder, capture_output=True, text=True)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert errors == [
        "mlp.eqx:6:24: error: unknown name 'undefined_thing'",
        "net.eqx:1:1: error: the imported spec 'mlp.eqx' has errors",
    ]
    assert "no argument" not in result.stderr and "needs the argument" not in result.stderr


def test_a_python_class_that_is_not_found_hides_the_built_in_layer_of_its_name(tmp_path: Path) -> None:
    (tmp_path / "net.eqx").write_text(MISSING_PYTHON_CLASS)
    with pytest.raises(CompileError) as raised:
        check_file(tmp_path / "net.eqx")
    assert _located(raised.value) == [("net.eqx", 1, 1, "cannot find the Python module 'nowhere'")]


def test_a_model_the_imported_spec_lacks_hides_the_built_in_layer_of_its_name(folder: Path) -> None:
    (folder / "mlp.eqx").write_text(BROKEN_MLP.replace(" + undefined_thing", ""))
    (folder / "net.eqx").write_text(MISSING_MODEL)
    with pytest.raises(CompileError) as raised:
        check_file(folder / "net.eqx")
    assert _located(raised.value) == [("net.eqx", 1, 23, "mlp.eqx has no model 'Linear'")]
