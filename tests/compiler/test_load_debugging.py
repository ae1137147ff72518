"""Modules made by `eqxdsl.load`: honest `__file__`, generated lines in tracebacks and `inspect`, pickling across processes."""

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


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    (tmp_path / "mlp.eqx").write_text(MLP_SPEC)
    (tmp_path / "net.eqx").write_text(NET_SPEC)
    return tmp_path


def test_file_is_a_virtual_name_that_linecache_serves(specs: Path) -> None:
    module = eqxdsl.load(specs / "net.eqx")
    assert module.__file__.startswith(f"eqxdsl:{specs / 'net.eqx'}@eqxdsl:")
    assert not Path(module.__file__).exists()
    source = module.__spec__.loader.get_source(module.__name__)
    assert "".join(linecache.getlines(module.__file__)) == source
    assert inspect.getsource(module) == source
    assert inspect.getsource(module.Net).startswith("class Net(eqx.Module):  # net.eqx:3\n")


def test_tracebacks_show_the_generated_lines(specs: Path) -> None:
    module = eqxdsl.load(specs / "net.eqx")

    def failing(x):
        raise ArithmeticError("from the activation")

    model = module.Net(act=failing, key=jax.random.key(0))
    with pytest.raises(ArithmeticError) as raised:
        model(jnp.ones(4))
    frames = traceback.extract_tb(raised.tb)
    generated = [frame for frame in frames if frame.filename.startswith("eqxdsl:")]
    assert [frame.line for frame in generated] == [
        "return self.mlp(x)  # net.eqx:8",
        "return self.act(self.layer(x))  # mlp.eqx:6",
    ]
    assert generated[0].filename == module.__file__


def test_a_loaded_model_unpickles_in_another_process(specs: Path) -> None:
    module = eqxdsl.load(specs / "net.eqx")
    model = module.Net(key=jax.random.key(0))
    expected = model(jnp.ones(4)).tolist()
    script = "import pickle, sys, jax.numpy as jnp; model = pickle.loads(sys.stdin.buffer.read()); print(type(model).__module__, model(jnp.ones(4)).tolist())"
    result = subprocess.run([sys.executable, "-c", script], input=pickle.dumps(model), capture_output=True, cwd=specs.parent)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().split(" ", 1) == [module.__name__, f"{expected}\n"]


def test_unpickling_a_model_whose_spec_is_gone_says_what_to_do(specs: Path) -> None:
    module = eqxdsl.load(specs / "net.eqx")
    data = pickle.dumps(module.Net(key=jax.random.key(0)))
    (specs / "net.eqx").unlink()
    script = "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"
    result = subprocess.run([sys.executable, "-c", script], input=data, capture_output=True)
    assert result.returncode != 0
    message = result.stderr.decode()
    assert f"a spec named net.eqx in {specs}, and there is no such spec now" in message
    assert "compile it to a file and import that" in message


def test_an_edited_spec_is_loaded_again(specs: Path) -> None:
    first = eqxdsl.load(specs / "net.eqx")
    assert eqxdsl.load(specs / "net.eqx") is first
    (specs / "mlp.eqx").write_text(MLP_SPEC.replace("gelu", "relu"))
    second = eqxdsl.load(specs / "net.eqx")
    assert second is not first
    assert "jax.nn.relu" in inspect.getsource(second.MLP)
    assert second.__name__ == first.__name__
