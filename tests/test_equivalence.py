"""Generated code equals handwritten code, in the strongest sense we can test.

For every spec in `examples/`, the class that `eqxdsl.load` generates and its
handwritten twin in `tests/handwritten/` are built from the same key, and must
give
- the same parameters, bit for bit, under the same attribute paths;
- the same outputs on the same inputs (same key for stochastic layers, same
  state for BatchNorm), in training and in inference mode;
- the same loss at every one of 20 optax adam steps, and the same parameters
  (and BatchNorm state) after them.

The GPT spec's scanned repeat is also held against the same spec with the
repeat unrolled: stacked parameters equal to the unrolled ones, outputs,
training losses and trained parameters equal up to floating-point
reassociation. Every other comparison is bitwise.

All steps and forward passes are jitted once per model class and reused.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from handwritten import (
    digits,
    gpt,
    gru_classifier,
    mlp,
    resnet,
    resnet_block,
    transformer_classifier,
    vae,
    wavenet,
)

import eqxdsl
import eqxdsl.runtime as eqx

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BATCH = 4
TRAIN_STEPS = 20
# Tolerance where the two programs may legitimately differ in floating-point
# association (a scan against an unrolled loop): relative to the largest
# magnitude of the expected array, since elementwise relative errors blow up
# near zero.
REASSOCIATION_RTOL = 1e-6


@dataclass(frozen=True)
class Case:
    """One example model and how to exercise it.

    Attributes:
        spec: the spec's file name in `examples/`, without `.eqx`.
        model: the class's name, the same in the spec and in the twin.
        twin: the handwritten module holding the twin class.
        kwargs: the constructor's arguments apart from `key` (kept tiny).
        make_batch: `key -> batch`, a dict of arrays with a leading batch axis.
        forward: `(model, state, batch, key) -> (outputs, state)` in training mode.
        loss: `(outputs, batch) -> scalar`.
        infer: `(model, state, batch) -> outputs` in inference mode, if the
            model has one (dropout off, BatchNorm on its running statistics).
        stateful: whether the model is built with `make_with_state`.
    """

    spec: str
    model: str
    twin: ModuleType
    kwargs: dict[str, Any]
    make_batch: Callable[[jax.Array], dict[str, jax.Array]]
    forward: Callable[..., tuple[Any, Any]]
    loss: Callable[[Any, dict[str, jax.Array]], jax.Array]
    infer: Callable[..., Any] | None = None
    stateful: bool = False


def _cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def _mse(outputs: jax.Array, batch: dict[str, jax.Array]) -> jax.Array:
    return jnp.mean((outputs - batch["y"]) ** 2)


def _stochastic_forward(model, state, batch, key):
    """Maps a model taking `key=` over the batch, one key per example."""
    keys = jax.random.split(key, batch["x"].shape[0])
    return jax.vmap(lambda x, k: model(x, key=k))(batch["x"], keys), state


def _deterministic_forward(model, state, batch, key):
    return jax.vmap(model)(batch["x"]), state


def _inference_forward(model, state, batch):
    return jax.vmap(lambda x: model(x, inference=True))(batch["x"])


def _batchnorm_forward(model, state, batch, key):
    return jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(
        batch["x"], state
    )


def _batchnorm_inference(model, state, batch):
    def run(x, state):
        return model(x, state, inference=True)

    outputs, _ = jax.vmap(
        run, axis_name="batch", in_axes=(0, None), out_axes=(0, None)
    )(batch["x"], state)
    return outputs


def _vae_loss(outputs, batch):
    reconstruction, mean, logvar = outputs
    kl = 0.5 * jnp.sum(jnp.exp(logvar) + mean**2 - 1.0 - logvar, axis=-1)
    return jnp.mean(jnp.sum((reconstruction - batch["x"]) ** 2, axis=-1) + kl)


def _next_token_loss(logits, batch):
    return _cross_entropy(logits[:, :-1], batch["x"][:, 1:])


def _next_sample_loss(logits, batch):
    """WaveNet's logits are `(classes, T)` per example: each step predicts the next sample."""
    return _cross_entropy(jnp.swapaxes(logits, 1, 2)[:, :-1], batch["x"][:, 1:])


