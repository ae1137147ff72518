"""Train the CNN of `digits.eqx` on the 8x8 digit images that scikit-learn ships.

The spec is compiled in memory by `eqxdsl.load`: no build step. The script
trains with optax's adam, reports the accuracy on a held-out quarter of the
images, saves the trained parameters, reloads them and checks the reloaded
model scores the same.

    python examples/train_digits.py
"""

import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from tqdm import tqdm

import eqxdsl
import eqxdsl.runtime as eqx

digits = eqxdsl.load(Path(__file__).with_name("digits.eqx"))

EPOCHS = 30
BATCH_SIZE = 64
LEARNING_RATE = 3e-3
SEED = 0


def load_data():
    """The 1797 images scaled to [0, 1] as `(N, 1, 8, 8)`, split 75/25, stratified."""
    images, labels = load_digits(return_X_y=True)
    images = (images / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    return train_test_split(images, labels, test_size=0.25, stratify=labels, random_state=SEED)


def loss_fn(model, images, labels, key):
    # The model sees one image at a time; vmap gives each image its own dropout key.
    keys = jax.random.split(key, images.shape[0])
    logits = jax.vmap(lambda image, k: model(image, key=k))(images, keys)
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@eqx.filter_jit
def accuracy(model, images, labels):
    logits = jax.vmap(lambda image: model(image, inference=True))(images)
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def main():
    x_train, x_test, y_train, y_test = load_data()
    model_key, train_key = jax.random.split(jax.random.key(SEED))
    model = digits.DigitsCNN(key=model_key)
    optimiser = optax.adam(LEARNING_RATE)
    opt_state = optimiser.init(eqx.filter(model, eqx.is_inexact_array))

    @eqx.filter_jit
    def train_step(model, opt_state, images, labels, key):
        loss, grads = eqx.filter_value_and_grad(loss_fn)(model, images, labels, key)
        updates, opt_state = optimiser.update(grads, opt_state)
        return eqx.apply_updates(model, updates), opt_state, loss

    rng = np.random.default_rng(SEED)
    steps_per_epoch = len(x_train) // BATCH_SIZE  # full batches only: one compiled shape
    with tqdm(range(EPOCHS), desc="training", unit="epoch") as epochs:
        for epoch in epochs:
            order = rng.permutation(len(x_train))
            epoch_keys = jax.random.split(jax.random.fold_in(train_key, epoch), steps_per_epoch)
            for step, step_key in enumerate(epoch_keys):
                batch = order[step * BATCH_SIZE : (step + 1) * BATCH_SIZE]
                model, opt_state, loss = train_step(
                    model, opt_state, x_train[batch], y_train[batch], step_key
                )
            epochs.set_postfix(loss=f"{float(loss):.4f}")

    test_accuracy = float(accuracy(model, x_test, y_test))
    print(f"test accuracy: {test_accuracy:.2%} on {len(x_test)} held-out images")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "digits_cnn.weights"
        eqx.tree_serialise_leaves(path, model)
        # Deserialising needs a model of the same structure to fill in.
        skeleton = digits.DigitsCNN(key=jax.random.key(0))
        reloaded = eqx.tree_deserialise_leaves(path, skeleton)
    reloaded_accuracy = float(accuracy(reloaded, x_test, y_test))
    print(f"reloaded from {path.name}: test accuracy {reloaded_accuracy:.2%}")
    assert reloaded_accuracy == test_accuracy, "the reloaded model scores differently"


if __name__ == "__main__":
    main()
