"""Train the GPT of `gpt.eqx` data parallel x tensor parallel on 8 simulated CPU devices.

`gpt.eqx` names the axes of its parameters in `axes:` blocks (`"vocab"`,
`"embed"`, `"heads"`, `"mlp"`, the stack's `"layers"`, the input's `"batch"`);
the rules below map those names to the axes of a `(data, model)` mesh. The
script trains the same model twice, on one device and sharded, prints how each
parameter is sharded, and compares the losses step by step.

    python examples/train_sharded.py                  # a (4, 2) mesh of 8 CPU devices
    python examples/train_sharded.py --mesh 8,1       # pure data parallelism
    python examples/train_sharded.py --json           # the results as one JSON line

JAX fixes the number of devices when it starts, so the script asks for 8
simulated CPU devices (`XLA_FLAGS=--xla_force_host_platform_device_count=8`)
before importing it, unless XLA_FLAGS already sets a device count. Imported as
a module it changes no flags: its rules, model, data and training step serve
any number of devices and processes (the multi-process test trains with them).
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
    os.environ.setdefault("JAX_PLATFORMS", "cpu")

import argparse  # noqa: E402 (jax must see the flags above when it is first imported)
import json  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec  # noqa: E402

import eqxdsl  # noqa: E402
import eqxdsl.runtime as eqx  # noqa: E402

gpt = eqxdsl.load(Path(__file__).with_name("gpt.eqx"))

#: Logical axis name -> mesh axis: batch rows over "data"; vocabulary, heads and
#: MLP hidden units over "model" (Megatron-style tensor parallelism); the rest replicated.
RULES = (
    ("batch", "data"),
    ("layers", None),
    ("vocab", "model"),
    ("embed", None),
    ("heads", "model"),
    ("mlp", "model"),
)
MESH_AXES = ("data", "model")
#: Names used only by inputs and activations, not by parameters (`check_sharding`'s data_names).
DATA_NAMES = tuple(sorted({name for axes in gpt.GPT.__input_axes__.values() for name in axes if name}))


def make_model(args: argparse.Namespace) -> Callable[[jax.Array], eqx.Module]:
    """`key -> GPT` with the sizes of `args`, for `make_sharded` (or to call directly)."""

    def make(key: jax.Array) -> eqx.Module:
        return gpt.GPT(vocab=args.vocab, ctx=args.ctx, dim=args.dim, heads=args.heads, depth=args.depth, p=args.dropout, key=key)

    return make


def batches(args: argparse.Namespace) -> np.ndarray:
    """`(steps, batch, ctx + 1)` token windows: inputs and, shifted by one, targets."""
    rng = np.random.default_rng(args.seed)
    return rng.integers(0, args.vocab, (args.steps, args.batch, args.ctx + 1), dtype=np.int32)


def loss_fn(model: eqx.Module, windows: jax.Array, key: jax.Array) -> jax.Array:
    keys = jax.random.split(key, windows.shape[0])
    logits = jax.vmap(lambda window, k: model(window[:-1], key=k))(windows, keys)
    return optax.softmax_cross_entropy_with_integer_labels(logits, windows[:, 1:]).mean()


def make_step(optimiser: optax.GradientTransformation) -> Callable:
    """`(model, opt_state, windows, key) -> (model, opt_state, loss)`: one jitted optimiser step."""

    @eqx.filter_jit
    def step(model, opt_state, windows, key):
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, windows, key)
        updates, opt_state = optimiser.update(grads, opt_state)
        return eqx.apply_updates(model, updates), opt_state, loss

    return step


def train(model: eqx.Module, inputs: Callable[[int], jax.Array], args: argparse.Namespace) -> tuple[eqx.Module, list[float]]:
    """Adam for `args.steps` steps; `inputs(i)` is the batch of step i. The model and the losses."""
    optimiser = optax.adam(args.learning_rate)
    opt_state = optimiser.init(eqx.filter(model, eqx.is_inexact_array))
    step = make_step(optimiser)
    losses = []
    for i, key in enumerate(jax.random.split(jax.random.key(args.seed + 1), args.steps)):
        model, opt_state, loss = step(model, opt_state, inputs(i), key)
        losses.append(loss)
    return model, [float(loss) for loss in losses]


def parameter_shardings(model: eqx.Module) -> dict[str, tuple[tuple[int, ...], list[str | None]]]:
    """Parameter path -> its shape and the mesh axis of each of its axes, as its sharding holds them."""
    result = {}
    for keys, leaf in jax.tree_util.tree_flatten_with_path(eqx.filter(model, eqx.is_array))[0]:
        spec = list(leaf.sharding.spec) + [None] * (leaf.ndim - len(leaf.sharding.spec))
        result[jax.tree_util.keystr(keys, simple=True, separator=".")] = (leaf.shape, spec)
    return result


def local_rows(mesh: jax.sharding.Mesh, batch_size: int) -> list[int]:
    """The rows of a batch sharded over "data" that this process's devices hold (all of them with one process)."""
    indices = NamedSharding(mesh, PartitionSpec("data")).addressable_devices_indices_map((batch_size,))
    return sorted({row for (rows,) in indices.values() for row in range(*rows.indices(batch_size))})


