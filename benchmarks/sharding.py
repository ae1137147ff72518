"""A sharded training step against the single-device step, on 8 simulated CPU devices.

The model is the GPT of `examples/gpt.eqx`, which names its axes in `axes:`
blocks, built and stepped as `examples/train_sharded.py` builds and steps it
(imported the way the sharding tests import it), at a larger size. One optax
adam step (`filter_jit` + `filter_value_and_grad`, dropout on) is timed three
ways, interleaved:

- *single device*: no mesh; parameters and batch on one device;
- *data parallel (8, 1)*: the batch split over 8 devices, parameters replicated
  (the rules map every parameter axis to None);
- *data x model (4, 2)*: the script's rules: the batch over 4; vocabulary,
  heads and MLP over 2.

All eight "devices" are threads of this one CPU, so this measures what
partitioning costs (collectives, smaller kernels, more dispatch), not a speed-up:
ratios above 1 are the overhead a real multi-device run has to win back. The
section runs in a child process, because the device count is fixed when JAX
starts. Before timing, it checks that the three styles compute the same loss.
"""

from __future__ import annotations

import argparse
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
#: The script's options for the benchmarked model and batch; the rest (4 heads, depth 2, dropout 0.1) are its defaults.
SIZES = dict(vocab=128, ctx=32, dim=64, batch=32)
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


def _styles() -> tuple[dict[str, Callable[[], Any]], dict[str, float], argparse.Namespace]:
    """The timed zero-argument steps (each threads its own state), each style's first loss, and the script's options."""
    import jax
    import optax

    import eqxdsl.runtime as eqx

    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from sharding._example import train_sharded

    args = train_sharded.command_line().parse_args([f"--{name}={value}" for name, value in SIZES.items()])
    make = train_sharded.make_model(args)
    optimiser = optax.adam(args.learning_rate)
    step = train_sharded.make_step(optimiser)
    windows = train_sharded.batches(args)[0]  # the script's first batch
    key = jax.random.key(args.seed + 1)
    input_axes = train_sharded.gpt.GPT.__input_axes__["tokens"]
    data_parallel = tuple((name, "data" if name == "batch" else None) for name, _ in train_sharded.RULES)
    setups = {
        SINGLE: None,
        "data parallel (8, 1)": (jax.make_mesh((8, 1), train_sharded.MESH_AXES), data_parallel),
        "data x model (4, 2)": (jax.make_mesh((4, 2), train_sharded.MESH_AXES), train_sharded.RULES),
    }
    styles, first_losses = {}, {}
    for name, setup in setups.items():
        if setup is None:
            model, batch = make(jax.random.key(args.seed)), jax.device_put(windows)
            active: Callable[[], Any] = contextlib.nullcontext
        else:
            mesh, rules = setup
            active = functools.partial(eqx.logical_sharding, mesh, rules)
            with active():
                model = eqx.make_sharded(make, jax.random.key(args.seed), mesh=mesh, rules=rules, data_names=train_sharded.DATA_NAMES)
                batch = eqx.from_process_local_data(windows, input_axes)
        state = [model, optimiser.init(eqx.filter(model, eqx.is_inexact_array))]

        # The rules are active while tracing (constraints) and calling (same trace).
        def call(state: list[Any] = state, batch: jax.Array = batch, active: Callable[[], Any] = active) -> jax.Array:
            with active():
                *state[:], loss = step(*state, batch, key)
            return loss

        first_losses[name] = float(call())
        styles[name] = call
    return styles, first_losses, args


def _measure() -> str:
    import jax

    from benchmarks._harness import ratio_table, time_interleaved

    styles, first_losses, args = _styles()
    reference = first_losses[SINGLE]
    for name, loss in first_losses.items():
        if abs(loss - reference) > 1e-5 * abs(reference):
            raise AssertionError(f"{name} computes loss {loss}, the single device {reference}")
    timings = time_interleaved(styles, rounds=ROUNDS, calls=CALLS, pipelined=True)
    sizes = f"vocab={args.vocab}, ctx={args.ctx}, dim={args.dim}, heads={args.heads}, depth={args.depth}, p={args.dropout}"
    return "\n".join([
        f"### sharding: one adam step of gpt.eqx's GPT({sizes}), batch {args.batch}, on {jax.device_count()} simulated CPU devices",
        "",
        f"Pipelined ({CALLS} steps, one block), {ROUNDS} rounds; ratios to the single-device step. "
        "Every style's first loss equals the single-device one within 1e-5 relative.",
        "",
        ratio_table(timings, floor=SINGLE),
        "",
    ])


if __name__ == "__main__":
    print(_measure())
