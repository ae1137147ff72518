"""The layer table's attributes, held against the runtime layers they describe.

Every attribute a row claims must exist on the built layer (not None) with the
claimed shape and dtype, for every combination of the row's flags; and every
`weight` or `bias` the built layer holds must be claimed.
"""

from __future__ import annotations

import itertools

import pytest

from eqxdsl.compiler import compile_source
from eqxdsl.compiler.diagnostics import CompileError
from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.library.layers import LAYERS

jax = pytest.importorskip("jax")
nn = pytest.importorskip("eqxdsl.runtime.nn")

# Sizes for each row that claims attributes: the table's view and the runtime's.
EXAMPLES: dict[str, dict[str, object]] = {
    "Linear": {"in_features": 3, "out_features": 5},
    "Embedding": {"num_embeddings": 7, "embedding_size": 4},
    "LayerNorm": {"shape": (6,)},
    "RMSNorm": {"shape": (2, 6)},
    "Conv": {"num_spatial_dims": 1, "in_channels": 2, "out_channels": 3, "kernel_size": 3},
    "Conv1d": {"in_channels": 2, "out_channels": 3, "kernel_size": 3},
    "Conv2d": {"in_channels": 2, "out_channels": 3, "kernel_size": 3},
    "Conv3d": {"in_channels": 2, "out_channels": 3, "kernel_size": 3},
    "ConvTranspose": {"num_spatial_dims": 1, "in_channels": 2, "out_channels": 3, "kernel_size": 3},
    "ConvTranspose1d": {"in_channels": 2, "out_channels": 3, "kernel_size": 3},
    "ConvTranspose2d": {"in_channels": 2, "out_channels": 3, "kernel_size": 3},
    "ConvTranspose3d": {"in_channels": 2, "out_channels": 3, "kernel_size": 3},
}


def _as_table_value(value: object) -> object:
    if isinstance(value, int) and not isinstance(value, bool):
        return Dim.const(value)
    if isinstance(value, tuple):
        return tuple(_as_table_value(item) for item in value)
    return value


def _flag_combinations(name: str) -> list[dict[str, bool]]:
    flags = [arg.name for arg in LAYERS[name].args if arg.kind == "bool" and arg.name.startswith("use_")]
    return [dict(zip(flags, values)) for values in itertools.product([True, False], repeat=len(flags))]


def _claims(name: str) -> bool:
    return bool(LAYERS[name].attributes({arg: _as_table_value(v) for arg, v in EXAMPLES.get(name, {}).items()}))


def test_every_row_with_attributes_has_an_example():
    # A row that claims attributes with sizes it can be built from must be tested below.
    assert {name for name in LAYERS if _claims(name)} == set(EXAMPLES)
    probe = {"in_features": Dim.const(3), "out_features": Dim.const(5), "num_embeddings": Dim.const(7),
             "embedding_size": Dim.const(4), "shape": (Dim.const(6),), "in_channels": Dim.const(2),
             "out_channels": Dim.const(3)}
    claiming = {name for name, row in LAYERS.items()
                if row.attributes({a.name: probe[a.name] for a in row.args if a.name in probe})}
    assert claiming <= set(EXAMPLES)


@pytest.mark.parametrize(
    ("name", "flags"),
    [(name, flags) for name in EXAMPLES for flags in _flag_combinations(name)],
    ids=lambda value: value if isinstance(value, str) else ",".join(f"{k}={v}" for k, v in value.items()),
)
def test_claimed_attributes_exist_with_their_shapes(name, flags):
    args = {**EXAMPLES[name], **flags}
    claimed = LAYERS[name].attributes({arg: _as_table_value(value) for arg, value in args.items()})
    built = getattr(nn, name)(**args, key=jax.random.key(0)) if LAYERS[name].init_key else getattr(nn, name)(**args)
    for attribute, value in claimed.items():
        array = getattr(built, attribute, None)
        assert array is not None, f"{name}({args}) claims {attribute!r}, which the built layer lacks"
        if isinstance(value, TensorType):
            assert array.shape == tuple(dim.value for dim in value.shape)
            assert str(array.dtype) == {"f32": "float32"}[value.dtype]
    for attribute in ("weight", "bias"):
        if getattr(built, attribute, None) is not None:
            assert attribute in claimed, f"{name}({args}) has {attribute!r}, which the table does not claim"


@pytest.mark.parametrize(("layer", "attribute"), [("LayerNorm(8, use_bias=False)", "bias"),
                                                  ("LayerNorm(8, use_weight=False)", "weight"),
                                                  ("Linear(8, 8, use_bias=False)", "bias")])
def test_an_attribute_the_layer_lacks_is_a_located_error(layer, attribute):
    # LayerNorm(dim, use_bias=False) once reported a `bias`: `ln(x) + ln.bias` compiled and failed at run time.
    spec = f"model M():\n    input x: f32[8]\n    ln = {layer}\n    forward:\n        return ln(x) + ln.{attribute}\n"
    with pytest.raises(CompileError) as caught:
        compile_source(spec, "m.eqx")
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.column) == (5, 24)
    assert f"has no array attribute {attribute!r}" in diagnostic.message


def test_an_attribute_the_layer_has_compiles():
    spec = "model M():\n    input x: f32[8]\n    ln = LayerNorm(8, use_weight=False)\n    forward:\n        return ln(x) + ln.bias\n"
    assert "self.ln.bias" in compile_source(spec, "m.eqx")
