"""tree_serialise_leaves / tree_deserialise_leaves: round trips of every dtype and shape in
both formats, and every error."""

import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqxdsl.runtime import CheckpointError, Module, field, filter_eval_shape, tree_deserialise_leaves, tree_equal, tree_serialise_leaves
from eqxdsl.runtime import nn as eqx_nn


class Model(Module):
    weight: jax.Array
    counts: np.ndarray
    half: jax.Array
    rate: float
    steps: int
    fn: object = field(static=True, default=jnp.tanh)
    name: str = "m"


def make_model(seed=0):
    key = jax.random.key(seed)
    return Model(
        jax.random.normal(key, (3, 2)),
        np.arange(4, dtype=np.int32) + seed,
        jnp.ones(2, jnp.bfloat16) * (seed + 1),
        0.5 + seed,
        7 + seed,
    )


def saved(model):
    buffer = io.BytesIO()
    tree_serialise_leaves(buffer, model)
    return buffer.getvalue()


def test_round_trip_through_file_object_keeps_types():
    data = saved(make_model(1))
    loaded = tree_deserialise_leaves(io.BytesIO(data), make_model(0))
    assert tree_equal(loaded, make_model(1), typematch=True) is True
    assert isinstance(loaded.counts, np.ndarray) and type(loaded.steps) is int and loaded.half.dtype == jnp.bfloat16


def test_round_trip_through_path_and_shape_structs(tmp_path):
    path = tmp_path / "model.leaves"
    tree_serialise_leaves(path, make_model(2))
    assert not (tmp_path / "model.leaves.partial").exists()
    skeleton = filter_eval_shape(make_model, 0)
    assert isinstance(skeleton.weight, jax.ShapeDtypeStruct)
    loaded = tree_deserialise_leaves(str(path), skeleton)
    assert np.array_equal(loaded.weight, make_model(2).weight) and isinstance(loaded.weight, jax.Array)


def test_no_pickle_in_the_file():
    data = saved(make_model())
    assert data.startswith(b"EQXDSL-LEAVES\n")
    assert b"tanh" not in data and b"\x80\x04" not in data  # no function, no pickle protocol header


def test_shape_mismatch_names_the_leaf():
    data = saved(make_model())
    wrong = Model(jnp.zeros((2, 3)), np.zeros(4, np.int32), jnp.ones(2, jnp.bfloat16), 0.0, 0)
    with pytest.raises(CheckpointError, match=r"leaf \.weight: the file has float32\[3, 2\], `like` has float32\[2, 3\]"):
        tree_deserialise_leaves(io.BytesIO(data), wrong)


def test_dtype_and_kind_mismatch_name_the_leaf():
    data = saved(make_model())
    wrong_dtype = Model(jnp.zeros((3, 2)), np.zeros(4, np.int64), jnp.ones(2, jnp.bfloat16), 0.0, 0)
    with pytest.raises(CheckpointError, match=r"\.counts.*int32.*int64"):
        tree_deserialise_leaves(io.BytesIO(data), wrong_dtype)
    wrong_kind = Model(jnp.zeros((3, 2)), np.zeros(4, np.int32), jnp.ones(2, jnp.bfloat16), 0.0, 1.5)
    with pytest.raises(CheckpointError, match=r"\.steps.*Python int.*Python float"):
        tree_deserialise_leaves(io.BytesIO(data), wrong_kind)


def test_structure_mismatch():
    data = saved(make_model())
    with pytest.raises(CheckpointError, match="holds 5 array-like leaves, `like` has 1"):
        tree_deserialise_leaves(io.BytesIO(data), [jnp.zeros(2)])


def test_truncated_file():
    data = saved(make_model())
    with pytest.raises(CheckpointError, match=r"truncated.*leaf 4 \(\.steps\)|truncated.*\.steps"):
        tree_deserialise_leaves(io.BytesIO(data[:-3]), make_model())
    with pytest.raises(CheckpointError, match="truncated"):
        tree_deserialise_leaves(io.BytesIO(data[:20]), make_model())


def test_corrupted_values_and_headers_and_trailing_data():
    data = bytearray(saved(make_model()))
    flipped = bytearray(data)
    flipped[-1] ^= 0xFF  # inside the values of the last leaf
    with pytest.raises(CheckpointError, match=r"\.steps fail their checksum"):
        tree_deserialise_leaves(io.BytesIO(bytes(flipped)), make_model())
    with pytest.raises(CheckpointError, match="not a leaf checkpoint"):
        tree_deserialise_leaves(io.BytesIO(b"garbage" + bytes(data)), make_model())
    header_start = data.index(b'{"path"')
    broken = bytearray(data)
    broken[header_start] = ord("[")
    with pytest.raises(CheckpointError, match="not readable"):
        tree_deserialise_leaves(io.BytesIO(bytes(broken)), make_model())
    with pytest.raises(CheckpointError, match="after the last leaf"):
        tree_deserialise_leaves(io.BytesIO(bytes(data) + b"x"), make_model())


