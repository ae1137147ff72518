"""One process of the training of `examples/train_sharded.py` on a (4, 2) mesh over two or more processes.

    python -m sharding.run_training PROCESS_ID NUM_PROCESSES PORT

With 4 simulated CPU devices per process, `jax.distributed` and the coordinator
on 127.0.0.1:PORT, it trains the script's GPT with the script's rules, data and
training step, feeding only the rows of each batch its own devices hold, and
prints the results as one JSON line. The test starts the processes, because the
device count is fixed when JAX starts.
"""

from __future__ import annotations

import json
import sys

import jax

from sharding._example import DEFAULTS, train_sharded

MESH_SHAPE = (4, 2)


def specs(shardings: dict) -> dict[str, list]:
    """Parameter path -> the mesh axes of each of its axes, from `train_sharded.parameter_shardings`."""
    return {path: spec for path, (_, spec) in shardings.items()}


def run_process(process_id: int, num_processes: int, port: int) -> dict:
    """Join the other processes, train, and return what the test compares."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=60,
        shutdown_timeout_seconds=30,
    )
    try:
        mesh = jax.make_mesh(MESH_SHAPE, train_sharded.MESH_AXES)
        data = train_sharded.batches(DEFAULTS)
        built, trained, losses = train_sharded.train_sharded(mesh, data, DEFAULTS)
        result = {
            "process_index": jax.process_index(),
            "process_count": jax.process_count(),
            "local_devices": jax.local_device_count(),
            "devices": jax.device_count(),
            "rows": train_sharded.local_rows(mesh, data.shape[1]),
            "specs": specs(built),
            "trained_specs": specs(train_sharded.parameter_shardings(trained)),
            "sharded": losses,
        }
    finally:
        jax.distributed.shutdown()
    return result


if __name__ == "__main__":
    print(json.dumps(run_process(*map(int, sys.argv[1:]))))
