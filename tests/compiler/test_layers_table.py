"""The compiler's layer table against the real runtime layers.

The table exists so that the compiler never imports jax; these tests import the
runtime and hold the table to it: the same classes, the same constructor
signatures, and shape rules that agree with `jax.eval_shape` on the real layers.
"""

from __future__ import annotations

import inspect
import itertools
import subprocess
import sys

import jax
import jax.numpy as jnp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqxdsl.compiler.dims import DTYPES, Dim, TensorType
from eqxdsl.compiler.library.layers import LAYERS, NOT_LAYERS, REQUIRED, BoundLayer, LayerShapeError, suggest

nn = pytest.importorskip("eqxdsl.runtime.nn")

n = Dim.symbol("n")
SIZES = (5, 6, 7)  # every residue modulo 2 and 3
FUNCTIONS = {"relu": jax.nn.relu, "tanh": jnp.tanh, "identity": lambda x: x, "max": jax.lax.max, "add": jax.lax.add, "reduce_max": jnp.max}


def runtime_classes() -> dict[str, type]:
    return {name: getattr(nn, name) for name in nn.__all__ if inspect.isclass(getattr(nn, name))}


# -- the table describes exactly the runtime's layers, with their signatures ---------------


def test_every_runtime_class_is_in_the_table_or_explained():
    classes = set(runtime_classes())
    assert classes == set(LAYERS) | set(NOT_LAYERS)
    assert not set(LAYERS) & set(NOT_LAYERS)