# ---- every dtype and shape, in both formats ----------------------------------------------

FORMATS = ("eqxdsl", "equinox")


def round_trip(tree, like, format):
    buffer = io.BytesIO()
    tree_serialise_leaves(buffer, tree, format=format)
    return tree_deserialise_leaves(io.BytesIO(buffer.getvalue()), like)


def assert_bitwise_equal(loaded, expected):
    """Same structure, same leaf types, and the same bytes (NaN payloads included)."""
    assert jax.tree_util.tree_structure(loaded) == jax.tree_util.tree_structure(expected)
    for x, y in zip(jax.tree_util.tree_leaves(loaded), jax.tree_util.tree_leaves(expected)):
        assert type(x) is type(y), (x, y)
        if isinstance(y, (jax.Array, np.ndarray, np.generic)):
            assert (x.dtype, x.shape) == (y.dtype, y.shape)
            assert np.asarray(x).tobytes() == np.asarray(y).tobytes()
        elif isinstance(y, (float, complex)):
            assert np.asarray(x).tobytes() == np.asarray(y).tobytes()
        else:
            assert x == y or x is y


def skeleton(tree):
    """`tree` with every stored leaf replaced by a placeholder of its type, dtype and shape."""

    def blank(leaf):
        if isinstance(leaf, jax.Array):
            return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype)
        if isinstance(leaf, (np.ndarray, np.generic)):
            return np.zeros_like(leaf) if isinstance(leaf, np.ndarray) else type(leaf)(0)
        if type(leaf) in (bool, int, float, complex):
            return type(leaf)(0)
        return leaf

    return jax.tree_util.tree_map(blank, tree)


@pytest.mark.parametrize("format", FORMATS)
def test_zero_d_leaves_round_trip(format):
    class Scale(Module):
        scale: jax.Array
        count: np.ndarray
        step: np.int32

    tree = Scale(jnp.asarray(2.5), np.asarray(3, np.int16), np.int32(-4))
    assert_bitwise_equal(round_trip(tree, skeleton(tree), format), tree)


@pytest.mark.parametrize("format", FORMATS)
def test_batch_norm_state_from_make_with_state_round_trips(format):
    model, state = eqx_nn.make_with_state(eqx_nn.BatchNorm)(3, "batch")
    _, trained = jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(
        jnp.arange(6.0).reshape(2, 3), state
    )
    like = make_state_like()
    loaded_model, loaded_state = round_trip((model, trained), like, format)
    assert_bitwise_equal(loaded_state, trained)
    assert tree_equal(loaded_model, model) is True


def make_state_like():
    return eqx_nn.make_with_state(eqx_nn.BatchNorm)(3, "batch")


ROUND_TRIP_DTYPES = [
    np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64,
    np.float16, np.float32, np.float64, np.complex64, np.complex128,
    jnp.bfloat16, jnp.float8_e4m3fn, jnp.float8_e5m2, jnp.int4,
]
JAX_DTYPES = [np.dtype(d) for d in ROUND_TRIP_DTYPES if np.dtype(d).itemsize < 8 or np.dtype(d) == np.complex64]


@st.composite
def arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(ROUND_TRIP_DTYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
    count = int(np.prod(shape))
    raw = draw(st.binary(min_size=count * dtype.itemsize, max_size=count * dtype.itemsize))
    values = np.frombuffer(raw, np.uint8) % 2 if dtype == np.bool_ else np.frombuffer(raw, dtype)
    values = values.astype(dtype).reshape(shape)
    layout = draw(st.sampled_from(("c", "fortran", "strided")))
    if layout == "fortran":
        values = np.asfortranarray(values)
    elif layout == "strided":
        values = np.stack([values, values], axis=-1)[..., 0]
    wrapper = draw(st.sampled_from(("numpy", "jax", "numpy scalar")))
    if wrapper == "jax" and dtype in JAX_DTYPES:
        return jnp.asarray(values)
    if wrapper == "numpy scalar" and shape == ():
        return values[()]
    return values


class Pair(Module):
    left: object
    right: object


class Tagged(Module):
    value: object
    tag: str = field(static=True, default="t")


scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.complex_numbers(allow_nan=True),
)
unstored = st.sampled_from([None, "text", jnp.tanh])
pytrees = st.recursive(
    st.one_of(arrays(), scalars, unstored),
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.tuples(children, children),
        st.dictionaries(st.text("ab", min_size=1, max_size=2), children, max_size=3),
        st.builds(Pair, children, children),
        st.builds(Tagged, children),
    ),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(tree=pytrees, format=st.sampled_from(FORMATS))
