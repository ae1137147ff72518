"""Dispatch overhead of the filtered transformations on a tiny model.

A tiny MLP (4 -> 8 -> 8 -> 1, ReLU) so that the time is almost all per-call
overhead. Styles:

- (a) raw `jax.jit` of a pure function of a flat list of arrays: the floor;
- (b) our `filter_jit` (+ `filter_value_and_grad` for the training step);
- (c) plain `jax.jit` (+ `jax.value_and_grad`) over our Module;
- (d) Equinox's `filter_jit` (+ `filter_value_and_grad`) over the same Module,
  when Equinox is installed.

The training step is an optax adam step on a batch of 32 through `jax.vmap`.
A last table checks that `filter_jit` returns before a long computation has
finished, as `jax.jit` does (asynchronous dispatch).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

import eqxdsl.runtime as rt
from benchmarks._harness import format_us, markdown_table, ratio_table, time_interleaved

try:
    import equinox as eqx
except ImportError:  # the comparison rows are optional
    eqx = None

FLOOR = "(a) raw jax.jit, flat list of arrays"
OURS = "(b) eqxdsl filter_jit"
PLAIN = "(c) plain jax.jit over our Module"
EQUINOX = "(d) equinox filter_jit"


def _pure_mlp(params: list[jax.Array], x: jax.Array) -> jax.Array:
    """The MLP as a function of `[W0, b0, W1, b1, W2, b2]` and one input vector."""
    *hidden, last_w, last_b = params
    for w, b in zip(hidden[0::2], hidden[1::2]):
        x = jax.nn.relu(w @ x + b)
    return last_w @ x + last_b


def _model_and_params() -> tuple[rt.nn.MLP, list[jax.Array]]:
    model = rt.nn.MLP(4, 1, 8, 2, key=jax.random.key(0))
    params = [leaf for layer in model.layers for leaf in (layer.weight, layer.bias)]
    return model, params


def _forward_styles() -> dict[str, Callable[[], Any]]:
    model, params = _model_and_params()
    x = jnp.ones(4)

    def forward(model: Any, x: jax.Array) -> jax.Array:
        return model(x)

    raw = jax.jit(_pure_mlp)
    ours = rt.filter_jit(forward)
    plain = jax.jit(forward)
    styles = {
        FLOOR: lambda: raw(params, x),
        OURS: lambda: ours(model, x),
        PLAIN: lambda: plain(model, x),
    }
    if eqx is not None:
        theirs = eqx.filter_jit(forward)
        styles[EQUINOX] = lambda: theirs(model, x)
    return styles


def _stepper(step: Callable, params: Any, opt_state: Any, x: jax.Array, y: jax.Array) -> Callable[[], Any]:
    """A zero-argument training step that threads its own parameters and state."""
    state = [params, opt_state]

    def call() -> Any:
        state[0], state[1], loss = step(state[0], state[1], x, y)
        return loss

    return call


def _training_styles() -> dict[str, Callable[[], Any]]:
    model, params = _model_and_params()
    x = jax.random.normal(jax.random.key(1), (32, 4))
    y = jax.random.normal(jax.random.key(2), (32, 1))
    optimiser = optax.adam(1e-3)

    def raw_loss(params: list[jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
        return jnp.mean((jax.vmap(_pure_mlp, in_axes=(None, 0))(params, x) - y) ** 2)

    def module_loss(model: Any, x: jax.Array, y: jax.Array) -> jax.Array:
        return jnp.mean((jax.vmap(model)(x) - y) ** 2)

    def make_step(value_and_grad: Callable, loss: Callable, apply_updates: Callable) -> Callable:
        def step(params: Any, opt_state: Any, x: jax.Array, y: jax.Array) -> Any:
            value, grads = value_and_grad(loss)(params, x, y)
            updates, opt_state = optimiser.update(grads, opt_state)
            return apply_updates(params, updates), opt_state, value

        return step

    raw = jax.jit(make_step(jax.value_and_grad, raw_loss, optax.apply_updates))
    ours = rt.filter_jit(make_step(rt.filter_value_and_grad, module_loss, rt.apply_updates))
    plain = jax.jit(make_step(jax.value_and_grad, module_loss, optax.apply_updates))
    trainable = rt.filter(model, rt.is_inexact_array)
    styles = {
        FLOOR: _stepper(raw, params, optimiser.init(params), x, y),
        OURS: _stepper(ours, model, optimiser.init(trainable), x, y),
        PLAIN: _stepper(plain, model, optimiser.init(trainable), x, y),
    }
    if eqx is not None:
        theirs = eqx.filter_jit(make_step(eqx.filter_value_and_grad, module_loss, eqx.apply_updates))
        styles[EQUINOX] = _stepper(theirs, model, optimiser.init(trainable), x, y)
    return styles


def _asynchrony_table(repeats: int = 3) -> str:
    """How long each style takes to return from a call, and to have its result."""
    size, depth = 1500, 6
    w = jax.random.normal(jax.random.key(3), (size, size)) / size**0.5
    x0 = jax.random.normal(jax.random.key(4), (size, size))

    def chain(w: jax.Array, x: jax.Array) -> jax.Array:
        for _ in range(depth):
            x = jnp.tanh(x @ w)
        return x

    styles = {"jax.jit": jax.jit(chain), "eqxdsl filter_jit": rt.filter_jit(chain)}
    if eqx is not None:
        styles["equinox filter_jit"] = eqx.filter_jit(chain)
    returned: dict[str, list[float]] = {name: [] for name in styles}
    ready: dict[str, list[float]] = {name: [] for name in styles}
    for name, function in styles.items():
        jax.block_until_ready(function(w, x0))
    for _ in range(repeats):
        for name, function in styles.items():
            start = time.perf_counter()
            out = function(w, x0)
            returned[name].append((time.perf_counter() - start) * 1e6)
            jax.block_until_ready(out)
            ready[name].append((time.perf_counter() - start) * 1e6)
    rows = []
    for name in styles:
        back, done = statistics.median(returned[name]), statistics.median(ready[name])
        rows.append([name, format_us(back), format_us(done), "yes" if back < 0.5 * done else "no"])
    title = f"### Asynchronous dispatch: chain of {depth} matmuls of {size}x{size} (median of {repeats})\n\n"
    return title + markdown_table(["style", "call returns after µs", "result ready after µs", "returns before finishing"], rows)


def run() -> str:
    """Run every table of this section and return them as markdown."""
    parts = ["## dispatch: per-call overhead on a tiny MLP (4 -> 8 -> 8 -> 1)\n"]
    forward = _forward_styles()
    training = _training_styles()
    for title, styles, rounds, calls in (
        ("Forward, one vector", forward, 30, 200),
        ("Adam training step, batch 32 via vmap", training, 20, 100),
    ):
        for pipelined in (False, True):
            mode = f"pipelined ({calls} calls, one block)" if pipelined else "sync (block every call)"
            timings = time_interleaved(styles, rounds=rounds, calls=calls, pipelined=pipelined)
            parts.append(f"### {title}: {mode}\n\n{ratio_table(timings, FLOOR)}\n")
    parts.append(_asynchrony_table())
    return "\n".join(parts)
