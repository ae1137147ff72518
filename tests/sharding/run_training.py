"""Train `TinyGPT` on simulated CPU devices and print the results as one JSON line.

    python -m sharding.run_training local
        (with 8 devices) the same 20 steps three ways: plain on one device, on a
        one-device mesh, and data x model parallel on a (4, 2) mesh.
    python -m sharding.run_training process PROCESS_ID NUM_PROCESSES PORT
        (with 4 devices per process) one of the processes of the (4, 2) run,
        with `jax.distributed` and the coordinator on 127.0.0.1:PORT.

The tests start these in subprocesses, because the device count is fixed when
JAX starts.
"""

from __future__ import annotations

import json
import sys

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

import eqxdsl.runtime as eqx
from sharding.tiny_gpt import RULES, batches, make_model, train

MESH_SHAPE = (4, 2)
AXES = ("data", "model")


def parameter_specs(model: eqx.Module) -> dict[str, list]:
    """Parameter path -> the mesh axes of each of its axes, as its sharding holds them."""
    specs = {}
    for keys, leaf in jax.tree_util.tree_flatten_with_path(eqx.filter(model, eqx.is_array))[0]:
        spec = list(leaf.sharding.spec) + [None] * (leaf.ndim - len(leaf.sharding.spec))
        specs[jax.tree_util.keystr(keys, simple=True, separator=".")] = spec
    return specs


def train_sharded(mesh: jax.sharding.Mesh, data: np.ndarray, rows: slice | list[int]) -> tuple[dict, list[float]]:
    """20 steps on `mesh`; this process feeds `data[:, rows]` of every global batch."""
    with eqx.logical_sharding(mesh, RULES):
        model = eqx.make_sharded(make_model, jax.random.key(0), mesh=mesh, rules=RULES, data_names=("batch",))
        specs = parameter_specs(model)
        trained, losses = train(model, lambda i: eqx.from_process_local_data(data[i][rows], ("batch", None)))
    for before, after in zip(jax.tree.leaves(model), jax.tree.leaves(trained)):
        assert after.sharding.is_equivalent_to(before.sharding, before.ndim), (before.sharding, after.sharding)
    return specs, losses


def local_rows(mesh: jax.sharding.Mesh, batch_size: int) -> list[int]:
    """The rows of a batch sharded over "data" that this process's devices hold."""
    indices = NamedSharding(mesh, PartitionSpec("data")).addressable_devices_indices_map((batch_size,))
    return sorted({row for (rows,) in indices.values() for row in range(*rows.indices(batch_size))})


def run_local() -> dict:
    data = batches()
    _, plain = train(make_model(jax.random.key(0)), lambda i: data[i])
    one_device = jax.make_mesh((1, 1), AXES, devices=jax.devices()[:1])
    _, on_one_device = train_sharded(one_device, data, slice(None))
    specs, sharded = train_sharded(jax.make_mesh(MESH_SHAPE, AXES), data, slice(None))
    return {"plain": plain, "one_device_mesh": on_one_device, "sharded": sharded, "specs": specs}


def run_process(process_id: int, num_processes: int, port: int) -> dict:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=60,
        shutdown_timeout_seconds=30,
    )
    try:
        mesh = jax.make_mesh(MESH_SHAPE, AXES)
        data = batches()
        rows = local_rows(mesh, data.shape[1])
        specs, losses = train_sharded(mesh, data, rows)
        result = {
            "process_index": jax.process_index(),
            "process_count": jax.process_count(),
            "local_devices": jax.local_device_count(),
            "devices": jax.device_count(),
            "rows": rows,
            "specs": specs,
            "sharded": losses,
        }
    finally:
        jax.distributed.shutdown()
    return result


if __name__ == "__main__":
    mode, *arguments = sys.argv[1:]
    result = run_local() if mode == "local" else run_process(*map(int, arguments))
    print(json.dumps(result))
