"""MultiheadAttention (`eqxdsl.runtime.nn._attention`)."""

from __future__ import annotations

from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.library.layers._row import (
    Args,
    LayerArg,
    LayerInfo,
    LayerShapeError,
    layer,
)
from eqxdsl.compiler.library.layers._rules import (
    _call,
    _rank_exactly,
    _result_dtype,
    _same_size,
    _tensor,
)


def _attention_inputs(args: Args, inputs: tuple) -> tuple[str, TensorType, TensorType, TensorType]:
    layer = _call("MultiheadAttention", args, ("num_heads", "query_size"))
    if len(inputs) not in (3, 4):
        raise LayerShapeError(f"{layer} takes query, key and value (and a mask), got {len(inputs)} values")
    query, key, value = (_tensor(layer, v, what) for v, what in zip(inputs, ("its query", "its key", "its value")))
    for tensor, what, size in ((query, "a query", "query_size"), (key, "a key", "key_size"), (value, "a value", "value_size")):
        _rank_exactly(layer, tensor, 2, f"[sequence, {size}]", what)
    return layer, query, key, value


def _attention_infer(args: Args, inputs: tuple) -> dict:
    _, query, key, value = _attention_inputs(args, inputs)
    query_size = args.get("query_size", query.shape[1])
    inferred: dict[str, object] = {"query_size": query.shape[1]}
    # key_size and value_size default to query_size: pass them only where they differ.
    for name, tensor in (("key_size", key), ("value_size", value)):
        if tensor.shape[1] != query_size:
            inferred[name] = tensor.shape[1]
    return inferred


def _attention_output(args: Args, inputs: tuple) -> TensorType:
    layer, query, key, value = _attention_inputs(args, inputs)
    query_size = Dim.of(args["query_size"])
    key_size = args.get("key_size") if args.get("key_size") is not None else query_size
    value_size = args.get("value_size") if args.get("value_size") is not None else query_size
    output_size = args.get("output_size") if args.get("output_size") is not None else query_size
    _same_size(layer, f"axis 1 of the query {query}", query.shape[1], "query_size", query_size)
    _same_size(layer, f"axis 1 of the key {key}", key.shape[1], "key_size", key_size)
    _same_size(layer, f"axis 1 of the value {value}", value.shape[1], "value_size", value_size)
    _same_size(layer, f"the length of the value {value}", value.shape[0], "the length of the key", key.shape[0])
    if len(inputs) == 4 and inputs[3] is not None:
        mask = _tensor(layer, inputs[3], "its mask")
        if mask.dtype != "bool":
            raise LayerShapeError(f"{layer} takes a boolean mask, got {mask}")
        expected = (query.shape[0], key.shape[0])
        if mask.rank == 3:
            expected = (Dim.of(args["num_heads"]), *expected)
        if mask.rank != len(expected):
            raise LayerShapeError(
                f"{layer} takes a mask of shape [query length, key length] or "
                f"[num_heads, query length, key length], got {mask}"
            )
        names = ("num_heads", "query length", "key length")[-len(expected) :]
        for axis, (got, wanted, name) in enumerate(zip(mask.shape, expected, names)):
            _same_size(layer, f"axis {axis} of the mask {mask}", got, name, wanted)
    return TensorType(_result_dtype(layer, args, query), (query.shape[0], output_size))


#: The rows of this family, in the table's order.
ROWS: tuple[LayerInfo, ...] = (
    layer(
        "MultiheadAttention",
        (
            LayerArg("num_heads", "int"),
            LayerArg("query_size", "int", inferred=True),
            LayerArg("key_size", "int", None, inferred=True),
            LayerArg("value_size", "int", None, inferred=True),
            LayerArg("output_size", "int", None),
            LayerArg("qk_size", "int", None),
            LayerArg("vo_size", "int", None),
            LayerArg("use_query_bias", "bool", False),
            LayerArg("use_key_bias", "bool", False),
            LayerArg("use_value_bias", "bool", False),
            LayerArg("use_output_bias", "bool", False),
            LayerArg("dropout_p", "float", 0.0),
            LayerArg("inference", "bool", False),
            LayerArg("dtype", "dtype", None),
        ),
        _attention_infer,
        _attention_output,
        stochastic=True,
        call_inference=True,
        inputs=("query", "key_", "value"),
        optional_inputs=("mask",),
        init_key=True,
    ),
)
