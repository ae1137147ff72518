"""`loader.load_source`, spec text loaded as if it lay at a path; and generated lines that survive `linecache.clearcache()`."""

from __future__ import annotations

import inspect
import linecache
import pickle
import subprocess
import sys
import traceback
from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

import eqxdsl
from eqxdsl.compiler import CompileError
from eqxdsl.compiler.loader import load_source

MLP_SPEC = """\
model MLP(size: int, act: fn = gelu):
    input x: f32[size]
    layer = Linear(size, size)

    forward:
        return act(layer(x))
"""

NET_SPEC = """\
from "mlp.eqx" import MLP

model Net(size: int = 4, act: fn = gelu):
    input x: f32[size]
    mlp = MLP(size, act=act)

    forward:
        return mlp(x)
"""

SCALE_PY = """\
import jax
import jax.numpy as jnp

import eqxdsl.runtime as eqx


class Scale(eqx.Module):
    weight: jax.Array

    def __init__(self, size: int, *, key: jax.Array):
        self.weight = jnp.full((size,), 3.0)

    def __call__(self, x):
        return x * self.weight
"""

SCALED_SPEC = """\
from scale_layer import Scale(x: f32[size]) -> f32[size]

model Scaled(size: int = 2):
    input x: f32[size]
    scale = Scale(size)

    forward:
        return scale(x)
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "mlp.eqx").write_text(MLP_SPEC)
    return tmp_path


def _failing(x):
    raise ArithmeticError("from the activation")


def _generated_lines(module, call) -> list[str]:
    with pytest.raises(ArithmeticError) as raised:
        call()
    return [frame.line for frame in traceback.extract_tb(raised.tb) if frame.filename.startswith("eqxdsl:")]


def test_text_is_loaded_as_the_spec_at_the_path(folder: Path) -> None:
    module = load_source(NET_SPEC, folder / "net.eqx")
    assert not (folder / "net.eqx").exists()
    model = module.Net(key=jax.random.key(0))
    assert model(jnp.ones(4)).shape == (4,)
    # The imported spec is the module `load` makes of it, beside this one.
    assert module.MLP is eqxdsl.load(folder / "mlp.eqx").MLP
    assert module.__name__.rpartition(".")[0] == module.MLP.__module__.rpartition(".")[0]
    assert module.__file__.startswith(f"eqxdsl:{folder / 'net.eqx'}@eqxdsl:")
    assert inspect.getsource(module.Net).startswith("class Net(eqx.Module):  # net.eqx:3\n")


def test_the_same_text_gives_the_same_module_and_other_text_another(folder: Path) -> None:
    first = load_source(NET_SPEC, folder / "net.eqx")
    assert load_source(NET_SPEC, folder / "net.eqx") is first
    other = load_source(NET_SPEC.replace("size: int = 4", "size: int = 5"), folder / "net.eqx")
    assert other is not first and other.__name__ != first.__name__
    assert other.Net(key=jax.random.key(0))(jnp.ones(5)).shape == (5,)
    # An edit of a spec it imports compiles it again.
    (folder / "mlp.eqx").write_text(MLP_SPEC.replace("gelu", "relu"))
    again = load_source(NET_SPEC, folder / "net.eqx")
    assert again is not first and again.__name__ == first.__name__
    assert "jax.nn.relu" in inspect.getsource(again.MLP)


def test_python_modules_beside_the_path_are_found(tmp_path: Path) -> None:
    (tmp_path / "scale_layer.py").write_text(SCALE_PY)
    module = load_source(SCALED_SPEC, tmp_path / "scaled.eqx")
    assert module.Scaled(key=jax.random.key(0))(jnp.ones(2)).tolist() == [3.0, 3.0]


def test_errors_are_located_at_the_path_as_given(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder.parent)
    with pytest.raises(CompileError) as raised:
        load_source(NET_SPEC.replace("MLP(size", "MLPP(size"), Path(folder.name) / "net.eqx")
    assert str(raised.value).startswith(f"{folder.name}/net.eqx:5:11: error: unknown layer 'MLPP'")


def test_the_target_is_honoured(folder: Path) -> None:
    import equinox

    module = load_source(NET_SPEC, folder / "net.eqx", target="equinox")
    assert module.eqx is equinox
    assert isinstance(module.Net(key=jax.random.key(0)), equinox.Module)
    with pytest.raises(ValueError, match="unknown target 'jax'"):
        load_source(NET_SPEC, folder / "net.eqx", target="jax")


def test_a_model_from_text_pickles_in_this_process_and_in_one_that_loaded_the_text(folder: Path) -> None:
    module = load_source(NET_SPEC, folder / "net.eqx")
    model = module.Net(key=jax.random.key(0))
    data = pickle.dumps(model)
    assert type(pickle.loads(data)) is module.Net
    load = f"import eqxdsl.compiler.loader as loader; loader.load_source({NET_SPEC!r}, {str(folder / 'net.eqx')!r})"
    unpickle = "import pickle, sys, jax.numpy as jnp; print(pickle.loads(sys.stdin.buffer.read())(jnp.ones(4)).tolist())"
    loaded = subprocess.run([sys.executable, "-c", f"{load}\n{unpickle}"], input=data, capture_output=True)
    assert loaded.returncode == 0, loaded.stderr.decode()
    assert loaded.stdout.decode() == f"{model(jnp.ones(4)).tolist()}\n"
    fresh = subprocess.run([sys.executable, "-c", unpickle], input=data, capture_output=True)
    assert fresh.returncode != 0
    assert "a module made by eqxdsl.load_source from spec text that this process has not loaded" in fresh.stderr.decode()
    assert "call eqxdsl.load_source with the same text and path first" in fresh.stderr.decode()


@pytest.mark.parametrize("how", ["load", "load_source"])
def test_tracebacks_and_getsource_survive_clearcache(folder: Path, how: str) -> None:
    (folder / "net.eqx").write_text(NET_SPEC)
    module = eqxdsl.load(folder / "net.eqx") if how == "load" else load_source(NET_SPEC, folder / "net.eqx")
    model = module.Net(act=_failing, key=jax.random.key(0))
    expected = ["return self.mlp(x)  # net.eqx:8", "return self.act(self.layer(x))  # mlp.eqx:6"]
    assert _generated_lines(module, lambda: model(jnp.ones(4))) == expected
    linecache.clearcache()
    assert _generated_lines(module, lambda: model(jnp.ones(4))) == expected
    linecache.clearcache()
    source = module.__spec__.loader.get_source(module.__name__)
    assert "".join(linecache.getlines(module.__file__, vars(module))) == source
    linecache.clearcache()
    assert inspect.getsource(module) == source
    assert "def __call__" in inspect.getsource(module.MLP.__call__)
