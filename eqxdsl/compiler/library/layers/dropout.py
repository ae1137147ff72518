"""Dropout (`eqxdsl.runtime.nn._dropout`)."""

from __future__ import annotations

from eqxdsl.compiler.dims import TensorType
from eqxdsl.compiler.library.layers._row import Args, LayerArg, LayerInfo, LayerShapeError, layer
from eqxdsl.compiler.library.layers._rules import LayerCall, _no_inference, _tensor


def _dropout_output(args: Args, inputs: tuple) -> TensorType:
    return _tensor(LayerCall("Dropout", args, ("p",)), inputs[0], "its input")


def _dropout_construct(args: Args) -> None:
    """`p`, the probability of dropping each element, in [0, 1): at 1 every element is dropped and the gradients are NaN."""
    p = args["p"]
    if isinstance(p, float) and not 0 <= p < 1:
        raise LayerShapeError(
            f"Dropout: p is the probability of dropping each element and must be at least 0 and below 1, got {p}",
            argument="p",
        )


#: The rows of this family, in the table's order.
ROWS: tuple[LayerInfo, ...] = (
    layer(
        "Dropout",
        (LayerArg("p", "float", 0.5), LayerArg("inference", "bool", False)),
        _no_inference,
        _dropout_output,
        construct=_dropout_construct,
        stochastic=True,
        call_inference=True,
        init_key=False,
    ),
)
