"""`MLP`: a stack of `Linear` layers with an activation between them, optionally
applied as one `lax.scan` over stacked hidden layers to keep compile time flat."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax

from .._module import Module, field
from ._linear import Linear
from ._misc import check_shape, default_floating_dtype


def _identity(x: jax.Array) -> jax.Array:
    return x


class MLP(Module):
    """Multi-layer perceptron.

    Input shape ``(in_size,)`` (``()`` for ``"scalar"``); output ``(out_size,)``
    (``()`` for ``"scalar"``). ``layers`` holds ``depth + 1`` ``Linear`` layers, or
    with ``scan=True`` three: the input layer, the ``depth - 1`` hidden layers stacked
    along a leading axis, and the output layer.
    """

    layers: tuple[Linear, ...]
    activation: Callable[[jax.Array], jax.Array] = field(static=True)
    final_activation: Callable[[jax.Array], jax.Array] = field(static=True)
    use_bias: bool = field(static=True)
    use_final_bias: bool = field(static=True)
    in_size: int | Literal["scalar"] = field(static=True)
    out_size: int | Literal["scalar"] = field(static=True)
    width_size: int = field(static=True)
    depth: int = field(static=True)
    scan: bool = field(static=True)

    def __init__(
        self,
        in_size: int | Literal["scalar"],
        out_size: int | Literal["scalar"],
        width_size: int,
        depth: int,
        activation: Callable[[jax.Array], jax.Array] = jax.nn.relu,
        final_activation: Callable[[jax.Array], jax.Array] = _identity,
        use_bias: bool = True,
        use_final_bias: bool = True,
        dtype: Any = None,
        *,
        scan: bool = False,
        key: jax.Array,
    ):
        """**Arguments:**

        - ``in_size``, ``out_size``: input and output sizes (or ``"scalar"``).
        - ``width_size``: size of every hidden layer.
        - ``depth``: number of hidden layers; ``0`` gives a single ``Linear``.
        - ``activation``: elementwise function after each hidden layer (ReLU). It is
          a static field: a stateless function, not a layer with parameters.
        - ``final_activation``: elementwise function after the output layer (identity).
        - ``use_bias``: biases on the input and hidden layers.
        - ``use_final_bias``: bias on the output layer.
        - ``dtype``: parameter dtype (float32, or float64 under x64).
        - ``scan``: apply the hidden layers with ``lax.scan`` (keyword only).
        - ``key``: PRNG key, split into ``depth + 1`` layer keys (keyword only).
        """
        dtype = default_floating_dtype() if dtype is None else dtype
        keys = jax.random.split(key, depth + 1)
        if depth == 0:
            layers = [Linear(in_size, out_size, use_final_bias, dtype, key=keys[0])]
        else:

            def hidden(layer_key: jax.Array) -> Linear:
                return Linear(width_size, width_size, use_bias, dtype, key=layer_key)

            layers = [Linear(in_size, width_size, use_bias, dtype, key=keys[0])]
            if scan:
                layers.append(jax.vmap(hidden)(keys[1:depth]))
            else:
                layers.extend(hidden(keys[i]) for i in range(1, depth))
            layers.append(Linear(width_size, out_size, use_final_bias, dtype, key=keys[-1]))
        self.layers = tuple(layers)
        self.activation = activation
        self.final_activation = final_activation
        self.use_bias = use_bias
        self.use_final_bias = use_final_bias
        self.in_size = in_size
        self.out_size = out_size
        self.width_size = width_size
        self.depth = depth
        self.scan = scan

    def __call__(self, x: jax.Array, *, key: jax.Array | None = None) -> jax.Array:
        """Apply the network to one input ``x``; ``key`` is ignored."""
        check_shape(
            f"MLP(in_size={self.in_size!r})",
            x,
            () if self.in_size == "scalar" else (self.in_size,),
        )
        if self.depth > 0:
            x = self.activation(self.layers[0](x))
            if self.scan:

                def step(h: jax.Array, layer: Linear) -> tuple[jax.Array, None]:
                    return self.activation(layer(h)), None

                x, _ = jax.lax.scan(step, x, self.layers[1])
            else:
                for layer in self.layers[1:-1]:
                    x = self.activation(layer(x))
        return self.final_activation(self.layers[-1](x))
