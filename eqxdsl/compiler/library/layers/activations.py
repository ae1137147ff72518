"""PReLU (`eqxdsl.runtime.nn._activations`)."""

from __future__ import annotations

from eqxdsl.compiler.dims import TensorType
from eqxdsl.compiler.library.layers._row import Args, LayerArg, LayerInfo, layer
from eqxdsl.compiler.library.layers._rules import _no_inference, _tensor


def _prelu_output(args: Args, inputs: tuple) -> TensorType:
    return _tensor("PReLU", inputs[0], "its input")


#: The rows of this family, in the table's order.
ROWS: tuple[LayerInfo, ...] = (
    layer("PReLU", (LayerArg("init_alpha", "float", 0.25),), _no_inference, _prelu_output, init_key=False),
)
