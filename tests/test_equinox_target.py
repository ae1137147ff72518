"""`--target equinox`: every example compiled against real Equinox behaves bit for bit as it does on eqxdsl.

For every case of `test_equivalence.py`, the example is loaded for both
targets and each model is driven by its own library (`filter_jit`,
`filter_value_and_grad`, `apply_updates`, `nn.make_with_state`,
`nn.inference_mode`). Both must give the same parameters, the same outputs in
training and in inference mode, and the same losses and parameters over 20
adam steps, all bitwise. The training steps are jitted by one jit with the
same XLA options on both sides, and the forward passes, jitted by each library,
run with XLA's backend optimisations off: two separately built jitted programs
may order their arguments differently, and XLA may then fuse (and round)
differently.
The Equinox-target module must not import eqxdsl at all.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import equinox
import jax
import numpy as np
import optax
import pytest
from test_equivalence import CASES, EXAMPLES, TRAIN_STEPS, _assert_same_arrays

import eqxdsl
import eqxdsl.runtime

LIBRARIES = {"eqxdsl": eqxdsl.runtime, "equinox": equinox}
# Two separately jitted programs may take their arguments in another order, and
# XLA's optimising passes may then fuse, and round, differently.
_UNFUSED = {"xla_backend_optimization_level": 0}


def _build(name: str, target: str) -> tuple[Any, Any]:
    """The case's model, loaded for `target` and built with that library, from key 0."""
    case = CASES[name]
    library = LIBRARIES[target]
    cls = getattr(eqxdsl.load(EXAMPLES / f"{case.spec}.eqx", target=target), case.model)
    if case.stateful:
        return library.nn.make_with_state(cls)(**case.kwargs, key=jax.random.key(0))
    return cls(**case.kwargs, key=jax.random.key(0)), None


@functools.cache
def _models(name: str) -> dict[str, tuple[Any, Any]]:
    return {target: _build(name, target) for target in LIBRARIES}


@functools.cache
def _run(name: str, target: str):
    """The case's batched forward pass (training and, if any, inference outputs), jitted by `target`'s library."""
    case = CASES[name]

    def run(model, state, batch, key):
        training, new_state = case.forward(model, state, batch, key)
        outputs = {"training": training}
        if case.infer is not None:
            outputs["inference"] = case.infer(model, state, batch)
        return outputs, new_state

    return LIBRARIES[target].filter_jit(run, compiler_options=_UNFUSED)


@functools.cache
def _train_step(name: str, target: str):
    case = CASES[name]
    library = LIBRARIES[target]
    optimiser = optax.adam(1e-2)

    def loss_fn(model, state, batch, key):
        outputs, state = case.forward(model, state, batch, key)
        return case.loss(outputs, batch), state

    @functools.partial(eqxdsl.runtime.filter_jit, compiler_options=_UNFUSED)
    def step(model, state, opt_state, batch, key):
        (loss, state), grads = library.filter_value_and_grad(loss_fn, has_aux=True)(model, state, batch, key)
        updates, opt_state = optimiser.update(grads, opt_state)
        return library.apply_updates(model, updates), state, opt_state, loss

    return optimiser, step


def _train(name: str, target: str) -> tuple[Any, Any, np.ndarray]:
    """20 adam steps on one fixed batch, with a fixed key per step, driven by `target`'s library."""
    model, state = _models(name)[target]
    optimiser, step = _train_step(name, target)
    library = LIBRARIES[target]
    opt_state = optimiser.init(library.filter(model, library.is_inexact_array))
    batch = CASES[name].make_batch(jax.random.key(1))
    losses = []
    for step_key in jax.random.split(jax.random.key(2), TRAIN_STEPS):
        model, state, opt_state, loss = step(model, state, opt_state, batch, step_key)
        losses.append(loss)
    return model, state, np.asarray(losses)


@pytest.mark.parametrize("name", CASES)
def test_same_parameters(name: str) -> None:
    models = _models(name)
    assert isinstance(models["equinox"][0], equinox.Module)
    assert not isinstance(models["equinox"][0], eqxdsl.runtime.Module)
    _assert_same_arrays(models["equinox"][0], models["eqxdsl"][0])


@pytest.mark.parametrize("name", CASES)
def test_same_outputs(name: str) -> None:
    batch = CASES[name].make_batch(jax.random.key(2))
    key = jax.random.key(3)
    outputs = {target: _run(name, target)(*_models(name)[target], batch, key) for target in LIBRARIES}
    _assert_same_arrays(outputs["equinox"], outputs["eqxdsl"])


@pytest.mark.parametrize("name", CASES)
def test_same_training(name: str) -> None:
    trained = {target: _train(name, target) for target in LIBRARIES}
    assert trained["equinox"][2][-1] < trained["equinox"][2][0], "training did not reduce the loss"
    if not CASES[name].stateful:
        np.testing.assert_array_equal(trained["equinox"][2], trained["eqxdsl"][2])
        _assert_same_arrays(trained["equinox"][0], trained["eqxdsl"][0])
        return
    # The two BatchNorms agree bit for bit forward, state included (test_same_outputs),
    # but differentiate through different, equivalent formulas: the gradients round
    # apart by an ulp, and 20 steps carry that into the losses' last bits.
    np.testing.assert_allclose(trained["equinox"][2], trained["eqxdsl"][2], rtol=1e-5, atol=0.0)
    for trees in (0, 1):
        _assert_same_arrays(trained["equinox"][trees], trained["eqxdsl"][trees], rtol=1e-5)


@pytest.mark.parametrize("name", ["digits", "resnet_block_projected"])
def test_equinox_inference_mode_switches_the_layers(name: str) -> None:
    """`equinox.nn.inference_mode` acts on an Equinox-target model as `inference=True` does."""
    model, state = _models(name)["equinox"]
    batch = CASES[name].make_batch(jax.random.key(2))
    key = jax.random.key(3)
    by_flag, _ = _run(name, "equinox")(model, state, batch, key)
    by_mode, _ = _run(name, "equinox")(equinox.nn.inference_mode(model), state, batch, key)
    _assert_same_arrays(by_mode["training"], by_flag["inference"])


@pytest.mark.parametrize("spec", sorted(path.name for path in EXAMPLES.glob("*.eqx")))
def test_equinox_output_runs_without_eqxdsl(spec: str, tmp_path: Path) -> None:
    """Compiled for Equinox into a folder, every example imports and builds with eqxdsl made unimportable."""
    for example in EXAMPLES.glob("*.eqx"):
        (tmp_path / example.name).write_text(example.read_text())
    output = eqxdsl.compile_file(tmp_path / spec, target="equinox")
    source = output.read_text()
    assert "\nimport equinox as eqx\n" in source
    assert "eqxdsl" not in source.partition("\n")[2]
    script = textwrap.dedent(f"""
        import importlib, sys
        sys.modules["eqxdsl"] = None  # any import of eqxdsl now fails
        sys.path.insert(0, {str(tmp_path)!r})
        module = importlib.import_module({output.stem!r})
        assert not any(name.startswith("eqxdsl") for name in sys.modules if sys.modules[name] is not None)
        print(sorted(name for name in vars(module) if not name.startswith("_")))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "eqx" in result.stdout
