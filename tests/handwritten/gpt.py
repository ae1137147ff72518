"""A GPT-style decoder written by hand: the twin of `examples/gpt.eqx`."""

import jax
import jax.numpy as jnp

import eqxdsl.runtime as eqx

from .mlp import MLP


class Block(eqx.Module):
    """A pre-norm transformer block: causal self-attention then an MLP, both residual."""

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
        self.mlp = MLP(dim, dim, width=4 * dim, depth=1, act=jax.nn.gelu, key=mlp_key)
        self.drop = eqx.nn.Dropout(p)
        self.dim = dim
        self.heads = heads
        self.p = p

    def __call__(
        self,
        x: jax.Array,
        *,
        key: jax.Array | None = None,
        inference: bool | None = None,
    ) -> jax.Array:
        """Maps a sequence `(T, dim)` to `(T, dim)`; position t attends to positions <= t.

        `key` drives the dropout (it may be omitted in inference mode); `inference`,
        when given, overrides the layers' own flags.
        """
        if key is None:
            attn_key = attn_drop_key = mlp_drop_key = None
        else:
            attn_key, attn_drop_key, mlp_drop_key = jax.random.split(key, 3)
        T = x.shape[0]
        causal_mask = jnp.tril(jnp.ones((T, T), dtype=bool))
        h = jax.vmap(self.ln1)(x)
        h = self.attn(h, h, h, mask=causal_mask, key=attn_key, inference=inference)
        x = x + self.drop(h, key=attn_drop_key, inference=inference)
        h = jax.vmap(self.mlp)(jax.vmap(self.ln2)(x))
        return x + self.drop(h, key=mlp_drop_key, inference=inference)


class GPT(eqx.Module):
    """Token and position embeddings, `depth` scanned blocks, a head tied to the embedding."""

    embed: eqx.nn.Embedding
    pos: jax.Array
    blocks: Block  # `depth` blocks with their parameters stacked on a leading axis
    ln: eqx.nn.LayerNorm
    vocab: int = eqx.field(static=True)
    ctx: int = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    heads: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    p: float = eqx.field(static=True)

    def __init__(
        self,
        vocab: int = 128,
        ctx: int = 32,
        dim: int = 64,
        heads: int = 4,
        depth: int = 4,
        p: float = 0.1,
        *,
        key: jax.Array,
    ):
        """Builds the model; sequences may be at most `ctx` tokens long."""
        embed_key, pos_key, blocks_key = jax.random.split(key, 3)
        self.embed = eqx.nn.Embedding(vocab, dim, key=embed_key)
        self.pos = 0.02 * jax.random.normal(pos_key, (ctx, dim))
        # One vmapped constructor call: a jit compile time that does not grow with depth.
        self.blocks = eqx.filter_vmap(lambda k: Block(dim, heads, p, key=k))(
            jax.random.split(blocks_key, depth)
        )
        self.ln = eqx.nn.LayerNorm(dim)
        self.vocab = vocab
        self.ctx = ctx
        self.dim = dim
        self.heads = heads
        self.depth = depth
        self.p = p

    def __call__(
        self,
        tokens: jax.Array,
        *,
        key: jax.Array | None = None,
        inference: bool | None = None,
    ) -> jax.Array:
        """Maps integer tokens `(T,)`, T <= ctx, to next-token logits `(T, vocab)`.

        `key` drives the dropout (it may be omitted in inference mode); `inference`,
        when given, overrides the layers' own flags.
        """
        T = tokens.shape[0]
        x = jax.vmap(self.embed)(tokens) + self.pos[:T]
        block_params, block_static = eqx.partition(self.blocks, eqx.is_array)

        def apply_block(x, params_and_key):
            params, block_key = params_and_key
            block = eqx.combine(params, block_static)
            return block(x, key=block_key, inference=inference), None

        block_keys = None if key is None else jax.random.split(key, self.depth)
        x, _ = jax.lax.scan(apply_block, x, (block_params, block_keys))
        return jax.vmap(self.ln)(x) @ self.embed.weight.T
