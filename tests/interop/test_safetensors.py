"""save_safetensors / load_safetensors: tensors keyed by PyTree paths, renamed keys, and the
errors that list every missing, extra or mismatched tensor."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqxdsl.runtime as eqx

safetensors_numpy = pytest.importorskip("safetensors.numpy")


class Attention(eqx.Module):
    query_proj: eqx.nn.Linear
    scale: jax.Array


class Block(eqx.Module):
    attn: Attention
    norm: eqx.nn.LayerNorm


class Model(eqx.Module):
    blocks: list
    steps: int
    head_bias: np.ndarray
    activation: object = eqx.field(static=True, default=jnp.tanh)


def make(seed: int = 0) -> Model:
    keys = jax.random.split(jax.random.key(seed), 2)
    blocks = [
        Block(Attention(eqx.nn.Linear(4, 4, key=key), jnp.asarray(0.5 + seed, jnp.bfloat16)), eqx.nn.LayerNorm(4))
        for key in keys
    ]
    return Model(blocks, 10 + seed, np.arange(3, dtype=np.int16) + seed)


def stored_names(path) -> list[str]:
    return sorted(safetensors_numpy.load_file(str(path)))


def test_keys_are_pytree_paths_and_the_round_trip_is_exact(tmp_path):
    path = tmp_path / "model.safetensors"
    eqx.save_safetensors(path, make(1), metadata={"format": "pt"})
    assert stored_names(path) == [
        "blocks.0.attn.query_proj.bias",
        "blocks.0.attn.query_proj.weight",
        "blocks.0.attn.scale",
        "blocks.0.norm.bias",
        "blocks.0.norm.weight",
        "blocks.1.attn.query_proj.bias",
        "blocks.1.attn.query_proj.weight",
        "blocks.1.attn.scale",
        "blocks.1.norm.bias",
        "blocks.1.norm.weight",
        "head_bias",
        "steps",
    ]
    loaded = eqx.load_safetensors(path, make(0))
    assert eqx.tree_equal(loaded, make(1), typematch=True) is True
    assert loaded.blocks[0].attn.scale.dtype == jnp.bfloat16 and loaded.blocks[0].attn.scale.shape == ()
    assert type(loaded.steps) is int and isinstance(loaded.head_bias, np.ndarray)
    assert not (tmp_path / "model.safetensors.partial").exists()


def test_non_contiguous_arrays_are_written_in_logical_order(tmp_path):
    tree = {"t": np.arange(6.0, dtype=np.float32).reshape(2, 3).T, "s": np.arange(8, dtype=np.int32)[::2]}
    eqx.save_safetensors(tmp_path / "x.safetensors", tree)
    loaded = safetensors_numpy.load_file(str(tmp_path / "x.safetensors"))
    np.testing.assert_array_equal(loaded["t"], tree["t"])
    np.testing.assert_array_equal(loaded["s"], tree["s"])


def test_loading_into_a_shape_only_skeleton(tmp_path):
    eqx.save_safetensors(tmp_path / "m.safetensors", make(2))
    loaded = eqx.load_safetensors(tmp_path / "m.safetensors", eqx.filter_eval_shape(make, 0))
    assert eqx.tree_equal(loaded, make(2)) is True


def test_missing_extra_and_mismatched_tensors_are_all_listed(tmp_path):
    path = tmp_path / "m.safetensors"
    eqx.save_safetensors(path, {"a": jnp.zeros((2, 3)), "b": jnp.zeros(3, jnp.int32), "extra": jnp.zeros(1)})
    like = {"a": jnp.zeros((3, 2)), "b": jnp.zeros(3, jnp.float32), "gone": jnp.zeros(1), "also_gone": 1.0}
    with pytest.raises(eqx.CheckpointError) as raised:
        eqx.load_safetensors(path, like)
    message = str(raised.value)
    assert "missing from the file (2): also_gone, gone" in message
    assert "in the file but not in `like` (1): extra" in message
    assert "of another shape or dtype (2)" in message
    assert "a: the file has float32[2, 3], `like` has float32[3, 2]" in message
    assert "b: the file has int32[3], `like` has float32[3]" in message


def test_long_lists_are_cut_with_a_count(tmp_path):
    path = tmp_path / "m.safetensors"
    eqx.save_safetensors(path, {})
    with pytest.raises(eqx.CheckpointError, match=r"missing from the file \(25\): .*, and 5 more"):
        eqx.load_safetensors(path, [jnp.zeros(1)] * 25)


def test_a_hand_written_torch_style_file_loads_through_a_rename(tmp_path):
    """A file as PyTorch's `state_dict` names it: `layers.N`, plus a buffer with no leaf."""
    weight = np.arange(12, dtype=np.float32).reshape(4, 3)  # PyTorch's (out, in), as Equinox's Linear
    path = tmp_path / "torch.safetensors"
    safetensors_numpy.save_file(
        {
            "encoder.fc.weight": weight,
            "encoder.fc.bias": np.ones(4, np.float32),
            "encoder.norm.weight": np.full(4, 2.0, np.float32),
            "encoder.norm.bias": np.zeros(4, np.float32),
            "encoder.norm.num_batches_tracked": np.asarray(7, np.int64),
        },
        str(path),
    )
    like = eqx.nn.Sequential([eqx.nn.Linear(3, 4, key=jax.random.key(0)), eqx.nn.LayerNorm(4)])

    def rename(name: str) -> str | None:
        if name.endswith("num_batches_tracked"):
            return None
        return name.replace("encoder.fc.", "layers.0.").replace("encoder.norm.", "layers.1.")

    loaded = eqx.load_safetensors(path, like, rename=rename)
    np.testing.assert_array_equal(loaded.layers[0].weight, weight)
    np.testing.assert_array_equal(loaded.layers[1].weight, np.full(4, 2.0))

    with pytest.raises(eqx.CheckpointError, match=r"not in `like` \(5\): encoder\.fc\.bias"):
        eqx.load_safetensors(path, like)
    mapping = {"encoder.fc.weight": "layers.0.weight", "encoder.fc.bias": "layers.0.bias"}
    with pytest.raises(eqx.CheckpointError, match=r"missing from the file \(2\): layers\.1\.weight, layers\.1\.bias"):
        eqx.load_safetensors(path, like, rename=mapping)


