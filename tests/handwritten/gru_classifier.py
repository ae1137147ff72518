"""A GRU sequence classifier written by hand: the twin of `examples/gru_classifier.eqx`."""

import jax
import jax.numpy as jnp

import eqxdsl.runtime as eqx


class GRUClassifier(eqx.Module):
    """Embeds a token sequence, runs a GRU over it and classifies its last hidden state."""

    embed: eqx.nn.Embedding
    cell: eqx.nn.GRUCell
    head: eqx.nn.Linear
    vocab: int = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    hidden: int = eqx.field(static=True)
    classes: int = eqx.field(static=True)

    def __init__(
        self,
        vocab: int = 50,
        dim: int = 32,
        hidden: int = 64,
        classes: int = 4,
        *,
        key: jax.Array,
    ):
        """Builds the embedding, the cell and the head from one key."""
        embed_key, cell_key, head_key = jax.random.split(key, 3)
        self.embed = eqx.nn.Embedding(vocab, dim, key=embed_key)
        self.cell = eqx.nn.GRUCell(dim, hidden, key=cell_key)
        self.head = eqx.nn.Linear(hidden, classes, key=head_key)
        self.vocab = vocab
        self.dim = dim
        self.hidden = hidden
        self.classes = classes

    def __call__(self, tokens: jax.Array) -> jax.Array:
        """Maps integer tokens of shape `(T,)` to `(classes,)` logits."""

        def step(h, e):
            return self.cell(e, h), None

        h, _ = jax.lax.scan(step, jnp.zeros(self.hidden), jax.vmap(self.embed)(tokens))
        return self.head(h)
