"""Logical axis names in specs: the `axes:` block and `shard`, their output and their errors."""

from __future__ import annotations

import textwrap

import pytest

from eqxdsl.compiler import compile_source
from eqxdsl.compiler.diagnostics import CompileError
from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.library.layers import LAYERS

BLOCK = """
model Block(dim: int, heads: int):
    input x: f32[T, dim]
    attn = MultiheadAttention(num_heads=heads, query_size=dim)
    fc = Linear(out_features=4 * dim)
    proj = Linear(out_features=dim, use_bias=False)

    axes:
        attn.query_proj.weight: ("heads", "embed")
        fc.weight: ("mlp", "embed")
        fc.bias: ("mlp",)
        proj.weight: ("embed", "mlp")

    forward:
        h = shard(map(fc, x), (None, "mlp"))
        return x + attn(x, x, x) + map(proj, h)
"""

GPT = BLOCK + """
model GPT(vocab: int = 64, dim: int = 32, depth: int = 2):
    input tokens: i32[T]
    assert T <= 16
    embed = Embedding(vocab, dim)
    pos = param f32[16, dim] = normal(stddev=0.02)
    blocks = repeat depth scan: Block(dim, 4)
    hidden = repeat 2: Linear(out_features=dim)

    axes:
        tokens: ("batch", None)
        embed.weight: ("vocab", "embed")
        pos: (None, "embed")
        blocks: ("layers",)
        hidden.*.weight: ("embed", None)

    forward:
        x = map(embed, tokens) + pos[:T]
        for block in blocks:
            x = block(x)
        for layer in hidden:
            x = map(layer, x)
        return x @ embed.weight.T
"""


def diagnostics(source: str) -> list[tuple[int, int, str, str | None]]:
    with pytest.raises(CompileError) as caught:
        compile_source(textwrap.dedent(source), "m.eqx")
    return [(d.line, d.column, d.message, d.hint) for d in caught.value.diagnostics]


def only(source: str) -> tuple[int, int, str, str | None]:
    (found,) = diagnostics(source)
    return found


def test_the_tables_become_class_attributes():
    code = compile_source(GPT, "m.eqx")
    namespace: dict = {}
    exec(compile(code, "m.py", "exec"), namespace)
    assert namespace["Block"].__logical_axes__ == {
        "attn.query_proj.weight": ("heads", "embed"),
        "fc.weight": ("mlp", "embed"),
        "fc.bias": ("mlp",),
        "proj.weight": ("embed", "mlp"),
    }
    assert namespace["GPT"].__logical_axes__ == {
        "embed.weight": ("vocab", "embed"),
        "pos": (None, "embed"),
        "blocks": ("layers",),
        "hidden.*.weight": ("embed", None),
    }
    assert namespace["GPT"].__input_axes__ == {"tokens": ("batch", None)}
    assert not hasattr(namespace["Block"], "__input_axes__")
    assert 'h = eqx.with_logical_constraint(jax.vmap(self.fc)(x), (None, "mlp"))' in code


def test_the_runtime_reads_the_generated_tables():
    jax = pytest.importorskip("jax")
    import eqxdsl.runtime as eqx

    namespace: dict = {}
    exec(compile(compile_source(GPT, "m.eqx"), "m.py", "exec"), namespace)
    model = eqx.filter_eval_shape(lambda key: namespace["GPT"](key=key), jax.random.key(0))
    rules = (("batch", "data"), ("layers", None), ("vocab", "model"), ("embed", None), ("heads", "model"), ("mlp", "model"))
    specs = eqx.partition_specs(model, rules, {"data": 2, "model": 2}, data_names=("batch",))
    P = jax.sharding.PartitionSpec
    assert specs.embed.weight == P("model", None)
    assert specs.blocks.attn.query_proj.weight == P(None, "model", None)
    assert specs.blocks.attn.key_proj.weight == P(None, None, None)
    assert specs.blocks.fc.bias == P(None, "model")
    assert specs.blocks.proj.weight == P(None, None, "model")
    assert specs.hidden[1].weight == P(None, None)


