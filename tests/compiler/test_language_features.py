"""The language's constructs, each exercised by a spec that compiles, builds and runs.

The numbers follow the points of the language issue: 1 models, 2 layers,
3 inputs and inference, 4 forward computation, 5 repetition, 6 composition,
7 parameters and buffers, 8 weight tying, 9 randomness, 10 state,
11 static conditionals. The six full models are in test_language_models.py.
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
def expressions():
    return load("expressions.eqx")


@pytest.fixture(scope="module")
def params_module():
    return load("params.eqx")


@pytest.fixture(scope="module")
def composition():
    import sys

    sys.path.insert(0, str(SPECS))
    try:
        yield load("composition.eqx")
    finally:
        sys.path.remove(str(SPECS))


# 1. Models: typed hyperparameters with defaults, constants, docstrings, several per file.
def test_models_hyperparameters_constants_and_docstrings(expressions):
    model = expressions.Expressions(key=KEY)
    assert (model.dim, model.heads, model.use_norm, model.scale) == (4, 2, True, 0.5)
    assert model.head_dim == 2
    assert expressions.Expressions.__doc__ == "Exercises the expression language."
    source = eqxdsl.compile_source((SPECS / "gpt.eqx").read_text(), "gpt.eqx")
    assert [
        line.split("(")[0] for line in source.splitlines() if line.startswith("class ")
    ] == [
        "class MLP",
        "class Block",
        "class GPT",
    ]


# 2. Layers: runtime layers as fields, their sizes inferred.
def test_runtime_layers_as_fields():
    model = load("layers.eqx").Layers(ch=2, key=KEY)
    assert model.conv.weight.shape == (2, 3, 3)
    assert model.up.weight.shape == (2, 2, 2)
    assert model.lstm.weight_ih.shape == (12, 4)
    assert model.mlp.layers[0].weight.shape == (4, 3)
    out, rotated = model(jnp.ones((3, 8)))
    assert out.shape == (2,) and rotated.shape == (4, 2)


# 3. Inputs: symbolic sizes that decide parameter shapes become keyword-only arguments.
def test_symbolic_input_size_becomes_init_argument():
    module = load("resnet.eqx")
    block, state = eqx.nn.make_with_state(module.BasicBlock)(6, stride=1, C=6, key=KEY)
    assert block.proj is None
    assert block.conv1.weight.shape == (6, 6, 3, 3)
    with pytest.raises(TypeError):
        module.BasicBlock(6, key=KEY)  # C is required


# 4. Forward computation.
def test_forward_expressions(expressions):
    model = expressions.Expressions(key=KEY)
    x = jax.random.normal(jax.random.key(1), (5, 4))
    pooled, window, column = model(x)
    assert pooled.shape == (8,)
    assert window.shape == (5, 1, 2)
    assert column.shape == (5, 1)
    mean, largest = model.stats(x)
    assert jnp.allclose(mean, x.mean(axis=0)) and jnp.allclose(largest, x.max(axis=0))
    # The attention part, computed by hand.
    h = jax.vmap(model.norm)(x)
    q, k, v = jnp.split(jax.vmap(model.proj)(h), 3, axis=1)
    scores = jnp.einsum("thd,shd->hts", q.reshape(5, 2, 2), k.reshape(5, 2, 2)) * 0.5
    weights = jax.nn.softmax(
        jnp.where(jnp.tril(jnp.ones((5, 5), bool)), scores, -1e9), axis=-1
    )
    out = jnp.einsum("hts,sd->htd", weights, v).transpose(1, 0, 2).reshape(5, 8)
    assert jnp.allclose(column[:, 0], out @ jnp.ones(8), atol=1e-5)
    assert jnp.allclose(window, h[:, None, 1:3])


# 5. Repetition: unrolled and scanned stacks give identical parameters and outputs.
def test_unrolled_and_scanned_stacks_agree():
    module = load("stacks.eqx")
    unrolled = module.Unrolled(key=KEY)
    scanned = module.Scanned(key=KEY)
    assert isinstance(unrolled.layers, tuple) and len(unrolled.layers) == 3
    assert scanned.layers.weight.shape == (3, 4, 4)
    for index, layer in enumerate(unrolled.layers):
        assert jnp.array_equal(layer.weight, scanned.layers.weight[index])
    x = jnp.arange(4.0)
    assert jnp.allclose(
        unrolled(x, inference=True), scanned(x, inference=True), atol=1e-6
    )
    assert jnp.allclose(unrolled(x, key=KEY), scanned(x, key=KEY), atol=1e-6)


# 6. Composition: another spec's model, a Python Module class, a model of this file.
def test_composition(composition):
    model = composition.Composite(key=KEY)
    assert model.block.D == 6 and model.head.F == 6
    assert jnp.allclose(model.scale.weight, 2.0)
    x = jnp.linspace(-1.0, 1.0, 6)
    h = model.block2(model.block(x)) * 2.0
    assert jnp.allclose(model(x), model.head(h), atol=1e-6)


# 7. Parameters, initialisers and buffers; frozen layers.
def test_parameters_initialisers_and_buffers(params_module):
    model = params_module.Params(key=KEY)
    assert jnp.array_equal(model.b, jnp.zeros(3)) and jnp.array_equal(
        model.o, jnp.ones(3)
    )
    assert jnp.array_equal(model.g, jnp.full(3, 1.5))
    assert model.w.shape == model.t.shape == model.h.shape == (3, 4)
    assert jnp.all(jnp.abs(model.t) <= 0.2 + 1e-6)
    assert jnp.all((model.u >= -1.0) & (model.u < 1.0))
    limit = jnp.sqrt(6.0 / (3 + 4))
    assert jnp.all(jnp.abs(model.w) <= limit)
    grads = eqx.filter_grad(lambda m: m(jnp.ones(4)).sum())(model)
    assert jnp.all(grads.scale == 0)  # buffer
    assert jnp.all(grads.base.weight == 0)  # frozen layer
    assert jnp.any(grads.w != 0) and jnp.any(grads.shared.weight != 0)


# 8. Weight tying: one layer used twice, and its weight in an expression.
def test_weight_tying(params_module):
    model = params_module.Params(key=KEY)
    x = jnp.arange(4.0)
    w = model.shared.weight
    assert jnp.allclose(model.tied(x), w.T @ (w @ x), atol=1e-5)
    assert (
        len(
            [leaf for leaf in jax.tree_util.tree_leaves(model.shared) if leaf.ndim == 2]
        )
        == 1
    )


# 9. Randomness: keys are split between stochastic calls, deterministically.
def test_keys_split_between_stochastic_calls():
    module = load("gpt.eqx")
    block = module.Block(dim=4, heads=2, p=0.5, key=KEY)
    x = jnp.ones((3, 4))
    assert jnp.array_equal(block(x, key=KEY), block(x, key=KEY))
    assert not jnp.allclose(block(x, key=KEY), block(x, key=jax.random.key(1)))
    assert jnp.allclose(block(x, inference=True), block(x, inference=True))
    source = eqxdsl.compile_source((SPECS / "gpt.eqx").read_text(), "gpt.eqx")
    assert (
        "attn_key, drop_key, drop_key_1 = (\n            (None, None, None) if key is None else jax.random.split(key, 3)"
        in source
    )


def test_inference_none_follows_the_layers_fields_as_inference_mode_sets_them():
    block = load("gpt.eqx").Block(dim=4, heads=2, p=0.5, key=KEY)
    x = jnp.ones((3, 4))
    switched = eqx.nn.inference_mode(block)
    # The default inference=None leaves each layer's own field in charge: no key needed.
    assert jnp.allclose(switched(x), block(x, inference=True))
    # A call-time value overrides the fields, as in Equinox.
    assert jnp.array_equal(switched(x, key=KEY, inference=False), block(x, key=KEY))
    source = eqxdsl.compile_source((SPECS / "gpt.eqx").read_text(), "gpt.eqx")
    assert "inference: bool | None = None" in source and "inference: bool = False" not in source


# 10. State: covered with the residual block in test_language_models.py; here the signature.
def test_stateful_call_signature():
    source = eqxdsl.compile_source((SPECS / "resnet.eqx").read_text(), "resnet.eqx")
    assert (
        "self,\n        x: \"Float[Array, 'C H W']\",\n        state: eqx.nn.State,\n        *,\n        inference: bool | None = None,\n" in source
    )
    assert "h, state = self.bn1(h, state, inference=inference)" in source


# 11. Static conditionals: a layer present only when a flag is set.
def test_static_conditionals(expressions):
    with_norm = expressions.Expressions(key=KEY)
    without = expressions.Expressions(use_norm=False, key=KEY)
    assert without.norm is None and with_norm.norm is not None
    x = jax.random.normal(jax.random.key(2), (5, 4))
    assert not jnp.allclose(with_norm(x)[0], without(x)[0])
