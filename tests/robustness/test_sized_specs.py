"""Accepted specs run with the shapes the checker inferred for any sizes their asserts allow, and check their inputs.

For a random valid spec (of `valid_specs()`, or of `sized_specs()` with its
hyperparameter-sized operations and `assert`s) and other values of all its
sizes and flags: the model builds and its forward runs under
`filter_eval_shape`, giving the checker's inferred output type evaluated at
those values; and the generated `_check_inputs` accepts exactly the shapes
the declared input type allows (free input sizes within the asserts), and
rejects every other rank, dtype kind, and size.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eqxdsl.compiler.check import check_spec
from eqxdsl.compiler.check.checked import CheckedModel
from eqxdsl.compiler.parse import parse_spec

from ._harness import compile_outcome, load_generated
from ._profiles import examples
from ._sizedgen import _holds, other_values, sized_specs
from ._specgen import ValidSpec, valid_specs
from .test_valid_specs import check_valid_spec, inferred_output_shape, run_shape

jax = pytest.importorskip("jax")
jnp = jax.numpy
eqx = pytest.importorskip("eqxdsl.runtime")

# What every input check raises: one line naming the model, then (at its end) the spec line.
_INPUT_ERROR = re.compile(r"^Net: [^\n]* \(generated\.eqx:\d+\)(\n|$)")


def _checked_net(spec: ValidSpec) -> CheckedModel:
    def no_imports(path, node):
        raise AssertionError("generated specs import nothing")

    return check_spec(parse_spec(spec.text, "generated.eqx"), no_imports).models[spec.model]


def check_other_values(spec: ValidSpec, values: dict[str, int | bool]) -> None:
    """Build and run `spec` with `values` (satisfying its asserts), and probe its input checks (shared with the fuzzer)."""
    source = compile_outcome(spec.text, "generated.eqx")
    assert isinstance(source, str), f"a valid spec was rejected:\n{spec.text}\n{source}"
    sizes = {name: value for name, value in values.items() if name in spec.bindings}
    model = _checked_net(spec)
    (_, declared), = model.methods["forward"].params
    shape = tuple(dim.evaluate(sizes) for dim in declared.shape)
    at_values = replace(spec, input_shape=shape, init_kwargs=dict(values), bindings=sizes)
    assert run_shape(at_values, source) == inferred_output_shape(at_values), (values, spec.text)

    # Sizes the model holds (its hyperparameters and constructor sizes) fix an axis; the others are free.
    held = {hyper.name for hyper in model.hypers} | set(model.init_dims)
    build = getattr(load_generated(source), spec.model)
    kwargs = {name: value for name, value in values.items() if name in held}
    abstract = eqx.filter_eval_shape(lambda: build(**kwargs, key=jax.random.key(0)))

    def accepts(candidate: tuple[int, ...], dtype=jnp.float32) -> bool:
        try:
            abstract._check_inputs(jax.ShapeDtypeStruct(candidate, dtype))
        except ValueError as error:
            assert _INPUT_ERROR.match(str(error)), str(error)
            return False
        return True

    assert accepts(shape), (shape, values, spec.text)
    for wrong_rank in (shape + (1,), shape[:-1]):
        assert not accepts(wrong_rank), (wrong_rank, spec.text)
    for dtype in (jnp.int32, jnp.bool_):
        assert not accepts(shape, dtype), (dtype, spec.text)
    for axis, dim in enumerate(declared.shape):
        free = dim.symbols - held
        assert not free or (len(dim.symbols) == 1 and dim == type(dim).symbol(*free)), dim
        for size in (shape[axis] - 1, shape[axis] + 1):
            if size < 1:
                continue
            changed = shape[:axis] + (size,) + shape[axis + 1 :]
            allowed = bool(free) and _holds(spec.relations, {**sizes, **{name: size for name in free}})
            assert accepts(changed) == allowed, (changed, allowed, values, spec.text)
    # And forward runs the checks before anything else.
    with pytest.raises(ValueError, match=_INPUT_ERROR):
        run_shape(replace(at_values, input_shape=shape + (1,)), source)


def _with_values(specs: st.SearchStrategy[ValidSpec]) -> st.SearchStrategy:
    return specs.flatmap(lambda spec: st.tuples(st.just(spec), other_values(spec)))


#: The two generators of valid specs, each with other values for its sizes.
SPECS_WITH_VALUES = {"valid specs": _with_values(valid_specs()), "sized specs": _with_values(sized_specs())}


@examples(ci=10)
@given(sized_specs())
def test_sized_specs_compile_and_run_with_their_defaults(spec):
    check_valid_spec(spec)


@pytest.mark.parametrize("generator", sorted(SPECS_WITH_VALUES))
@examples(ci=8)
@given(st.data())
def test_specs_run_and_check_inputs_with_other_sizes(generator, data):
    check_other_values(*data.draw(SPECS_WITH_VALUES[generator]))
