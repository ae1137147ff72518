"""WeightNorm and SpectralNorm, which wrap another layer (`eqxdsl.runtime.nn._weight_norm`, `_spectral_norm`)."""

from __future__ import annotations

from eqxdsl.compiler.dims import Dim
from eqxdsl.compiler.library.layers._row import (
    Args,
    LayerArg,
    LayerInfo,
    LayerInput,
    LayerShapeError,
    OutputFn,
    layer,
)
from eqxdsl.compiler.library.layers._rules import _no_inference, _show


def _wrapped_output(layer_name: str) -> OutputFn:
    def output(args: Args, inputs: tuple) -> LayerInput:
        wrapped = args.get("layer")
        if wrapped is None or not hasattr(wrapped, "output"):
            raise LayerShapeError(f"{layer_name} wraps a layer, got {_show(wrapped)}")
        return wrapped.output(inputs)

    return output


#: The rows of this family, in the table's order.
ROWS: tuple[LayerInfo, ...] = (
    layer(
        "WeightNorm",
        (
            LayerArg("layer", "module"),
            LayerArg("weight_name", "str", "weight"),
            LayerArg("axis", "int", Dim.const(0)),
        ),
        _no_inference,
        _wrapped_output("WeightNorm"),
        init_key=False,
    ),
    layer(
        "SpectralNorm",
        (
            LayerArg("layer", "module"),
            LayerArg("weight_name", "str"),
            LayerArg("num_power_iterations", "int", Dim.const(1)),
            LayerArg("eps", "float", 1e-12),
            LayerArg("inference", "bool", False),
        ),
        _no_inference,
        _wrapped_output("SpectralNorm"),
        stateful=True,
        call_inference=True,
        init_key=True,
    ),
)
