"""filter_jit: which leaves are traced, caching and retracing, outputs, methods, donation."""

import time
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eqxdsl.runtime import Module, clear_caches, debug, field, filter_jit


class Scale(Module):
    factor: jax.Array
    label: str = field(static=True, default="s")

    def __call__(self, x):
        return self.factor * x

    def shifted(self, x, shift):
        return self(x) + shift

    @filter_jit
    def jitted(self, x):
        return self(x) * 2


def test_arrays_traced_other_leaves_static():
    seen = []

    @filter_jit
    def f(x, n, name, arr):
        seen.append((type(x), n, name, type(arr)))
        return x * n

    out = f(jnp.ones(2), 3, "a", np.ones(2))
    assert np.array_equal(out, [3.0, 3.0])
    assert isinstance(seen[0][0], type) and issubclass(seen[0][0], jax.core.Tracer)
    assert seen[0][1:3] == (3, "a") and issubclass(seen[0][3], jax.core.Tracer)


def test_retrace_only_when_static_values_or_shapes_change():
    @filter_jit
    def f(x, n):
        return x * n

    f(jnp.ones(2), 2)
    f(jnp.zeros(2), 2)
    f(np.full(2, 5.0, dtype=np.float32), 2)
    assert debug.get_num_traces(f) == 1
    f(jnp.ones(2), 3)
    assert debug.get_num_traces(f) == 2
    f(jnp.ones(3), 3)
    assert debug.get_num_traces(f) == 3
    f(jnp.ones(3), True)  # equal to 1 but another type: its own trace
    f(jnp.ones(3), 1)
    assert debug.get_num_traces(f) == 5


def test_leaf_changing_between_array_and_static_at_same_position():
    @filter_jit
    def f(x):
        return x + 1 if isinstance(x, float) else x * 10

    assert f(1.0) == 2.0
    assert np.array_equal(f(jnp.ones(1)), [10.0])
    assert f(2.0) == 3.0


def test_non_array_outputs_are_returned_as_they_are():
    @filter_jit
    def f(x):
        return {"y": x + 1, "name": "out", "fn": jnp.sum, "n": 3, "none": None}

    out = f(jnp.ones(2))
    assert out["name"] == "out" and out["fn"] is jnp.sum and out["n"] == 3 and out["none"] is None
    assert isinstance(out["y"], jax.Array)
    assert f(jnp.ones(2))["name"] == "out"


def test_output_structure_may_depend_on_shapes():
    @filter_jit
    def f(x):
        return (x, "small") if x.shape[0] < 3 else (x, 3)

    assert f(jnp.ones(2))[1] == "small"
    assert f(jnp.ones(4))[1] == 3
    assert f(jnp.ones(2))[1] == "small"


def test_keyword_arguments():
    @filter_jit
    def f(x, *, scale=1.0, mode="add"):
        return x + scale if mode == "add" else x * scale

    assert np.array_equal(f(jnp.ones(2), scale=jnp.array(2.0)), [3.0, 3.0])
    assert np.array_equal(f(jnp.ones(2), scale=3.0, mode="mul"), [3.0, 3.0])
    assert np.array_equal(f(x=jnp.ones(2)), [2.0, 2.0])


def test_bound_method_and_module_as_function():
    model = Scale(jnp.array(2.0))
    shifted = filter_jit(model.shifted)
    assert np.array_equal(shifted(jnp.ones(2), 1.0), [3.0, 3.0])
    called = filter_jit(model)
    assert np.array_equal(called(jnp.ones(2)), [2.0, 2.0])
    # The module's arrays are traced, not baked in: a new factor, no new trace.
    other = filter_jit(Scale.__call__)
    other(model, jnp.ones(1))
    other(Scale(jnp.array(5.0)), jnp.ones(1))
    assert debug.get_num_traces(other) == 1


