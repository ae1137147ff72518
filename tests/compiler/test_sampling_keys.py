"""A method that samples requires its key; one whose only random parts are dropout may go without
one in inference mode. The generated signature and docstring say which."""

import inspect
import types

import jax
import jax.numpy as jnp
import pytest

from eqxdsl.compiler.driver import compile_source

SPEC = """
model Sampler(d: int):
    fc = Linear(in_features=d, out_features=d)
    forward(x: f32[d], key) -> f32[d]:
        return fc(x) + normal(key, [d])

model Dropper(d: int):
    drop = Dropout(p=0.5)
    forward(x: f32[d]) -> f32[d]:
        return drop(x)

model Outer(d: int):
    s = Sampler(d=d)
    drop = Dropout(p=0.5)
    forward(x: f32[d]) -> f32[d]:
        return drop(s(x))

model Noisy(d: int, n: int = 2):
    layers = repeat n: Sampler(d=d)
    forward(x: f32[d]) -> f32[d]:
        for layer in layers:
            x = layer(x)
        return x

model Halves(d: int):
    drop = Dropout(p=0.5)
    def noise(x: f32[d], key) -> f32[d]:
        return x + uniform(key, [d])
    forward(x: f32[d]) -> f32[d]:
        return noise(drop(x))
"""

KEY = jax.random.key(0)
D = 3


@pytest.fixture(scope="module")
def module():
    namespace = types.ModuleType("sampling_keys")
    exec(compile(compile_source(SPEC, "sampling_keys.eqx"), "sampling_keys.py", "exec"), namespace.__dict__)  # noqa: S102
    return namespace


@pytest.mark.parametrize(("name", "sampler"), [("Sampler", "normal"), ("Outer", "s"), ("Noisy", "layers"), ("Halves", "noise")])
def test_a_sampling_method_requires_its_key_and_says_so(module, name, sampler):
    cls = getattr(module, name)
    key = inspect.signature(cls.__call__).parameters["key"]
    assert key.default is inspect.Parameter.empty
    assert key.kind is inspect.Parameter.KEYWORD_ONLY
    doc = " ".join(cls.__call__.__doc__.split())
    assert f"it is needed in inference mode too, as `{sampler}` samples on every call" in doc
    assert "may be None" not in doc
    model = cls(D, key=KEY)
    with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'key'"):
        model(jnp.ones(D), inference=True)
    assert model(jnp.ones(D), key=KEY, inference=True).shape == (D,)


def test_dropout_alone_lets_inference_go_without_a_key(module):
    key = inspect.signature(module.Dropper.__call__).parameters["key"]
    assert key.default is None
    assert "it may be None in inference mode" in " ".join(module.Dropper.__call__.__doc__.split())
    model = module.Dropper(D, key=KEY)
    x = jnp.arange(float(D))
    assert jnp.array_equal(model(x, inference=True), x)


def test_required_keys_are_split_without_a_none_guard():
    code = compile_source(SPEC, "sampling_keys.eqx")
    outer = code[code.index("class Outer") : code.index("class Noisy")]
    assert "s_key, drop_key = jax.random.split(key, 2)" in outer
    assert "if key is None" not in outer
