"""What the generated input checks cost: a model's call with `_check_inputs` against the same call without.

Every generated method starts with `self._check_inputs(...)`: plain Python
comparisons of ranks, dtypes and sizes, and the asserted relations. For two
example models (a small MLP, where a call is mostly dispatch, and a small
configuration of the GPT example), one interleaved run times:

- the eager call, checked (the generated class) and unchecked (a subclass
  whose `_check_inputs` does nothing, built with the same key);
- the same two under `filter_jit`, where the checks run while tracing only;
- `_check_inputs` alone.

The checked/unchecked ratios should be close to 1.00x under `filter_jit` (the
compiled call never runs the checks) and small eagerly.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp

import eqxdsl.runtime as eqx
from benchmarks._harness import format_us, markdown_table, time_interleaved
from eqxdsl.compiler import load

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _unchecked(cls: type) -> type:
    """`cls` with its input checks turned off (and nothing else changed)."""

    def _check_inputs(self, *inputs: jax.Array) -> None:
        return None

    return type(f"Unchecked{cls.__name__}", (cls,), {"_check_inputs": _check_inputs})


def _cases() -> dict[str, tuple[type, dict, tuple, dict]]:
    """name -> (model class, constructor keywords, call inputs, call keywords)."""
    return {
        "MLP 32 -> 64 -> 64 -> 10": (
            load(EXAMPLES / "mlp.eqx").MLP,
            {"in_size": 32, "out_size": 10},
            (jnp.ones(32),),
            {},
        ),
        "GPT (dim 32, depth 1), 16 tokens": (
            load(EXAMPLES / "gpt.eqx").GPT,
            {"vocab": 64, "ctx": 16, "dim": 32, "heads": 2, "depth": 1},
            (jnp.zeros(16, jnp.int32),),
            {"inference": True},
        ),
    }


def run() -> str:
    rows = []
    for case, (cls, init, inputs, keywords) in _cases().items():
        checked = cls(**init, key=jax.random.key(0))
        unchecked = _unchecked(cls)(**init, key=jax.random.key(0))
        jit_checked, jit_unchecked = eqx.filter_jit(checked), eqx.filter_jit(unchecked)
        styles = {
            "eager, checked": lambda: checked(*inputs, **keywords),
            "eager, unchecked": lambda: unchecked(*inputs, **keywords),
            "filter_jit, checked": lambda: jit_checked(*inputs, **keywords),
            "filter_jit, unchecked": lambda: jit_unchecked(*inputs, **keywords),
            "_check_inputs alone": lambda: checked._check_inputs(*inputs),
        }
        timings = {t.name: t for t in time_interleaved(styles, rounds=5, calls=20, pipelined=False)}

        def ratio(name: str, floor: str) -> tuple[str, str]:
            a, b = timings[name], timings[floor]
            return f"{a.median / b.median:.2f}x", f"{a.cpu_median / b.cpu_median:.2f}x"

        eager, eager_cpu = ratio("eager, checked", "eager, unchecked")
        jitted, jitted_cpu = ratio("filter_jit, checked", "filter_jit, unchecked")
        rows.append(
            [
                case,
                format_us(timings["eager, unchecked"].median),
                format_us(timings["eager, checked"].median),
                eager,
                eager_cpu,
                format_us(timings["filter_jit, unchecked"].median),
                format_us(timings["filter_jit, checked"].median),
                jitted,
                jitted_cpu,
                format_us(timings["_check_inputs alone"].median),
            ]
        )
    headers = [
        "model",
        "eager µs, unchecked",
        "eager µs, checked",
        "eager ratio",
        "eager CPU ratio",
        "jit µs, unchecked",
        "jit µs, checked",
        "jit ratio",
        "jit CPU ratio",
        "checks alone µs",
    ]
    return (
        "## Input checks\n\n"
        "Medians of 100 calls each (5 interleaved rounds of 20), checked over unchecked.\n\n"
        + markdown_table(headers, rows)
    )