def _padded_token_batch(length, vocab, classes, pad=0):
    """Tokens in `[1, vocab)` with each example's tail padded with `pad`, and a label each."""

    def make(key):
        token_key, length_key, label_key = jax.random.split(key, 3)
        tokens = jax.random.randint(token_key, (BATCH, length), 1, vocab)
        lengths = jax.random.randint(length_key, (BATCH, 1), 1, length + 1)
        padded = jnp.where(jnp.arange(length) < lengths, tokens, pad)
        return {"x": padded, "y": jax.random.randint(label_key, (BATCH,), 0, classes)}

    return make


def _normal_batch(x_shape, y_shape=None):
    def make(key):
        x_key, y_key = jax.random.split(key)
        batch = {"x": jax.random.normal(x_key, (BATCH, *x_shape))}
        if y_shape is not None:
            batch["y"] = jax.random.normal(y_key, (BATCH, *y_shape))
        return batch

    return make


def _labelled_batch(make_x, classes):
    def make(key):
        x_key, y_key = jax.random.split(key)
        return {
            "x": make_x(x_key),
            "y": jax.random.randint(y_key, (BATCH,), 0, classes),
        }

    return make


def _token_batch(length, vocab):
    return lambda key: {"x": jax.random.randint(key, (BATCH, length), 0, vocab)}


GPT_KWARGS = dict(vocab=16, ctx=8, dim=8, heads=2, depth=2, p=0.1)

CASES = {
    "mlp": Case(
        spec="mlp",
        model="MLP",
        twin=mlp,
        kwargs=dict(in_size=5, out_size=3, width=8, depth=3, act=jax.nn.tanh),
        make_batch=_normal_batch((5,), (3,)),
        forward=_deterministic_forward,
        loss=_mse,
    ),
    "digits": Case(
        spec="digits",
        model="DigitsCNN",
        twin=digits,
        kwargs=dict(num_classes=10, width=4, p=0.25),
        make_batch=_labelled_batch(
            lambda key: jax.random.uniform(key, (BATCH, 1, 8, 8)), 10
        ),
        forward=_stochastic_forward,
        loss=lambda logits, batch: _cross_entropy(logits, batch["y"]),
        infer=_inference_forward,
    ),
    "resnet_block_projected": Case(
        spec="resnet_block",
        model="BasicBlock",
        twin=resnet_block,
        kwargs=dict(out=6, stride=2, C=3),
        make_batch=_normal_batch((3, 6, 6), (6, 3, 3)),
        forward=_batchnorm_forward,
        loss=_mse,
        infer=_batchnorm_inference,
        stateful=True,
    ),
    "resnet_block_identity": Case(
        spec="resnet_block",
        model="BasicBlock",
        twin=resnet_block,
        kwargs=dict(out=4, stride=1, C=4),
        make_batch=_normal_batch((4, 5, 5), (4, 5, 5)),
        forward=_batchnorm_forward,
        loss=_mse,
        infer=_batchnorm_inference,
        stateful=True,
    ),
    "gru_classifier": Case(
        spec="gru_classifier",
        model="GRUClassifier",
        twin=gru_classifier,
        kwargs=dict(vocab=12, dim=5, hidden=7, classes=3),
        make_batch=_labelled_batch(
            lambda key: jax.random.randint(key, (BATCH, 6), 0, 12), 3
        ),
        forward=_deterministic_forward,
        loss=lambda logits, batch: _cross_entropy(logits, batch["y"]),
    ),
    "gpt": Case(
        spec="gpt",
        model="GPT",
        twin=gpt,
        kwargs=GPT_KWARGS,
        make_batch=_token_batch(7, GPT_KWARGS["vocab"]),
        forward=_stochastic_forward,
        loss=_next_token_loss,
        infer=_inference_forward,
    ),
    "resnet": Case(
        spec="resnet",
        model="ResNet",
        twin=resnet,
        kwargs=dict(classes=3, widths=(4, 8), strides=(1, 2), depth=1),
        make_batch=_labelled_batch(
            lambda key: jax.random.normal(key, (BATCH, 3, 8, 8)), 3
        ),
        forward=_batchnorm_forward,
        loss=lambda logits, batch: _cross_entropy(logits, batch["y"]),
        infer=_batchnorm_inference,
        stateful=True,
    ),
    "wavenet": Case(
        spec="wavenet",
        model="WaveNet",
        twin=wavenet,
        kwargs=dict(classes=8, channels=4, skip=6, dilations=(1, 2, 4)),
        make_batch=_token_batch(10, 8),
        forward=_deterministic_forward,
        loss=_next_sample_loss,
    ),
    "transformer_classifier": Case(
        spec="transformer_classifier",
        model="TransformerClassifier",
        twin=transformer_classifier,
        kwargs=dict(vocab=12, ctx=8, dim=8, heads=2, depth=2, classes=3, p=0.1),
        make_batch=_padded_token_batch(6, 12, 3),
        forward=_stochastic_forward,
        loss=lambda logits, batch: _cross_entropy(logits, batch["y"]),
        infer=_inference_forward,
    ),
    "vae": Case(
        spec="vae",
        model="VAE",
        twin=vae,
        kwargs=dict(size=6, latent=2, width=8),
        make_batch=_normal_batch((6,)),
        forward=_stochastic_forward,
        loss=_vae_loss,
    ),
}


