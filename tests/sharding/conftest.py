"""The single-process run of `examples/train_sharded.py`, shared by the tests that compare with it."""

import json

import pytest

from ._processes import run_example


@pytest.fixture(scope="session")
def single_process_run() -> dict:
    """The script's `--json` results: the mesh, the parameter specs, and the plain and (4, 2)-mesh losses."""
    finished = run_example("--json")
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout.strip().splitlines()[-1])