def test_method_decorated_with_filter_jit():
    a, b = Scale(jnp.array(2.0)), Scale(jnp.array(3.0))
    assert np.array_equal(a.jitted(jnp.ones(1)), [4.0])
    assert np.array_equal(b.jitted(jnp.ones(1)), [6.0])
    assert debug.get_num_traces(a.jitted) == 1
    assert np.array_equal(jax.jit(lambda m, x: m(x))(a.jitted, jnp.ones(1)), [4.0])


def test_decorated_method_fast_path_and_bound_method_outputs():
    model = Scale(jnp.array(2.0))
    for _ in range(3):
        assert np.array_equal(model.jitted(jnp.ones(1)), [4.0])
    # The third call took the fast path: no new trace, and the model has its entry.
    assert debug.get_num_traces(model.jitted) == 1 and "<jit-entry>" in vars(model)
    assert np.array_equal(model.jitted(x=jnp.ones(1)), [4.0])
    # A bound method as an output is rebuilt as one, bound to the new instance.
    rebuilt = filter_jit(lambda m: m.shifted)(model)
    assert type(rebuilt) is type(model.shifted) and rebuilt.__func__ is Scale.shifted
    assert rebuilt.__self__ is not model and np.array_equal(rebuilt(jnp.ones(1), 1.0), [3.0])
    again = filter_jit(lambda m: m.shifted)(model)
    assert np.array_equal(again.__self__.factor, 2.0)


def test_nested_inside_jax_transformations():
    inner = filter_jit(lambda x, n: jnp.sin(x) * n)
    grad = jax.grad(lambda x: inner(x, 2).sum())(jnp.zeros(3))
    assert np.allclose(grad, 2.0)
    batched = jax.vmap(lambda x: inner(x, 1))(jnp.zeros((4, 2)))
    assert batched.shape == (4, 2)


