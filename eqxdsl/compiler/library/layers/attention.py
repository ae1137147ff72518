"""MultiheadAttention (`eqxdsl.runtime.nn._attention`)."""

from __future__ import annotations

from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.library.layers._row import (
    Args,
    LayerArg,
    LayerArray,
    LayerInfo,
    LayerShapeError,
    layer,
)
from eqxdsl.compiler.library.layers._rules import (
    LayerCall,
    _attribute_dtype,
    _rank_exactly,
    _result_dtype,
    _same_size,
    _tensor,
)


def _attention_inputs(args: Args, inputs: tuple) -> tuple[LayerCall, TensorType, TensorType, TensorType]:
    layer = LayerCall("MultiheadAttention", args, ("num_heads", "query_size"))
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


def _size_or(args: Args, name: str, default: Dim) -> Dim:
    """The size argument `name`, or `default` when it is not given (None)."""
    value = args.get(name)
    return default if value is None else Dim.of(value)


def _attention_output(args: Args, inputs: tuple) -> TensorType:
    layer, query, key, value = _attention_inputs(args, inputs)
    query_size = Dim.of(args["query_size"])
    key_size = _size_or(args, "key_size", query_size)
    value_size = _size_or(args, "value_size", query_size)
    output_size = _size_or(args, "output_size", query_size)
    _same_size(layer, f"axis 1 of the query {query}", query.shape[1], "query_size", query_size)
    _same_size(layer, f"axis 1 of the key {key}", key.shape[1], "key_size", key_size)
    _same_size(layer, f"axis 1 of the value {value}", value.shape[1], "value_size", value_size)
    _same_size(layer, f"the length of the value {value}", value.shape[0], "the length of the key", key.shape[0])
    if len(inputs) == 4 and inputs[3] is not None:
        mask = _tensor(layer, inputs[3], "its mask")
        if mask.dtype != "bool":
            raise LayerShapeError(f"{layer} takes a boolean mask, got {mask}", hint="a mask is bool: True where a query may attend to a key; build one by comparing, as in keep = tokens != pad; mask = keep[:, None] & keep[None, :]", argument="mask")
        expected: tuple[Dim, ...] = (query.shape[0], key.shape[0])
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


def _attention_arrays(args: Args) -> dict[str, LayerArray]:
    """The weights (out, in) and biases (with `use_*_bias`) of the four projections, by dotted path."""
    query_size = args.get("query_size")
    heads = args.get("num_heads")
    if not isinstance(query_size, Dim) or not isinstance(heads, Dim):
        return {}

    def size(name: str, default: Dim) -> Dim:
        value = args.get(name)
        return value if isinstance(value, Dim) else default

    per_head = query_size // heads
    qk_size, vo_size = size("qk_size", per_head), size("vo_size", per_head)
    projections = (
        ("query_proj", query_size, heads * qk_size, "use_query_bias"),
        ("key_proj", size("key_size", query_size), heads * qk_size, "use_key_bias"),
        ("value_proj", size("value_size", query_size), heads * vo_size, "use_value_bias"),
        ("output_proj", heads * vo_size, size("output_size", query_size), "use_output_bias"),
    )
    dtype = _attribute_dtype(args)
    arrays: dict[str, LayerArray] = {}
    for name, in_size, out_size, flag in projections:
        arrays[f"{name}.weight"] = TensorType(dtype, (out_size, in_size))
        if args[flag] is not False:
            arrays[f"{name}.bias"] = TensorType(dtype, (out_size,))
    return arrays


def _attention_construct(args: Args) -> None:
    """What makes the runtime's layer compute nothing: no query or value size per head, or a
    `dropout_p` that drops every weight."""
    layer = LayerCall("MultiheadAttention", args, ("num_heads", "query_size"))
    heads, query_size = args["num_heads"], args.get("query_size")
    if isinstance(heads, Dim) and isinstance(query_size, Dim) and (args["qk_size"] is None or args["vo_size"] is None):
        # The sizes per head default to query_size // num_heads: 0 for more heads than features.
        # Symbolic sizes are not held to a proof: specs rarely state heads <= dim, and it rarely fails.
        if heads.value is not None and query_size.value is not None and heads.value > query_size.value:
            raise LayerShapeError(
                f"{layer}: num_heads ({heads}) is more than query_size ({query_size}), and with more heads than "
                "features none are left per head (qk_size and vo_size default to query_size // num_heads)",
                hint="give qk_size and vo_size, or fewer heads",
                argument="num_heads",
            )
    p = args["dropout_p"]
    if isinstance(p, float) and not 0 <= p < 1:
        raise LayerShapeError(
            f"{layer}: dropout_p is the probability of dropping each attention weight and must be at least 0 and below 1, got {p}",
            argument="dropout_p",
        )


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
        construct=_attention_construct,
        stochastic=True,
        call_inference=True,
        inputs=("query", "key_", "value"),
        optional_inputs=("mask",),
        init_key=True,
        arrays=_attention_arrays,
    ),
)
