"""A small GPT-like decoder that names its axes, and its training loop.

Written as a user would write it by hand with `eqxdsl.runtime`; the same code
trains on one device, on a data x model mesh and across processes. The tables
are what the compiler emits for a spec's logical axis names.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

import eqxdsl.runtime as eqx

RULES = (
    ("batch", "data"),
    ("layers", None),
    ("vocab", "model"),
    ("embed", None),
    ("heads", "model"),
    ("mlp", "model"),
)
SIZES = dict(vocab=64, ctx=16, dim=32, heads=4, depth=2)
BATCH = 16
STEPS = 20


class Block(eqx.Module):
    """Pre-norm causal self-attention and an MLP, both residual; `(T, dim) -> (T, dim)`."""

    __logical_axes__ = {
        "attn.query_proj.weight": ("heads", "embed"),
        "attn.key_proj.weight": ("heads", "embed"),
        "attn.value_proj.weight": ("heads", "embed"),
        "attn.output_proj.weight": ("embed", "heads"),
        "fc.weight": ("mlp", "embed"),
        "fc.bias": ("mlp",),
        "proj.weight": ("embed", "mlp"),
    }

    ln1: eqx.nn.LayerNorm
    attn: eqx.nn.MultiheadAttention
    ln2: eqx.nn.LayerNorm
    fc: eqx.nn.Linear
    proj: eqx.nn.Linear

    def __init__(self, dim: int, heads: int, *, key: jax.Array):
        attn_key, fc_key, proj_key = jax.random.split(key, 3)
        self.ln1 = eqx.nn.LayerNorm(dim)
        self.attn = eqx.nn.MultiheadAttention(num_heads=heads, query_size=dim, key=attn_key)
        self.ln2 = eqx.nn.LayerNorm(dim)
        self.fc = eqx.nn.Linear(dim, 4 * dim, key=fc_key)
        self.proj = eqx.nn.Linear(4 * dim, dim, key=proj_key)

    def __call__(self, x: jax.Array) -> jax.Array:
        T = x.shape[0]
        h = jax.vmap(self.ln1)(x)
        x = x + self.attn(h, h, h, mask=jnp.tril(jnp.ones((T, T), dtype=bool)))
        h = jax.nn.gelu(jax.vmap(self.fc)(jax.vmap(self.ln2)(x)))
        h = eqx.with_logical_constraint(h, (None, "mlp"))
        return eqx.with_logical_constraint(x + jax.vmap(self.proj)(h), (None, "embed"))


class TinyGPT(eqx.Module):
    """Token and position embeddings, `depth` scanned blocks, a head tied to the embedding."""

    __logical_axes__ = {
        "embed.weight": ("vocab", "embed"),
        "pos": (None, "embed"),
        "blocks": ("layers",),
    }

    embed: eqx.nn.Embedding
    pos: jax.Array
    blocks: Block  # `depth` blocks, parameters stacked on a leading axis
    ln: eqx.nn.LayerNorm

    def __init__(self, vocab: int, ctx: int, dim: int, heads: int, depth: int, *, key: jax.Array):
        embed_key, pos_key, blocks_key = jax.random.split(key, 3)
        self.embed = eqx.nn.Embedding(vocab, dim, key=embed_key)
        self.pos = 0.02 * jax.random.normal(pos_key, (ctx, dim))
        self.blocks = eqx.filter_vmap(lambda k: Block(dim, heads, key=k))(jax.random.split(blocks_key, depth))
        self.ln = eqx.nn.LayerNorm(dim)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        """Integer tokens `(T,)` -> next-token logits `(T, vocab)`."""
        x = jax.vmap(self.embed)(tokens) + self.pos[: tokens.shape[0]]
        params, static = eqx.partition(self.blocks, eqx.is_array)
        x, _ = jax.lax.scan(lambda x, p: (eqx.combine(p, static)(x), None), x, params)
        return jax.vmap(self.ln)(x) @ self.embed.weight.T


def make_model(key: jax.Array) -> TinyGPT:
    return TinyGPT(**SIZES, key=key)


def batches(steps: int = STEPS) -> np.ndarray:
    """`(steps, BATCH, ctx + 1)` token sequences, the same in every process."""
    rng = np.random.default_rng(0)
    return rng.integers(0, SIZES["vocab"], (steps, BATCH, SIZES["ctx"] + 1), dtype=np.int32)


def loss_fn(model: TinyGPT, batch: jax.Array) -> jax.Array:
    logits = jax.vmap(model)(batch[:, :-1])
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch[:, 1:]).mean()


def make_step(optimiser: optax.GradientTransformation) -> Callable:
    """`(model, opt_state, batch) -> (model, opt_state, loss)`: one jitted optimiser step."""

    @eqx.filter_jit
    def step(model, opt_state, batch):
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, batch)
        updates, opt_state = optimiser.update(grads, opt_state)
        return eqx.apply_updates(model, updates), opt_state, loss

    return step


def train(model: TinyGPT, inputs: Callable[[int], jax.Array], steps: int = STEPS) -> tuple[TinyGPT, list[float]]:
    """Adam for `steps` steps; `inputs(i)` is the batch of step i. Returns the model and losses."""
    optimiser = optax.adam(3e-3)
    opt_state = optimiser.init(eqx.filter(model, eqx.is_inexact_array))
    step = make_step(optimiser)
    losses = []
    for i in range(steps):
        model, opt_state, loss = step(model, opt_state, inputs(i))
        losses.append(loss)
    return model, [float(loss) for loss in losses]
