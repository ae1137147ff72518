"""Compile time of deep stacks: the GPT-style decoder at depth 2, 8 and 32, unrolled vs scanned.

Both forms come from `examples/gpt.eqx`: the spec as written (`repeat depth
scan:`, stacked parameters applied with `jax.lax.scan`) and the same spec with
the repeat unrolled (`repeat depth:`, a tuple of blocks applied by a Python
loop), each compiled by `eqxdsl.load` from a temporary folder. The depth is the
spec's `depth` hyperparameter.

What is timed is the first call's cost of an optax adam training step (batch of
sequences through `jax.vmap`, dropout on): tracing and lowering to StableHLO,
then XLA's compilation, both from cleared caches. Model construction is not
included. Target: scanned at depth 32 at most 1.5x scanned at depth 2.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import optax

import eqxdsl
import eqxdsl.runtime as rt
from benchmarks._harness import markdown_table
from benchmarks.training import EXAMPLES_TO_TIME, build, module_step

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DEPTHS = (2, 8, 32)
REPEATS = 2
TARGET_RATIO = 1.5
SCANNED_REPEAT = "repeat depth scan:"
UNROLLED_REPEAT = "repeat depth:"

SCANNED = "scanned (`repeat depth scan:`)"
UNROLLED = "unrolled (`repeat depth:`)"


def gpt_modules(folder: Path) -> dict[str, ModuleType]:
    """The GPT spec loaded as written and with its repeat unrolled, from copies under `folder`.

    Raises:
        ValueError: the spec no longer contains the scanned repeat this benchmark rewrites.
    """
    source = (EXAMPLES / "gpt.eqx").read_text(encoding="utf-8")
    if SCANNED_REPEAT not in source:
        raise ValueError(f"examples/gpt.eqx has no `{SCANNED_REPEAT}` to unroll; update benchmarks/compile_time.py")
    modules = {}
    for form, text in ((SCANNED, source), (UNROLLED, source.replace(SCANNED_REPEAT, UNROLLED_REPEAT))):
        spec_folder = folder / ("scanned" if form == SCANNED else "unrolled")
        spec_folder.mkdir()
        # The imported specs must sit beside the spec that imports them.
        for spec in EXAMPLES.glob("*.eqx"):
            (spec_folder / spec.name).write_text(spec.read_text(encoding="utf-8"), encoding="utf-8")
        (spec_folder / "gpt.eqx").write_text(text, encoding="utf-8")
        modules[form] = eqxdsl.load(spec_folder / "gpt.eqx")
    return modules


def _compile_seconds(model: Any, example: Any, batch: dict, key: jax.Array) -> tuple[float, float]:
    """(trace + lower, XLA compile) seconds of a fresh training step for `model`, caches cleared."""
    optimiser = optax.adam(1e-3)
    opt_state = optimiser.init(rt.filter(model, rt.is_inexact_array))
    jax.clear_caches()
    step = jax.jit(module_step(example, optimiser))
    start = time.perf_counter()
    lowered = step.lower(model, None, opt_state, batch, key)
    lowered_at = time.perf_counter()
    lowered.compile()
    return lowered_at - start, time.perf_counter() - lowered_at


def run() -> str:
    """Time the compilation of every depth and form; return the table as markdown."""
    example = next(e for e in EXAMPLES_TO_TIME if e.spec == "gpt")
    batch = example.make_batch(jax.random.key(1))
    key = jax.random.key(2)
    with tempfile.TemporaryDirectory() as folder:
        modules = gpt_modules(Path(folder))
        models = {
            (form, depth): build(replace(example, kwargs={**example.kwargs, "depth": depth}), module.GPT, jax.random.key(0))[0]
            for form, module in modules.items()
            for depth in DEPTHS
        }
    samples: dict[tuple[str, int], list[tuple[float, float]]] = {config: [] for config in models}
    for _ in range(REPEATS):
        for config, model in models.items():
            samples[config].append(_compile_seconds(model, example, batch, key))
    rows = []
    totals = {config: statistics.median(sum(pair) for pair in pairs) for config, pairs in samples.items()}
    for (form, depth), pairs in samples.items():
        base = totals[(form, DEPTHS[0])]
        rows.append([
            form, str(depth),
            f"{statistics.median(p[0] for p in pairs):.2f}", f"{statistics.median(p[1] for p in pairs):.2f}",
            f"{totals[(form, depth)]:.2f}", f"{min(sum(p) for p in pairs):.2f}",
            f"{totals[(form, depth)] / base:.2f}x",
        ])
    ratio = totals[(SCANNED, DEPTHS[-1])] / totals[(SCANNED, DEPTHS[0])]
    met = ratio <= TARGET_RATIO
    verdict = (f"Target scanned depth {DEPTHS[-1]} at most {TARGET_RATIO}x depth {DEPTHS[0]}: "
               + (f"**met** ({ratio:.2f}x)." if met else f"**missed** ({ratio:.2f}x, {ratio / TARGET_RATIO:.2f}x the allowed ratio)."))
    kwargs = ", ".join(f"{k}={v}" for k, v in example.kwargs.items() if k != "depth")
    title = (f"## compile_time: jit compile of a GPT training step by depth ({kwargs}; "
             f"batch {batch['x'].shape[0]}x{batch['x'].shape[1]} tokens; median of {REPEATS}, caches cleared)\n\n")
    table = markdown_table(["repeat", "depth", "trace + lower s", "XLA compile s", "total s", "min total s", "vs its depth 2"], rows)
    return title + table + "\n\n" + verdict
