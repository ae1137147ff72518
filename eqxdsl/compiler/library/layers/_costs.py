"""What each layer of the table holds and the multiply-adds of one call, as formulas in its arguments.

A summary computed from a spec reads these instead of building anything. They
count what `eqxdsl.summarise` counts on a built model: the elements of the
floating-point arrays a layer holds (its parameters), those of its `State`
(its buffers), and the multiply-adds of its matrix products and convolutions
(elementwise work, reductions and gathers count none). The tests hold both
against the runtime's layers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.library.layers._row import Args, BoundLayer
from eqxdsl.compiler.library.layers._rules import _attribute_dtype, _padding_pairs, _per_axis
from eqxdsl.compiler.library.layers._table import LAYERS

ZERO = Dim.const(0)
ONE = Dim.const(1)

#: Bytes per element of each dtype name of the language.
ITEMSIZE: Mapping[str, int] = {
    "f16": 2, "bf16": 2, "f32": 4, "f64": 8, "i8": 1, "i16": 2, "i32": 4, "i64": 8, "u8": 1, "u32": 4,
    "bool": 1, "c64": 8,
}


@dataclass(frozen=True)
class Holdings:
    """What a built layer holds, in elements and bytes.

    Attributes:
        params: elements of its floating-point arrays.
        buffers: elements of its `State` (BatchNorm's running statistics).
        param_bytes: bytes of `params`.
        buffer_bytes: bytes of `buffers`.
    """

    params: Dim = ZERO
    buffers: Dim = ZERO
    param_bytes: Dim = ZERO
    buffer_bytes: Dim = ZERO

    def __add__(self, other: Holdings) -> Holdings:
        return Holdings(
            self.params + other.params,
            self.buffers + other.buffers,
            self.param_bytes + other.param_bytes,
            self.buffer_bytes + other.buffer_bytes,
        )


#: `holds(args)`: what the layer built with `args` (defaults filled in) holds.
HoldsFn = Callable[[Args], Holdings]
#: `macs(args, inputs)`: the multiply-adds of one call on `inputs` (unbatched, as the
#: layer takes them), or None where no formula is known for symbolic sizes.
MacsFn = Callable[[Args, tuple], "Dim | None"]


@dataclass(frozen=True)
class LayerCost:
    """The cost rules of one layer of the table."""

    holds: HoldsFn
    macs: MacsFn


def _size(value: object) -> Dim:
    """A size argument as a `Dim` (`"scalar"`, as Linear takes it, is one element)."""
    return ONE if value == "scalar" else Dim.of(value)  # type: ignore[arg-type]


def _elements(shape: tuple[Dim, ...]) -> Dim:
    total = ONE
    for size in shape:
        total = total * size
    return total


def parameters(count: Dim, args: Args) -> Holdings:
    """`count` parameters of the layer's dtype (its `dtype` argument, else f32)."""
    return Holdings(params=count, param_bytes=count * ITEMSIZE[_attribute_dtype(args)])


def _from_arrays(name: str) -> HoldsFn:
    """The holdings of a layer whose row lists all its arrays (`attributes`, `arrays`): parameters all."""

    def holds(args: Args) -> Holdings:
        found = LAYERS[name].all_arrays(args).values()
        arrays = [array for array in found if isinstance(array, TensorType)]
        if len(arrays) != len(found):
            raise ValueError(f"the shapes of {name}'s arrays are not known")
        return sum(
            (Holdings(_elements(a.shape), ZERO, _elements(a.shape) * ITEMSIZE[a.dtype], ZERO) for a in arrays),
            Holdings(),
        )

    return holds


def _none(args: Args) -> Holdings:
    return Holdings()


def _no_macs(args: Args, inputs: tuple) -> Dim:
    return ZERO


def _linear_holds(args: Args) -> Holdings:
    in_size, out_size = _size(args["in_features"]), _size(args["out_features"])
    return parameters(out_size * in_size + (out_size if args["use_bias"] is not False else ZERO), args)


def _linear_macs(args: Args, inputs: tuple) -> Dim:
    return _size(args["in_features"]) * _size(args["out_features"])


def _mlp_sizes(args: Args) -> list[tuple[Dim, Dim, bool]]:
    """Each Linear of an MLP as (in, out, has a bias)."""
    in_size, out_size, width = _size(args["in_size"]), _size(args["out_size"]), Dim.of(args["width_size"])
    depth = Dim.of(args["depth"]).value
    if depth is None:
        raise ValueError("an MLP's depth must be known to count it")
    if depth == 0:
        return [(in_size, out_size, args["use_final_bias"] is not False)]
    hidden = [(in_size, width)] + [(width, width)] * (depth - 1)
    return [(i, o, args["use_bias"] is not False) for i, o in hidden] + [(width, out_size, args["use_final_bias"] is not False)]


def _mlp_holds(args: Args) -> Holdings:
    return parameters(sum((i * o + (o if bias else ZERO) for i, o, bias in _mlp_sizes(args)), ZERO), args)


def _mlp_macs(args: Args, inputs: tuple) -> Dim:
    return sum((i * o for i, o, _ in _mlp_sizes(args)), ZERO)


def _conv_holds(dims: int | None) -> HoldsFn:
    """A convolution of `dims` spatial axes (None: its `num_spatial_dims`): a weight
    (out, in / groups, *kernel) and, with `use_bias`, a bias (out, 1, ..., 1)."""

    def holds(args: Args) -> Holdings:
        count = dims if dims is not None else Dim.of(args["num_spatial_dims"]).value
        if count is None:
            raise ValueError("a convolution's number of spatial axes must be known to count it")
        kernel = _per_axis("Conv", "kernel_size", args["kernel_size"], count)
        out = Dim.of(args["out_channels"])
        weight = out * (Dim.of(args["in_channels"]) // Dim.of(args["groups"])) * _elements(kernel)
        return parameters(weight + (out if args["use_bias"] is not False else ZERO), args)

    return holds


def _spatial_dims(name: str) -> int | None:
    """`Conv2d` has 2 spatial axes; the generic `Conv` says in its arguments."""
    return int(name[-2]) if name.endswith("d") else None


def _conv_macs(transposed: bool) -> MacsFn:
    """Output channels × input channels per group × the (output position, tap) pairs of every axis that land on the input.

    Taps on zero padding multiply nothing, nor do those on the zeros a
    transposed convolution inserts between its inputs (XLA counts neither);
    taps on the padding `padding_mode` fills from the input do. With symbolic
    sizes the count is a formula for a window stride of 1: a transposed
    convolution's always, a convolution's when its `stride` is 1.
    """

    def macs(args: Args, inputs: tuple) -> Dim | None:
        x = inputs[0]
        spatial = x.rank - 1
        names = ("kernel_size", "stride", "dilation", "output_padding") if transposed else ("kernel_size", "stride", "dilation")
        per_axis: list[list[int]] = []
        for name in names:
            values = _known(_per_axis("Conv", name, args[name], spatial))
            if values is None:
                return None
            per_axis.append(values)
        padding = _padding_pairs("Conv", args["padding"], spatial)
        total = Dim.of(args["out_channels"]) * (Dim.of(args["in_channels"]) // Dim.of(args["groups"]))
        for axis, size in enumerate(x.shape[1:]):
            pads = padding if isinstance(padding, str) else _known(padding[axis])
            if pads is None:
                return None
            taps = (_transposed_taps if transposed else _taps)(size, pads, args["padding_mode"], *(values[axis] for values in per_axis))
            if taps is None:
                return None
            total = total * taps
        return total

    return macs


def _known(sizes: tuple[Dim, ...]) -> list[int] | None:
    """The values of `sizes`, or None if any is symbolic."""
    values = [size.value for size in sizes if size.value is not None]
    return values if len(values) == len(sizes) else None


def _taps(size: Dim, padding: str | list[int], mode: str, kernel: int, stride: int, dilation: int) -> Dim | None:
    """The (output position, tap) pairs of one axis of a convolution that land on the input or its filled padding."""
    pads = _pads(padding, size, kernel, stride, dilation)
    if pads is None:
        return None
    low, high = pads
    if mode != "ZEROS":  # the runtime pads the input itself, then convolves it unpadded
        size, low, high = size + low + high, 0, 0
    if stride == 1:
        return _taps_on_input(size, kernel, dilation, low, high, 1)
    if size.value is None:
        return None
    out = (size.value + low + high - dilation * (kernel - 1) - 1) // stride + 1
    total = 0
    for tap in range(kernel):
        first = max(0, -((tap * dilation - low) // stride))
        last = min(out - 1, (size.value - 1 + low - tap * dilation) // stride)
        total += max(0, last - first + 1)
    return Dim.const(total)


def _pads(padding: str | list[int], size: Dim, kernel: int, stride: int, dilation: int) -> tuple[int, int] | None:
    """One axis's (low, high) padding, a padding string's as `lax.padtype_to_pads` gives it; None where it is symbolic."""
    if not isinstance(padding, str):
        low, high = padding
        return low, high
    if padding == "VALID":
        return 0, 0
    span = dilation * (kernel - 1) + 1
    if stride == 1:
        total = span - 1
    elif size.value is not None:
        total = max((-(-size.value // stride) - 1) * stride + span - size.value, 0)
    else:
        return None
    return (total // 2, total - total // 2) if padding == "SAME" else (total - total // 2, total // 2)


def _transposed_taps(
    size: Dim, padding: str | list[int], mode: str, kernel: int, stride: int, dilation: int, extra: int
) -> Dim:
    """The taps of one axis of a transposed convolution that land on an input element.

    The runtime dilates the input by `stride` and convolves it with stride 1
    and the padding that undoes the forward convolution's; `CIRCULAR` wraps
    whole strides of that padding around the input first.
    """
    if not isinstance(padding, str):
        low, high = padding
    elif padding == "VALID":
        low, high = 0, 0
    else:
        total = dilation * (kernel - 1) - stride + extra + 1
        extra, total = max(-total, 0), max(total, 0)
        low = (total + (padding == "SAME_LOWER")) // 2
        high = total - low
    span = dilation * (kernel - 1)
    low, high = span - low, span - high + extra
    if mode == "CIRCULAR":
        size, low, high = size + low // stride + high // stride, low % stride, high % stride
    return _taps_on_input(size, kernel, dilation, low, high, stride)


def _taps_on_input(size: Dim, kernel: int, dilation: int, low: int, high: int, spacing: int) -> Dim:
    """The (output position, tap) pairs of a stride-1 convolution of one axis that land on one of `size` inputs.

    The inputs lie `spacing` apart (a transposed convolution's stride), padded
    by `low` and `high` zeros. Each tap meets every input but those its
    window passes beyond at either end; a symbolic `size` is taken to be at
    least the window's span, as the shape rules require.
    """
    total = ZERO
    for tap in range(kernel):
        met = size + min(0, (low - tap * dilation) // spacing) + min(0, (high - (kernel - 1 - tap) * dilation) // spacing)
        total = total + (Dim.const(max(0, met.value)) if met.value is not None else met)
    return total


def _group_norm_holds(args: Args) -> Holdings:
    channels = Dim.of(args["channels"])
    return parameters(2 * channels if args["channelwise_affine"] is not False else ZERO, args)


def _batch_norm_holds(args: Args) -> Holdings:
    """Weight and bias; running mean and variance, and a counter (batch mode) or a first-step flag (ema)."""
    channels = Dim.of(args["input_size"])
    affine = parameters(2 * channels if args["channelwise_affine"] is not False else ZERO, args)
    counter_bytes = 4 if args["mode"] == "batch" else 1
    itemsize = ITEMSIZE[_attribute_dtype(args)]
    return affine + Holdings(buffers=2 * channels + 1, buffer_bytes=2 * channels * itemsize + counter_bytes)


def _recurrent(gates: int, extra_bias: bool) -> tuple[HoldsFn, MacsFn]:
    def holds(args: Args) -> Holdings:
        hidden, inputs = Dim.of(args["hidden_size"]), Dim.of(args["input_size"])
        bias = gates * hidden + (hidden if extra_bias else ZERO) if args["use_bias"] is not False else ZERO
        return parameters(gates * hidden * (inputs + hidden) + bias, args)

    def macs(args: Args, call_inputs: tuple) -> Dim:
        return gates * Dim.of(args["hidden_size"]) * (Dim.of(args["input_size"]) + Dim.of(args["hidden_size"]))

    return holds, macs


def _attention_macs(args: Args, inputs: tuple) -> Dim:
    """The four projections, the query-key scores and the weighted sum of the values."""
    query, key = inputs[0], inputs[1]
    heads, query_size = Dim.of(args["num_heads"]), Dim.of(args["query_size"])

    def size(name: str, default: Dim) -> Dim:
        value = args.get(name)
        return Dim.of(value) if isinstance(value, (Dim, int)) else default

    qk, vo = size("qk_size", query_size // heads), size("vo_size", query_size // heads)
    q_len, kv_len = query.shape[0], key.shape[0]
    projections = (
        q_len * query_size * heads * qk
        + kv_len * size("key_size", query_size) * heads * qk
        + kv_len * size("value_size", query_size) * heads * vo
        + q_len * heads * vo * size("output_size", query_size)
    )
    return projections + heads * q_len * kv_len * (qk + vo)


def _wrapped(args: Args) -> BoundLayer | None:
    inner = args.get("layer")
    return inner if isinstance(inner, BoundLayer) else None


def _weight_norm_holds(args: Args) -> Holdings:
    """The wrapped layer's arrays, and a norm per slice of its weight along `axis`."""
    inner = _wrapped(args)
    if inner is None:
        raise ValueError("WeightNorm's layer must be a layer of the table to count it")
    weight = inner.info.all_arrays(inner.args).get(str(args["weight_name"]))
    held = COSTS[inner.info.name].holds(inner.info.with_defaults(inner.args))
    if not isinstance(weight, TensorType):
        raise ValueError("the shape of WeightNorm's weight is not known")
    axis = Dim.of(args["axis"]).value
    return held + parameters(weight.shape[axis] if axis is not None else _elements(weight.shape), args)


def _wrapped_macs(args: Args, inputs: tuple) -> Dim | None:
    inner = _wrapped(args)
    if inner is None:
        return None
    return COSTS[inner.info.name].macs(inner.info.with_defaults(inner.args), inputs)


def _spectral_norm_holds(args: Args) -> Holdings:
    """The wrapped layer's arrays; the power iteration's two vectors are its state."""
    inner = _wrapped(args)
    if inner is None:
        raise ValueError("SpectralNorm's layer must be a layer of the table to count it")
    weight = inner.info.all_arrays(inner.args).get(str(args["weight_name"]))
    if not isinstance(weight, TensorType) or weight.rank < 1:
        raise ValueError("the shape of SpectralNorm's weight is not known")
    rows, columns = weight.shape[0], _elements(weight.shape[1:])
    state = rows + columns
    return COSTS[inner.info.name].holds(inner.info.with_defaults(inner.args)) + Holdings(
        buffers=state, buffer_bytes=state * ITEMSIZE[weight.dtype]
    )


def _spectral_norm_macs(args: Args, inputs: tuple) -> Dim | None:
    """The wrapped layer's, and two matrix-vector products per power iteration plus one for the norm."""
    inner, weighted = _wrapped(args), _wrapped_macs(args, inputs)
    weight = inner.info.all_arrays(inner.args).get(str(args["weight_name"])) if inner is not None else None
    if weighted is None or not isinstance(weight, TensorType):
        return None
    iterations = Dim.of(args["num_power_iterations"])
    if args.get("inference") is True:
        iterations = ZERO
    return weighted + (2 * iterations + 1) * _elements(weight.shape)


_GRU = _recurrent(3, extra_bias=True)
_LSTM = _recurrent(4, extra_bias=False)
_FREE = LayerCost(_none, _no_macs)

#: The cost rules of every layer of the table, by class name.
COSTS: Mapping[str, LayerCost] = {
    "Linear": LayerCost(_linear_holds, _linear_macs),
    "Identity": _FREE,
    "MLP": LayerCost(_mlp_holds, _mlp_macs),
    "PReLU": LayerCost(lambda args: parameters(ONE, args), _no_macs),
    "Dropout": _FREE,
    **{
        name: LayerCost(_conv_holds(_spatial_dims(name)), _conv_macs(transposed="Transpose" in name))
        for name in LAYERS
        if name.startswith("Conv")
    },
    **{name: _FREE for name in LAYERS if "Pool" in name},
    "LayerNorm": LayerCost(_from_arrays("LayerNorm"), _no_macs),
    "RMSNorm": LayerCost(_from_arrays("RMSNorm"), _no_macs),
    "GroupNorm": LayerCost(_group_norm_holds, _no_macs),
    "BatchNorm": LayerCost(_batch_norm_holds, _no_macs),
    "Embedding": LayerCost(_from_arrays("Embedding"), _no_macs),
    "RotaryPositionalEmbedding": _FREE,
    "GRUCell": LayerCost(*_GRU),
    "LSTMCell": LayerCost(*_LSTM),
    "MultiheadAttention": LayerCost(_from_arrays("MultiheadAttention"), _attention_macs),
    "WeightNorm": LayerCost(_weight_norm_holds, _wrapped_macs),
    "SpectralNorm": LayerCost(_spectral_norm_holds, _spectral_norm_macs),
}


def matmul_macs(left: TensorType, right: TensorType, output: TensorType) -> Dim:
    """`left @ right`: the output's elements times the contracted size."""
    return _elements(output.shape) * left.shape[-1]


def einsum_macs(subscripts: str, operands: tuple[TensorType, ...]) -> Dim:
    """An einsum: the product of the sizes of every index it names (a two-operand product's cost)."""
    sizes: dict[str, Dim] = {}
    for letters, operand in zip(subscripts.replace(" ", "").split("->")[0].split(","), operands):
        sizes.update(zip(letters, operand.shape))
    return _elements(tuple(sizes.values())) if len(operands) > 1 else ZERO
