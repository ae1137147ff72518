"""Embedding and RotaryPositionalEmbedding (`eqxdsl.runtime.nn._embedding`)."""

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
    _no_inference,
    _rank_exactly,
    _same_size,
    _size,
    _tensor,
)


def _embedding_output(args: Args, inputs: tuple) -> TensorType:
    layer = LayerCall("Embedding", args, ("num_embeddings", "embedding_size"))
    index = _tensor(layer, inputs[0], "its input")
    if index.rank != 0 or not index.is_integer:
        raise LayerShapeError(
            f"{layer} takes one integer index (i32[]), got {index}",
            hint="map the embedding over a sequence of tokens: map(embed, tokens)" if index.rank == 1 else None,
        )
    weight = args.get("weight")
    if isinstance(weight, TensorType) and weight.rank == 2:
        return TensorType(weight.dtype, (weight.shape[1],))
    size = args.get("embedding_size")
    if args.get("num_embeddings") is None or size is None:
        raise LayerShapeError(f"{layer} needs num_embeddings and embedding_size (or a weight of rank 2)")
    dtype = args.get("dtype")
    return TensorType(dtype if isinstance(dtype, str) else "f32", (size,))


def _rotary_output(args: Args, inputs: tuple) -> TensorType:
    layer = LayerCall("RotaryPositionalEmbedding", args, ("embedding_size",))
    x = _tensor(layer, inputs[0], "its input")
    _rank_exactly(layer, x, 2, "[sequence, embedding_size]")
    _same_size(layer, f"axis 1 of the input {x}", x.shape[1], "embedding_size", args["embedding_size"])
    size = Dim.of(args["embedding_size"])
    if (size % 2).value not in (None, 0):
        raise LayerShapeError(f"{layer}: embedding_size must be even, got {size}")
    return x


def _rotary_infer(args: Args, inputs: tuple) -> dict:
    layer = "RotaryPositionalEmbedding"
    x = _tensor(layer, inputs[0], "its input")
    _rank_exactly(layer, x, 2, "[sequence, embedding_size]")
    return {"embedding_size": x.shape[1]}


def _embedding_attributes(args: Args) -> dict[str, LayerArray]:
    """`weight` (num_embeddings, embedding_size)."""
    count, size = _size(args, "num_embeddings"), _size(args, "embedding_size")
    if count is None or size is None:
        return {}
    return {"weight": TensorType(_attribute_dtype(args), (count, size))}


#: The rows of this family, in the table's order.
ROWS: tuple[LayerInfo, ...] = (
    layer(
        "Embedding",
        (
            LayerArg("num_embeddings", "int", None),
            LayerArg("embedding_size", "int", None),
            LayerArg("weight", "any", None),
            LayerArg("dtype", "dtype", None),
        ),
        _no_inference,
        _embedding_output,
        init_key=True,
        attributes=_embedding_attributes,
    ),
    layer(
        "RotaryPositionalEmbedding",
        (
            LayerArg("embedding_size", "int", inferred=True),
            LayerArg("theta", "float", 10_000.0),
            LayerArg("dtype", "dtype", None),
        ),
        _rotary_infer,
        _rotary_output,
        init_key=False,
    ),
)
