"""tree_serialise_leaves / tree_deserialise_leaves: round trips and every error."""

import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqxdsl.runtime import CheckpointError, Module, field, filter_eval_shape, tree_deserialise_leaves, tree_serialise_leaves, tree_equal


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
    with pytest.raises(CheckpointError, match="not an eqxdsl leaf file"):
        tree_deserialise_leaves(io.BytesIO(b"garbage" + bytes(data)), make_model())
    header_start = data.index(b'{"path"')
    broken = bytearray(data)
    broken[header_start] = ord("[")
    with pytest.raises(CheckpointError, match="not readable"):
        tree_deserialise_leaves(io.BytesIO(bytes(broken)), make_model())
    with pytest.raises(CheckpointError, match="after the last leaf"):
        tree_deserialise_leaves(io.BytesIO(bytes(data) + b"x"), make_model())
