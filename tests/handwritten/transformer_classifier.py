"""A padded-sequence transformer classifier written by hand: the twin of `examples/transformer_classifier.eqx`."""

import jax
import jax.numpy as jnp

import eqxdsl.runtime as eqx

from .mlp import MLP


class Encoder(eqx.Module):
    """A pre-norm transformer block: masked self-attention then an MLP, both residual."""

    ln1: eqx.nn.LayerNorm
    attn: eqx.nn.MultiheadAttention
    ln2: eqx.nn.LayerNorm
    mlp: MLP
    drop: eqx.nn.Dropout
    dim: int = eqx.field(static=True)
    heads: int = eqx.field(static=True)
    p: float = eqx.field(static=True)

    def __init__(self, dim: int, heads: int, p: float = 0.1, *, key: jax.Array):
        """Builds the block; `dim` must be divisible by `heads`."""
        attn_key, mlp_key = jax.random.split(key, 2)
        self.ln1 = eqx.nn.LayerNorm(dim)
        self.attn = eqx.nn.MultiheadAttention(
            num_heads=heads, query_size=dim, dropout_p=p, key=attn_key
        )
        self.ln2 = eqx.nn.LayerNorm(dim)
        self.mlp = MLP(dim, dim, width=2 * dim, depth=1, act=jax.nn.gelu, key=mlp_key)
        self.drop = eqx.nn.Dropout(p)
        self.dim = dim
        self.heads = heads
        self.p = p

    def __call__(
        self,
        x: jax.Array,
        mask: jax.Array,
        *,
        key: jax.Array | None = None,
        inference: bool | None = None,
    ) -> jax.Array:
        """Maps `(T, dim)` to `(T, dim)`; query t attends to key s where `mask[t, s]`."""
        if key is None:
            attn_key = attn_drop_key = mlp_drop_key = None
        else:
            attn_key, attn_drop_key, mlp_drop_key = jax.random.split(key, 3)
        h = jax.vmap(self.ln1)(x)
        h = self.attn(h, h, h, mask=mask, key=attn_key, inference=inference)
        x = x + self.drop(h, key=attn_drop_key, inference=inference)
        h = jax.vmap(self.mlp)(jax.vmap(self.ln2)(x))
        return x + self.drop(h, key=mlp_drop_key, inference=inference)


class TransformerClassifier(eqx.Module):
    """Embeds the tokens, runs `depth` encoder blocks that ignore padding, and classifies the mean of the real tokens."""

    embed: eqx.nn.Embedding
    pos: jax.Array
    blocks: tuple[Encoder, ...]
    ln: eqx.nn.LayerNorm
    head: eqx.nn.Linear
    vocab: int = eqx.field(static=True)
    ctx: int = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    heads: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    classes: int = eqx.field(static=True)
    pad: int = eqx.field(static=True)
    p: float = eqx.field(static=True)

    def __init__(
        self,
        vocab: int = 1000,
        ctx: int = 128,
        dim: int = 64,
        heads: int = 4,
        depth: int = 2,
        classes: int = 2,
        pad: int = 0,
        p: float = 0.1,
        *,
        key: jax.Array,
    ):
        """Builds the model; sequences may be at most `ctx` tokens long, `pad` marks padding."""
        embed_key, pos_key, blocks_key, head_key = jax.random.split(key, 4)
        self.embed = eqx.nn.Embedding(vocab, dim, key=embed_key)
        self.pos = 0.02 * jax.random.normal(pos_key, (ctx, dim))
        self.blocks = tuple(
            Encoder(dim, heads, p, key=k) for k in jax.random.split(blocks_key, depth)
        )
        self.ln = eqx.nn.LayerNorm(dim)
        self.head = eqx.nn.Linear(dim, classes, key=head_key)
        self.vocab = vocab
        self.ctx = ctx
        self.dim = dim
        self.heads = heads
        self.depth = depth
        self.classes = classes
        self.pad = pad
        self.p = p

    def __call__(
        self,
        tokens: jax.Array,
        *,
        key: jax.Array | None = None,
        inference: bool | None = None,
    ) -> jax.Array:
        """Maps integer tokens `(T,)`, padded with `pad`, to `(classes,)` logits."""
        T = tokens.shape[0]
        keep = tokens != self.pad
        mask = keep[:, None] & keep[None, :]
        x = jax.vmap(self.embed)(tokens) + self.pos[:T]
        block_keys = (None,) * self.depth if key is None else jax.random.split(key, self.depth)
        for block, block_key in zip(self.blocks, block_keys):
            x = block(x, mask, key=block_key, inference=inference)
        real = jnp.where(keep, 1.0, 0.0)
        pooled = jnp.sum(jax.vmap(self.ln)(x) * real[:, None], axis=0) / jnp.sum(real)
        return self.head(pooled)
