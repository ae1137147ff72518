"""A sharded training step against the single-device step, on 8 simulated CPU devices.

The model is the test suite's `TinyGPT` (`tests/sharding/tiny_gpt.py`), which
names its axes in `__logical_axes__`, at a larger size; one optax adam step
(`filter_jit` + `filter_value_and_grad`) is timed three ways, interleaved:

- *single device*: no mesh; parameters and batch on one device;
- *data parallel (8, 1)*: the batch split over 8 devices, parameters replicated
  (the rules map every parameter axis to None);
- *data x model (4, 2)*: the batch over 4, heads, MLP and vocabulary over 2.

All eight "devices" are threads of this one CPU, so this measures what
partitioning costs (collectives, smaller kernels, more dispatch), not a speed-up:
ratios above 1 are the overhead a real multi-device run has to win back. The
section runs in a child process, because the device count is fixed when JAX
starts. Before timing, it checks that the three styles compute the same loss.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEVICES = 8
CHILD_TIMEOUT_S = 600
SIZES = dict(vocab=128, ctx=32, dim=64, heads=4, depth=2)
BATCH = 32
ROUNDS = 10
CALLS = 5
SINGLE = "single device"


def run() -> str:
    """Run the measurement in a child process with 8 simulated devices; its markdown."""
    environment = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={DEVICES}", JAX_PLATFORMS="cpu")
    command = [sys.executable, "-m", "benchmarks.sharding"]
    try:
        result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return f"### sharding\n\nThe child process did not finish within {CHILD_TIMEOUT_S} s.\n"
    if result.returncode != 0:
        raise RuntimeError(f"the sharding benchmark's child failed:\n{result.stderr[-3000:]}")
    return result.stdout


def _styles() -> tuple[dict[str, Callable[[], Any]], dict[str, float]]:
    """The timed zero-argument steps (each threads its own state) and each style's first loss."""
    import jax
    import numpy as np
    import optax

    import eqxdsl.runtime as eqx

    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from sharding.tiny_gpt import RULES, TinyGPT, make_step

    def make(key: jax.Array) -> TinyGPT:
        return TinyGPT(**SIZES, key=key)

    optimiser = optax.adam(1e-3)
    step = make_step(optimiser)
    tokens = np.random.default_rng(0).integers(0, SIZES["vocab"], (BATCH, SIZES["ctx"] + 1), dtype=np.int32)
    data_parallel = [(name, "data" if name == "batch" else None) for name, _ in RULES]
    setups = {
        SINGLE: None,
        "data parallel (8, 1)": (jax.make_mesh((8, 1), ("data", "model")), data_parallel),
        "data x model (4, 2)": (jax.make_mesh((4, 2), ("data", "model")), RULES),
    }
    styles, first_losses = {}, {}
    for name, setup in setups.items():
        if setup is None:
            model, batch = make(jax.random.key(0)), jax.device_put(tokens)
            active: Callable[[], Any] = contextlib.nullcontext
        else:
            mesh, rules = setup
            active = functools.partial(eqx.logical_sharding, mesh, rules)
            with active():
                model = eqx.make_sharded(make, jax.random.key(0), mesh=mesh, rules=rules, data_names=("batch",))
                batch = eqx.from_process_local_data(tokens, ("batch", None))
        state = [model, optimiser.init(eqx.filter(model, eqx.is_inexact_array))]

        # The rules are active while tracing (constraints) and calling (same trace).
        def call(state: list[Any] = state, batch: jax.Array = batch, active: Callable[[], Any] = active) -> jax.Array:
            with active():
                *state[:], loss = step(*state, batch)
            return loss

        first_losses[name] = float(call())
        styles[name] = call
    return styles, first_losses


def _measure() -> str:
    import jax

    from benchmarks._harness import ratio_table, time_interleaved

    styles, first_losses = _styles()
    reference = first_losses[SINGLE]
    for name, loss in first_losses.items():
        if abs(loss - reference) > 1e-5 * abs(reference):
            raise AssertionError(f"{name} computes loss {loss}, the single device {reference}")
    timings = time_interleaved(styles, rounds=ROUNDS, calls=CALLS, pipelined=True)
    sizes = ", ".join(f"{key}={value}" for key, value in SIZES.items())
    return "\n".join([
        f"### sharding: one adam step of TinyGPT({sizes}), batch {BATCH}, on {jax.device_count()} simulated CPU devices",
        "",
        f"Pipelined ({CALLS} steps, one block), {ROUNDS} rounds; ratios to the single-device step. "
        "Every style's first loss equals the single-device one within 1e-5 relative.",
        "",
        ratio_table(timings, floor=SINGLE),
        "",
    ])


if __name__ == "__main__":
    print(_measure())
