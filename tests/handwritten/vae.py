"""A variational autoencoder written by hand: the twin of `examples/vae.eqx`."""

import jax
import jax.numpy as jnp

import eqxdsl.runtime as eqx

from .mlp import MLP


class VAE(eqx.Module):
    """An MLP encoder to a diagonal Gaussian, a reparameterised sample, an MLP decoder."""

    enc: MLP
    dec: MLP
    size: int = eqx.field(static=True)
    latent: int = eqx.field(static=True)
    width: int = eqx.field(static=True)

    def __init__(
        self, size: int = 64, latent: int = 8, width: int = 128, *, key: jax.Array
    ):
        """Builds the encoder and the decoder from one key."""
        enc_key, dec_key = jax.random.split(key, 2)
        self.enc = MLP(size, 2 * latent, width=width, depth=2, key=enc_key)
        self.dec = MLP(latent, size, width=width, depth=2, key=dec_key)
        self.size = size
        self.latent = latent
        self.width = width

    def encode(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Maps `x` of shape `(size,)` to the mean and log-variance, each `(latent,)`."""
        mean, logvar = jnp.split(self.enc(x), 2)
        return mean, logvar

    def decode(self, z: jax.Array) -> jax.Array:
        """Maps a latent `z` of shape `(latent,)` to a reconstruction `(size,)`."""
        return self.dec(z)

    def __call__(
        self, x: jax.Array, *, key: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Encodes `x`, samples a latent with `key`, returns (reconstruction, mean, logvar)."""
        mean, logvar = self.encode(x)
        z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key, (self.latent,))
        return self.decode(z), mean, logvar
