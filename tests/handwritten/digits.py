"""A CNN for 8x8 digit images written by hand: the twin of `examples/digits.eqx`."""

import jax
import jax.numpy as jnp

import eqxdsl.runtime as eqx


class DigitsCNN(eqx.Module):
    """Two 3x3 convolutions, a 2x2 max pool, dropout and a linear head."""

    conv1: eqx.nn.Conv2d
    conv2: eqx.nn.Conv2d
    pool: eqx.nn.MaxPool2d
    drop: eqx.nn.Dropout
    head: eqx.nn.Linear
    num_classes: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    p: float = eqx.field(static=True)

    def __init__(
        self, num_classes: int = 10, width: int = 16, p: float = 0.1, *, key: jax.Array
    ):
        """Builds the layers; sizes follow from the `(1, 8, 8)` input."""
        conv1_key, conv2_key, head_key = jax.random.split(key, 3)
        self.conv1 = eqx.nn.Conv2d(1, width, kernel_size=3, padding=1, key=conv1_key)
        self.conv2 = eqx.nn.Conv2d(
            width, 2 * width, kernel_size=3, padding=1, key=conv2_key
        )
        self.pool = eqx.nn.MaxPool2d(kernel_size=2, stride=2)
        self.drop = eqx.nn.Dropout(p)
        # After the pool: 2 * width channels of 4x4.
        self.head = eqx.nn.Linear(2 * width * 4 * 4, num_classes, key=head_key)
        self.num_classes = num_classes
        self.width = width
        self.p = p

    def __call__(
        self,
        x: jax.Array,
        *,
        key: jax.Array | None = None,
        inference: bool | None = None,
    ) -> jax.Array:
        """Maps one image of shape `(1, 8, 8)` to `(num_classes,)` logits.

        `key` drives the dropout; it may be omitted in inference mode. `inference`,
        when given, overrides the dropout's own flag (which `eqx.nn.inference_mode` sets).
        """
        x = jax.nn.relu(self.conv1(x))
        x = jax.nn.relu(self.conv2(x))
        x = jnp.ravel(self.pool(x))
        x = self.drop(x, key=key, inference=inference)
        return self.head(x)
