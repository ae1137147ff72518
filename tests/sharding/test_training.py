"""The training of `examples/train_sharded.py` in two processes, with `jax.distributed`.

`_processes.run_children` starts both; `run_training.py` is what they run, with
the script's own GPT, rules, data and training step. Their losses are compared
with the script's single-process run.
"""

import numpy as np

from ._example import DEFAULTS, EXPECTED_SHARDING
from ._processes import free_port, run_children


def test_two_processes_with_jax_distributed_match_the_single_process_run(single_process_run):
    port = free_port()
    results = run_children([[str(i), "2", str(port)] for i in range(2)], devices=4, timeout=240)
    for index, result in enumerate(results):
        assert (result["process_index"], result["process_count"]) == (index, 2)
        assert (result["local_devices"], result["devices"]) == (4, 8)
        assert result["specs"] == result["trained_specs"] == EXPECTED_SHARDING
        np.testing.assert_allclose(result["sharded"], single_process_run["plain"], rtol=1e-5)
    # Each process fed only its own half of every batch.
    assert sorted(results[0]["rows"] + results[1]["rows"]) == list(range(DEFAULTS.batch))
    assert not set(results[0]["rows"]) & set(results[1]["rows"])
