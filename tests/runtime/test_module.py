"""Module: fields, initialisation rules, immutability, PyTree behaviour, methods."""

import copy
import dataclasses
import pickle
import warnings

import jax
import jax.numpy as jnp
import jax.tree_util as jtu
import numpy as np
import pytest

from eqxdsl.runtime import Module, Partial, field


class Affine(Module):
    weight: jax.Array
    bias: jax.Array
    name: str = field(static=True, default="affine")

    def __call__(self, x):
        return self.weight * x + self.bias

    def scaled(self, x, factor):
        return factor * self(x)


def make_affine():
    return Affine(jnp.array([1.0, 2.0]), jnp.array([0.5, -0.5]))


def test_dataclass_init_fields_and_defaults():
    model = make_affine()
    assert model.name == "affine"
    assert [f.name for f in dataclasses.fields(model)] == ["weight", "bias", "name"]
    assert Affine(1.0, 2.0, name="other").name == "other"


def test_static_fields_live_in_treedef_and_dynamic_fields_are_children():
    model = make_affine()
    leaves, treedef = jtu.tree_flatten(model)
    assert len(leaves) == 2
    assert leaves[0] is model.weight and leaves[1] is model.bias
    other = Affine(model.weight, model.bias, name="different")
    assert jtu.tree_structure(other) != treedef
    rebuilt = jtu.tree_unflatten(treedef, [jnp.zeros(2), jnp.ones(2)])
    assert isinstance(rebuilt, Affine) and rebuilt.name == "affine"
    assert np.array_equal(rebuilt.bias, np.ones(2))


def test_keys_name_fields():
    paths = [jtu.keystr(path) for path, _ in jtu.tree_flatten_with_path(make_affine())[0]]
    assert paths == [".weight", ".bias"]


def test_custom_init_assigns_fields():
    class Scaled(Module):
        scale: float
        offset: float

        def __init__(self, scale):
            self.scale = scale
            self.offset = 2 * scale

    module = Scaled(3.0)
    assert (module.scale, module.offset) == (3.0, 6.0)


def test_unset_field_is_an_error_naming_it():
    class Incomplete(Module):
        a: int
        b: int

        def __init__(self):
            self.a = 1

    with pytest.raises(TypeError, match="'b' was not initialized"):
        Incomplete()


def test_custom_init_gets_declared_defaults():
    class WithDefault(Module):
        a: int
        b: int = 7
        c: list = field(default_factory=list)

        def __init__(self):
            self.a = 1

    module = WithDefault()
    assert (module.a, module.b, module.c) == (1, 7, [])


