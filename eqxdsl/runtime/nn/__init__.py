"""Neural-network layers for the eqxdsl runtime.

The names, constructor signatures and call conventions are those of
``equinox.nn`` 0.13, and for the same PRNG key every layer is initialised with
bitwise the same parameters. Every layer takes one unbatched example; batch with
``jax.vmap``. An input of the wrong shape raises a ``ValueError`` that names the
layer, the expected shape and the shape it got.

Deliberate differences from Equinox 0.13:

- Hyperparameters and functions held by layers are static fields, so a plain
  ``jax.jit(lambda model, x: model(x))`` works over every layer: ``Dropout.p``,
  every ``inference`` flag, ``BatchNorm.axis_name``, ``MLP.activation``,
  ``Lambda.fn``, ``Pool.init``/``operation``, ``Shared.where``/``get``. Switch
  ``inference`` with ``inference_mode`` (``tree_at`` only reaches leaves).
- ``MLP`` applies its activations as plain elementwise functions.
- ``BatchNorm`` defaults to ``mode="batch"`` (see its module docstring).
- ``Sequential`` wraps plain functions among its layers in ``Lambda``.
- The deprecated ``deterministic=`` and ``elementwise_affine=`` aliases are absent.
"""

from ._activations import PReLU
from ._attention import MultiheadAttention, dot_product_attention, dot_product_attention_weights
from ._batch_norm import BatchNorm
from ._conv import (
    Conv,
    Conv1d,
    Conv2d,
    Conv3d,
    ConvTranspose,
    ConvTranspose1d,
    ConvTranspose2d,
    ConvTranspose3d,
)
from ._dropout import Dropout
from ._embedding import Embedding, RotaryPositionalEmbedding
from ._inference import inference_mode
from ._linear import Identity, Linear
from ._mlp import MLP
from ._normalisation import GroupNorm, LayerNorm, RMSNorm
from ._pool import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
    AdaptivePool,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    Pool,
)
from ._rnn import GRUCell, LSTMCell
from ._sequential import Lambda, Sequential
from ._shared import Shared
from ._spectral_norm import SpectralNorm
from ._stateful import State, StatefulLayer, StateIndex, delete_init_state, make_with_state
from ._weight_norm import WeightNorm

__all__ = [
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "AdaptivePool",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "BatchNorm",
    "Conv",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "Dropout",
    "Embedding",
    "GRUCell",
    "GroupNorm",
    "Identity",
    "LSTMCell",
    "Lambda",
    "LayerNorm",
    "Linear",
    "MLP",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "MultiheadAttention",
    "PReLU",
    "Pool",
    "RMSNorm",
    "RotaryPositionalEmbedding",
    "Sequential",
    "Shared",
    "SpectralNorm",
    "State",
    "StateIndex",
    "StatefulLayer",
    "WeightNorm",
    "delete_init_state",
    "dot_product_attention",
    "dot_product_attention_weights",
    "inference_mode",
    "make_with_state",
]