def test_rename_on_save_writes_foreign_names(tmp_path):
    model = eqx.nn.Linear(3, 2, key=jax.random.key(0))
    eqx.save_safetensors(tmp_path / "t.safetensors", model, rename={"weight": "fc.weight", "bias": None})
    assert stored_names(tmp_path / "t.safetensors") == ["fc.weight"]


def test_names_that_collide_are_refused(tmp_path):
    with pytest.raises(eqx.CheckpointError, match=r"both have the safetensors key 'a\.b'"):
        eqx.save_safetensors(tmp_path / "c.safetensors", {"a.b": jnp.zeros(1), "a": {"b": jnp.zeros(1)}})
    with pytest.raises(eqx.CheckpointError, match=r"the same name 'w'"):
        eqx.save_safetensors(tmp_path / "c.safetensors", {"x": jnp.zeros(1), "y": jnp.zeros(1)}, rename=lambda _: "w")
    eqx.save_safetensors(tmp_path / "d.safetensors", {"x": jnp.zeros(1), "y": jnp.zeros(1)})
    with pytest.raises(eqx.CheckpointError, match="maps both 'x' and 'y' to 'x'"):
        eqx.load_safetensors(tmp_path / "d.safetensors", {"x": jnp.zeros(1)}, rename=lambda _: "x")


def test_dtypes_safetensors_lacks_are_refused_before_writing(tmp_path):
    path = tmp_path / "z.safetensors"
    with pytest.raises(eqx.CheckpointError, match=r"leaf \['z'\] has dtype complex128"):
        eqx.save_safetensors(path, {"z": np.zeros(2, np.complex128)})
    assert not path.exists() and not list(tmp_path.iterdir())


def test_unreadable_files_are_clear_errors(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{oops}")
    with pytest.raises(eqx.CheckpointError, match="not a readable safetensors file"):
        eqx.load_safetensors(path, [jnp.zeros(1)])
    with pytest.raises(FileNotFoundError):
        eqx.load_safetensors(tmp_path / "absent.safetensors", [jnp.zeros(1)])


def test_importing_the_runtime_does_not_import_safetensors():
    code = "import sys, eqxdsl.runtime; print('safetensors' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