def test_random_pytrees_round_trip_bitwise(tree, format):
    assert_bitwise_equal(round_trip(tree, skeleton(tree), format), tree)


# ---- leaves that cannot be stored ---------------------------------------------------------


@pytest.mark.parametrize(
    "leaf, message",
    [
        (jax.ShapeDtypeStruct((2,), jnp.float32), "ShapeDtypeStruct"),
        (jax.random.key(0), "PRNG key array.*key_data"),
        (2**70, "does not fit in int64"),
        (np.array(["a", "b"]), "dtype <U1"),
        (np.array([object()]), "dtype object"),
    ],
    ids=["shape-struct", "key", "big-int", "strings", "objects"],
)
@pytest.mark.parametrize("format", FORMATS)
def test_unstorable_leaves_are_named_and_leave_the_file_alone(tmp_path, leaf, message, format):
    path = tmp_path / "checkpoint"
    path.write_bytes(b"previous")
    with pytest.raises(CheckpointError, match=rf"leaf \['bad'\].*{message}"):
        tree_serialise_leaves(path, {"bad": leaf, "good": jnp.ones(2)}, format=format)
    assert path.read_bytes() == b"previous"
    assert list(tmp_path.iterdir()) == [path]


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="format must be one of"):
        tree_serialise_leaves(io.BytesIO(), [1.0], format="pickle")


# ---- Equinox's format: what a file without names or checksums can still tell --------------


def npy_file(*arrays_in_file):
    buffer = io.BytesIO()
    for array in arrays_in_file:
        np.save(buffer, array)
    return buffer.getvalue()


def test_equinox_format_is_sniffed_and_reads_any_npy_layout():
    big_endian = np.arange(6, dtype=">f4").reshape(2, 3)
    fortran = np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3))
    loaded = tree_deserialise_leaves(io.BytesIO(npy_file(big_endian, fortran, np.float64(0.5))), [jnp.zeros((2, 3)), np.zeros((2, 3), np.int32), 0.0])
    np.testing.assert_array_equal(loaded[0], np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(loaded[1], np.arange(6).reshape(2, 3))
    assert loaded[2] == 0.5 and type(loaded[2]) is float


def test_equinox_format_mismatches_name_the_leaf():
    like = {"w": jnp.zeros((2, 3)), "b": jnp.zeros(3)}
    with pytest.raises(CheckpointError, match=r"leaf \['w'\]: the file has float32\[2\], `like` has float32\[2, 3\]"):
        tree_deserialise_leaves(io.BytesIO(npy_file(np.zeros(3, np.float32), np.zeros(2, np.float32))), like)
    with pytest.raises(CheckpointError, match=r"ends after 1 leaves, `like` has 2 .*the next is \['w'\]"):
        tree_deserialise_leaves(io.BytesIO(npy_file(np.zeros(3, np.float32))), like)
    with pytest.raises(CheckpointError, match="more than the 2 array-like leaves"):
        tree_deserialise_leaves(io.BytesIO(npy_file(*[np.zeros(3, np.float32)] * 2, np.zeros(1))), [jnp.zeros(3)] * 2)
    with pytest.raises(CheckpointError, match=r"leaf \[0\]: the file has float64\[\], `like` has a Python int"):
        tree_deserialise_leaves(io.BytesIO(npy_file(np.float64(1.0))), [7])


def test_equinox_format_truncations_are_clear_errors():
    data = npy_file(np.arange(3, dtype=np.float32), np.int64(4))
    for length in range(len(data)):
        with pytest.raises(CheckpointError, match="truncated|corrupted"):
            tree_deserialise_leaves(io.BytesIO(data[:length]), [jnp.zeros(3), 0])


def test_trees_without_stored_leaves_round_trip_in_both_formats():
    tree = {"name": "x", "fn": jnp.tanh, "nothing": None}
    for format in FORMATS:
        assert round_trip(tree, tree, format) == tree
    assert tree_deserialise_leaves(io.BytesIO(b""), tree) == tree