def test_attention_arrays_match_the_runtime_layer():
    jax = pytest.importorskip("jax")
    from eqxdsl.runtime import nn

    args = {"num_heads": 2, "query_size": 8, "key_size": 6, "output_size": 5, "qk_size": 3, "use_value_bias": True}
    table = LAYERS["MultiheadAttention"].all_arrays({k: v if isinstance(v, bool) else Dim.const(v) for k, v in args.items()})
    built = nn.MultiheadAttention(**args, key=jax.random.key(0))
    arrays = {f"{name}.{attr}": getattr(getattr(built, name), attr) for name in ("query_proj", "key_proj", "value_proj", "output_proj") for attr in ("weight", "bias")}
    assert set(table) == {path for path, array in arrays.items() if array is not None}
    for path, claimed in table.items():
        assert isinstance(claimed, TensorType)
        assert tuple(d.value for d in claimed.shape) == arrays[path].shape, path


def test_a_rank_that_disagrees_with_the_attribute():
    line, column, message, hint = only(BLOCK.replace('fc.weight: ("mlp", "embed")', 'fc.weight: ("mlp",)'))
    assert (line, column) == (10, 20)
    assert message == "1 logical axis names for fc.weight, an array of rank 2 ([4*dim, dim])"
    assert hint == "give one name (or None) per axis"


def test_a_rank_that_disagrees_with_the_parameter():
    line, column, message, _ = only(GPT.replace('pos: (None, "embed")', 'pos: ("embed",)'))
    assert (line, column) == (29, 14)
    assert message == "1 logical axis names for pos, an array of rank 2 ([16, dim])"


def test_an_attribute_the_layer_configuration_lacks():
    line, column, message, hint = only(BLOCK.replace('proj.weight: ("embed", "mlp")', 'proj.bias: ("embed",)'))
    assert (line, column) == (12, 9)
    assert message == "proj.bias: Linear has no array 'bias' with these arguments"
    assert hint == "it has one only with use_bias=True"


def test_a_misspelt_attention_array_gets_a_suggestion():
    line, column, message, hint = only(BLOCK.replace("attn.query_proj.weight", "attn.query.weight"))
    assert (line, column) == (9, 9)
    assert message == "attn.query.weight: MultiheadAttention has no array 'query.weight' with these arguments"
    assert hint == "did you mean 'query_proj.weight'?"


def test_a_name_used_twice_in_one_array():
    line, column, message, hint = only(BLOCK.replace('fc.weight: ("mlp", "embed")', 'fc.weight: ("mlp", "mlp")'))
    assert (line, column) == (10, 28)
    assert message == ("the logical axis name 'mlp' names two axes of one array (axes 0 and 1); "
                       "a mesh axis can shard only one axis of an array")
    assert hint == "use None for one of them, or another name"


def test_a_name_used_twice_in_shard():
    line, column, message, _ = only(BLOCK.replace('(None, "mlp"))', '("mlp", "mlp"))'))
    assert (line, column) == (15, 31)
    assert message.startswith("shard: the logical axis name 'mlp' names two axes of one array (axes 0 and 1)")


def test_a_rank_that_disagrees_in_shard():
    line, column, message, _ = only(BLOCK.replace('(None, "mlp"))', '("mlp",))'))
    assert (line, column) == (15, 31)
    assert message == "shard: 1 logical axis names for an array of rank 2 (f32[T, 4*dim])"


def test_an_unknown_field_gets_a_suggestion():
    line, column, message, hint = only(GPT.replace("embed.weight: (", "embd.weight: ("))
    assert (line, column) == (28, 9)
    assert message == "GPT has no field or input 'embd'"
    assert hint == "did you mean 'embed'?"


def test_a_scanned_stack_takes_one_name():
    line, column, message, _ = only(GPT.replace('blocks: ("layers",)', 'blocks: ("layers", None)'))
    assert (line, column) == (30, 17)
    assert message == "2 logical axis names for the scanned stack blocks, which adds one axis (its layers)"


def test_a_scanned_stack_of_a_model_that_names_its_arrays_needs_its_layer_axis_named():
    line, column, message, hint = only(GPT.replace('        blocks: ("layers",)\n', ""))
    assert (line, column) == (23, 5)
    assert message == ("blocks stacks Block, whose axes: block names the arrays of one layer, "
                       "but the stack's layer axis has no name")
    assert hint == "add `blocks: (\"layers\",)` to GPT's axes: block (or `(None,)` to keep it unsharded)"


