"""Checkpoints shared with real Equinox: files it writes load into eqxdsl models of the same
structure, and files eqxdsl writes with `format="equinox"` load into Equinox models."""

from __future__ import annotations

import io
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqxdsl.runtime as eqx

equinox = pytest.importorskip("equinox")


def layers(nn, seed):
    """One of each layer, built alike by both libraries (their parameters are bitwise equal)."""
    key = jax.random.key(seed)
    return {
        "linear": nn.Linear(2, 3, key=key),
        "dropout": nn.Dropout(0.3),
        "batch_norm": nn.BatchNorm(3, "batch", mode="batch"),
        "layer_norm": nn.LayerNorm(3),
        "rms_norm": nn.RMSNorm(3),
        "group_norm": nn.GroupNorm(1, 3),
        "attention": nn.MultiheadAttention(2, 4, dropout_p=0.1, key=key),
        "conv": nn.Conv2d(2, 3, 3, key=key),
        "conv_transpose": nn.ConvTranspose2d(2, 3, 3, key=key),
        "max_pool": nn.MaxPool2d(2),
        "avg_pool": nn.AvgPool2d(2),
        "adaptive_pool": nn.AdaptiveAvgPool2d(2),
        "embedding": nn.Embedding(4, 3, key=key),
        "rope": nn.RotaryPositionalEmbedding(4),
        "mlp": nn.MLP(2, 2, 3, 2, key=key),
        "gru": nn.GRUCell(2, 3, key=key),
        "lstm": nn.LSTMCell(2, 3, key=key),
        "prelu": nn.PReLU(),
        "sequential": nn.Sequential([nn.Linear(2, 2, key=key), nn.Lambda(jnp.tanh), nn.Dropout(0.2)]),
        "spectral_norm": nn.SpectralNorm(nn.Linear(2, 2, key=key), "weight", key=key),
        "weight_norm": nn.WeightNorm(nn.Linear(2, 2, key=key)),
    }


def array_leaves(tree):
    return [(jax.tree_util.keystr(path), np.asarray(leaf)) for path, leaf in jax.tree_util.tree_leaves_with_path(tree) if eqx.is_array(leaf)]


def assert_same_arrays(ours, theirs):
    """Same paths, dtypes, shapes and bytes for the array leaves of two trees (an eqxdsl one
    and an Equinox one)."""
    ours, theirs = array_leaves(ours), array_leaves(theirs)
    assert [path for path, _ in ours] == [path for path, _ in theirs]
    for (path, x), (_, y) in zip(ours, theirs):
        assert (x.dtype, x.shape, x.tobytes()) == (y.dtype, y.shape, y.tobytes()), path


@pytest.fixture(autouse=True)
def _quiet_equinox():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Equinox's BatchNorm mode notice
        yield


@pytest.mark.parametrize("name", sorted(layers(eqx.nn, 0)))
def test_equinox_checkpoint_of_each_layer_loads_into_eqxdsl(name):
    trained = layers(equinox.nn, 1)[name]
    buffer = io.BytesIO()
    equinox.tree_serialise_leaves(buffer, trained)
    loaded = eqx.tree_deserialise_leaves(io.BytesIO(buffer.getvalue()), layers(eqx.nn, 0)[name])
    assert type(loaded) is type(layers(eqx.nn, 0)[name])
    assert_same_arrays(loaded, trained)


@pytest.mark.parametrize("name", sorted(layers(eqx.nn, 0)))
def test_eqxdsl_checkpoint_of_each_layer_loads_into_equinox(name):
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, layers(eqx.nn, 1)[name], format="equinox")
    loaded = equinox.tree_deserialise_leaves(io.BytesIO(buffer.getvalue()), layers(equinox.nn, 0)[name])
    assert_same_arrays(layers(eqx.nn, 1)[name], loaded)


def test_hyperparameters_that_equinox_stores_are_loaded_into_static_fields():
    source = equinox.nn.inference_mode(
        equinox.nn.Sequential([equinox.nn.Dropout(0.25), equinox.nn.MaxPool1d(2)])
    )
    buffer = io.BytesIO()
    equinox.tree_serialise_leaves(buffer, source)
    like = eqx.nn.Sequential([eqx.nn.Dropout(0.5), eqx.nn.MaxPool1d(2)])
    loaded = eqx.tree_deserialise_leaves(io.BytesIO(buffer.getvalue()), like)
    assert (loaded.layers[0].p, loaded.layers[0].inference) == (0.25, True)
    x = jnp.arange(4.0)[None]
    assert jnp.array_equal(loaded(x), source(x))


def test_stateful_model_through_files_both_ways(tmp_path):
    def build(nn, seed):
        def make():
            key = jax.random.key(seed)
            return nn.Sequential([nn.Linear(3, 3, key=key), nn.BatchNorm(3, "batch", mode="batch"), nn.Dropout(0.1)])

        return nn.make_with_state(lambda: make())()

    def train(model, state):
        forward = jax.vmap(lambda x, s: model(x, s, key=jax.random.key(2)), axis_name="batch", in_axes=(0, None), out_axes=(0, None))
        return model, forward(jnp.arange(6.0).reshape(2, 3), state)[1]

    ours, theirs = train(*build(eqx.nn, 1)), train(*build(equinox.nn, 1))
    assert_same_arrays(ours, theirs)

    equinox.tree_serialise_leaves(tmp_path / "equinox_wrote", theirs)  # Equinox adds `.eqx`
    loaded = eqx.tree_deserialise_leaves(tmp_path / "equinox_wrote.eqx", build(eqx.nn, 0))
    assert eqx.tree_equal(loaded, ours) is True

    eqx.tree_serialise_leaves(tmp_path / "eqxdsl_wrote.eqx", ours, format="equinox")
    loaded = equinox.tree_deserialise_leaves(tmp_path / "eqxdsl_wrote.eqx", build(equinox.nn, 0))
    assert_same_arrays(loaded, theirs)


def test_bfloat16_and_zero_d_leaves_cross_both_ways():
    tree = [jnp.arange(4, dtype=jnp.bfloat16), jnp.asarray(1.5), np.float32(2.0), 3, True, 0.5j]
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, tree, format="equinox")
    assert eqx.tree_equal(equinox.tree_deserialise_leaves(io.BytesIO(buffer.getvalue()), tree), tree, typematch=True) is True
    buffer = io.BytesIO()
    equinox.tree_serialise_leaves(buffer, tree)
    assert eqx.tree_equal(eqx.tree_deserialise_leaves(io.BytesIO(buffer.getvalue()), tree), tree, typematch=True) is True


def test_equinox_checkpoint_for_another_model_is_refused():
    buffer = io.BytesIO()
    equinox.tree_serialise_leaves(buffer, equinox.nn.Linear(2, 3, key=jax.random.key(0)))
    with pytest.raises(eqx.CheckpointError, match=r"leaf \.weight: the file has float32\[3, 2\], `like` has float32\[4, 2\]"):
        eqx.tree_deserialise_leaves(io.BytesIO(buffer.getvalue()), eqx.nn.Linear(2, 4, key=jax.random.key(0)))
