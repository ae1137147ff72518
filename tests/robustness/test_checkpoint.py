"""tree_deserialise_leaves on hostile files: truncated, corrupted, for another model, or carrying a pickle.

Every such file must end in a `CheckpointError` that says what is wrong, and
nothing in a file may ever be unpickled: the pickle payloads here would create
a marker file if anything unpickled them.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ._harness import SPECS
from ._profiles import examples

jax = pytest.importorskip("jax")
jnp = jax.numpy
eqx = pytest.importorskip("eqxdsl.runtime")
import eqxdsl  # noqa: E402
from eqxdsl.runtime import (
    CheckpointError,
    tree_deserialise_leaves,
    tree_serialise_leaves,
)  # noqa: E402


def mlp_module():
    return eqxdsl.load(SPECS / "mlp.eqx")


def make(width: int = 4, seed: int = 0):
    return mlp_module().MLP(3, 2, width=width, depth=2, key=jax.random.key(seed))


def saved(model) -> bytes:
    buffer = io.BytesIO()
    tree_serialise_leaves(buffer, model)
    return buffer.getvalue()


def load(data: bytes, like):
    return tree_deserialise_leaves(io.BytesIO(data), like)


def test_round_trip_is_exact():
    model = make(seed=1)
    assert eqx.tree_equal(load(saved(model), make()), model) is True


def test_every_truncation_is_a_clear_error():
    data = saved(make())
    like = make()
    for length in range(len(data)):
        with pytest.raises(
            CheckpointError, match="truncated|not a leaf checkpoint|corrupted"
        ):
            load(data[:length], like)


def check_corruption(data: st.DataObject) -> None:
    """Flipped, inserted or deleted bytes: a CheckpointError, or (a flip inside a path label) the same values."""
    original = make()
    blob = bytearray(saved(original))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(blob) - 1))
        edit = data.draw(st.sampled_from(("flip", "insert", "delete")))
        if edit == "flip":
            blob[position] ^= data.draw(st.integers(1, 255))
        elif edit == "insert":
            blob[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del blob[position]
    try:
        loaded = load(bytes(blob), make(seed=5))
    except CheckpointError as error:
        assert str(error)
        return
    assert eqx.tree_equal(loaded, original) is True


@examples(ci=60)
@given(st.data())
def test_corrupted_bytes_are_an_error_or_the_exact_model(data):
    check_corruption(data)


def test_file_written_for_another_model_is_refused():
    data = saved(make(width=4))
    with pytest.raises(
        CheckpointError, match=r"leaf .*hidden.*float32\[4, 3\].*float32\[5, 3\]"
    ):
        load(data, make(width=5))
    linear = eqx.nn.Linear(3, 2, key=jax.random.key(0))
    with pytest.raises(CheckpointError, match="structure mismatch"):
        load(data, linear)
    with pytest.raises(CheckpointError, match="structure mismatch"):
        load(saved(linear), make())


# ---- pickle payloads ---------------------------------------------------------------------


class _Payload:
    """Unpickling this writes `marker`: proof that something unpickled the file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def _record(header: dict, payload: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<I", len(raw)) + raw + payload


def _leaf_file(records: list[tuple[dict, bytes]]) -> bytes:
    head = json.dumps({"version": 1, "count": len(records)}).encode()
    return (
        b"EQXDSL-LEAVES\n"
        + struct.pack("<I", len(head))
        + head
        + b"".join(_record(h, p) for h, p in records)
    )


def _pickle_files(marker: Path) -> dict[str, bytes]:
    bomb = pickle.dumps(_Payload(marker))
    like_record = {
        "path": "[0]",
        "kind": "array",
        "shape": [],
        "nbytes": len(bomb),
        "crc32": zlib.crc32(bomb),
    }
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    return {
        "a bare pickle": bomb,
        "a pickle after the magic": b"EQXDSL-LEAVES\n" + bomb,
        "an object-dtype leaf": _leaf_file(
            [({**like_record, "dtype": "object"}, bomb)]
        ),
        "an O-dtype leaf": _leaf_file([({**like_record, "dtype": "O"}, bomb)]),
        "a pickle kind": _leaf_file(
            [({**like_record, "kind": "pickle", "dtype": "float32"}, bomb)]
        ),
        "an npy with objects": buffer.getvalue(),
    }


@pytest.mark.parametrize("what", sorted(_pickle_files(Path("unused"))))
def test_pickle_payloads_are_never_unpickled(what, tmp_path):
    marker = tmp_path / "marker"
    data = _pickle_files(marker)[what]
    # Like-trees that would accept one leaf of any kind: a float array, an object array, a Python float.
    for like in ([jnp.zeros(())], [np.zeros((), dtype=object)], [0.0]):
        with pytest.raises(CheckpointError):
            load(data, like)
        path = tmp_path / "checkpoint.eqx-leaves"
        path.write_bytes(data)
        with pytest.raises(CheckpointError):
            tree_deserialise_leaves(path, like)
    assert not marker.exists(), f"{what} was unpickled"


# ---- headers with wrong types or absurd sizes --------------------------------------------


def _one_float_leaf(**changes) -> bytes:
    data = np.arange(2, dtype=np.float32).tobytes()
    header = {
        "path": "[0]",
        "kind": "array",
        "dtype": "float32",
        "shape": [2],
        "nbytes": len(data),
        "crc32": zlib.crc32(data),
    }
    header.update(changes)
    return _leaf_file([(header, data)])


@pytest.mark.parametrize(
    "changes",
    [
        {"nbytes": "8"},
        {"nbytes": -1},
        {"nbytes": 0, "crc32": 0},
        {"nbytes": 2**62},
        {"nbytes": 8.0},
        {"shape": [2, -1]},
        {"shape": "2"},
        {"shape": [[2]]},
        {"shape": None},
        {"dtype": "float32 "},
        {"dtype": ["float32"]},
        {"dtype": "V8"},
        {"crc32": "0"},
        {"kind": None},
        {"kind": ["array"]},
    ],
    ids=repr,
)
def test_malformed_record_headers_are_clear_errors(changes):
    with pytest.raises(CheckpointError):
        load(_one_float_leaf(**changes), [jnp.zeros(2, jnp.float32)])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"EQXDSL-LEAVES\n",
        b"EQXDSL-LEAVES\n" + struct.pack("<I", 2**32 - 1),
        b"EQXDSL-LEAVES\n" + struct.pack("<I", 4) + b"null",
        b"EQXDSL-LEAVES\n" + struct.pack("<I", 2) + b"[]",
        b"EQXDSL-LEAVES\n" + struct.pack("<I", 27) + b'{"version": 1, "count": "1"}',
        b"EQXDSL-LEAVES\n" + struct.pack("<I", 13) + b'{"count": 1} ',
        b"EQXDSL-LEAVES\n" + struct.pack("<I", 4) + b"\xff\xfe\xfd\xfc",
    ],
    ids=repr,
)
def test_malformed_file_headers_are_clear_errors(data):
    with pytest.raises(CheckpointError):
        load(data, [jnp.zeros(2, jnp.float32)])
