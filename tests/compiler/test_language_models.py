"""The six models of the language issue, written in .eqx, compile, build and run.

Each spec lives in tests/specs/; models are built with tiny sizes so the
whole file stays fast. Shapes, key handling and state threading are checked
on the real runtime.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import pytest

import eqxdsl
import eqxdsl.runtime as eqx

SPECS = Path(__file__).resolve().parent.parent / "specs"
KEY = jax.random.key(0)


def load(name: str):
    return eqxdsl.load(SPECS / name)


@pytest.fixture(scope="module")
def digits():
    return load("digits.eqx").DigitsCNN(num_classes=10, width=4, key=KEY)


def test_mlp_infers_first_layer_size_and_runs():
    model = load("mlp.eqx").MLP(3, 2, width=5, depth=3, act=jax.nn.tanh, key=KEY)
    assert [layer.weight.shape for layer in model.hidden] == [(5, 3), (5, 5), (5, 5)]
    assert model.out.weight.shape == (2, 5)
    x = jnp.arange(3.0)
    expected = x
    for layer in model.hidden:
        expected = jnp.tanh(layer.weight @ expected + layer.bias)
    assert jnp.allclose(model(x), model.out.weight @ expected + model.out.bias)


def test_digits_cnn_infers_sizes(digits):
    assert digits.conv1.weight.shape == (4, 1, 3, 3)
    assert digits.conv2.weight.shape == (8, 4, 3, 3)
    assert digits.head.weight.shape == (10, 8 * 4 * 4)


def test_digits_cnn_dropout_needs_key_only_in_training(digits):
    x = jnp.ones((1, 8, 8))
    assert digits(x, inference=True).shape == (10,)
    trained = digits(x, key=KEY)
    assert trained.shape == (10,)
    assert not jnp.allclose(trained, digits(x, inference=True))


def test_resnet_block_threads_batchnorm_state():
    module = load("resnet.eqx")
    model, state = eqx.nn.make_with_state(module.TinyResNet)(width=2, classes=3, key=KEY)
    assert model.block1.proj is None and model.block1.bnp is None
    assert model.block2.proj.weight.shape == (4, 2, 1, 1)
    assert model.block2.C == 2
    batched = jax.vmap(model, in_axes=(0, None), out_axes=(0, None), axis_name="batch")
    out, new_state = eqx.filter_jit(batched)(jnp.ones((2, 3, 8, 8)), state)
    assert out.shape == (2, 3)
    assert isinstance(new_state, eqx.nn.State)


def test_gru_classifier_scans_over_time():
    model = load("gru.eqx").GRUClassifier(vocab=7, dim=4, hidden=5, classes=3, key=KEY)
    tokens = jnp.array([1, 2, 3, 0])
    h = jnp.zeros(5)
    for token in tokens:
        h = model.cell(model.embed.weight[token], h)
    assert jnp.allclose(model(tokens), model.head(h), atol=1e-6)


def test_gpt_decoder_scans_blocks_and_ties_the_head():
    module = load("gpt.eqx")
    model = module.GPT(vocab=11, ctx=8, dim=8, heads=2, depth=2, key=KEY)
    assert model.pos.shape == (8, 8)
    assert model.blocks.attn.query_proj.weight.shape == (2, 8, 8)
    tokens = jnp.arange(5)
    # Causal: the first position does not see the later ones.
    logits = eqx.filter_jit(jax.vmap(lambda t: model(t, inference=True)))(jnp.stack([tokens, tokens.at[4].set(3)]))
    assert logits.shape == (2, 5, 11)
    assert jnp.allclose(logits[0, 0], logits[1, 0], atol=1e-5)
    assert not jnp.allclose(logits[0, 4], logits[1, 4])
    # Tied head: the embedding table gets gradient from the head too; dropout takes a key.
    grads = eqx.filter_jit(eqx.filter_grad(lambda m: m(tokens, key=KEY).sum()))(model)
    assert jnp.any(grads.embed.weight[5:] != 0)  # rows of tokens never seen: from the head only


def test_vae_encode_decode_and_sampling():
    model = load("vae.eqx").VAE(size=6, latent=2, width=8, key=KEY)
    x = jnp.linspace(0.0, 1.0, 6)
    mean, logvar = model.encode(x)
    assert mean.shape == logvar.shape == (2,)
    assert model.decode(mean).shape == (6,)
    reconstruction, mean2, _ = model(x, key=KEY)
    assert reconstruction.shape == (6,)
    assert jnp.allclose(mean, mean2)
    other, _, _ = model(x, key=jax.random.key(1))
    assert not jnp.allclose(reconstruction, other)
