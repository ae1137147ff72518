"""TinyGPT trained data x tensor parallel on 8 simulated CPU devices, in one process and in two.

The children are started by `_processes.run_children`; `run_training.py` is what
they run. Losses are compared with the plain single-device run of the same steps.
"""

import numpy as np
import pytest

from ._processes import free_port, run_children

# Every parameter of TinyGPT(vocab=64, ctx=16, dim=32, heads=4, depth=2) on the
# (data=4, model=2) mesh: the mesh axis of each of its axes.
EXPECTED_SHARDING = {
    "embed.weight": ["model", None],
    "pos": [None, None],
    "blocks.ln1.weight": [None, None],
    "blocks.ln1.bias": [None, None],
    "blocks.attn.query_proj.weight": [None, "model", None],
    "blocks.attn.key_proj.weight": [None, "model", None],
    "blocks.attn.value_proj.weight": [None, "model", None],
    "blocks.attn.output_proj.weight": [None, None, "model"],
    "blocks.ln2.weight": [None, None],
    "blocks.ln2.bias": [None, None],
    "blocks.fc.weight": [None, "model", None],
    "blocks.fc.bias": [None, "model"],
    "blocks.proj.weight": [None, None, "model"],
    "blocks.proj.bias": [None, None],
    "ln.weight": [None],
    "ln.bias": [None],
}
RELATIVE_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def local_run() -> dict:
    """Plain, one-device-mesh and (4, 2)-mesh runs, in one child with 8 devices."""
    (result,) = run_children([["local"]], devices=8, timeout=240)
    return result


def test_sharded_training_matches_the_single_device_run(local_run):
    plain = np.array(local_run["plain"])
    assert len(plain) == 20 and plain[-1] < plain[0] / 2, plain  # it does learn
    np.testing.assert_allclose(local_run["sharded"], plain, rtol=RELATIVE_TOLERANCE)
    np.testing.assert_allclose(local_run["one_device_mesh"], plain, rtol=RELATIVE_TOLERANCE)


def test_every_parameter_is_sharded_as_annotated(local_run):
    assert local_run["specs"] == EXPECTED_SHARDING


def test_two_processes_with_jax_distributed_match_the_single_process_run(local_run):
    port = free_port()
    results = run_children([["process", str(i), "2", str(port)] for i in range(2)], devices=4, timeout=240)
    for index, result in enumerate(results):
        assert (result["process_index"], result["process_count"]) == (index, 2)
        assert (result["local_devices"], result["devices"]) == (4, 8)
        assert result["specs"] == EXPECTED_SHARDING
        np.testing.assert_allclose(result["sharded"], local_run["plain"], rtol=RELATIVE_TOLERANCE)
    # Each process fed only its own half of every batch.
    assert sorted(results[0]["rows"] + results[1]["rows"]) == list(range(16))
    assert not set(results[0]["rows"]) & set(results[1]["rows"])
