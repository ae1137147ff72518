"""Every example spec, built at sizes where matrix products and convolutions
dominate the work, with one example input and how to call it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
from handwritten import digits, gpt, gru_classifier, mlp, resnet_block, vae

import eqxdsl
import eqxdsl.runtime as eqx

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KEY = jax.random.key(0)


def plain_call(model: Any, *inputs: Any, **kwargs: Any) -> Any:
    return model(*inputs, **kwargs)


def batch_norm_call(model: Any, x: jax.Array, state: Any) -> Any:
    """BatchNorm averages over a named `jax.vmap` axis, so the model runs on a batch."""
    return jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)


@dataclasses.dataclass(frozen=True)
class Case:
    """One example model.

    Attributes:
        spec: the spec's file name in `examples/`, without `.eqx`.
        model: the class name, the same in the spec and in its handwritten twin.
        twin: the handwritten module holding the twin.
        kwargs: the constructor's arguments apart from `key`.
        inputs: `() -> positional inputs`, without the state.
        call_kwargs: keyword arguments of the call.
        call: how the model is applied (`summary`'s `call=`).
        stateful: whether the model is built with `make_with_state`.
    """

    spec: str
    model: str
    twin: ModuleType
    kwargs: dict[str, Any]
    inputs: Callable[[], tuple[Any, ...]]
    call_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    call: Callable[..., Any] = plain_call
    stateful: bool = False


def _floats(*shape: int) -> Callable[[], tuple[Any, ...]]:
    return lambda: (jnp.ones(shape),)


def _tokens(length: int) -> Callable[[], tuple[Any, ...]]:
    return lambda: (jnp.zeros((length,), jnp.int32),)


# Sequences of length 1 for the scanned models: XLA's cost analysis counts a
# while loop's body once whatever its trip count (see test_examples).
CASES = {
    "mlp": Case("mlp", "MLP", mlp, dict(in_size=64, out_size=32, width=256, depth=2, act=jax.nn.tanh), _floats(64)),
    "digits": Case(
        "digits", "DigitsCNN", digits, dict(num_classes=10, width=16, p=0.1), _floats(1, 8, 8), {"inference": True}
    ),
    "resnet_block_projected": Case(
        "resnet_block",
        "BasicBlock",
        resnet_block,
        dict(out=32, stride=2, C=16),
        _floats(4, 16, 8, 8),
        call=batch_norm_call,
        stateful=True,
    ),
    "resnet_block_identity": Case(
        "resnet_block",
        "BasicBlock",
        resnet_block,
        dict(out=16, stride=1, C=16),
        _floats(4, 16, 6, 6),
        call=batch_norm_call,
        stateful=True,
    ),
    "gru_classifier": Case(
        "gru_classifier", "GRUClassifier", gru_classifier, dict(vocab=50, dim=32, hidden=64, classes=4), _tokens(1)
    ),
    "gpt": Case(
        "gpt",
        "GPT",
        gpt,
        dict(vocab=256, ctx=16, dim=128, heads=4, depth=1, p=0.1),
        _tokens(16),
        {"inference": True},
    ),
    "vae": Case("vae", "VAE", vae, dict(size=64, latent=8, width=256), _floats(64), {"key": jax.random.key(1)}),
}


def model_class(case: Case, variant: str) -> type:
    """The case's class: `variant` is "generated" (from its spec) or "handwritten"."""
    if variant == "generated":
        return getattr(eqxdsl.load(EXAMPLES / f"{case.spec}.eqx"), case.model)
    return getattr(case.twin, case.model)


def build(case: Case, variant: str, **overrides: Any) -> tuple[Any, tuple[Any, ...]]:
    """The model and its positional inputs (the state last, for a stateful model)."""
    cls = model_class(case, variant)
    kwargs = {**case.kwargs, **overrides}
    if case.stateful:
        model, state = eqx.nn.make_with_state(cls)(**kwargs, key=KEY)
        return model, (*case.inputs(), state)
    return cls(**kwargs, key=KEY), case.inputs()


def xla_macs(call: Callable[..., Any], model: Any, *inputs: Any, **kwargs: Any) -> float:
    """Half the flops XLA's cost analysis gives the compiled call (a multiply-add is two flops)."""
    arrays, static = eqx.partition((model, inputs, kwargs), eqx.is_array)

    def run(arrays: Any) -> Any:
        model, inputs, kwargs = eqx.combine(arrays, static)
        return eqx.filter(call(model, *inputs, **kwargs), eqx.is_array)

    cost = jax.jit(run).lower(arrays).compile().cost_analysis()
    if isinstance(cost, list):
        cost = cost[0]
    return cost["flops"] / 2
