"""filter_shard on 8 simulated CPU devices (in a subprocess, so other tests keep one device)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from eqxdsl.runtime import filter_shard

SCRIPT = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from eqxdsl.runtime import Module, field, filter_jit, filter_shard, named_shardings

    assert len(jax.devices()) == 8, jax.devices()

    class Model(Module):
        __logical_axes__ = {"weight": ("embed", "hidden")}
        weight: jax.Array
        bias: jax.Array
        name: str = field(static=True, default="m")

        def __call__(self, x):
            return x @ self.weight + self.bias

    mesh = Mesh(np.array(jax.devices()).reshape(4, 2), ("data", "model"))
    replicated = NamedSharding(mesh, P())
    by_model = NamedSharding(mesh, P(None, "model"))
    by_data = NamedSharding(mesh, P("data"))

    model = Model(jnp.ones((4, 6)), jnp.zeros(6))
    model = filter_shard(model, Model(by_model, replicated))
    assert model.weight.sharding == by_model and model.bias.sharding == replicated and model.name == "m"
    # Shardings from logical names (None at non-array leaves) are accepted as they are.
    logical = filter_shard(Model(jnp.ones((4, 6)), jnp.zeros(6)), named_shardings(model, mesh, [("embed", None), ("hidden", "model")]))
    assert logical.weight.sharding.spec == P(None, "model") and logical.bias.sharding.spec == P()
    assert logical.weight.sharding.mesh.devices.tolist() == mesh.devices.tolist() and logical.name == "m"
    x = filter_shard(jnp.ones((8, 4)), by_data)
    assert x.sharding == by_data

    @filter_jit
    def step(model, x):
        y = model(x)
        return filter_shard((y, "tag"), by_data)

    y, tag = step(model, x)
    assert tag == "tag" and y.shape == (8, 6) and np.allclose(y, 4.0)
    assert y.sharding.is_equivalent_to(by_data, 2), y.sharding
    print("OK")
    """
)


def test_filter_shard_on_a_mesh_of_eight_cpu_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("OK")


def test_filter_shard_on_one_device_leaves_non_arrays_alone():
    device = jax.devices()[0]
    out = filter_shard({"w": np.ones(2), "n": 3, "f": jnp.sum}, device)
    assert isinstance(out["w"], jax.Array) and out["w"].devices() == {device}
    assert out["n"] == 3 and out["f"] is jnp.sum
    traced = jax.jit(lambda x: filter_shard(x, device) * 2)(jnp.ones(2))
    assert np.array_equal(traced, [2.0, 2.0])
