"""Running the training script in child Python processes, with bounded time."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
EXAMPLE = ROOT / "examples" / "train_sharded.py"


def child_env(devices: int) -> dict[str, str]:
    """The environment of a child that sees `devices` simulated CPU devices."""
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), str(TESTS), env.get("PYTHONPATH")]))
    return env


def run_example(*arguments: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `examples/train_sharded.py ARGUMENTS...` as a user would: without XLA_FLAGS, so it asks for its own 8 devices."""
    env = {name: value for name, value in os.environ.items() if name not in ("XLA_FLAGS", "JAX_PLATFORMS")}
    return subprocess.run([sys.executable, str(EXAMPLE), *arguments], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_children(argvs: list[list[str]], devices: int, timeout: float) -> list[dict]:
    """Run `python -m sharding.run_training ARGV...` for each argv at once; their JSON results.

    Every child is killed when `timeout` seconds have passed, or as soon as one of
    them fails (its peers would otherwise wait for it until their own timeouts).
    """
    with tempfile.TemporaryDirectory() as folder:
        outputs = [(Path(folder, f"{i}.out"), Path(folder, f"{i}.err")) for i in range(len(argvs))]
        children = []
        for argv, (out, err) in zip(argvs, outputs):
            with out.open("w") as stdout, err.open("w") as stderr:
                children.append(subprocess.Popen(
                    [sys.executable, "-m", "sharding.run_training", *argv],
                    cwd=TESTS, env=child_env(devices), stdout=stdout, stderr=stderr,
                ))
        deadline = time.monotonic() + timeout
        try:
            while any(child.poll() is None for child in children):
                failed = any(child.returncode not in (None, 0) for child in children)
                if failed or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        reports = [
            f"child {argv} exited with {child.returncode}:\n{err.read_text()[-3000:]}"
            for argv, child, (_, err) in zip(argvs, children, outputs)
        ]
        timed_out = " (killed after the time limit)" if time.monotonic() > deadline else ""
        assert all(child.returncode == 0 for child in children), timed_out + "\n".join(reports)
        return [json.loads(out.read_text().strip().splitlines()[-1]) for out, _ in outputs]
