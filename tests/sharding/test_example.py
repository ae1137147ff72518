"""`examples/train_sharded.py`: the generated GPT trained data x tensor parallel on 8 CPU devices.

The script runs in a child process without XLA_FLAGS, so it must ask for the 8
simulated devices itself; its losses are compared with its own single-device run.
"""

import numpy as np

from ._example import DEFAULTS, EXPECTED_SHARDING
from ._processes import run_example


def test_the_script_shards_over_the_mesh_it_asked_for(single_process_run):
    assert single_process_run["mesh"] == {"data": 4, "model": 2}


def test_every_parameter_is_sharded_as_the_spec_names_it(single_process_run):
    assert single_process_run["specs"] == EXPECTED_SHARDING


def test_sharded_losses_equal_the_single_device_run(single_process_run):
    plain = np.array(single_process_run["plain"])
    assert len(plain) == DEFAULTS.steps and plain[-1] < plain[0] / 2, plain  # it does learn
    np.testing.assert_allclose(single_process_run["sharded"], plain, rtol=1e-5)


def test_a_mesh_larger_than_the_devices_is_a_usage_error():
    finished = run_example("--mesh", "4,4", "--steps", "1")
    assert finished.returncode == 2
    assert "--mesh 4,4: two sizes whose product is at most the 8 devices" in finished.stderr
