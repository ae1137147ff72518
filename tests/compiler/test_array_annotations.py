"""Shapes in the generated signatures: jaxtyping's annotations, checked at run time with beartype."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import jax
import jax.numpy as jnp
import jaxtyping
import pytest
from beartype import beartype

import eqxdsl
from eqxdsl.compiler import driver
from eqxdsl.compiler.dims import Dim, TensorType
from eqxdsl.compiler.lower._array_types import ArrayAnnotations, deferred
from eqxdsl.compiler.values import TupleValue, UnknownArray
from eqxdsl.runtime import array_types

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

PAIR = """\
model Pair(dim: int = 4):
    input x: f32[T, dim]
    input y: f32[T, dim]
    proj = Linear(dim, 2 * dim)
    forward:
        return map(proj, x + y)
"""


def _tensor(dtype: str, *shape: int | str | Dim) -> TensorType:
    return TensorType.of(dtype, [Dim.symbol(size) if isinstance(size, str) else size for size in shape])


def test_axes_are_sizes_names_and_formulas_over_bound_names() -> None:
    annotate = ArrayAnnotations()
    assert annotate.input(_tensor("f32", 1, "H", "W")) == "Float[Array, '1 H W']"
    assert annotate.input(_tensor("i32", "T")) == "Integer[Array, 'T']"
    assert annotate.input(_tensor("u8", Dim.symbol("H") * 2)) == "Integer[Array, '2*H']"
    assert annotate.input(_tensor("bool", "T", "T")) == "Bool[Array, 'T T']"
    assert annotate.input(_tensor("c64")) == "Complex[Array, '']"
    # `stride` is bound by no axis before it: jaxtyping could not evaluate the formula.
    strided = (Dim.symbol("H") - 1) // Dim.symbol("stride") + 1
    assert annotate.output(TupleValue((_tensor("f32", "C", strided), UnknownArray()))) == "tuple[Float[Array, 'C _'], Array]"
    assert annotate.output(_tensor("bf16", (Dim.symbol("H") - 1) // 2 + 1)) == "Float[Array, '(H+1)//2']"
    assert deferred("tuple[Float[Array, 'T'], eqx.nn.State]") == '"tuple[Float[Array, \'T\'], eqx.nn.State]"'
    assert deferred("tuple[jax.Array, eqx.nn.State]") == "tuple[jax.Array, eqx.nn.State]"


def test_generated_signatures() -> None:
    source = driver.compile_source((EXAMPLES / "gpt.eqx").read_text(), str(EXAMPLES / "gpt.eqx"))
    # Only the shape annotations are strings: the module runs without jaxtyping, and its
    # field annotations stay code (dataclasses would look string ones up through sys.modules).
    assert "from __future__" not in source and "    embed: eqx.nn.Embedding\n" in source
    assert (
        "if TYPE_CHECKING:\n    from jaxtyping import Array, Float, Integer\n"
        "else:\n    from eqxdsl.runtime.array_types import Array, Float, Integer\n"
    ) in source
    assert '''tokens: "Integer[Array, 'T']",''' in source and ''') -> "Float[Array, 'T vocab']":''' in source
    equinox = driver.compile_source((EXAMPLES / "gpt.eqx").read_text(), str(EXAMPLES / "gpt.eqx"), target="equinox")
    assert "\nfrom jaxtyping import Array, Float, Integer\n" in equinox
    assert "TYPE_CHECKING" not in equinox and "eqxdsl" not in equinox.split("\n", 1)[1]


@pytest.mark.parametrize("target", ["eqxdsl", "equinox"])
def test_beartype_catches_a_wrong_shaped_input(tmp_path: Path, target: str) -> None:
    spec = tmp_path / "pair.eqx"
    spec.write_text(PAIR)
    Pair = eqxdsl.load(spec, target=target).Pair
    model = Pair(key=jax.random.key(0))
    checked = jaxtyping.jaxtyped(typechecker=beartype)(Pair.__call__)
    x = jnp.ones((5, 4))
    assert checked(model, x, x).shape == (5, 8)  # the output's `T 2*dim` holds
    with pytest.raises(jaxtyping.TypeCheckError, match="y"):
        checked(model, x, jnp.ones((6, 4)))  # T disagrees between x and y
    with pytest.raises(jaxtyping.TypeCheckError):
        checked(model, jnp.ones(4), jnp.ones(4))  # one axis, two declared
    with pytest.raises(jaxtyping.TypeCheckError):
        checked(model, x.astype(jnp.int32), x)  # not floating-point


def test_annotations_resolve_for_tools(tmp_path: Path) -> None:
    spec = tmp_path / "pair.eqx"
    spec.write_text(PAIR)
    hints = typing.get_type_hints(eqxdsl.load(spec).Pair.__call__)
    assert (hints["x"].array_type, hints["x"].dtypes, hints["x"].dim_str) == (jax.Array, jaxtyping.Float.dtypes, "T dim")
    assert hints["return"].dim_str == "T 2*dim"


def test_without_jaxtyping_the_annotations_are_plain_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jaxtyping", None)  # `import jaxtyping` now fails
    array_types._annotation.cache_clear()
    try:
        assert array_types.Float[array_types.Array, "T dim"] is jax.Array
    finally:
        array_types._annotation.cache_clear()


def test_importing_and_calling_a_generated_module_does_not_import_jaxtyping(tmp_path: Path) -> None:
    spec = tmp_path / "pair.eqx"
    spec.write_text(PAIR)
    script = (
        "import sys, jax, jax.numpy as jnp, eqxdsl\n"
        f"Pair = eqxdsl.load({str(spec)!r}).Pair\n"
        "Pair(key=jax.random.key(0))(jnp.ones((3, 4)), jnp.ones((3, 4)))\n"
        "assert 'jaxtyping' not in sys.modules, 'jaxtyping was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
