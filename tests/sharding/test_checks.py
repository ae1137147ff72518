"""Every sharding check: each mistake is an error that names the parameter (or rule) it is about.

These run in the test process (one CPU device): the checks need shapes and mesh
axis sizes only, and one-device meshes cover what needs a real `Mesh`.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import eqxdsl.runtime as eqx
from eqxdsl.runtime import ShardingError

from ._example import make_model, train_sharded

RULES = train_sharded.RULES
MESH_SIZES = {"data": 4, "model": 2}


def model_shapes():
    return eqx.filter_eval_shape(make_model, jax.random.key(0))


def module(name: str, table: dict, **fields):
    """An instance of a fresh Module class `name` with `__logical_axes__ = table`."""
    namespace = {"__annotations__": {field: object for field in fields}, "__logical_axes__": table, "__module__": __name__}
    return type(name, (eqx.Module,), namespace)(**fields)


def array(*shape: int) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(shape, jnp.float32)


def problems(excinfo) -> list[tuple[str, str]]:
    return [(problem.where, problem.message) for problem in excinfo.value.problems]


def only_problem(excinfo) -> tuple[str, str]:
    (problem,) = problems(excinfo)
    assert str(problem[0]) in str(excinfo.value) and problem[1] in str(excinfo.value)
    return problem


# -- the contract: logical axes from `__logical_axes__` ------------------------------------------


def test_tables_of_nested_modules_join_by_path_and_stacks_prepend_their_axes():
    axes = eqx.logical_axes(model_shapes())
    assert axes.embed.weight == P("vocab", "embed")
    assert axes.pos == P(None, "embed")
    assert axes.blocks.attn.query_proj.weight == P("layers", "heads", "embed")
    assert axes.blocks.mlp.hidden[0].bias == P("layers", "mlp")
    assert axes.blocks.ln1.weight == P("layers", None)  # under the stack, not annotated itself
    assert axes.ln.weight == P()  # annotated by nobody: replicated
    assert axes.blocks.attn.query_proj.bias is None  # not an array


def test_wildcard_segments_match_every_element_of_a_sequence():
    layers = tuple(module("Dense", {}, weight=array(8, 4)) for _ in range(3))
    net = module("Net", {"layers.*.weight": ("out", "in")}, layers=layers)
    assert [layer.weight for layer in eqx.logical_axes(net).layers] == [P("out", "in")] * 3


def test_a_subclass_inherits_its_base_table():
    base = type("Base", (eqx.Module,), {"__annotations__": {"w": object}, "__logical_axes__": {"w": ("a",)}})
    child = type("Child", (base,), {})
    assert eqx.logical_axes(child(w=array(4))).w == P("a")


def test_a_renamed_layer_is_an_error_not_a_replicated_parameter():
    inner = module("Attention", {"query.weight": ("heads", None)}, query_proj=module("Linear", {}, weight=array(8, 4)))
    net = module("Net", {}, attn=inner)
    with pytest.raises(ShardingError) as excinfo:
        eqx.logical_axes(net)
    where, message = only_problem(excinfo)
    assert where == "Attention.__logical_axes__['query.weight'] (the Attention at 'attn')"
    assert "'attn.query.weight' matches no array" in message and "did you mean 'attn.query_proj.weight'" in message


def test_an_annotation_of_a_missing_bias_is_an_error():
    linear = eqx.nn.Linear(4, 8, use_bias=False, key=jax.random.key(0))
    net = module("Net", {"fc.weight": ("mlp", "embed"), "fc.bias": ("mlp",)}, fc=linear)
    with pytest.raises(ShardingError, match=re.escape("Net.__logical_axes__['fc.bias']: 'fc.bias' matches no array")):
        eqx.logical_axes(net)


def test_a_rank_that_differs_from_the_parameter_is_an_error():
    net = module("Net", {"pos": ("embed",)}, pos=array(16, 32))
    with pytest.raises(ShardingError) as excinfo:
        eqx.logical_axes(net)
    assert only_problem(excinfo) == (
        "pos",
        "1 logical axis names ('embed',) for an array of rank 2 (shape (16, 32)), from Net.__logical_axes__['pos']",
    )


def test_stack_axes_count_towards_the_rank():
    layer = module("Layer", {"weight": ("mlp", "embed", None)}, weight=array(3, 8, 4))
    net = module("Net", {"layers": ("layers",)}, layers=layer)
    with pytest.raises(ShardingError) as excinfo:
        eqx.logical_axes(net)
    where, message = only_problem(excinfo)
    assert where == "layers.weight"
    assert message.startswith("4 logical axis names ('layers', 'mlp', 'embed', None) for an array of rank 3")


def test_an_array_annotated_twice_is_an_error():
    inner = module("Inner", {"weight": ("mlp", "embed")}, weight=array(8, 4))
    net = module("Outer", {"inner.weight": ("embed", "mlp")}, inner=inner)
    with pytest.raises(ShardingError) as excinfo:
        eqx.logical_axes(net)
    where, message = only_problem(excinfo)
    assert where == "inner.weight"
    assert "Outer.__logical_axes__['inner.weight']" in message and "Inner.__logical_axes__['weight']" in message


def test_a_string_instead_of_a_tuple_is_an_error():
    net = module("Net", {"bias": ("embed")}, bias=array(4))
    with pytest.raises(ShardingError) as excinfo:
        eqx.logical_axes(net)
    assert only_problem(excinfo) == (
        "Net.__logical_axes__['bias']", "must be a tuple of logical axis names or None, got 'embed'"
    )


def test_a_table_that_is_not_a_dict_is_an_error():
    net = module("Net", [("w", ("embed",))], w=array(4))
    with pytest.raises(ShardingError) as excinfo:
        eqx.logical_axes(net)
    assert only_problem(excinfo) == ("Net.__logical_axes__", "must be a dict of paths to axes, got [('w', ('embed',))]")


# -- rules and sizes -----------------------------------------------------------------------


def test_partition_specs_follow_the_rules():
    specs = eqx.partition_specs(model_shapes(), RULES, MESH_SIZES, data_names=("batch",))
    assert specs.embed.weight == P("model", None)
    assert specs.blocks.attn.output_proj.weight == P(None, None, "model")
    assert specs.blocks.ln1.bias == P(None, None)
    assert specs.ln.bias == P()


def test_an_unknown_logical_name_is_an_error():
    rules = [rule for rule in RULES if rule[0] != "mlp"]
    with pytest.raises(ShardingError) as excinfo:
        eqx.partition_specs(model_shapes(), rules, MESH_SIZES, data_names=("batch",))
    assert [where for where, _ in problems(excinfo)] == ["blocks.mlp.hidden.0.weight", "blocks.mlp.hidden.0.bias", "blocks.mlp.out.weight"]
    assert problems(excinfo)[0][1].startswith("unknown logical axis name 'mlp' (axis 1); the rules name 'batch', ")


def test_a_mesh_axis_sharding_two_axes_of_one_array_is_an_error():
    rules = [("embed", "model") if name == "embed" else (name, axes) for name, axes in RULES]
    with pytest.raises(ShardingError) as excinfo:
        eqx.partition_specs(model_shapes(), rules, MESH_SIZES, data_names=("batch",))
    found = dict(problems(excinfo))
    assert found["embed.weight"] == "mesh axis 'model' would shard two axes: axis 0 ('vocab') and axis 1 ('embed')"
    assert "blocks.attn.query_proj.weight" in found and "pos" not in found


def test_a_size_not_divisible_by_its_mesh_axes_is_an_error():
    with pytest.raises(ShardingError) as excinfo:
        eqx.partition_specs(model_shapes(), RULES, {"data": 4, "model": 3}, data_names=("batch",))
    found = dict(problems(excinfo))
    assert found["embed.weight"] == "axis 0 ('vocab') has size 64, which is not divisible by mesh axis 'model' of size 3"
    assert found["blocks.mlp.hidden.0.bias"] == "axis 1 ('mlp') has size 128, which is not divisible by mesh axis 'model' of size 3"


def test_divisibility_by_several_mesh_axes_is_by_their_product():
    net = module("Net", {"w": ("wide",)}, w=array(12))
    with pytest.raises(ShardingError) as excinfo:
        eqx.partition_specs(net, [("wide", ("data", "model"))], {"data": 4, "model": 2})
    assert only_problem(excinfo) == (
        "w", "axis 0 ('wide') has size 12, which is not divisible by mesh axes 'data' x 'model' of sizes 4 x 2 = 8"
    )
    assert eqx.partition_specs(net, [("wide", ("data", "model"))], {"data": 2, "model": 2}).w == P(("data", "model"))


def test_a_rule_that_matches_no_annotation_is_an_error():
    with pytest.raises(ShardingError) as excinfo:
        eqx.partition_specs(model_shapes(), RULES, MESH_SIZES)
    where, message = only_problem(excinfo)
    assert where == "rules[0]"
    assert message.startswith("the rule 'batch' -> 'data' matches no annotation") and "data_names=" in message


def test_conflicting_rules_are_an_error_and_repeating_one_is_not():
    rules = list(RULES) + [("heads", "data"), ("mlp", "model")]
    with pytest.raises(ShardingError) as excinfo:
        eqx.partition_specs(model_shapes(), rules, MESH_SIZES, data_names=("batch",))
    assert only_problem(excinfo) == (
        f"rules[{len(RULES)}]", "conflicting rules for 'heads': rules[4] maps it to 'model', this one to 'data'"
    )


def test_a_rule_naming_a_mesh_axis_the_mesh_lacks_is_an_error():
    rules = [("heads", "modle") if name == "heads" else (name, axes) for name, axes in RULES]
    with pytest.raises(ShardingError) as excinfo:
        eqx.partition_specs(model_shapes(), rules, MESH_SIZES, data_names=("batch",))
    assert only_problem(excinfo) == (
        "rules[4]", "'heads' maps to mesh axis 'modle', which the mesh does not have (its axes: 'data', 'model')"
    )


def test_malformed_rules_and_unknown_data_names_are_errors():
    with pytest.raises(ShardingError) as excinfo:
        eqx.check_sharding({}, [("embed",), ("mlp", 3), ("x", ("model", "model"))], data_names=("x", "batch"))
    assert problems(excinfo) == [
        ("rules[0]", "a rule is a pair (logical name, mesh axes), got ('embed',)"),
        ("rules[1]", "'mlp' must map to a mesh axis name, a tuple of them or None, got 3"),
        ("rules[2]", "'x' names mesh axis 'model' twice"),
        ("data_names", "'batch' has no rule"),
    ]


def test_every_problem_is_reported_at_once():
    rules = [("vocab", "model"), ("embed", "modle"), ("heads", "model"), ("heads", None)]
    with pytest.raises(ShardingError) as excinfo:
        eqx.partition_specs(model_shapes(), rules, MESH_SIZES)
    wheres = [where for where, _ in problems(excinfo)]
    assert wheres[:2] == ["rules[1]", "rules[3]"]
    assert "blocks.mlp.hidden.0.weight" in wheres and str(excinfo.value).startswith(f"sharding: {len(wheres)} problems:\n")


def test_the_pure_check_takes_shapes_and_skips_unknown_sizes():
    arrays = {"embed.weight": ((None, 32), ("vocab", "embed")), "ln.weight": ((32,), None)}
    specs = eqx.check_sharding(arrays, [("vocab", "model"), ("embed", None)], {"model": 3})
    assert specs == {"embed.weight": P("model", None), "ln.weight": P()}
    with pytest.raises(ShardingError, match=re.escape("embed.weight: 2 logical axis names ('vocab', 'embed') for an array of rank 1")):
        eqx.check_sharding({"embed.weight": ((64,), ("vocab", "embed"))}, [("vocab", None), ("embed", None)])


# -- building, inputs and activations on a one-device mesh ---------------------------------


def one_device_mesh():
    return jax.make_mesh((1, 1), ("data", "model"), devices=jax.devices()[:1])


def test_make_sharded_on_one_device_builds_the_same_model():
    model = eqx.make_sharded(make_model, jax.random.key(0), mesh=one_device_mesh(), rules=RULES, data_names=("batch",))
    plain = make_model(jax.random.key(0))
    assert jax.tree.structure(model) == jax.tree.structure(plain)
    for built, expected in zip(jax.tree.leaves(model), jax.tree.leaves(plain)):
        np.testing.assert_allclose(built, expected, rtol=1e-6, atol=1e-7)  # jit may fuse the scaling
    assert model.blocks.attn.query_proj.weight.sharding.spec == P(None, "model", None)


def test_make_sharded_checks_before_computing_anything():
    calls = []

    def make(key):
        calls.append(key)
        return make_model(key)

    rules = [rule for rule in RULES if rule[0] != "vocab"]
    with pytest.raises(ShardingError, match=re.escape("embed.weight: unknown logical axis name 'vocab'")):
        eqx.make_sharded(make, jax.random.key(0), mesh=one_device_mesh(), rules=rules, data_names=("batch",))
    assert len(calls) == 1 and isinstance(calls[0], jax.core.Tracer)  # traced by filter_eval_shape only


def test_explicit_mesh_axes_are_used_as_auto_axes():
    mesh = jax.make_mesh((1, 1), ("data", "model"), axis_types=(AxisType.Explicit,) * 2, devices=jax.devices()[:1])
    with eqx.logical_sharding(mesh, RULES) as active:
        assert active.axis_types == (AxisType.Auto, AxisType.Auto) and active.devices.tolist() == mesh.devices.tolist()
    shardings = eqx.named_shardings(model_shapes(), mesh, RULES, data_names=("batch",))
    assert shardings.embed.weight.mesh == active


def test_constraints_are_no_ops_without_active_rules_and_checked_with_them():
    x = jnp.ones((4, 6))
    assert eqx.with_logical_constraint(x, ("batch", "nothing")) is x
    with eqx.logical_sharding(one_device_mesh(), RULES) as mesh:
        placed = eqx.with_logical_constraint(x, ("batch", None))
        assert placed.sharding == NamedSharding(mesh, P("data", None))
        traced = jax.jit(lambda y: eqx.with_logical_constraint(y, (None, "mlp")) * 2)(x)
        assert np.array_equal(traced, 2 * np.ones((4, 6)))
        with pytest.raises(ShardingError, match=re.escape("activation of shape (4, 6): unknown logical axis name 'nothing' (axis 1)")):
            eqx.with_logical_constraint(x, ("batch", "nothing"))
        with pytest.raises(ShardingError, match=re.escape("activation of shape (4, 6): 1 logical axis names ('batch',)")):
            jax.jit(lambda y: eqx.with_logical_constraint(y, ("batch",)))(x)


def test_process_local_inputs_need_active_rules():
    data = np.arange(12.0).reshape(4, 3)
    with pytest.raises(ShardingError, match=re.escape("input of local shape (4, 3): no mesh and rules")):
        eqx.from_process_local_data(data, ("batch", None))
    with eqx.logical_sharding(one_device_mesh(), RULES) as mesh:
        batch = eqx.from_process_local_data(data, ("batch", None))
    assert batch.sharding == NamedSharding(mesh, P("data", None)) and np.array_equal(batch, data)


def test_active_rules_are_checked_on_entry():
    with pytest.raises(ShardingError, match=re.escape("rules[1]: conflicting rules for 'embed'")):
        with eqx.logical_sharding(one_device_mesh(), [("embed", None), ("embed", "model")]):
            pass