def test_donate_all_deletes_inputs_and_except_first_keeps_first():
    x, y = jnp.ones(3), jnp.ones(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 'all' silences the unusable-donation warning
        out = filter_jit(lambda a, b: (a + b, a * b), donate="all")(x, y)
    assert x.is_deleted() and y.is_deleted()
    assert np.array_equal(out[0], [2.0, 2.0, 2.0])
    first, second = jnp.ones(3), jnp.ones(3)
    filter_jit(lambda a, b: a + b, donate="all-except-first")(first, second)
    assert not first.is_deleted() and second.is_deleted()
    kept = jnp.ones(3)
    filter_jit(lambda a: a + 1)(kept)
    assert not kept.is_deleted()


def test_lower_gives_the_compiled_program():
    f = filter_jit(lambda x, n: x * n)
    text = f.lower(jnp.ones(2), 3).as_text()
    assert "multiply" in text


def test_errors():
    with pytest.raises(ValueError, match="donate"):
        filter_jit(lambda x: x, donate="some")
    with pytest.raises(ValueError, match="static_argnums"):
        filter_jit(lambda x: x, static_argnums=0)
    with pytest.raises(TypeError, match="callable"):
        filter_jit(3)
    with pytest.raises(TypeError, match="not hashable"):
        filter_jit(lambda x, s: x)(jnp.ones(1), {1, 2})


def test_clear_caches_forces_a_new_trace():
    f = filter_jit(lambda x: x + 1)
    f(jnp.ones(1))
    clear_caches()
    f(jnp.ones(1))
    assert debug.get_num_traces(f) == 2


def test_does_not_wait_for_the_result():
    # Asynchronous dispatch: the call returns while XLA still computes (Equinox's
    # filter_jit blocks on a marker output). A few GFLOP take tens of ms or more;
    # dispatch takes well under one.
    def chain(w, x):
        for _ in range(4):
            x = jnp.tanh(x @ w)
        return x

    f = filter_jit(chain)
    w = jnp.full((800, 800), 1e-3)
    f(w, w).block_until_ready()
    start = time.perf_counter()
    out = f(w, w)
    returned = time.perf_counter() - start
    out.block_until_ready()
    ready = time.perf_counter() - start
    assert returned < 0.5 * ready, (returned, ready)


class Tagged(Module):
    weight: jax.Array
    offset: object  # a Python number here is a static leaf
    tag: str = field(static=True)

    def __call__(self, x):
        return (
            self.weight * x + self.offset if self.tag == "affine" else self.weight * x
        )


def test_repeated_calls_with_the_same_modules_stay_correct():
    # Repeated calls take the cached fast path; modules that differ only in static
    # parts must still get their own traces.
    f = filter_jit(lambda m, x: m(x))
    affine, linear = Tagged(jnp.array(2.0), 1.0, "affine"), Tagged(
        jnp.array(2.0), 1.0, "linear"
    )
    other_offset = Tagged(jnp.array(2.0), 5.0, "affine")
    for _ in range(3):
        assert f(affine, jnp.ones(1)) == 3.0
        assert f(linear, jnp.ones(1)) == 2.0
        assert f(other_offset, jnp.ones(1)) == 7.0
        assert f(affine, np.ones(1, np.float32)) == 3.0
    assert debug.get_num_traces(f) == 3


def test_modules_with_mutable_containers_are_flattened_every_call():
    class Holder(Module):
        items: list

    holder = Holder([jnp.ones(1)])
    f = filter_jit(lambda h: sum(h.items))
    assert f(holder) == 1.0
    assert f(holder) == 1.0
    holder.items.append(jnp.ones(1))  # the field is frozen, its list is not
    assert f(holder) == 2.0


def test_cached_entries_are_not_copied_or_pickled():
    import copy
    import pickle

    model = Tagged(jnp.array(2.0), 1.0, "affine")
    f = filter_jit(lambda m, x: m(x))
    for _ in range(3):
        f(model, 1.0)
    assert not any(
        key.startswith("<jit") for key in pickle.loads(pickle.dumps(model)).__dict__
    )
    assert not any(key.startswith("<jit") for key in copy.copy(model).__dict__)
    assert f(copy.deepcopy(model), 1.0) == 3.0


def _python_functions_called(fn, *args):
    """(file name, function name) of every function `fn(*args)` calls, builtins included."""
    import sys

    called = []

    def profile(frame, event, arg):
        if event == "call":
            called.append((frame.f_code.co_filename, frame.f_code.co_name))
        elif event == "c_call":
            called.append(("<builtin>", getattr(arg, "__name__", "")))

    sys.setprofile(profile)
    try:
        fn(*args)
    finally:
        sys.setprofile(None)
    return called


def test_warm_training_step_stays_on_both_fast_paths():
    # The returned model and state are fed back in: after warm-up neither our
    # general path (flattening) nor JAX's Python dispatch may run.
    @filter_jit
    def step(model, state, x):
        new = Tagged(model.weight + x.sum(), model.offset, model.tag)
        return new, (state[0] + 1, [state[1]]), "note"

    model, state = Tagged(jnp.array(1.0), 2.0, "affine"), (jnp.array(0), jnp.ones(2))
    for _ in range(3):
        model, (count, (second,)), note = step(model, (state[0], state[1]), jnp.ones(2))
        state = (count, second)
    assert note == "note" and int(state[0]) == 3 and float(model.weight) == 7.0
    called = _python_functions_called(step, model, state, jnp.ones(2))
    assert not [name for file, name in called if "jax" in file and "pjit" in file]
    assert not [name for file, name in called if file.endswith("_jit.py") and name == "call"]


class Stack(Module):
    layers: list
    table: dict
    scale: int = field(static=True)
    mode: str = field(static=True)
    activation: object = field(static=True, default=jnp.tanh)

    def __call__(self, x):
        for layer in self.layers:
            x = self.activation(layer(x))
        return self.scale * x + self.table["shift"]


def _stack():
    return Stack([Scale(jnp.array(2.0)), Scale(jnp.array(3.0))], {"shift": jnp.array(1.0)}, 2, "m")


def test_list_and_dict_fields_take_the_fast_path_and_see_mutations():
    model = _stack()
    f = filter_jit(lambda m, x: m(x))
    expected = model(jnp.ones(1))
    for _ in range(3):
        assert np.allclose(f(model, jnp.ones(1)), expected)
    called = _python_functions_called(f, model, jnp.ones(1))
    assert not [name for file, name in called if file.endswith("_jit.py") and name == "call"]
    model.layers[0] = Scale(jnp.array(-1.0))  # same length, another element
    assert np.allclose(f(model, jnp.ones(1)), model(jnp.ones(1)))
    model.table["shift"] = jnp.array(5.0)
    assert np.allclose(f(model, jnp.ones(1)), model(jnp.ones(1)))
    model.layers.append(Scale(jnp.array(1.0)))
    assert np.allclose(f(model, jnp.ones(1)), model(jnp.ones(1)))
    model.table["shift"] = 5.0  # now a static leaf: a new trace
    assert np.allclose(f(model, jnp.ones(1)), model(jnp.ones(1)))
    assert debug.get_num_traces(f) == 3


def test_keyword_arguments_in_any_order_take_the_fast_path():
    @filter_jit
    def f(x, *, scale, shift):
        return x * scale + shift

    a, b = jnp.array(2.0), jnp.array(1.0)
    for _ in range(3):
        assert f(jnp.ones(()), scale=a, shift=b) == 3.0
        assert f(jnp.ones(()), shift=b, scale=a) == 3.0
    assert f(jnp.ones(()), shift=a, scale=b) == 3.0
    assert f(jnp.ones(()), shift=3.0, scale=b) == 4.0
    assert debug.get_num_traces(f) == 2
    called = _python_functions_called(lambda: f(jnp.ones(()), shift=b, scale=a))
    assert not [name for file, name in called if file.endswith("_jit.py") and name == "call"]


def test_returned_modules_with_containers_are_rebuilt_exactly():
    from collections import namedtuple

    State = namedtuple("State", ["count", "inner"])

    @filter_jit
    def step(model, x):
        new = jax.tree_util.tree_map(lambda p: p + x, model)
        return {"model": new, "state": State(x, [new.table, None, "tag"])}, (new, 3)

    model = _stack()
    for _ in range(3):
        out, (again, three) = step(model, jnp.array(1.0))
        eager = step.__wrapped__(model, jnp.array(1.0))
        assert jax.tree_util.tree_structure((out, (again, three))) == jax.tree_util.tree_structure(eager)
        assert type(out["model"]) is Stack and type(out["state"]) is State and three == 3
        assert out["state"].inner[1:] == [None, "tag"]
        # Like JAX's unflatten, shared subtrees come back as separate objects.
        assert out["state"].inner[0] == {"shift": out["model"].table["shift"]}
        assert out["model"].scale == 2 and out["model"].mode == "m" and out["model"].activation is jnp.tanh
        assert out["model"].layers[1].factor == eager[0]["model"].layers[1].factor
        assert out["model"].layers[1].label == "s"
        model = again
    assert debug.get_num_traces(step) == 1


def test_returned_modules_equal_those_of_plain_unflatten():
    @filter_jit
    def step(model, x):
        return jax.tree_util.tree_map(lambda p: p * x, model), "done"

    model = _stack()
    for _ in range(3):
        new, note = step(model, jnp.array(2.0))
    leaves, treedef = jax.tree_util.tree_flatten(new)
    expected = jax.tree_util.tree_map(lambda p: p * 2.0, model)
    assert treedef == jax.tree_util.tree_structure(expected) and note == "done"
    assert all(np.array_equal(a, b) for a, b in zip(leaves, jax.tree_util.tree_leaves(expected)))
    assert vars(new).keys() - {"<jit-entry>"} == vars(expected).keys()
    # The returned model is fed back on the fast path; mutating its list is still seen.
    step(new, jnp.array(1.0))
    new.layers.pop()
    assert len(step(new, jnp.array(1.0))[0].layers) == 1


def test_bound_method_signature_drops_self():
    import inspect

    assert list(inspect.signature(Scale(jnp.array(1.0)).shifted).parameters) == ["x", "shift"]
