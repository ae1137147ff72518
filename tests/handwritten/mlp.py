"""A multilayer perceptron written by hand: the twin of `examples/mlp.eqx`."""

from collections.abc import Callable

import jax

import eqxdsl.runtime as eqx


class MLP(eqx.Module):
    """`depth` hidden Linear layers of size `width` with an activation, then a Linear head."""

    hidden: tuple[eqx.nn.Linear, ...]
    out: eqx.nn.Linear
    in_size: int = eqx.field(static=True)
    out_size: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    act: Callable[[jax.Array], jax.Array] = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        out_size: int,
        width: int = 64,
        depth: int = 2,
        act: Callable[[jax.Array], jax.Array] = jax.nn.relu,
        *,
        key: jax.Array,
    ):
        """Builds the layers; `key` is split between the hidden stack and the head."""
        hidden_key, out_key = jax.random.split(key, 2)
        in_sizes = [in_size] + [width] * (depth - 1)
        self.hidden = tuple(
            eqx.nn.Linear(n, width, key=k)
            for n, k in zip(in_sizes, jax.random.split(hidden_key, depth))
        )
        self.out = eqx.nn.Linear(width, out_size, key=out_key)
        self.in_size = in_size
        self.out_size = out_size
        self.width = width
        self.depth = depth
        self.act = act

    def __call__(self, x: jax.Array) -> jax.Array:
        """Maps one example `x` of shape `(in_size,)` to shape `(out_size,)`."""
        for layer in self.hidden:
            x = self.act(layer(x))
        return self.out(x)