def train_sharded(mesh: jax.sharding.Mesh, data: np.ndarray, args: argparse.Namespace) -> tuple[dict, eqx.Module, list[float]]:
    """The model built directly sharded on `mesh`, then trained.

    `data` holds every global batch, `(steps, batch, ctx + 1)`, the same in every
    process; each process feeds only the rows its own devices hold. Returns the
    built model's shardings (as `parameter_shardings`), the trained model and the losses.
    """
    input_axes = gpt.GPT.__input_axes__["tokens"]
    rows = local_rows(mesh, data.shape[1])
    with eqx.logical_sharding(mesh, RULES):
        model = eqx.make_sharded(make_model(args), jax.random.key(args.seed), mesh=mesh, rules=RULES, data_names=DATA_NAMES)
        shardings = parameter_shardings(model)
        trained, losses = train(model, lambda i: eqx.from_process_local_data(data[i][rows], input_axes), args)
    return shardings, trained, losses


def print_report(mesh: jax.sharding.Mesh, shardings: dict, plain: list[float], sharded: list[float]) -> None:
    print(f"mesh {dict(mesh.shape)} over {mesh.devices.size} {jax.devices()[0].platform.upper()} devices")
    width = max(len(path) for path in shardings)
    print(f"\n{'parameter':<{width}}  {'shape':<16} mesh axes")
    for path, (shape, spec) in shardings.items():
        print(f"{path:<{width}}  {str(tuple(shape)):<16} {tuple(spec)}")
    print(f"\n{'step':>4}  {'one device':>12}  {'sharded':>12}  relative difference")
    for step, (one, many) in enumerate(zip(plain, sharded), start=1):
        print(f"{step:>4}  {one:>12.6f}  {many:>12.6f}  {abs(many - one) / abs(one):.1e}")


def command_line() -> argparse.ArgumentParser:
    """The script's options; `command_line().parse_args([])` are the sizes and settings it trains with by default."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mesh", default="4,2", help="the (data, model) mesh shape, e.g. 4,2 or 8,1")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=64)
    parser.add_argument("--ctx", type=int, default=16)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the results as one JSON line instead of a report")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = command_line()
    args = parser.parse_args(argv)
    shape = tuple(int(size) for size in args.mesh.split(","))
    if len(shape) != 2 or shape[0] * shape[1] > jax.device_count():
        parser.error(f"--mesh {args.mesh}: two sizes whose product is at most the {jax.device_count()} devices")

    data = batches(args)
    _, plain = train(make_model(args)(jax.random.key(args.seed)), lambda i: data[i], args)
    mesh = jax.make_mesh(shape, MESH_AXES, devices=jax.devices()[: shape[0] * shape[1]])
    shardings, _, sharded = train_sharded(mesh, data, args)
    if args.json:
        specs = {path: spec for path, (_, spec) in shardings.items()}
        print(json.dumps({"mesh": dict(mesh.shape), "specs": specs, "plain": plain, "sharded": sharded}))
    else:
        print_report(mesh, shardings, plain, sharded)


if __name__ == "__main__":
    main()