def _plain(value):
    if isinstance(value, Dim):
        return value.value
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_constructor_signature_matches_runtime(name):
    info = LAYERS[name]
    parameters = list(inspect.signature(getattr(nn, name).__init__).parameters.values())[1:]
    if name == "Identity":
        assert [p.kind for p in parameters] == [inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD]
        assert info.args == ()
        return
    runtime_args = [p for p in parameters if p.name != "key"]
    assert [p.name for p in runtime_args] == [arg.name for arg in info.args]
    assert info.init_key == ("key" in {p.name for p in parameters})
    for parameter, arg in zip(runtime_args, info.args):
        assert (parameter.kind is inspect.Parameter.KEYWORD_ONLY) == arg.keyword_only, arg.name
        if arg.required:
            assert parameter.default is inspect.Parameter.empty, arg.name
        elif arg.kind == "fn":
            assert parameter.default.__name__.lstrip("_") == arg.default, arg.name
        else:
            assert parameter.default == _plain(arg.default), arg.name
            assert type(parameter.default) is type(_plain(arg.default)), arg.name


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_call_signature_matches_runtime(name):
    info = LAYERS[name]
    parameters = list(inspect.signature(getattr(nn, name).__call__).parameters.values())[1:]
    positional = [p for p in parameters if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    state = [p for p in positional if p.name == "state"]
    arrays = [p for p in positional if p.name != "state"]
    assert info.inputs == tuple(p.name for p in arrays if p.default is inspect.Parameter.empty)
    assert info.optional_inputs == tuple(p.name for p in arrays if p.default is not inspect.Parameter.empty)
    assert info.stateful == bool(state and state[0].default is inspect.Parameter.empty)
    keywords = {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert info.call_inference == ("inference" in keywords)
    assert not info.stochastic or info.call_inference


def test_inferred_arguments_are_filled_by_infer():
    x = TensorType.of("f32", (3, 8))
    inferred = LAYERS["Conv1d"].infer({"out_channels": Dim.const(4), "kernel_size": Dim.const(3)}, (x,))
    assert inferred == {"in_channels": 3}
    assert LAYERS["Linear"].infer({}, (TensorType.of("f32", ()),)) == {"in_features": "scalar"}
    assert LAYERS["LayerNorm"].infer({}, (TensorType.of("f32", (n,)),)) == {"shape": n}
    assert LAYERS["LayerNorm"].infer({}, (TensorType.of("f32", (2, n)),)) == {"shape": (2, n)}
    assert all(arg.inferred for arg in LAYERS["MultiheadAttention"].args if arg.name in ("query_size", "key_size"))


def test_suggest():
    assert suggest("Conv2D", LAYERS) == "Conv2d"
    assert suggest("Lienar", LAYERS) == "Linear"
    assert suggest("Zebra", LAYERS) is None


def test_table_does_not_import_jax():
    code = "import sys, eqxdsl.compiler.library.layers; sys.exit('jax' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- shape rules agree with jax.eval_shape on the real layers ------------------------------


def _runtime_value(arg_kind: str, value):
    if isinstance(value, BoundLayer):
        return _build(value.info.name, value.args)[0]
    if arg_kind == "fn":
        return FUNCTIONS[value]
    if arg_kind == "dtype" and value is not None:
        return jnp.dtype(DTYPES[value])
    return _plain(value)


_built: dict[str, tuple] = {}


def _build(name: str, args: dict):
    """The real layer (and its state, if stateful), built once per distinct arguments."""
    cache_key = f"{name}{sorted(args.items(), key=lambda item: item[0])!r}"
    if cache_key not in _built:
        _built[cache_key] = _construct(name, args)
    return _built[cache_key]


def _construct(name: str, args: dict):
    info = LAYERS[name]
    kwargs = {arg.name: _runtime_value(arg.kind, args[arg.name]) for arg in info.args if arg.name in args}
    make = getattr(nn, name)
    if info.stateful:
        make = nn.make_with_state(make)

    # Wrapped layers are abstract already: pass them through eval_shape as arguments.
    modules = {arg.name: kwargs.pop(arg.name) for arg in info.args if arg.kind == "module" and arg.name in kwargs}

    def construct(modules):
        key = {"key": jax.random.key(0)} if info.init_key else {}
        built = make(**kwargs, **modules, **key)
        return built if info.stateful else (built, None)

    # Abstract parameters are enough for shapes, and skip compiling every initialiser.
    return jax.eval_shape(construct, modules)


def _struct(value):
    if isinstance(value, tuple):
        return tuple(_struct(v) for v in value)
    return jax.ShapeDtypeStruct(tuple(d.value for d in value.shape), jnp.dtype(DTYPES[value.dtype]))


def _real_output(name: str, args: dict, inputs: tuple):
    layer, state = _build(name, args)
    info = LAYERS[name]
    extra = {"key": jax.random.key(1)} if info.stochastic else {}
    structs = _struct(inputs)
    if name == "BatchNorm":
        batched = jax.vmap(lambda x, layer, state: layer(x, state)[0], in_axes=(0, None, None), axis_name=args["axis_name"])
        stacked = jax.ShapeDtypeStruct((2, *structs[0].shape), structs[0].dtype)
        result = jax.eval_shape(batched, stacked, layer, state)
        return jax.ShapeDtypeStruct(result.shape[1:], result.dtype)
    if info.stateful:
        return jax.eval_shape(lambda layer, state, *xs: layer(*xs, state, **extra)[0], layer, state, *structs)
    return jax.eval_shape(lambda layer, *xs: layer(*xs, **extra), layer, *structs)


def _assert_same(table_output, real_output):
    if isinstance(table_output, tuple):
        assert len(table_output) == len(real_output)
        for table_part, real_part in zip(table_output, real_output):
            _assert_same(table_part, real_part)
        return
    assert tuple(d.value for d in table_output.shape) == real_output.shape
    assert jnp.dtype(DTYPES[table_output.dtype]) == real_output.dtype


def _at(value, size: int):
    if isinstance(value, tuple):
        return tuple(_at(v, size) for v in value)
    return TensorType(value.dtype, tuple(d.substitute({"n": size}) for d in value.shape))


def check_case(name: str, args: dict, inputs: tuple, sizes=SIZES):
    """The table's symbolic output, evaluated at each size of `n`, equals the real layer's.

    Where the real layer refuses a size, the table must refuse it too.
    """
    info = LAYERS[name]
    args = {key: Dim.const(v) if isinstance(v, int) and not isinstance(v, bool) else v for key, v in args.items()}
    try:
        symbolic = info.output(args, inputs)
    except LayerShapeError:
        symbolic = None  # sizes that agree only for some n: each concrete n is checked below
    for size in sizes:
        concrete_inputs = _at(inputs, size)
        full = dict(args)
        full.update({k: v for k, v in info.infer(args, concrete_inputs).items()})
        try:
            real = _real_output(name, full, concrete_inputs)
        except (ValueError, TypeError, NotImplementedError):
            with pytest.raises(LayerShapeError):
                info.output(args, concrete_inputs)
            continue
        if symbolic is not None:
            _assert_same(_at(symbolic, size), real)
        _assert_same(info.output(args, concrete_inputs), real)


def f32(*shape):
    return TensorType.of("f32", shape)


CONV_PADDINGS = (0, 1, ((0, 2),), "SAME", "SAME_LOWER", "VALID")


@pytest.mark.parametrize("kernel, stride", list(itertools.product((1, 2, 3), (1, 2, 3))))
def test_conv1d_sizes(kernel, stride):
    for padding in CONV_PADDINGS:
        for dilation in (1, 2):
            args = {"out_channels": 2, "kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dilation}
            check_case("Conv1d", args, (f32(3, n),))


def test_conv_variants():
    check_case("Conv2d", {"out_channels": 4, "kernel_size": (3, 1), "stride": (2, 1), "padding": ((1, 0), (0, 1))}, (f32(2, n, 4),))
    check_case("Conv3d", {"out_channels": 2, "kernel_size": 2, "padding": "SAME"}, (f32(1, 3, n, 2),), sizes=(4, 5))
    check_case("Conv", {"num_spatial_dims": 2, "out_channels": 2, "kernel_size": 3, "groups": 2}, (f32(4, n, n),), sizes=(5,))
    check_case("Conv1d", {"out_channels": 2, "kernel_size": 3, "padding": 1, "padding_mode": "CIRCULAR"}, (f32(3, n),))
    check_case("Conv1d", {"out_channels": 2, "kernel_size": 3, "padding": 2, "padding_mode": "REFLECT"}, (f32(3, n),))
    check_case("Conv1d", {"out_channels": 2, "kernel_size": 3, "dtype": "f16"}, (TensorType.of("f16", (3, n)),), sizes=(5,))
    with pytest.raises(LayerShapeError, match="parameters are f16"):
        LAYERS["Conv1d"].output({"out_channels": Dim.const(2), "kernel_size": Dim.const(3), "dtype": "f16"}, (f32(3, 5),))


@pytest.mark.parametrize("kernel, stride", list(itertools.product((1, 2, 3), (1, 2, 3))))
def test_transposed_conv1d_sizes(kernel, stride):
    for padding in (0, 1, ((1, 0),), "SAME", "SAME_LOWER", "VALID"):
        for output_padding in range(min(stride, 2)):
            args = {"out_channels": 2, "kernel_size": kernel, "stride": stride, "padding": padding, "output_padding": output_padding}
            check_case("ConvTranspose1d", args, (f32(3, n),), sizes=(5, 6))
    check_case("ConvTranspose1d", {"out_channels": 2, "kernel_size": kernel, "stride": stride, "dilation": 2}, (f32(3, n),), sizes=(5,))


def test_transposed_conv_variants():
    args = {"out_channels": 2, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1}
    check_case("ConvTranspose2d", args, (f32(3, n, 4),), sizes=(5,))
    check_case("ConvTranspose", {"num_spatial_dims": 1, **args}, (f32(3, n),), sizes=(5,))


@pytest.mark.parametrize(
    ("name", "args", "channels"),
    [
        ("ConvTranspose1d", {"kernel_size": 3, "stride": 2, "padding_mode": "REFLECT"}, 3),
        ("ConvTranspose1d", {"kernel_size": 3, "padding_mode": "REPLICATE"}, 3),
        ("ConvTranspose1d", {"kernel_size": 3, "stride": 2, "padding": "SAME", "padding_mode": "CIRCULAR"}, 3),
        ("ConvTranspose1d", {"kernel_size": 3, "stride": 2, "padding": "SAME_LOWER", "padding_mode": "CIRCULAR"}, 3),
        ("ConvTranspose1d", {"kernel_size": 3, "padding": 1, "padding_mode": "CIRCULAR"}, 3),
        ("ConvTranspose1d", {"kernel_size": 3, "stride": 2, "padding": "SAME", "output_padding": 1, "padding_mode": "CIRCULAR"}, 3),
        ("ConvTranspose1d", {"kernel_size": 3, "stride": 2, "output_padding": 2}, 3),
        ("ConvTranspose", {"num_spatial_dims": 1, "kernel_size": 2, "stride": 3, "output_padding": 2}, 3),
        ("Conv1d", {"kernel_size": 3, "groups": 2}, 3),
        ("Conv1d", {"kernel_size": 3, "groups": 2}, 4),
        ("ConvTranspose1d", {"kernel_size": 3, "groups": 3}, 3),
    ],
)
def test_constructor_refusals_agree_with_the_runtime(name, args, channels):
    # The runtime's constructor refuses these, or builds them: the table must agree either way.
    check_case(name, {"out_channels": 6, **args}, (f32(channels, n),))


def test_group_norm_refuses_as_the_runtime_does():
    check_case("GroupNorm", {"groups": 4}, (f32(6, n),), sizes=(5,))
    check_case("GroupNorm", {"groups": 3}, (f32(6, n),), sizes=(5,))
    with pytest.raises(ValueError, match="channels"):
        nn.GroupNorm(3)
    with pytest.raises(LayerShapeError, match="channelwise_affine needs the channel count"):
        LAYERS["GroupNorm"].construct({"groups": Dim.const(3)})
    LAYERS["GroupNorm"].construct({"groups": Dim.const(3), "channelwise_affine": False})


@pytest.mark.parametrize("use_ceil", (False, True))
def test_pool_sizes(use_ceil):
    for kernel, stride, padding in itertools.product((1, 2, 3), (1, 2, 3), (0, 1)):
        args = {"kernel_size": kernel, "stride": stride, "padding": padding, "use_ceil": use_ceil}
        check_case("MaxPool1d", args, (f32(2, n),))
    check_case("AvgPool2d", {"kernel_size": 2, "stride": 2, "use_ceil": use_ceil}, (f32(2, n, 4),))
    check_case("MaxPool3d", {"kernel_size": (2, 1, 1), "stride": 2}, (f32(2, n, 2, 3),), sizes=(5,))
    check_case("Pool", {"init": 0, "operation": "add", "num_spatial_dims": 1, "kernel_size": 2}, (f32(2, n),), sizes=(5,))


def test_adaptive_pool_sizes():
    check_case("AdaptiveAvgPool1d", {"target_shape": 3}, (f32(2, n),), sizes=(2, 3, 7))
    check_case("AdaptiveMaxPool2d", {"target_shape": (2, 1)}, (f32(2, n, 3),), sizes=(2, 5))
    check_case("AdaptiveMaxPool3d", {"target_shape": 1}, (f32(1, n, 2, 2),), sizes=(3,))
    check_case("AdaptivePool", {"target_shape": 2, "num_spatial_dims": 1, "operation": "reduce_max"}, (f32(2, n),), sizes=(4,))


def test_dense_layers():
    check_case("Linear", {"out_features": 3}, (f32(n),))
    check_case("Linear", {"in_features": 6, "out_features": 3}, (f32(n),))  # refused except at n == 6
    check_case("Linear", {"out_features": "scalar"}, (f32(),))
    check_case("Linear", {"in_features": "scalar", "out_features": 2}, (f32(n),), sizes=(2,))
    check_case("MLP", {"out_size": 2, "width_size": 4, "depth": 2, "activation": "tanh"}, (f32(n),), sizes=(5,))
    check_case("MLP", {"out_size": "scalar", "width_size": 4, "depth": 1}, (f32(),), sizes=(5,))
    check_case("Identity", {}, (f32(n, 2),), sizes=(5,))
    check_case("PReLU", {}, (f32(n, 2),), sizes=(5,))
    check_case("Dropout", {"p": 0.3}, (f32(n),), sizes=(5,))


def test_norms():
    check_case("LayerNorm", {}, (f32(n),))
    check_case("LayerNorm", {"shape": (3, 5)}, (f32(3, n),))  # refused except at n == 5
    check_case("RMSNorm", {"use_bias": False}, (f32(2, n),), sizes=(5,))
    check_case("GroupNorm", {"groups": 2}, (f32(n, 3),))  # odd channel counts refused
    check_case("GroupNorm", {"groups": 3, "channels": 6}, (f32(n),), sizes=(6, 5))
    check_case("BatchNorm", {"axis_name": "batch"}, (f32(n, 2),), sizes=(5,))


def test_embeddings():
    check_case("Embedding", {"num_embeddings": 10, "embedding_size": 4}, (TensorType.of("i32", ()),), sizes=(5,))
    check_case("RotaryPositionalEmbedding", {}, (f32(3, n),), sizes=(4, 6))
    with pytest.raises(LayerShapeError, match="integer index"):
        LAYERS["Embedding"].output({"num_embeddings": Dim.const(3), "embedding_size": Dim.const(4)}, (f32(),))
    with pytest.raises(LayerShapeError, match="even"):
        LAYERS["RotaryPositionalEmbedding"].output({}, (f32(3, 5),))


def test_recurrent_cells():
    check_case("GRUCell", {"hidden_size": 4}, (f32(n), f32(4)), sizes=(5,))
    check_case("GRUCell", {"hidden_size": 4}, (f32(3), f32(n)))  # refused except at n == 4
    check_case("LSTMCell", {"hidden_size": 4}, (f32(n), (f32(4), f32(4))), sizes=(5,))
    with pytest.raises(LayerShapeError, match="pair"):
        LAYERS["LSTMCell"].output({"hidden_size": Dim.const(4)}, (f32(3), f32(4)))


def test_attention():
    q, kv = f32(n, 8), f32(5, 8)
    check_case("MultiheadAttention", {"num_heads": 2}, (q, kv, kv), sizes=(3,))
    check_case("MultiheadAttention", {"num_heads": 2, "output_size": 6}, (q, f32(5, 4), f32(5, 6)), sizes=(3,))
    check_case("MultiheadAttention", {"num_heads": 2}, (q, kv, kv, TensorType.of("bool", (n, 5))), sizes=(3,))
    check_case("MultiheadAttention", {"num_heads": 2}, (q, kv, kv, TensorType.of("bool", (2, n, 5))), sizes=(3,))
    check_case("MultiheadAttention", {"num_heads": 2, "dropout_p": 0.1}, (f32(3, 8), f32(n, 8), f32(5, 8)), sizes=(4, 5))
    inferred = LAYERS["MultiheadAttention"].infer({"num_heads": Dim.const(2)}, (q, f32(5, 4), kv))
    assert inferred == {"query_size": 8, "key_size": 4}


def test_wrappers():
    inner = BoundLayer(LAYERS["Linear"], {"in_features": Dim.const(3), "out_features": Dim.const(2)})
    check_case("WeightNorm", {"layer": inner}, (f32(n),), sizes=(3, 4))
    check_case("SpectralNorm", {"layer": inner, "weight_name": "weight"}, (f32(n),), sizes=(3,))


def _bound(name: str, **args) -> BoundLayer:
    info = LAYERS[name]
    return BoundLayer(info, info.with_defaults({k: Dim.const(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in args.items()}))


@pytest.mark.parametrize(
    ("name", "args", "inputs"),
    [
        ("WeightNorm", {"layer": _bound("Linear", in_features=3, out_features=2, use_bias=False), "weight_name": "bias"}, (f32(3),)),
        ("WeightNorm", {"layer": _bound("Linear", in_features=3, out_features=2), "weight_name": "bias"}, (f32(3),)),
        ("WeightNorm", {"layer": _bound("Linear", in_features=3, out_features=2), "axis": 2}, (f32(3),)),
        ("WeightNorm", {"layer": _bound("Linear", in_features=3, out_features=2), "axis": -2}, (f32(3),)),
        ("WeightNorm", {"layer": _bound("Conv1d", in_channels=4, out_channels=2, kernel_size=3), "axis": 2}, (f32(4, 6),)),
        ("WeightNorm", {"layer": _bound("Conv1d", in_channels=3, out_channels=4, kernel_size=3, groups=2)}, (f32(3, 6),)),
        ("SpectralNorm", {"layer": _bound("LayerNorm", shape=3), "weight_name": "weight"}, (f32(3),)),
        ("SpectralNorm", {"layer": _bound("Conv2d", in_channels=2, out_channels=4, kernel_size=3), "weight_name": "weight"}, (f32(2, 5, 5),)),
    ],
)
def test_wrapper_refusals_agree_with_the_runtime(name, args, inputs):
    check_case(name, args, inputs, sizes=(0,))


def test_shape_errors_name_the_disagreement():
    conv = LAYERS["Conv2d"]
    args = {"in_channels": Dim.const(3), "out_channels": Dim.const(8), "kernel_size": Dim.const(3)}
    with pytest.raises(LayerShapeError) as error:
        conv.output(args, (f32(1, 8, 8),))
    assert error.value.message == (
        "Conv2d(in_channels=3, out_channels=8, kernel_size=3): axis 0 (channels) of the input f32[1, 8, 8] is 1, "
        "but in_channels is 3"
    )
    with pytest.raises(LayerShapeError, match="takes its input of shape .channels, H, W., got f32.8, 8. with 2 axes"):
        conv.output(args, (f32(8, 8),))
    with pytest.raises(LayerShapeError, match="output axis 1") as error:
        conv.output(args, (f32(3, 2, 8),))
    width = Dim.symbol("width")
    with pytest.raises(LayerShapeError) as error:
        LAYERS["LayerNorm"].output({"shape": width}, (f32(n),))
    assert "cannot show" in error.value.hint
    with pytest.raises(LayerShapeError, match="padding 'SMAE'") as error:
        conv.output({**args, "padding": "SMAE"}, (f32(3, 8, 8),))
    assert error.value.hint == "did you mean 'SAME'?"


def test_every_argument_default_is_in_value_form():
    for info in LAYERS.values():
        for arg in info.args:
            if arg.kind == "int" and arg.default not in (REQUIRED, None):
                assert isinstance(arg.default, Dim), (info.name, arg.name)


# -- drawn convolutions and pools: the table and the runtime agree both ways -----------------
#
# Where the runtime builds and applies a drawn layer the table gives its output shape; where
# the runtime refuses it (at construction or at the call) the table refuses it too, so that a
# spec the compiler accepts never fails when its model is built or run.

SPATIAL = {"Conv1d": 1, "Conv2d": 2, "ConvTranspose1d": 1, "ConvTranspose2d": 2, "MaxPool1d": 1, "AvgPool2d": 2}
_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _per_axis(values: st.SearchStrategy[int], axes: int) -> st.SearchStrategy[object]:
    """An int, or one int per axis."""
    return values | st.tuples(*[values] * axes)


def _padding(axes: int) -> st.SearchStrategy[object]:
    pair = st.tuples(st.integers(0, 3), st.integers(0, 3))
    return st.sampled_from(["SAME", "SAME_LOWER", "VALID"]) | _per_axis(st.integers(0, 3), axes) | st.tuples(*[pair] * axes)


@st.composite
def convolutions(draw: st.DrawFn) -> tuple[str, dict, tuple]:
    name = draw(st.sampled_from(["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]))
    axes = SPATIAL[name]
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    args: dict[str, object] = {
        "out_channels": draw(st.integers(1, 3)) * draw(st.sampled_from([1, groups, groups, groups])),
        "kernel_size": draw(_per_axis(st.integers(1, 4), axes)),
        "stride": draw(_per_axis(st.integers(1, 3), axes)),
        "padding": draw(_padding(axes)),
        "dilation": draw(_per_axis(st.integers(1, 2), axes)),
        "groups": groups,
        "padding_mode": draw(st.sampled_from(["ZEROS", "ZEROS", "ZEROS", "REFLECT", "REPLICATE", "CIRCULAR"])),
    }
    if name.startswith("ConvTranspose"):
        args["output_padding"] = draw(_per_axis(st.integers(0, 2), axes))
    channels = draw(st.integers(1, 3)) * draw(st.sampled_from([1, groups, groups, groups]))
    spatial = draw(st.tuples(*[st.integers(1, 7)] * axes))
    return name, args, (f32(channels, *spatial),)


@st.composite
def pools(draw: st.DrawFn) -> tuple[str, dict, tuple]:
    name = draw(st.sampled_from(["MaxPool1d", "AvgPool2d"]))
    axes = SPATIAL[name]
    args = {
        "kernel_size": draw(_per_axis(st.integers(1, 4), axes)),
        "stride": draw(_per_axis(st.integers(1, 3), axes)),
        "padding": draw(_per_axis(st.sampled_from([0, 0, 1, 2]), axes)),
        "use_ceil": draw(st.booleans()),
    }
    spatial = draw(st.tuples(*[st.integers(1, 7)] * axes))
    return name, args, (f32(2, *spatial),)


def _agree(name: str, args: dict, inputs: tuple) -> None:
    """The table's output is the runtime's; the table refuses what the runtime refuses, and may
    refuse beyond that only an output with an empty axis (JAX computes one; it is a mistake)."""
    info = LAYERS[name]
    args = {key: Dim.const(v) if isinstance(v, int) and not isinstance(v, bool) else v for key, v in args.items()}
    full = {**args, **info.infer(args, inputs)}
    try:
        real = _real_output(name, full, inputs)
    except (ValueError, TypeError, NotImplementedError):
        real = None
    try:
        table = info.output(args, inputs)
    except LayerShapeError as error:
        assert real is None or 0 in real.shape, f"the table refuses what the runtime computes as {real}: {error}"
        return
    assert real is not None, f"the table accepts (giving {table}) what the runtime refuses"
    _assert_same(table, real)


@_SETTINGS
@given(convolutions())
def test_drawn_convolutions_agree_with_the_runtime(case: tuple[str, dict, tuple]) -> None:
    _agree(*case)


@_SETTINGS
@given(pools())
def test_drawn_pools_agree_with_the_runtime(case: tuple[str, dict, tuple]) -> None:
    _agree(*case)
