"""WeightNorm and SpectralNorm, which wrap another layer (`eqxdsl.runtime.nn._weight_norm`, `_spectral_norm`)."""

from __future__ import annotations

from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.library.layers._row import (
    Args,
    BoundLayer,
    ConstructFn,
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


def _wrapper_construct(layer_name: str, least_rank: int) -> ConstructFn:
    """What the runtime's constructor refuses: a `weight_name` the wrapped layer does not hold
    as an array of rank `least_rank` or more, an `axis` outside that array, and what the wrapped
    layer's own constructor refuses."""

    def construct(args: Args) -> None:
        wrapped = args.get("layer")
        if not isinstance(wrapped, BoundLayer):
            return  # reported by the argument's kind
        try:
            wrapped.info.construct(wrapped.args)
        except LayerShapeError as error:
            raise LayerShapeError(error.message, hint=error.hint, argument="layer") from None
        name = args["weight_name"]
        arrays = wrapped.info.attributes(wrapped.args)
        if not isinstance(name, str) or not arrays:
            return  # a row that models no attributes: nothing is known to refuse
        weight = arrays.get(name)
        if weight is None:
            if name in ("weight", "bias"):  # rows claim every weight and bias their layer holds
                held = ", ".join(repr(array) for array in arrays) or "none"
                raise LayerShapeError(
                    f"{layer_name}: the wrapped {wrapped.info.name} holds no array {name!r} (its arrays: {held})",
                    argument="weight_name",
                )
            return
        if not isinstance(weight, TensorType):
            return
        if weight.rank < least_rank:
            raise LayerShapeError(
                f"{layer_name}: the wrapped {wrapped.info.name}'s {name} is {weight}, of rank {weight.rank}; "
                f"{layer_name} needs rank {least_rank} or more",
                argument="layer",
            )
        axis = args.get("axis")
        if isinstance(axis, Dim) and axis.value is not None and not -weight.rank <= axis.value < weight.rank:
            raise LayerShapeError(
                f"{layer_name}: axis {axis.value} is outside the wrapped {wrapped.info.name}'s {name} {weight}",
                argument="axis",
            )

    return construct


#: The rows of this family, in the table's order.
ROWS: tuple[LayerInfo, ...] = (
    layer(
        "WeightNorm",
        (
            LayerArg("layer", "module"),
            LayerArg("weight_name", "str", "weight"),
            LayerArg("axis", "int", Dim.const(0), least=None),
        ),
        _no_inference,
        _wrapped_output("WeightNorm"),
        init_key=False,
        construct=_wrapper_construct("WeightNorm", least_rank=1),
    ),
    layer(
        "SpectralNorm",
        (
            LayerArg("layer", "module"),
            LayerArg("weight_name", "str"),
            LayerArg("num_power_iterations", "int", Dim.const(1), least=0),
            LayerArg("eps", "float", 1e-12),
            LayerArg("inference", "bool", False),
        ),
        _no_inference,
        _wrapped_output("SpectralNorm"),
        construct=_wrapper_construct("SpectralNorm", least_rank=2),
        stateful=True,
        call_inference=True,
        init_key=True,
    ),
)
