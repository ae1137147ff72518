"""Dispatch overhead of `filter_jit` on a tiny model, across the shapes user code takes.

A tiny MLP (4 -> 8 -> 8 -> 1, ReLU) so that the time is almost all per-call
overhead. Every table compares, in one interleaved run, against one floor:

- raw `jax.jit` of a pure function of a flat list of arrays (the floor);
- our `filter_jit` and Equinox's `equinox.filter_jit` (when installed), over
  the same Modules, for each *case*: the model's layers in a tuple, a list or a
  dict (the dict model also has static callables, ints and strings), the model
  reached through a bound method or a method decorated with `filter_jit`, and
  keyword arguments.

Training steps: SGD returning the new model built by `jax.tree_util.tree_map`,
and optax adam returning the model and optax's state (batch 32 via
`jax.vmap`). A last table checks that `filter_jit` returns before a long
computation has finished, as `jax.jit` does (asynchronous dispatch).
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
from benchmarks._harness import case_table, format_us, markdown_table, time_interleaved

try:
    import equinox as eqx
except ImportError:  # the comparison columns are optional
    eqx = None

FLOOR = "raw jax.jit, flat list of arrays"
OURS = "eqxdsl"
EQUINOX = "equinox"
TARGET = 1.25


class ListMLP(rt.Module):
    """The MLP with its layers in a list, and `filter_jit`-decorated methods."""

    layers: list
    activation: Callable = rt.field(static=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)

    def apply(self, x: jax.Array) -> jax.Array:
        return self(x)

    @rt.filter_jit
    def predict(self, x: jax.Array) -> jax.Array:
        return self(x)

    if eqx is not None:

        @eqx.filter_jit
        def predict_equinox(self, x: jax.Array) -> jax.Array:
            return self(x)


class DictMLP(rt.Module):
    """The MLP with its layers in a dict, and static callables, ints and strings."""

    layers: dict
    activation: Callable = rt.field(static=True)
    depth: int = rt.field(static=True)
    name: str = rt.field(static=True)

    def __call__(self, x: jax.Array) -> jax.Array:
        for index in range(self.depth):
            x = self.activation(self.layers[f"hidden{index}"](x))
        return self.layers["out"](x)


def _models() -> tuple[dict[str, Any], list[jax.Array]]:
    """The same weights as a tuple, list and dict model, and as a flat list."""
    mlp = rt.nn.MLP(4, 1, 8, 2, key=jax.random.key(0))
    layers = list(mlp.layers)
    models = {
        "tuple": mlp,
        "list": ListMLP(layers, jax.nn.relu),
        "dict": DictMLP({"hidden0": layers[0], "hidden1": layers[1], "out": layers[2]}, jax.nn.relu, 2, "mlp"),
    }
    return models, [leaf for layer in layers for leaf in (layer.weight, layer.bias)]


def _pure_mlp(params: list[jax.Array], x: jax.Array) -> jax.Array:
    """The MLP as a function of `[W0, b0, W1, b1, W2, b2]` and one input vector."""
    *hidden, last_w, last_b = params
    for w, b in zip(hidden[0::2], hidden[1::2]):
        x = jax.nn.relu(w @ x + b)
    return last_w @ x + last_b


def _forward(model: Any, x: jax.Array) -> jax.Array:
    return model(x)


def _forward_keywords(model: Any, *, x: jax.Array) -> jax.Array:
    return model(x)


def _forward_styles() -> tuple[dict[str, Callable[[], Any]], list[str]]:
    models, params = _models()
    x = jnp.ones(4)
    raw = jax.jit(_pure_mlp)
    styles: dict[str, Callable[[], Any]] = {FLOOR: lambda: raw(params, x)}
    listed = models["list"]
    libraries = {OURS: rt.filter_jit}
    if eqx is not None:
        libraries[EQUINOX] = eqx.filter_jit
    for library, jit in libraries.items():
        forward, keywords, bound = jit(_forward), jit(_forward_keywords), jit(listed.apply)
        for case, model in models.items():
            styles[f"{case} layers / {library}"] = lambda forward=forward, model=model: forward(model, x)
        styles[f"keyword arguments / {library}"] = lambda keywords=keywords: keywords(listed, x=x)
        styles[f"bound method `jit(model.apply)` / {library}"] = lambda bound=bound: bound(x)
    styles[f"decorated method `model.predict` / {OURS}"] = lambda: listed.predict(x)
    if eqx is not None:
        styles[f"decorated method `model.predict` / {EQUINOX}"] = lambda: listed.predict_equinox(x)
    return styles, [*(f"{case} layers" for case in models), "keyword arguments",
                    "bound method `jit(model.apply)`", "decorated method `model.predict`"]


def _stepper(step: Callable, state: list[Any], *data: jax.Array, keywords: bool = False) -> Callable[[], Any]:
    """A zero-argument training step that threads its own model (and optimiser state)."""

    def call() -> Any:
        if keywords:
            *new_state, loss = step(*state, x=data[0], y=data[1])
        else:
            *new_state, loss = step(*state, *data)
        state[:] = new_state
        return loss

    return call


def _data() -> tuple[jax.Array, jax.Array]:
    return jax.random.normal(jax.random.key(1), (32, 4)), jax.random.normal(jax.random.key(2), (32, 1))


def _raw_loss(params: list[jax.Array], x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((jax.vmap(_pure_mlp, in_axes=(None, 0))(params, x) - y) ** 2)


def _module_loss(model: Any, x: jax.Array, y: jax.Array) -> jax.Array:
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


def _sgd_styles() -> tuple[dict[str, Callable[[], Any]], list[str]]:
    models, params = _models()
    x, y = _data()

    def make_step(value_and_grad: Callable, loss: Callable) -> Callable:
        def step(model: Any, x: jax.Array, y: jax.Array) -> Any:
            value, grads = value_and_grad(loss)(model, x, y)
            return jax.tree_util.tree_map(lambda p, g: p - 0.01 * g, model, grads), value

        return step

    styles = {FLOOR: _stepper(jax.jit(make_step(jax.value_and_grad, _raw_loss)), [params], x, y)}
    libraries = {OURS: (rt.filter_jit, rt.filter_value_and_grad)}
    if eqx is not None:
        libraries[EQUINOX] = (eqx.filter_jit, eqx.filter_value_and_grad)
    for library, (jit, value_and_grad) in libraries.items():
        step = jit(make_step(value_and_grad, _module_loss))
        for case, model in models.items():
            styles[f"{case} layers / {library}"] = _stepper(step, [model], x, y)
    return styles, [f"{case} layers" for case in models]


def _adam_styles() -> tuple[dict[str, Callable[[], Any]], list[str]]:
    models, params = _models()
    x, y = _data()
    optimiser = optax.adam(1e-3)

    def make_step(value_and_grad: Callable, loss: Callable, apply_updates: Callable) -> Callable:
        def step(model: Any, opt_state: Any, x: jax.Array, y: jax.Array) -> Any:
            value, grads = value_and_grad(loss)(model, x, y)
            updates, opt_state = optimiser.update(grads, opt_state)
            return apply_updates(model, updates), opt_state, value

        return step

    raw = jax.jit(make_step(jax.value_and_grad, _raw_loss, optax.apply_updates))
    styles = {FLOOR: _stepper(raw, [params, optimiser.init(params)], x, y)}
    libraries = {OURS: (rt.filter_jit, rt.filter_value_and_grad, rt.apply_updates)}
    if eqx is not None:
        libraries[EQUINOX] = (eqx.filter_jit, eqx.filter_value_and_grad, eqx.apply_updates)
    for library, (jit, value_and_grad, apply_updates) in libraries.items():
        step = jit(make_step(value_and_grad, _module_loss, apply_updates))
        for case, model in models.items():
            state = [model, optimiser.init(rt.filter(model, rt.is_inexact_array))]
            styles[f"{case} layers / {library}"] = _stepper(step, state, x, y)
        state = [models["list"], optimiser.init(rt.filter(models["list"], rt.is_inexact_array))]
        styles[f"keyword arguments / {library}"] = _stepper(step, state, x, y, keywords=True)
    return styles, [*(f"{case} layers" for case in models), "keyword arguments"]


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
    parts = [
        "## dispatch: per-call overhead on a tiny MLP (4 -> 8 -> 8 -> 1)\n",
        f"Ratios are to the raw floor of the same table, from the same interleaved rounds; the target is "
        f"{OURS} at most {TARGET}x.\n",
    ]
    libraries = [OURS] + ([EQUINOX] if eqx is not None else [])
    for title, make, rounds, calls in (
        ("Forward, one vector", _forward_styles, 15, 200),
        ("SGD step returning the new Module (`tree_map`), batch 32 via vmap", _sgd_styles, 20, 100),
        ("Adam step returning the model and optax's state, batch 32 via vmap", _adam_styles, 20, 100),
    ):
        styles, cases = make()
        for pipelined in (False, True):
            mode = f"pipelined ({calls} calls, one block)" if pipelined else "sync (block every call)"
            timings = time_interleaved(styles, rounds=rounds, calls=calls, pipelined=pipelined)
            table = case_table(timings, FLOOR, cases, libraries, target=(OURS, TARGET))
            parts.append(f"### {title}: {mode}\n\n{table}\n")
    parts.append(_asynchrony_table())
    return "\n".join(parts)
