"""ResNet-18 written by hand: the twin of `examples/resnet.eqx`."""

import jax
import jax.numpy as jnp

import eqxdsl.runtime as eqx
from handwritten.resnet_block import BasicBlock


class Stage(eqx.Module):
    """`depth` basic blocks; the first one moves to `out` channels and strides by `stride`."""

    blocks: tuple[BasicBlock, ...]
    out: int = eqx.field(static=True)
    stride: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    C: int = eqx.field(static=True)

    def __init__(
        self, out: int, stride: int = 1, depth: int = 2, *, C: int, key: jax.Array
    ):
        """`C` is the number of input channels; only the first block sees it."""
        keys = jax.random.split(key, depth)
        blocks = [BasicBlock(out, stride, C=C, key=keys[0])]
        blocks += [BasicBlock(out, 1, C=out, key=k) for k in keys[1:]]
        self.blocks = tuple(blocks)
        self.out = out
        self.stride = stride
        self.depth = depth
        self.C = C

    def __call__(
        self, x: jax.Array, state: eqx.nn.State, *, inference: bool | None = None
    ) -> tuple[jax.Array, eqx.nn.State]:
        """Maps `(C, H, W)` to `(out, H', W')`, threading the batch norms' `state`."""
        for block in self.blocks:
            x, state = block(x, state, inference=inference)
        return x, state


class ResNet(eqx.Module):
    """ResNet-18 for images (3, H, W): stages of `depth` basic blocks, one per width and stride."""

    stem: eqx.nn.Conv2d
    bn: eqx.nn.BatchNorm
    pool: eqx.nn.MaxPool2d
    stages: tuple[Stage, ...]
    head: eqx.nn.Linear
    classes: int = eqx.field(static=True)
    widths: tuple[int, ...] = eqx.field(static=True)
    strides: tuple[int, ...] = eqx.field(static=True)
    depth: int = eqx.field(static=True)

    def __init__(
        self,
        classes: int = 1000,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        strides: tuple[int, ...] = (1, 2, 2, 2),
        depth: int = 2,
        *,
        key: jax.Array,
    ):
        """One stage per entry of `widths` and `strides`, which must have the same length."""
        if len(widths) != len(strides):
            raise ValueError("widths and strides must have the same length")
        stem_key, stages_key, head_key = jax.random.split(key, 3)
        self.stem = eqx.nn.Conv2d(
            3, widths[0], kernel_size=7, stride=2, padding=3, use_bias=False, key=stem_key
        )
        self.bn = eqx.nn.BatchNorm(widths[0], axis_name="batch", mode="batch")
        self.pool = eqx.nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        in_channels = (widths[0],) + tuple(widths[:-1])
        self.stages = tuple(
            Stage(w, s, depth, C=c, key=k)
            for w, s, c, k in zip(
                widths, strides, in_channels, jax.random.split(stages_key, len(widths))
            )
        )
        self.head = eqx.nn.Linear(widths[-1], classes, key=head_key)
        self.classes = classes
        self.widths = widths
        self.strides = strides
        self.depth = depth

    def __call__(
        self, x: jax.Array, state: eqx.nn.State, *, inference: bool | None = None
    ) -> tuple[jax.Array, eqx.nn.State]:
        """Maps one image `(3, H, W)` to `(classes,)` logits, threading `state`."""
        x, state = self.bn(self.stem(x), state, inference=inference)
        x = self.pool(jax.nn.relu(x))
        for stage in self.stages:
            x, state = stage(x, state, inference=inference)
        return self.head(jnp.mean(x, axis=(1, 2))), state
