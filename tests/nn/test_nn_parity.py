"""Parity with Equinox: every layer Equinox 0.13 has, built with the same key in
both libraries, has bitwise-identical parameters and gives identical outputs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import pytest

import eqxdsl.runtime.nn as ours

eqx = pytest.importorskip("equinox")
theirs = eqx.nn


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Any, jax.Array], Any]
    inputs: Callable[[np.random.Generator], tuple[Any, ...]]
    call: Callable[..., Any] = lambda model, *inputs: model(*inputs)


def _normal(*shape: int) -> Callable[[np.random.Generator], tuple[np.ndarray]]:
    return lambda rng: (rng.standard_normal(shape, np.float32),)


def _seq3(
    q: int, kv: int, sizes: tuple[int, int, int]
) -> Callable[[np.random.Generator], tuple[np.ndarray, ...]]:
    return lambda rng: tuple(
        rng.standard_normal((n, size), np.float32) for n, size in zip((q, kv, kv), sizes)
    )


_CALL_KEY = jax.random.key(1234)


def _with_key(model: Any, *inputs: Any) -> Any:
    return model(*inputs, key=_CALL_KEY)


def _attention_with_mask(mask: np.ndarray) -> Callable[..., Any]:
    return lambda model, q, k, v: model(q, k, v, mask=jnp.asarray(mask), key=_CALL_KEY)


_MASK_2D = np.tril(np.ones((3, 4), bool), k=1)
_MASK_3D = np.stack([_MASK_2D, _MASK_2D[::-1], np.ones((3, 4), bool), np.roll(_MASK_2D, 1, axis=1)])


# Layer sizes are drawn from a few values on purpose: eager initialisation compiles
# one sampler per parameter shape, and shared shapes keep this file fast.
CASES = [
    Case("Linear", lambda nn, k: nn.Linear(4, 3, key=k), _normal(4)),
    Case("Linear-nobias", lambda nn, k: nn.Linear(4, 3, use_bias=False, key=k), _normal(4)),
    Case("Linear-scalar-in", lambda nn, k: nn.Linear("scalar", 3, key=k), _normal()),
    Case("Linear-scalar-out", lambda nn, k: nn.Linear(4, "scalar", key=k), _normal(4)),
    Case("Identity", lambda nn, k: nn.Identity(3, key=k), _normal(4)),
    Case("MLP", lambda nn, k: nn.MLP(4, 3, 4, 2, key=k), _normal(4)),
    Case("MLP-depth0", lambda nn, k: nn.MLP(4, 3, 4, 0, use_final_bias=False, key=k), _normal(4)),
    Case(
        "MLP-scan",
        lambda nn, k: nn.MLP(4, "scalar", 4, 3, jax.nn.tanh, jax.nn.sigmoid, scan=True, key=k),
        _normal(4),
    ),
    Case("MLP-scan-depth1", lambda nn, k: nn.MLP("scalar", 3, 4, 1, scan=True, key=k), _normal()),
    Case(
        "Sequential",
        lambda nn, k: nn.Sequential(
            [nn.Linear(4, 4, key=k), nn.Lambda(jax.nn.relu), nn.Linear(4, 3, key=jax.random.fold_in(k, 1))]
        ),
        _normal(4),
    ),
    Case("Conv1d", lambda nn, k: nn.Conv1d(3, 4, 3, stride=2, padding=1, key=k), _normal(3, 9)),
    Case(
        "Conv2d-groups-dilation-pairs",
        lambda nn, k: nn.Conv2d(
            4, 4, (3, 2), stride=(2, 1), padding=((1, 0), (0, 2)), dilation=(1, 2), groups=2, key=k
        ),
        _normal(4, 7, 6),
    ),
    Case(
        "Conv2d-same-reflect",
        lambda nn, k: nn.Conv2d(2, 3, 3, padding="SAME", padding_mode="reflect", key=k),
        _normal(2, 5, 6),
    ),
    Case(
        "Conv2d-replicate",
        lambda nn, k: nn.Conv2d(2, 3, 3, padding=(2, 1), padding_mode="REPLICATE", key=k),
        _normal(2, 5, 6),
    ),
    Case(
        "Conv2d-circular-samelower",
        lambda nn, k: nn.Conv2d(2, 3, 3, stride=2, padding="SAME_LOWER", padding_mode="CIRCULAR", key=k),
        _normal(2, 7, 6),
    ),
    Case(
        "Conv3d-valid-nobias",
        lambda nn, k: nn.Conv3d(2, 3, 2, padding="VALID", use_bias=False, key=k),
        _normal(2, 3, 4, 3),
    ),
    Case("Conv-generic", lambda nn, k: nn.Conv(1, 3, 4, 3, 2, 1, key=k), _normal(3, 8)),
    Case(
        "ConvTranspose1d",
        lambda nn, k: nn.ConvTranspose1d(3, 4, 3, stride=2, output_padding=1, padding=1, key=k),
        _normal(3, 5),
    ),
    Case(
        "ConvTranspose2d-same-groups",
        lambda nn, k: nn.ConvTranspose2d(4, 4, (3, 2), stride=2, padding="SAME", groups=2, key=k),
        _normal(4, 3, 4),
    ),
    Case(
        "ConvTranspose2d-samelower-short",
        lambda nn, k: nn.ConvTranspose2d(2, 3, 3, stride=4, padding="SAME_LOWER", key=k),
        _normal(2, 3, 2),
    ),
    Case(
        "ConvTranspose2d-circular",
        lambda nn, k: nn.ConvTranspose2d(2, 3, 3, stride=2, padding="SAME", padding_mode="CIRCULAR", key=k),
        _normal(2, 4, 3),
    ),
    Case(
        "ConvTranspose3d-dilation-pairs",
        lambda nn, k: nn.ConvTranspose3d(2, 3, 2, dilation=2, padding=((1, 0), (0, 1), (1, 1)), key=k),
        _normal(2, 3, 3, 2),
    ),
    Case(
        "ConvTranspose-generic",
        lambda nn, k: nn.ConvTranspose(1, 3, 4, 3, 2, "VALID", 1, key=k),
        _normal(3, 4),
    ),
    Case("MaxPool1d", lambda nn, k: nn.MaxPool1d(3, 2, padding=1), _normal(2, 9)),
    Case("MaxPool2d-ceil", lambda nn, k: nn.MaxPool2d(2, stride=2, use_ceil=True), _normal(3, 5, 7)),
    Case("MaxPool3d", lambda nn, k: nn.MaxPool3d((2, 1, 2), stride=(1, 1, 2)), _normal(2, 3, 3, 4)),
    Case("AvgPool1d-pad", lambda nn, k: nn.AvgPool1d(2, padding=1), _normal(2, 5)),
    Case(
        "AvgPool2d-ceil", lambda nn, k: nn.AvgPool2d((2, 3), stride=(1, 2), use_ceil=True), _normal(2, 5, 6)
    ),
    Case(
        "AvgPool3d",
        lambda nn, k: nn.AvgPool3d(2, stride=2, padding=((1, 0), (0, 0), (0, 1))),
        _normal(1, 4, 4, 5),
    ),
    Case("AdaptiveAvgPool1d", lambda nn, k: nn.AdaptiveAvgPool1d(3), _normal(2, 8)),
    Case("AdaptiveAvgPool2d", lambda nn, k: nn.AdaptiveAvgPool2d((2, 3)), _normal(2, 5, 9)),
    Case("AdaptiveAvgPool3d", lambda nn, k: nn.AdaptiveAvgPool3d((2, 2, 3)), _normal(1, 5, 4, 7)),
    Case("AdaptiveMaxPool1d", lambda nn, k: nn.AdaptiveMaxPool1d(4), _normal(2, 7)),
    Case("AdaptiveMaxPool2d", lambda nn, k: nn.AdaptiveMaxPool2d(3), _normal(2, 7, 5)),
    Case("AdaptiveMaxPool3d", lambda nn, k: nn.AdaptiveMaxPool3d((1, 2, 3)), _normal(1, 3, 5, 6)),
    Case("LayerNorm", lambda nn, k: nn.LayerNorm((3, 4)), _normal(3, 4)),
    Case("LayerNorm-noweight", lambda nn, k: nn.LayerNorm(5, eps=1e-3, use_weight=False), _normal(5)),
    Case("RMSNorm", lambda nn, k: nn.RMSNorm(6), _normal(6)),
    Case("GroupNorm", lambda nn, k: nn.GroupNorm(2, 4), _normal(4, 3, 2)),
    Case("GroupNorm-noaffine", lambda nn, k: nn.GroupNorm(3, channelwise_affine=False), _normal(6, 5)),
    Case("PReLU", lambda nn, k: nn.PReLU(), _normal(7)),
    Case("Dropout", lambda nn, k: nn.Dropout(0.3), _normal(50), _with_key),
    Case("Dropout-inference", lambda nn, k: nn.Dropout(0.3, inference=True), _normal(5)),
    Case("Embedding", lambda nn, k: nn.Embedding(4, 3, key=k), lambda rng: (np.int32(3),)),
    Case(
        "RotaryPositionalEmbedding", lambda nn, k: nn.RotaryPositionalEmbedding(8, theta=500.0), _normal(5, 8)
    ),
    Case("MultiheadAttention", lambda nn, k: nn.MultiheadAttention(2, 4, key=k), _seq3(3, 4, (4, 4, 4))),
    Case(
        "MultiheadAttention-sizes-mask2d-dropout",
        lambda nn, k: nn.MultiheadAttention(
            2, 4, 3, 3, 3, 2, 2, True, True, True, True, dropout_p=0.25, key=k
        ),
        _seq3(3, 4, (4, 3, 3)),
        _attention_with_mask(_MASK_2D),
    ),
    Case(
        "MultiheadAttention-mask3d",
        lambda nn, k: nn.MultiheadAttention(4, 4, qk_size=1, vo_size=1, use_output_bias=True, key=k),
        _seq3(3, 4, (4, 4, 4)),
        _attention_with_mask(_MASK_3D),
    ),
    Case(
        "GRUCell",
        lambda nn, k: nn.GRUCell(3, 4, key=k),
        lambda rng: (rng.standard_normal(3, np.float32), np.linspace(-1, 1, 4, dtype=np.float32)),
    ),
    Case(
        "GRUCell-nobias",
        lambda nn, k: nn.GRUCell(3, 4, use_bias=False, key=k),
        lambda rng: (rng.standard_normal(3, np.float32), np.linspace(-1, 1, 4, dtype=np.float32)),
    ),
    Case(
        "LSTMCell",
        lambda nn, k: nn.LSTMCell(3, 4, key=k),
        lambda rng: (
            rng.standard_normal(3, np.float32),
            (np.linspace(-1, 1, 4, dtype=np.float32), np.linspace(1, 2, 4, dtype=np.float32)),
        ),
    ),
    Case("WeightNorm", lambda nn, k: nn.WeightNorm(nn.Linear(4, 3, key=k)), _normal(4)),
    Case(
        "WeightNorm-conv-all",
        lambda nn, k: nn.WeightNorm(nn.Conv2d(2, 3, 3, key=k), axis=None),
        _normal(2, 4, 4),
    ),
    Case(
        "Shared",
        lambda nn, k: nn.Shared(
            (nn.Linear(4, 4, key=k), nn.Linear(4, 4, key=jax.random.fold_in(k, 1))),
            lambda pair: pair[1].weight,
            lambda pair: pair[0].weight,
        ),
        lambda rng: (),
        lambda model: model(),
    ),
]


def _arrays_by_path(tree: Any) -> dict[str, np.ndarray]:
    return {
        jtu.keystr(path): np.asarray(leaf)
        for path, leaf in jtu.tree_flatten_with_path(tree)[0]
        if isinstance(leaf, jax.Array)
    }


def _assert_identical(ours_tree: Any, theirs_tree: Any) -> None:
    ours_leaves, ours_def = jtu.tree_flatten(ours_tree)
    theirs_leaves, theirs_def = jtu.tree_flatten(theirs_tree)
    assert len(ours_leaves) == len(theirs_leaves)
    for a, b in zip(ours_leaves, theirs_leaves):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b), np.max(np.abs(a - b))


def _pool_init(path: str) -> bool:
    # Equinox keeps a pool's reduction identity (e.g. -inf) as an array leaf;
    # here it is a static Python number. It is not a parameter.
    return path == ".init"


def _build_and_run(
    nn: Any, jit: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> tuple[list[Any], list[Any]]:
    """Build every case eagerly (as users do) and run all forwards in one compiled call."""
    models = [case.build(nn, jax.random.key(42)) for case in CASES]
    rng = np.random.default_rng(0)
    inputs = [case.inputs(rng) for case in CASES]

    def run_all(models: list[Any], inputs: list[Any]) -> list[Any]:
        return [case.call(model, *xs) for case, model, xs in zip(CASES, models, inputs)]

    return models, jit(run_all)(models, inputs)


@pytest.fixture(scope="module")
def both() -> dict[str, tuple[list[Any], list[Any]]]:
    # Plain jax.jit over our layers: every leaf of every layer is an array, so
    # each layer runs with all of its leaves traced. Equinox needs filter_jit.
    return {"ours": _build_and_run(ours, jax.jit), "theirs": _build_and_run(theirs, eqx.filter_jit)}


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case.name for case in CASES])
def test_same_parameters_and_outputs(both: dict[str, Any], index: int) -> None:
    (our_models, our_outputs), (their_models, their_outputs) = both["ours"], both["theirs"]
    our_params = _arrays_by_path(our_models[index])
    their_params = {
        path: array for path, array in _arrays_by_path(their_models[index]).items() if not _pool_init(path)
    }
    assert our_params.keys() == their_params.keys()
    for path in our_params:
        assert our_params[path].dtype == their_params[path].dtype, path
        assert np.array_equal(our_params[path], their_params[path]), path
    _assert_identical(our_outputs[index], their_outputs[index])


def test_same_parameters_under_x64() -> None:
    with jax.enable_x64(True):
        key = jax.random.key(3)
        for build in (lambda nn: nn.Linear(4, 3, key=key), lambda nn: nn.Embedding(4, 3, key=key)):
            a, b = _arrays_by_path(build(ours)), _arrays_by_path(build(theirs))
            assert a.keys() == b.keys()
            for path in a:
                assert a[path].dtype == np.float64
                assert np.array_equal(a[path], b[path]), path


def test_same_parameters_for_legacy_prng_keys_and_complex_dtype() -> None:
    key = jax.random.PRNGKey(5)
    a = ours.Linear(3, 2, dtype=jnp.complex64, key=key)
    b = theirs.Linear(3, 2, dtype=jnp.complex64, key=key)
    assert np.array_equal(a.weight, b.weight) and np.array_equal(a.bias, b.bias)


@pytest.mark.parametrize("mode", ["batch", "ema"])
def test_batch_norm_training_and_inference(mode: str) -> None:
    x = np.random.default_rng(1).standard_normal((3, 4, 6, 2), np.float32) * 3 + 1

    @eqx.filter_jit
    def step(model: Any, x: jax.Array, state: Any) -> Any:
        return jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)

    def run(nn: Any) -> list[Any]:
        model, state = nn.make_with_state(nn.BatchNorm)(6, "batch", momentum=0.9, mode=mode)
        outputs = []
        for xb in x:
            y, state = step(model, xb, state)
            outputs.append(y)
        y, state = step(nn.inference_mode(model), x[0], state)
        return outputs + [y, state]

    _assert_identical(run(ours), run(theirs))


def test_spectral_norm_state_and_outputs() -> None:
    def run(nn: Any) -> list[Any]:
        key = jax.random.key(9)
        model, state = nn.make_with_state(nn.SpectralNorm)(
            nn.Conv1d(3, 4, 3, key=key), "weight", num_power_iterations=2, key=jax.random.fold_in(key, 1)
        )
        x = jnp.linspace(-1.0, 2.0, 15).reshape(3, 5)
        y1, state = model(x, state)
        y2, state = model(x, state)
        y3, state = model(x, state, inference=True)
        return [_arrays_by_path(model), y1, y2, y3, state]

    _assert_identical(run(ours), run(theirs))