def _build(case: Case, cls: type, key: jax.Array) -> tuple[Any, Any]:
    """Builds `cls` as the case says; returns `(model, state)`, state None if stateless."""
    if case.stateful:
        return eqx.nn.make_with_state(cls)(**case.kwargs, key=key)
    return cls(**case.kwargs, key=key), None


@functools.cache
def _models(name: str) -> dict[str, tuple[Any, Any]]:
    """The generated and the handwritten model of a case, from the same key."""
    case = CASES[name]
    key = jax.random.key(0)
    generated = getattr(eqxdsl.load(EXAMPLES / f"{case.spec}.eqx"), case.model)
    handwritten = getattr(case.twin, case.model)
    return {
        "generated": _build(case, generated, key),
        "handwritten": _build(case, handwritten, key),
    }


def _named_arrays(tree: Any) -> dict[str, jax.Array]:
    """Every array leaf of `tree`, keyed by its attribute path (`.conv1.weight`)."""
    leaves = jax.tree_util.tree_flatten_with_path(eqx.filter(tree, eqx.is_array))[0]
    return {jax.tree_util.keystr(path): leaf for path, leaf in leaves}


def _assert_same_arrays(actual: Any, expected: Any, rtol: float = 0.0) -> None:
    """Asserts both trees hold arrays under the same paths and shapes, with equal values.

    Equal means bitwise when `rtol` is 0, else within `rtol` times the largest
    magnitude of each expected array.
    """
    actual_arrays, expected_arrays = _named_arrays(actual), _named_arrays(expected)
    assert actual_arrays.keys() == expected_arrays.keys()
    assert actual_arrays, "nothing to compare"
    for path, expected_leaf in expected_arrays.items():
        actual_leaf = actual_arrays[path]
        assert actual_leaf.shape == expected_leaf.shape, path
        assert actual_leaf.dtype == expected_leaf.dtype, path
        if rtol == 0.0:
            np.testing.assert_array_equal(actual_leaf, expected_leaf, err_msg=path)
        else:
            scale = float(jnp.max(jnp.abs(expected_leaf)))
            np.testing.assert_allclose(
                actual_leaf, expected_leaf, rtol=0.0, atol=rtol * scale, err_msg=path
            )


def _jit(fn: Callable) -> Callable:
    """`fn` under `filter_jit`, compiled with little optimisation.

    Both sides of every comparison are compiled with the same options, so the
    comparisons stay exact; the tests only spend less time in XLA.
    """
    return eqx.filter_jit(fn, compiler_options={"xla_backend_optimization_level": 0})