def test_an_array_inside_a_scanned_stack_needs_the_stack_named():
    source = """
    model M(depth: int = 2):
        input x: f32[8]
        layers = repeat depth scan: Linear(8, 8)
        axes:
            layers.weight: ("mlp", "embed")
        forward:
            for layer in layers:
                x = layer(x)
            return x
    """
    line, column, message, hint = only(source)
    assert (line, column) == (6, 9)
    assert message == "layers.weight is inside the scanned stack layers, whose layer axis has no name"
    assert hint == 'name it too: `layers: ("layers",)` (or `(None,)` to keep it unsharded)'


def test_an_input_names_its_batch_axis_first():
    line, column, message, hint = only(GPT.replace('tokens: ("batch", None)', 'tokens: ("batch",)'))
    assert (line, column) == (27, 17)
    assert message == ("1 logical axis names for the input tokens, which the caller maps over a batch: "
                       "2 are needed, the batch axis first, then its 1 own")
    assert hint == 'e.g. ("batch", None)'


def test_an_array_named_twice():
    line, column, message, _ = only(GPT.replace('hidden.*.weight: ("embed", None)', 'hidden.*.weight: ("embed", None)\n        hidden.1.weight: (None, None)'))
    assert (line, column) == (32, 9)
    assert message == "hidden.1.weight is already named on line 31 (hidden.*.weight)"


def test_an_array_already_named_by_the_model_it_belongs_to():
    line, column, message, _ = only(GPT.replace('blocks: ("layers",)', 'blocks: ("layers",)\n        blocks.fc.bias: ("mlp",)'))
    assert (line, column) == (31, 9)
    assert message == "blocks.fc.bias is already named by Block's axes: block, on line 11"


def test_an_unrolled_stack_is_indexed():
    line, column, message, _ = only(GPT.replace("hidden.*.weight", "hidden.2.weight"))
    assert (line, column) == (31, 9)
    assert message == "hidden has 2 layers: there is no layer 2"
    _, _, message, hint = only(GPT.replace("hidden.*.weight", "hidden"))
    assert message == "hidden is an unrolled stack (a tuple of layers) with no axis of its own"
    assert hint == "name its layers' arrays: hidden.*.weight, or hidden.0.weight for the first"


def test_a_layer_itself_has_no_axes():
    _, _, message, hint = only(GPT.replace("embed.weight: (", "embed: ("))
    assert message == "embed is a layer: name one of its arrays"
    assert hint == "e.g. embed.weight; its arrays: weight"


def test_names_are_a_tuple_of_strings():
    line, column, message, hint = only(GPT.replace('pos: (None, "embed")', 'pos: ("embed")'))
    assert (line, column) == (29, 15)
    assert message == "logical axis names are a tuple; a tuple of one name needs a trailing comma"
    assert hint == 'write ("embed",)'
    line, column, message, hint = only(GPT.replace('pos: (None, "embed")', "pos: (None, embed)"))
    assert (line, column) == (29, 21)
    assert message == 'a logical axis name is a string such as "embed", or None for an axis never sharded'
    assert hint == 'write it as a string: "embed"'


def test_a_conditional_field_cannot_be_named():
    source = """
    model M(wide: bool = True):
        input x: f32[8]
        if wide:
            fc = Linear(8, 8)
        axes:
            fc.weight: (None, "mlp")
        forward:
            return fc(x) if fc else x
    """
    line, column, message, _ = only(source)
    assert (line, column) == (7, 9)
    assert message == "fc exists only when its `if` holds, and the axes table is fixed for the class"


def test_one_axes_block_at_the_top_of_the_model():
    source = """
    model M(wide: bool = True):
        input x: f32[8]
        fc = Linear(8, 8)
        axes:
            fc.weight: (None, "mlp")
        if wide:
            axes:
                fc.bias: ("mlp",)
        forward:
            return fc(x)
    """
    found = diagnostics(source)
    assert [(line, column, message) for line, column, message, _ in found] == [
        (8, 9, "a model has one `axes:` block; the first is on line 5"),
    ]
