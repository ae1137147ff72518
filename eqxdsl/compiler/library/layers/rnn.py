"""GRUCell and LSTMCell (`eqxdsl.runtime.nn._rnn`)."""

from __future__ import annotations

from eqxdsl.compiler.dims import TensorType
from eqxdsl.compiler.library.layers._row import (
    Args,
    InferFn,
    LayerArg,
    LayerInfo,
    LayerInput,
    LayerShapeError,
    OutputFn,
    layer,
)
from eqxdsl.compiler.library.layers._rules import (
    LayerCall,
    _rank_exactly,
    _result_dtype,
    _same_size,
    _tensor,
)


def _cell_infer(layer_name: str) -> InferFn:
    def infer(args: Args, inputs: tuple) -> dict:
        x = _tensor(layer_name, inputs[0], "its input")
        _rank_exactly(layer_name, x, 1, "[input_size]")
        return {"input_size": x.shape[0]}

    return infer


def _cell_output(layer_name: str, pair: bool) -> OutputFn:
    def output(args: Args, inputs: tuple) -> LayerInput:
        layer = LayerCall(layer_name, args, ("input_size", "hidden_size"))
        if len(inputs) != 2:
            raise LayerShapeError(f"{layer} takes an input and a hidden state, got {len(inputs)} values")
        x = _tensor(layer, inputs[0], "its input")
        _rank_exactly(layer, x, 1, "[input_size]")
        _same_size(layer, f"axis 0 of the input {x}", x.shape[0], "input_size", args["input_size"])
        hidden_size = args["hidden_size"]
        if pair:
            hidden = inputs[1]
            if not isinstance(hidden, tuple) or len(hidden) != 2:
                raise LayerShapeError(f"{layer} takes its hidden state as a pair (h, c), got {_show_input(hidden)}")
            states: tuple[LayerInput, ...] = hidden
        else:
            states = (_tensor(layer, inputs[1], "its hidden state"),)
        for state in states:
            state = _tensor(layer, state, "a hidden state")
            _rank_exactly(layer, state, 1, "[hidden_size]", "a hidden state")
            _same_size(layer, f"axis 0 of the hidden state {state}", state.shape[0], "hidden_size", hidden_size)
        result = TensorType(_result_dtype(layer, args, x), (hidden_size,))
        return (result, result) if pair else result

    return output


def _show_input(value: LayerInput) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_show_input(v) for v in value) + ")"
    return str(value)


def _cell_layer(name: str, pair: bool) -> LayerInfo:
    args = (
        LayerArg("input_size", "int", inferred=True),
        LayerArg("hidden_size", "int"),
        LayerArg("use_bias", "bool", True),
        LayerArg("dtype", "dtype", None),
    )
    return layer(name, args, _cell_infer(name), _cell_output(name, pair), init_key=True, inputs=("input", "hidden"))


#: The rows of this family, in the table's order.
ROWS: tuple[LayerInfo, ...] = (
    _cell_layer("GRUCell", pair=False),
    _cell_layer("LSTMCell", pair=True),
)
