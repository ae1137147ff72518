"""The runtime's tree functions on trees that mix eqxdsl and Equinox Modules: they work, or
they raise a clear error; they never silently do nothing."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import eqxdsl.runtime as eqx

equinox = pytest.importorskip("equinox")

KEY = jax.random.key(0)


def mixed():
    return {
        "ours": eqx.nn.Sequential([eqx.nn.Linear(2, 3, key=KEY), eqx.nn.Dropout(0.5)]),
        "theirs": equinox.nn.Sequential([equinox.nn.Linear(3, 3, key=KEY), equinox.nn.Dropout(0.5)]),
        "their_attention": equinox.nn.MultiheadAttention(2, 4, dropout_p=0.1, key=KEY),
        "nested": [equinox.nn.Dropout(0.2), eqx.nn.MultiheadAttention(2, 4, dropout_p=0.1, key=KEY), None, 3],
    }


def flags(tree):
    return [
        tree["ours"].layers[1].inference,
        tree["theirs"].layers[1].inference,
        tree["their_attention"].dropout.inference,
        tree["nested"][0].inference,
        tree["nested"][1].dropout.inference,
    ]


def test_inference_mode_sets_the_flags_of_both_libraries():
    tree = mixed()
    assert flags(tree) == [False] * 5
    on = eqx.nn.inference_mode(tree)
    assert flags(on) == [True] * 5
    assert flags(eqx.nn.inference_mode(on, value=False)) == [False] * 5
    assert jax.tree_util.tree_structure(eqx.nn.inference_mode(on, value=False)) == jax.tree_util.tree_structure(tree)
    x = jnp.ones(3)
    assert jnp.array_equal(on["theirs"](x), on["theirs"].layers[0](x))  # no key needed: dropout is off


def test_inference_mode_on_a_bare_equinox_dropout():
    assert eqx.nn.inference_mode(equinox.nn.Dropout(0.5)).inference is True


def test_inference_mode_refuses_a_flag_it_cannot_reach():
    class Frozen(equinox.Module):
        inference: bool = equinox.field(static=True, default=False)

    with pytest.raises(TypeError, match=r"the .*Frozen at \[1\]\['inner'\] has an `inference` flag"):
        eqx.nn.inference_mode([eqx.nn.Dropout(0.1), {"inner": Frozen()}])


def test_equinox_inference_mode_cannot_reach_eqxdsl_static_flags():
    """Documented limitation: eqxdsl keeps `inference` in a static field, which Equinox's
    `tree_at` cannot replace; it raises, and eqxdsl's `inference_mode` does the job."""
    with pytest.raises(TypeError, match="is not a leaf"):
        equinox.nn.inference_mode(eqx.nn.Dropout(0.5))
    assert eqx.nn.inference_mode(eqx.nn.Dropout(0.5)).inference is True


def test_filters_partition_and_combine_see_the_arrays_of_both_libraries():
    tree = mixed()
    ours_arrays = jax.tree_util.tree_leaves(eqx.filter(tree, eqx.is_array))
    their_arrays = jax.tree_util.tree_leaves(equinox.filter(tree, equinox.is_array))
    assert len(ours_arrays) == len(their_arrays) == 12
    params, static = eqx.partition(tree, eqx.is_inexact_array)
    assert all(eqx.is_inexact_array(leaf) for leaf in jax.tree_util.tree_leaves(params))
    assert not any(eqx.is_array(leaf) for leaf in jax.tree_util.tree_leaves(static))
    assert eqx.tree_equal(eqx.combine(params, static), tree) is True
    assert eqx.tree_equal(equinox.combine(*equinox.partition(tree, eqx.is_array)), tree) is True


def test_filter_spec_trees_of_either_library_select_their_leaves():
    tree = mixed()
    spec = jax.tree_util.tree_map(lambda _: False, tree)
    spec = equinox.tree_at(lambda s: s["theirs"].layers[0].weight, spec, True)
    spec = eqx.tree_at(lambda s: s["ours"].layers[0].bias, spec, True)
    kept = jax.tree_util.tree_leaves(eqx.filter(tree, spec))
    assert [leaf.shape for leaf in kept] == [(3,), (3, 3)]


def test_tree_at_of_either_library_edits_the_other_librarys_modules():
    ours, theirs = eqx.nn.Linear(2, 2, key=KEY), equinox.nn.Linear(2, 2, key=KEY)
    assert jnp.all(eqx.tree_at(lambda m: m.weight, theirs, jnp.zeros((2, 2))).weight == 0)
    assert jnp.all(equinox.tree_at(lambda m: m.weight, ours, jnp.zeros((2, 2))).weight == 0)
    swapped = eqx.tree_at(lambda t: t[0].layers[0], [eqx.nn.Sequential([ours])], theirs)
    assert swapped[0].layers[0] is theirs
    with pytest.raises(ValueError, match="not a node of the PyTree"):
        eqx.tree_at(lambda m: m.in_features, theirs, 3)


def test_a_mixed_model_trains_under_filter_jit_and_filter_grad():
    model = [eqx.nn.Linear(2, 2, key=KEY), equinox.nn.Linear(2, 1, key=KEY)]

    @eqx.filter_jit
    @eqx.filter_grad
    def grads(model, x):
        return jnp.sum(model[1](jnp.tanh(model[0](x))))

    g = grads(model, jnp.ones(2))
    assert g[0].weight.shape == (2, 2) and g[1].weight.shape == (1, 2)
    assert np.isfinite(np.asarray(g[1].weight)).all() and float(jnp.abs(g[0].weight).sum()) > 0
