"""Random valid specs always compile to clean code whose model runs with the shapes the compiler inferred."""

from __future__ import annotations

import inspect

import black
import pytest
from hypothesis import given

from eqxdsl.compiler.check import check_spec
from eqxdsl.compiler.diagnostics import CompileError
from eqxdsl.compiler.dims import Dim
from eqxdsl.compiler.parse import parse_spec

from ._harness import compile_outcome, load_generated
from ._profiles import examples
from ._specgen import ValidSpec, valid_specs

jax = pytest.importorskip("jax")
jnp = jax.numpy
eqx = pytest.importorskip("eqxdsl.runtime")


def inferred_output_shape(spec: ValidSpec) -> tuple[int, ...]:
    """The shape the compiler inferred for forward's result, with every size bound to its value."""

    def no_imports(path, node):
        raise AssertionError("generated specs import nothing")

    checked = check_spec(parse_spec(spec.text, "generated.eqx"), no_imports)
    returns = checked.models[spec.model].methods["forward"].returns
    values = {name: Dim.const(value) for name, value in spec.bindings.items()}
    shape = tuple(dim.substitute(values).value for dim in returns.shape)
    assert None not in shape, f"inferred {returns} leaves a size unbound"
    return shape


def run_shape(spec: ValidSpec, source: str) -> tuple[int, ...]:
    """Build the model and call forward under `filter_eval_shape` (traced, nothing computed)."""
    module = load_generated(source)
    cls = getattr(module, spec.model)
    takes_key = "key" in inspect.signature(cls.__call__).parameters
    # Only the symbolic sizes that decide a parameter's shape are arguments of __init__.
    init_parameters = inspect.signature(cls.__init__).parameters
    init_kwargs = {
        name: value
        for name, value in spec.init_kwargs.items()
        if name in init_parameters
    }

    def build_and_call():
        model = cls(**init_kwargs, key=jax.random.key(0))
        x = jnp.zeros(spec.input_shape, jnp.float32)
        return model(x, key=jax.random.key(1)) if takes_key else model(x)

    out = eqx.filter_eval_shape(build_and_call)
    assert out.dtype == jnp.float32, out
    return tuple(out.shape)


def check_valid_spec(spec: ValidSpec) -> None:
    """The whole property for one spec (shared with the long-run fuzzer)."""
    outcome = compile_outcome(spec.text, "generated.eqx")
    if isinstance(outcome, CompileError):
        raise AssertionError(f"a valid spec was rejected:\n{spec.text}\n{outcome}")
    assert (
        black.format_str(outcome, mode=black.Mode()) == outcome
    ), "black changes the generated code"
    assert (
        compile_outcome(spec.text, "generated.eqx") == outcome
    ), "two compiles gave different bytes"
    inferred = inferred_output_shape(spec)
    assert inferred == spec.output_shape, (inferred, spec.output_shape, spec.text)
    assert run_shape(spec, outcome) == spec.output_shape, spec.text


@examples(ci=10)
@given(valid_specs())
def test_random_valid_specs_compile_and_run(spec):
    check_valid_spec(spec)
