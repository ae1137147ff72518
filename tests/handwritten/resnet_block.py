"""A residual CNN block with BatchNorm written by hand: the twin of `examples/resnet_block.eqx`."""

import jax

import eqxdsl.runtime as eqx


class BasicBlock(eqx.Module):
    """Two 3x3 convolutions with batch norm and a skip connection (ResNet's basic block).

    The skip is projected by a strided 1x1 convolution when the block changes the
    resolution or the number of channels. Call it under `jax.vmap(...,
    axis_name="batch")`; build it with `eqx.nn.make_with_state(BasicBlock)`.
    """

    conv1: eqx.nn.Conv2d
    bn1: eqx.nn.BatchNorm
    conv2: eqx.nn.Conv2d
    bn2: eqx.nn.BatchNorm
    proj: eqx.nn.Conv2d | None
    bnp: eqx.nn.BatchNorm | None
    out: int = eqx.field(static=True)
    stride: int = eqx.field(static=True)

    def __init__(self, out: int, stride: int = 1, *, C: int, key: jax.Array):
        """`C` is the number of input channels; `out` the number of output channels."""
        conv1_key, conv2_key, proj_key = jax.random.split(key, 3)
        self.conv1 = eqx.nn.Conv2d(
            C,
            out,
            kernel_size=3,
            stride=stride,
            padding=1,
            use_bias=False,
            key=conv1_key,
        )
        self.bn1 = eqx.nn.BatchNorm(out, axis_name="batch", mode="batch")
        self.conv2 = eqx.nn.Conv2d(
            out, out, kernel_size=3, padding=1, use_bias=False, key=conv2_key
        )
        self.bn2 = eqx.nn.BatchNorm(out, axis_name="batch", mode="batch")
        if stride != 1 or C != out:
            self.proj = eqx.nn.Conv2d(
                C, out, kernel_size=1, stride=stride, use_bias=False, key=proj_key
            )
            self.bnp = eqx.nn.BatchNorm(out, axis_name="batch", mode="batch")
        else:
            self.proj = None
            self.bnp = None
        self.out = out
        self.stride = stride

    def __call__(
        self, x: jax.Array, state: eqx.nn.State, *, inference: bool | None = None
    ) -> tuple[jax.Array, eqx.nn.State]:
        """Maps one example `(C, H, W)` to `(out, H // stride, W // stride)`, threading `state`.

        `inference` overrides the batch norms' own flag (which
        `eqx.nn.inference_mode` sets) when given.
        """
        h = self.conv1(x)
        h, state = self.bn1(h, state, inference=inference)
        h = self.conv2(jax.nn.relu(h))
        h, state = self.bn2(h, state, inference=inference)
        if self.proj is None:
            skip = x
        else:
            skip, state = self.bnp(self.proj(x), state, inference=inference)
        return jax.nn.relu(h + skip), state
