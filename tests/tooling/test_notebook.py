"""`eqxdsl.load_source` and the `%%eqx` cell magic, run through IPython's own shell."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest

import eqxdsl

from ._specs import REPO

TINY = """model Tiny(n: int = 3):
    input x: f32[n]
    lin = Linear(out_features=2)

    forward:
        return lin(x)

model Twice(n: int = 3):
    input x: f32[n]
    inner = Tiny(n)

    forward:
        return 2.0 * inner(x)
"""

BROKEN = """model Broken():
    input x: f32[4]
    lin = Lienar(out_features=3)

    forward:
        return lin(x)
"""


@pytest.fixture(scope="module")
def shell():
    from IPython.testing.globalipapp import start_ipython

    ipython = start_ipython()
    ipython.run_line_magic("load_ext", "eqxdsl")
    return ipython


def test_load_source_compiles_text_into_a_module_of_models():
    module = eqxdsl.load_source(TINY, "tiny")
    model = module.Twice(key=jax.random.key(0))
    assert model(jnp.ones(3)).shape == (2,)


def test_load_source_finds_imported_specs_in_its_folder():
    text = 'from "blocks.eqx" import Residual\nmodel Wrap():\n    input x: f32[4]\n    r = Residual()\n\n    forward:\n        return r(x)\n'
    module = eqxdsl.load_source(text, "wrap", folder=REPO / "tests" / "specs")
    assert module.Wrap(key=jax.random.key(0))(jnp.ones(4)).shape == (4,)


def test_load_source_reports_located_errors():
    with pytest.raises(eqxdsl.CompileError) as caught:
        eqxdsl.load_source(BROKEN, "broken")
    assert str(caught.value).startswith("broken.eqx:3:11: error: unknown layer 'Lienar'")


def test_the_magic_defines_the_cell_models_in_the_namespace(shell):
    result = shell.run_cell(f"%%eqx tiny\n{TINY}")
    assert result.success, result.error_in_exec
    used = shell.run_cell("import jax, jax.numpy as jnp\nshape = Twice(key=jax.random.key(0))(jnp.ones(3)).shape")
    assert used.success, used.error_in_exec
    assert shell.user_ns["shape"] == (2,)
    assert shell.user_ns["tiny"].Tiny is shell.user_ns["Tiny"]


def test_the_magic_shows_errors_as_diagnostics_without_a_traceback(shell, capsys):
    result = shell.run_cell(f"%%eqx broken\n{BROKEN}")
    assert not result.success
    shown = capsys.readouterr()
    text = shown.out + shown.err
    assert "broken.eqx:3:11: error: unknown layer 'Lienar'\n    lin = Lienar(out_features=3)\n          ^^^^^^" in text
    assert "hint: did you mean 'Linear'?" in text
    assert "Traceback" not in text
    assert "Broken" not in shell.user_ns


def test_a_syntax_error_in_a_cell_is_a_diagnostic_too(shell, capsys):
    result = shell.run_cell("%%eqx\nmodel M(:\n")
    assert not result.success
    shown = capsys.readouterr()
    assert "cell.eqx:1:9: error: unexpected ':'" in shown.out + shown.err
    assert "Traceback" not in shown.out + shown.err


def test_importing_eqxdsl_stays_light():
    code = "import sys, eqxdsl; eqxdsl.load_ipython_extension; print(sorted({'IPython', 'lark', 'jax'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]"
