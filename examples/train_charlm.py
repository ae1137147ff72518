"""Train the GPT of `gpt.eqx` as a character-level language model on the Zen of Python.

The text ships with Python itself: the standard library's `this` module holds
it, rot13-encoded. The script prints the loss as it falls, then samples a few
lines from the trained model.

    python examples/train_charlm.py
"""

import codecs
import contextlib
import io
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import eqxdsl
import eqxdsl.runtime as eqx

gpt = eqxdsl.load(Path(__file__).with_name("gpt.eqx"))

CONTEXT = 48
STEPS = 1000
BATCH_SIZE = 16
LEARNING_RATE = 3e-3
SEED = 0


def zen_of_python() -> str:
    with contextlib.redirect_stdout(io.StringIO()):  # importing `this` prints the text
        import this
    return codecs.decode(this.s, "rot13")


def main():
    text = zen_of_python()
    alphabet = sorted(set(text))
    data = np.array([alphabet.index(c) for c in text], dtype=np.int32)
    print(f"{len(text)} characters, {len(alphabet)} distinct")

    model_key, train_key, sample_key = jax.random.split(jax.random.key(SEED), 3)
    model = gpt.GPT(
        vocab=len(alphabet), ctx=CONTEXT, dim=64, heads=4, depth=2, p=0.1, key=model_key
    )
    optimiser = optax.adamw(LEARNING_RATE, weight_decay=0.01)
    opt_state = optimiser.init(eqx.filter(model, eqx.is_inexact_array))

    def loss_fn(model, windows, key):
        # Each window of CONTEXT + 1 characters: predict characters 1.. from 0..
        keys = jax.random.split(key, windows.shape[0])
        logits = jax.vmap(lambda w, k: model(w[:-1], key=k))(windows, keys)
        return optax.softmax_cross_entropy_with_integer_labels(
            logits, windows[:, 1:]
        ).mean()

    @eqx.filter_jit
    def train_step(model, opt_state, windows, key):
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, windows, key)
        updates, opt_state = optimiser.update(
            grads, opt_state, eqx.filter(model, eqx.is_inexact_array)
        )
        return eqx.apply_updates(model, updates), opt_state, loss

    # The first loss is large: the head is tied to an embedding drawn from N(0, 1),
    # as Equinox initialises embeddings, so the initial logits are far from uniform.
    rng = np.random.default_rng(SEED)
    offsets = np.arange(CONTEXT + 1)
    for step, step_key in enumerate(jax.random.split(train_key, STEPS), start=1):
        starts = rng.integers(0, len(data) - CONTEXT - 1, size=BATCH_SIZE)
        model, opt_state, loss = train_step(
            model, opt_state, data[starts[:, None] + offsets], step_key
        )
        if step == 1 or step % 100 == 0:
            print(f"step {step:4d}  loss {float(loss):.3f}")

    @eqx.filter_jit
    def next_logits(model, window, position):
        # The mask is causal, so padding after `position` does not change its logits.
        return model(window, inference=True)[position]

    prompt = "Beautiful is"
    tokens = [alphabet.index(c) for c in prompt]
    for key in jax.random.split(sample_key, 200):
        window = np.zeros(CONTEXT, dtype=np.int32)
        recent = tokens[-CONTEXT:]
        window[: len(recent)] = recent
        logits = next_logits(model, window, jnp.asarray(len(recent) - 1))
        tokens.append(int(jax.random.categorical(key, logits / 0.8)))
    print("sample:\n" + "".join(alphabet[t] for t in tokens))


if __name__ == "__main__":
    main()
