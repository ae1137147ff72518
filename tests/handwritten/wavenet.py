"""WaveNet written by hand: the twin of `examples/wavenet.eqx`."""

import jax
import jax.numpy as jnp

import eqxdsl.runtime as eqx


class ResidualLayer(eqx.Module):
    """A gated causal convolution of width 2 dilated by `dilation`; gives the residual and the skip output."""

    filter: eqx.nn.Conv1d
    gate: eqx.nn.Conv1d
    residual: eqx.nn.Conv1d
    skipped: eqx.nn.Conv1d
    channels: int = eqx.field(static=True)
    skip: int = eqx.field(static=True)
    dilation: int = eqx.field(static=True)

    def __init__(self, channels: int, skip: int, dilation: int = 1, *, key: jax.Array):
        """Left padding of `dilation` keeps each output from seeing later samples."""
        filter_key, gate_key, residual_key, skipped_key = jax.random.split(key, 4)
        causal = dict(kernel_size=2, padding=((dilation, 0),), dilation=dilation)
        self.filter = eqx.nn.Conv1d(channels, channels, **causal, key=filter_key)
        self.gate = eqx.nn.Conv1d(channels, channels, **causal, key=gate_key)
        self.residual = eqx.nn.Conv1d(channels, channels, 1, key=residual_key)
        self.skipped = eqx.nn.Conv1d(channels, skip, 1, key=skipped_key)
        self.channels = channels
        self.skip = skip
        self.dilation = dilation

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Maps `(channels, T)` to the residual `(channels, T)` and the skip `(skip, T)`."""
        h = jnp.tanh(self.filter(x)) * jax.nn.sigmoid(self.gate(x))
        return x + self.residual(h), self.skipped(h)


class WaveNet(eqx.Module):
    """Predicts the next sample's class at every step of a sequence of sample classes."""

    embed: eqx.nn.Embedding
    layers: tuple[ResidualLayer, ...]
    hidden: eqx.nn.Conv1d
    logits: eqx.nn.Conv1d
    classes: int = eqx.field(static=True)
    channels: int = eqx.field(static=True)
    skip: int = eqx.field(static=True)
    dilations: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        classes: int = 256,
        channels: int = 32,
        skip: int = 64,
        dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
        *,
        key: jax.Array,
    ):
        """One residual layer per entry of `dilations`."""
        embed_key, layers_key, hidden_key, logits_key = jax.random.split(key, 4)
        self.embed = eqx.nn.Embedding(classes, channels, key=embed_key)
        layer_keys = jax.random.split(layers_key, len(dilations))
        self.layers = tuple(
            ResidualLayer(channels, skip, d, key=k) for d, k in zip(dilations, layer_keys)
        )
        self.hidden = eqx.nn.Conv1d(skip, skip, 1, key=hidden_key)
        self.logits = eqx.nn.Conv1d(skip, classes, 1, key=logits_key)
        self.classes = classes
        self.channels = channels
        self.skip = skip
        self.dilations = dilations

    def __call__(self, tokens: jax.Array) -> jax.Array:
        """Maps integer samples `(T,)` to next-sample logits `(classes, T)`."""
        x = jax.vmap(self.embed)(tokens).T
        skips = jnp.zeros((self.skip, tokens.shape[0]))
        for layer in self.layers:
            x, s = layer(x)
            skips = skips + s
        return self.logits(jax.nn.relu(self.hidden(jax.nn.relu(skips))))
