"""Checking for a target: `check_file(target=)` and `eqxdsl check --target` find what compiling would reject.

A spec that imports a spec the target cannot compile fails at its import, for
a check and for a compile alike; and the hint of `compile --check` is the exact
command that brings the outputs up to date.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import eqxdsl
from eqxdsl.compiler import CompileError
from eqxdsl.compiler.driver import check_file

BLOCK_SPEC = """\
model Block(dim: int = 8):
    input x: f32[T, dim]
    fc = Linear(out_features=dim)

    forward:
        return shard(map(fc, x), (None, "mlp"))
"""

NET_SPEC = """\
from "block.eqx" import Block

model Net(dim: int = 8):
    input x: f32[T, dim]
    block = Block(dim)

    forward:
        return block(x)
"""

MLP_SPEC = """\
model MLP(size: int = 4):
    input x: f32[size]
    layer = Linear(size, size)

    forward:
        return relu(layer(x))
"""

LACKS_SHARD = "the equinox target has no `eqx.with_logical_constraint`, which this line compiles to"


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    (tmp_path / "block.eqx").write_text(BLOCK_SPEC)
    (tmp_path / "net.eqx").write_text(NET_SPEC)
    (tmp_path / "mlp.eqx").write_text(MLP_SPEC)
    return tmp_path


def _eqxdsl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "eqxdsl", *args], capture_output=True, text=True, cwd=cwd)


def test_check_file_reports_what_the_target_lacks(specs: Path) -> None:
    check_file(specs / "block.eqx")
    with pytest.raises(CompileError) as raised:
        check_file(specs / "block.eqx", target="equinox")
    [diagnostic] = raised.value.diagnostics
    assert (diagnostic.line, diagnostic.column, diagnostic.message) == (6, 9, LACKS_SHARD)
    assert diagnostic.hint == "compile for the eqxdsl target, or use it from Python beside the generated model"


def test_check_file_names_an_unknown_target(specs: Path) -> None:
    with pytest.raises(ValueError, match="unknown target 'jax': choose one of 'eqxdsl', 'equinox'"):
        check_file(specs / "mlp.eqx", target="jax")


def test_an_imported_spec_the_target_cannot_compile_fails_at_the_import(specs: Path) -> None:
    with pytest.raises(CompileError) as raised:
        check_file(specs / "net.eqx", target="equinox")
    inner, at_import = raised.value.diagnostics
    assert (inner.path, inner.line, inner.column, inner.message) == (str(specs / "block.eqx"), 6, 9, LACKS_SHARD)
    assert (at_import.path, at_import.line, at_import.column) == (str(specs / "net.eqx"), 1, 1)
    assert at_import.message == "the imported spec 'block.eqx' has errors"
    # Compiling says the same, and writes neither output.
    with pytest.raises(CompileError) as compiled:
        eqxdsl.compile_file(specs / "net.eqx", target="equinox")
    assert [d.message for d in compiled.value.diagnostics] == [LACKS_SHARD, at_import.message]
    assert not (specs / "block.py").exists() and not (specs / "net.py").exists()


def test_the_cli_checks_for_a_target(specs: Path) -> None:
    assert _eqxdsl("check", "net.eqx", cwd=specs).returncode == 0
    checked = _eqxdsl("check", "--target", "equinox", "net.eqx", cwd=specs)
    assert checked.returncode == 1
    assert f"block.eqx:6:9: error: {LACKS_SHARD}\n" in checked.stderr
    assert "net.eqx:1:1: error: the imported spec 'block.eqx' has errors\n" in checked.stderr
    assert checked.stderr.endswith("eqxdsl: 1 spec: 1 failed\n")
    compiled = _eqxdsl("compile", "--target", "equinox", "net.eqx", cwd=specs)
    assert compiled.returncode == 1 and compiled.stderr == checked.stderr
    wrong = _eqxdsl("check", "--target", "jax", "net.eqx", cwd=specs)
    assert wrong.returncode == 2 and "invalid choice: 'jax'" in wrong.stderr


def _hint(stderr: str) -> list[str]:
    [line] = [line for line in stderr.splitlines() if line.startswith("hint: run `")]
    return shlex.split(line.removeprefix("hint: run `").partition("`")[0])


def test_the_check_hint_is_the_exact_command(specs: Path) -> None:
    out = "generated models"
    stale = _eqxdsl("compile", "--check", "--target", "equinox", "-o", out, "mlp.eqx", cwd=specs)
    assert stale.returncode == 1
    command = _hint(stale.stderr)
    assert command == ["eqxdsl", "compile", "--target", "equinox", "-o", out, "mlp.eqx"]
    assert _eqxdsl(*command[1:], cwd=specs).returncode == 0
    assert _eqxdsl("compile", "--check", "--target", "equinox", "-o", out, "mlp.eqx", cwd=specs).returncode == 0
    # For the default target, the command names none.
    assert _hint(_eqxdsl("compile", "--check", "mlp.eqx", cwd=specs).stderr) == ["eqxdsl", "compile", "mlp.eqx"]


def test_the_check_hint_adds_force_for_a_file_without_the_header(specs: Path) -> None:
    (specs / "mlp.py").write_text("# written by hand\n")
    stale = _eqxdsl("compile", "--check", "--target", "equinox", "mlp.eqx", cwd=specs)
    assert stale.returncode == 1
    command = _hint(stale.stderr)
    assert command == ["eqxdsl", "compile", "--force", "--target", "equinox", "mlp.eqx"]
    assert _eqxdsl(*command[1:], cwd=specs).returncode == 0
    assert "import equinox as eqx" in (specs / "mlp.py").read_text()