def test_assignment_after_init_raises():
    model = make_affine()
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.weight = jnp.zeros(2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.new_attribute = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        del model.bias


def test_assigning_own_bound_method_in_init_is_rejected():
    class Bad(Module):
        fn: object

        def __init__(self):
            self.fn = self.method

        def method(self):
            return 1

    with pytest.raises(ValueError, match="bound method"):
        Bad()


def test_inheritance_of_fields_and_init():
    class Base(Module):
        a: int

        def __init__(self, a):
            self.a = a
            self.b = a + 1

    class Child(Base):
        b: int

    child = Child(1)
    assert (child.a, child.b) == (1, 2)
    assert [f.name for f in dataclasses.fields(Child)] == ["a", "b"]

    class DataBase(Module):
        x: int

    class DataChild(DataBase):
        y: int = 5

    assert DataChild(1).y == 5 and DataChild(1, 2).y == 2


def test_converter_runs_after_init_including_defaults():
    class Converted(Module):
        x: jax.Array = field(converter=jnp.asarray)
        n: int = field(static=True, converter=int, default=2.0)

        def __init__(self, x, **kwargs):
            self.x = x

    module = Converted([1.0, 2.0])
    assert isinstance(module.x, jax.Array)
    assert module.n == 2 and type(module.n) is int


def test_check_init_runs_for_every_class_in_mro():
    calls = []

    class Parent(Module):
        x: int

        def __check_init__(self):
            calls.append(("parent", self.x))
            if self.x < 0:
                raise ValueError("x must be non-negative")

    class Kid(Parent):
        def __check_init__(self):
            calls.append(("kid", self.x))

    Kid(3)
    assert calls == [("kid", 3), ("parent", 3)]
    with pytest.raises(ValueError, match="non-negative"):
        Kid(-1)


def test_array_in_static_field_warns():
    class Holder(Module):
        value: object = field(static=True)

    with pytest.warns(UserWarning, match="static field"):
        Holder(jnp.ones(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Holder(3)


def test_bound_methods_are_pytrees():
    model = make_affine()
    method = model.scaled
    leaves = jtu.tree_leaves(method)
    assert len(leaves) == 2 and leaves[0] is model.weight
    result = jax.jit(lambda m, x: m(x, 2.0))(method, jnp.array(1.0))
    assert np.allclose(result, 2 * (model.weight + model.bias))
    assert Affine.scaled(model, 1.0, 1.0).shape == (2,)
    assert jax.grad(lambda m: m(1.0, 1.0).sum())(method).__self__.weight.shape == (2,)


def test_bound_methods_keep_module_behaviour():
    model = make_affine()
    method = model.scaled
    assert isinstance(method, Module) and method.__self__ is model and method.__func__ is Affine.scaled
    assert [f.name for f in dataclasses.fields(method)] == ["__func__", "__self__"]
    assert method == model.scaled and repr(method).startswith("_BoundMethod(\n  __func__=<function Affine.scaled>")
    with pytest.raises(dataclasses.FrozenInstanceError):
        method.__self__ = make_affine()
    for copied in (copy.deepcopy(method), pickle.loads(pickle.dumps(method))):
        assert type(copied) is type(method) and copied.__func__ is Affine.scaled
        assert np.array_equal(copied(1.0, 2.0), method(1.0, 2.0))
    # Unflattening with new leaves binds the same function to the new instance.
    doubled = jtu.tree_map(lambda leaf: 2 * leaf, method)
    assert type(doubled) is type(method) and doubled.__func__ is Affine.scaled
    assert np.array_equal(doubled(1.0, 1.0), 2 * (model.weight + model.bias))
    keys = [jtu.keystr(path) for path, _ in jtu.tree_flatten_with_path(method)[0]]
    assert keys == [".__self__.weight", ".__self__.bias"]


def test_equality_and_hash_follow_tree_equality():
    a, b = make_affine(), make_affine()
    assert a == b
    assert a != Affine(jnp.zeros(2), jnp.zeros(2))
    assert a != Affine(a.weight, a.bias, name="other")

    class Hyper(Module):
        n: int
        label: str = field(static=True)

    assert hash(Hyper(1, "x")) == hash(Hyper(1, "x"))
    assert {Hyper(1, "x"), Hyper(1, "x")} == {Hyper(1, "x")}
    with pytest.raises(TypeError):
        hash(a)  # arrays are unhashable


def test_repr_uses_short_arrays():
    text = repr(Affine(jnp.ones((3, 4)), jnp.zeros(3)))
    assert text == "Affine(weight=f32[3,4], bias=f32[3], name='affine')"


def test_pickle_and_copy_round_trip():
    model = make_affine()
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model), copy.copy(model)):
        assert clone == model
        assert jtu.tree_structure(clone) == jtu.tree_structure(model)
        assert np.array_equal(jtu.tree_leaves(clone)[0], model.weight)


def test_dataclasses_replace_builds_a_new_module():
    model = make_affine()
    replaced = dataclasses.replace(model, bias=jnp.zeros(2))
    assert np.array_equal(replaced.bias, np.zeros(2)) and replaced.weight is model.weight
    assert np.array_equal(jtu.tree_leaves(replaced)[1], np.zeros(2))


def test_function_fields_can_be_static_for_plain_jit():
    class Activation(Module):
        fn: object = field(static=True)
        scale: jax.Array

        def __call__(self, x):
            return self.fn(x) * self.scale

    module = Activation(jax.nn.relu, jnp.array(2.0))
    assert np.allclose(jax.jit(lambda m, x: m(x))(module, jnp.array([-1.0, 1.0])), [0.0, 2.0])


def test_partial_binds_arguments_as_leaves():
    partial = Partial(lambda a, b, *, c=0: a * b + c, jnp.array(3.0), c=1.0)
    assert partial(2.0) == 7.0
    assert partial(2.0, c=0.0) == 6.0
    leaves = jtu.tree_leaves(partial)
    assert len(leaves) == 3 and callable(leaves[0]) and leaves[2] == 1.0
    nested = Partial(make_affine(), jnp.array(1.0))
    assert len(jtu.tree_leaves(nested)) == 3
    with pytest.raises(TypeError, match="callable"):
        Partial(3)


def test_abstract_methods_block_instantiation():
    import abc

    class Base(Module):
        @abc.abstractmethod
        def run(self, x): ...

    class Concrete(Base):
        def run(self, x):
            return x + 1

    with pytest.raises(TypeError, match="abstract"):
        Base()
    assert Concrete().run(1) == 2
