"""Linear, Identity and MLP (`eqxdsl.runtime.nn._linear`, `_mlp`)."""

from __future__ import annotations

from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.library.layers._row import (
    Args,
    InferFn,
    LayerArg,
    LayerArray,
    LayerInfo,
    LayerShapeError,
    OutputFn,
    layer,
)
from eqxdsl.compiler.library.layers._rules import (
    LayerCall,
    _attribute_dtype,
    _no_inference,
    _rank_exactly,
    _result_dtype,
    _same_as_input,
    _same_size,
    _size,
    _tensor,
)


def _features_in(layer: LayerCall, x: TensorType) -> Dim | str:
    if x.rank == 0:
        return "scalar"
    _rank_exactly(layer, x, 1, "[features]")
    return x.shape[0]


def _linear_infer(size_arg: str, layer_name: str) -> InferFn:
    def infer(args: Args, inputs: tuple) -> dict:
        layer = LayerCall(layer_name, args, ())
        return {size_arg: _features_in(layer, _tensor(layer, inputs[0], "its input"))}

    return infer


def _linear_output(in_arg: str, out_arg: str, layer_name: str, shown: tuple[str, ...]) -> OutputFn:
    def output(args: Args, inputs: tuple) -> TensorType:
        layer = LayerCall(layer_name, args, shown)
        x = _tensor(layer, inputs[0], "its input")
        expected_in = args[in_arg]
        if expected_in == "scalar":
            if x.rank != 0:
                raise LayerShapeError(f"{layer} takes a scalar input ({in_arg}='scalar'), got {x}")
        else:
            _rank_exactly(layer, x, 1, f"[{in_arg}]")
            _same_size(layer, f"axis 0 of the input {x}", x.shape[0], in_arg, expected_in)
        out = args[out_arg]
        shape = () if out == "scalar" else (out,)
        return TensorType(_result_dtype(layer, args, x), shape)

    return output


def _linear_attributes(args: Args) -> dict[str, LayerArray]:
    """`weight` (out, in) and, with `use_bias`, `bias` (out,)."""
    in_features, out_features = _size(args, "in_features"), _size(args, "out_features")
    if in_features is None or out_features is None:
        return {}
    dtype = _attribute_dtype(args)
    attributes: dict[str, LayerArray] = {"weight": TensorType(dtype, (out_features, in_features))}
    if args["use_bias"] is not False:
        attributes["bias"] = TensorType(dtype, (out_features,))
    return attributes


#: The rows of this family, in the table's order.
ROWS: tuple[LayerInfo, ...] = (
    layer(
        "Linear",
        (
            LayerArg("in_features", "int", inferred=True, choices=("scalar",)),
            LayerArg("out_features", "int", choices=("scalar",)),
            LayerArg("use_bias", "bool", True),
            LayerArg("dtype", "dtype", None),
        ),
        _linear_infer("in_features", "Linear"),
        _linear_output("in_features", "out_features", "Linear", ("in_features", "out_features")),
        init_key=True,
        attributes=_linear_attributes,
    ),
    layer("Identity", (), _no_inference, _same_as_input("Identity"), init_key=False),
    layer(
        "MLP",
        (
            LayerArg("in_size", "int", inferred=True, choices=("scalar",)),
            LayerArg("out_size", "int", choices=("scalar",)),
            LayerArg("width_size", "int"),
            LayerArg("depth", "int", least=0),
            LayerArg("activation", "fn", "relu"),
            LayerArg("final_activation", "fn", "identity"),
            LayerArg("use_bias", "bool", True),
            LayerArg("use_final_bias", "bool", True),
            LayerArg("dtype", "dtype", None),
            LayerArg("scan", "bool", False, keyword_only=True),
        ),
        _linear_infer("in_size", "MLP"),
        _linear_output("in_size", "out_size", "MLP", ("in_size", "out_size", "width_size", "depth")),
        init_key=True,
    ),
)