@functools.cache
def _run(name: str) -> Callable:
    """The case's batched forward pass, jitted once per case.

    Maps `(model, state, batch, key)` to `(outputs, state)`, where `outputs`
    holds the training-mode outputs under "training" and, when the case has an
    inference mode, the inference-mode outputs (from the incoming state) under
    "inference".
    """
    case = CASES[name]

    def run(model, state, batch, key):
        training, new_state = case.forward(model, state, batch, key)
        outputs = {"training": training}
        if case.infer is not None:
            outputs["inference"] = case.infer(model, state, batch)
        return outputs, new_state

    return _jit(run)


@functools.cache
def _train_step(name: str) -> tuple[optax.GradientTransformation, Callable]:
    """The optimiser and one jitted adam step for a case, traced once per model class."""
    case = CASES[name]
    optimiser = optax.adam(1e-2)

    def loss_fn(model, state, batch, key):
        outputs, state = case.forward(model, state, batch, key)
        return case.loss(outputs, batch), state

    @_jit
    def step(model, state, opt_state, batch, key):
        (loss, state), grads = eqx.filter_value_and_grad(loss_fn, has_aux=True)(
            model, state, batch, key
        )
        updates, opt_state = optimiser.update(grads, opt_state)
        return eqx.apply_updates(model, updates), state, opt_state, loss

    return optimiser, step


def _train(name: str, model: Any, state: Any) -> tuple[Any, Any, np.ndarray]:
    """20 adam steps fitting one fixed batch, with a fixed key per step.

    Returns the trained model, its state and the loss of every step.
    """
    case = CASES[name]
    optimiser, step = _train_step(name)
    opt_state = optimiser.init(eqx.filter(model, eqx.is_inexact_array))
    batch = case.make_batch(jax.random.key(1))
    losses = []
    for step_key in jax.random.split(jax.random.key(2), TRAIN_STEPS):
        model, state, opt_state, loss = step(model, state, opt_state, batch, step_key)
        losses.append(loss)
    return model, state, np.asarray(losses)


@pytest.mark.parametrize("name", CASES)
def test_same_parameters(name: str) -> None:
    models = _models(name)
    _assert_same_arrays(models["generated"][0], models["handwritten"][0])


@pytest.mark.parametrize("name", CASES)
def test_same_outputs(name: str) -> None:
    case = CASES[name]
    models = _models(name)
    batch = case.make_batch(jax.random.key(2))
    key = jax.random.key(3)
    generated = _run(name)(*models["generated"], batch, key)
    handwritten = _run(name)(*models["handwritten"], batch, key)
    _assert_same_arrays(generated, handwritten)


def test_vae_methods_match() -> None:
    models = _models("vae")
    generated, handwritten = models["generated"][0], models["handwritten"][0]
    x = jax.random.normal(jax.random.key(4), (6,))
    _assert_same_arrays(generated.encode(x), handwritten.encode(x))
    z = jax.random.normal(jax.random.key(5), (2,))
    _assert_same_arrays(generated.decode(z), handwritten.decode(z))


@pytest.mark.parametrize("variant", ["generated", "handwritten"])
@pytest.mark.parametrize("name", ["digits", "resnet_block_projected"])
def test_inference_mode_switches_the_layers(name: str, variant: str) -> None:
    """`eqx.nn.inference_mode(model)` acts as `inference=True` does, as in Equinox.

    Dropout turns off; BatchNorm uses its running statistics.
    """
    model, state = _models(name)[variant]
    batch = CASES[name].make_batch(jax.random.key(2))
    key = jax.random.key(3)
    _, state = _run(name)(model, state, batch, key)  # some running statistics
    by_flag, _ = _run(name)(model, state, batch, key)
    by_mode, _ = _run(name)(eqx.nn.inference_mode(model), state, batch, key)
    _assert_same_arrays(by_mode["training"], by_flag["inference"])


