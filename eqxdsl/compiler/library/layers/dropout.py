"""Dropout (`eqxdsl.runtime.nn._dropout`)."""

from __future__ import annotations

from eqxdsl.compiler.dims import TensorType
from eqxdsl.compiler.library.layers._row import Args, LayerArg, LayerInfo, layer
from eqxdsl.compiler.library.layers._rules import LayerCall, _no_inference, _tensor


def _dropout_output(args: Args, inputs: tuple) -> TensorType:
    return _tensor(LayerCall("Dropout", args, ("p",)), inputs[0], "its input")


#: The rows of this family, in the table's order.
ROWS: tuple[LayerInfo, ...] = (
    layer(
        "Dropout",
        (LayerArg("p", "float", 0.5), LayerArg("inference", "bool", False)),
        _no_inference,
        _dropout_output,
        stochastic=True,
        call_inference=True,
        init_key=False,
    ),
)