def test_dropout_uses_the_key() -> None:
    """Guards the output checks above: with dropout on, a different key changes the output."""
    model, state = _models("digits")["generated"]
    batch = CASES["digits"].make_batch(jax.random.key(2))
    first, _ = _run("digits")(model, state, batch, jax.random.key(3))
    second, _ = _run("digits")(model, state, batch, jax.random.key(4))
    assert not np.array_equal(first["training"], second["training"])


@pytest.mark.parametrize("name", CASES)
def test_same_training(name: str) -> None:
    case = CASES[name]
    models = _models(name)
    generated, generated_state, generated_losses = _train(name, *models["generated"])
    handwritten, handwritten_state, handwritten_losses = _train(
        name, *models["handwritten"]
    )
    np.testing.assert_array_equal(generated_losses, handwritten_losses)
    assert (
        generated_losses[-1] < generated_losses[0]
    ), "training did not reduce the loss"
    _assert_same_arrays(generated, handwritten)
    if case.stateful:
        # The running statistics only show in inference mode.
        batch = case.make_batch(jax.random.key(2))
        generated_outputs, _ = _run(name)(generated, generated_state, batch, None)
        handwritten_outputs, _ = _run(name)(handwritten, handwritten_state, batch, None)
        _assert_same_arrays(
            generated_outputs["inference"], handwritten_outputs["inference"]
        )


def _unrolled_gpt_module(tmp_dir: Path) -> ModuleType:
    """The GPT spec with `repeat depth scan:` rewritten as `repeat depth:`, loaded from `tmp_dir`.

    An unrolled stack has no layer axis, so the logical name of that axis goes too.
    """
    source = (EXAMPLES / "gpt.eqx").read_text()
    layer_axis = re.compile(r"^ *blocks: \(\"layers\",\).*\n", re.MULTILINE)
    assert "repeat depth scan:" in source and layer_axis.search(source)
    (tmp_dir / "gpt.eqx").write_text(
        layer_axis.sub("", source.replace("repeat depth scan:", "repeat depth:"))
    )
    (tmp_dir / "mlp.eqx").write_text((EXAMPLES / "mlp.eqx").read_text())
    return eqxdsl.load(tmp_dir / "gpt.eqx")


def _stacked_arrays(unrolled_gpt: Any) -> dict[str, jax.Array]:
    """The arrays of a GPT whose `blocks` is a tuple, keyed as in the scanned GPT.

    The blocks' arrays are stacked on a new leading axis, as `filter_vmap` builds them.
    """
    blocks = [eqx.filter(block, eqx.is_array) for block in unrolled_gpt.blocks]
    stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *blocks)
    arrays = {
        path: leaf
        for path, leaf in _named_arrays(unrolled_gpt).items()
        if not path.startswith(".blocks")
    }
    arrays.update(
        {".blocks" + path: leaf for path, leaf in _named_arrays(stacked).items()}
    )
    return arrays


def test_scanned_repeat_equals_unrolled_repeat(tmp_path: Path) -> None:
    case = CASES["gpt"]
    unrolled, _ = _build(case, _unrolled_gpt_module(tmp_path).GPT, jax.random.key(0))
    scanned, _ = _models("gpt")["generated"]
    assert isinstance(unrolled.blocks, tuple)
    assert len(unrolled.blocks) == case.kwargs["depth"]
    _assert_same_arrays(_named_arrays(scanned), _stacked_arrays(unrolled))

    batch = case.make_batch(jax.random.key(2))
    key = jax.random.key(3)
    _assert_same_arrays(
        _run("gpt")(scanned, None, batch, key)[0],
        _run("gpt")(unrolled, None, batch, key)[0],
        rtol=REASSOCIATION_RTOL,
    )
    scanned, _, scanned_losses = _train("gpt", scanned, None)
    unrolled, _, unrolled_losses = _train("gpt", unrolled, None)
    np.testing.assert_allclose(
        scanned_losses, unrolled_losses, rtol=REASSOCIATION_RTOL, atol=0.0
    )
    _assert_same_arrays(
        _named_arrays(scanned), _stacked_arrays(unrolled), rtol=REASSOCIATION_RTOL
    )
