"""Compile time of deep stacks: the GPT-style decoder at depth 2, 8 and 32, unrolled vs scanned.

Both forms come from `examples/gpt.eqx`: the spec as written (`repeat depth
scan:`, stacked parameters applied with `jax.lax.scan`) and the same spec with
the repeat unrolled (`repeat depth:`, a tuple of blocks applied by a Python
loop), each compiled by `eqxdsl.load` from a temporary folder. The depth is the
spec's `depth` hyperparameter.

What is timed is the first call's cost of an optax adam training step (batch of
sequences through `jax.vmap`, dropout off): tracing and lowering to StableHLO,
then XLA's compilation, both from cleared caches. Model construction is not
included (the model is abstract: shapes only). The unrolled step at depth 32
takes minutes, so it runs once, in a child process with a time limit.
Target: scanned at depth 32 at most 1.5x scanned at depth 2.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import optax

import eqxdsl
import eqxdsl.runtime as rt
from benchmarks._harness import markdown_table
from benchmarks.training import EXAMPLES_TO_TIME, Example, build, module_step

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DEPTHS = (2, 8, 32)
REPEATS = 2
# Dropout's random bits add a constant of several seconds to every compile; off,
# the depth's share of the compile time shows more clearly.
DROPOUT = 0.0
# The unrolled depth-32 step takes minutes to compile; it runs once, in a child process stopped after this.
CHILD_TIMEOUT_S = 240
TARGET_RATIO = 1.5
SCANNED_REPEAT = "repeat depth scan:"
UNROLLED_REPEAT = "repeat depth:"

SCANNED = "scanned (`repeat depth scan:`)"
UNROLLED = "unrolled (`repeat depth:`)"
FORM_NAMES = {SCANNED: "scanned", UNROLLED: "unrolled"}


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


def _abstract_model(module: ModuleType, example: Example, depth: int) -> Any:
    """The GPT of `module` at `depth`, with shapes instead of arrays (compiling needs no values)."""
    sized = replace(example, kwargs={**example.kwargs, "depth": depth, "p": DROPOUT})
    return rt.filter_eval_shape(lambda: build(sized, module.GPT, jax.random.key(0))[0])


def _compile_seconds(model: Any, example: Example, batch: dict, key: jax.Array) -> tuple[float, float]:
    """(trace + lower, XLA compile) seconds of a fresh training step for `model`, caches cleared."""
    optimiser = optax.adam(1e-3)
    trainable = rt.filter(model, lambda leaf: isinstance(leaf, jax.ShapeDtypeStruct) and jnp.issubdtype(leaf.dtype, jnp.inexact))
    opt_state = jax.eval_shape(optimiser.init, trainable)
    jax.clear_caches()
    step = jax.jit(module_step(example, optimiser))
    start = time.perf_counter()
    lowered = step.lower(model, None, opt_state, batch, key)
    lowered_at = time.perf_counter()
    lowered.compile()
    return lowered_at - start, time.perf_counter() - lowered_at


def measure(form: str, depth: int) -> tuple[float, float]:
    """Load the spec in `form`, and time the compilation of its training step at `depth` once."""
    example = _gpt_example()
    with tempfile.TemporaryDirectory() as folder:
        module = gpt_modules(Path(folder))[form]
    return _compile_seconds(_abstract_model(module, example, depth), example, *_inputs(example))


def _measure_in_child(form: str, depth: int) -> tuple[float, float] | None:
    """`measure` in a fresh process stopped after CHILD_TIMEOUT_S; None when it was stopped."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "benchmarks.compile_time", FORM_NAMES[form], str(depth)]
    try:
        result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return None
    if result.returncode != 0:
        raise RuntimeError(f"`{' '.join(command)}` failed:\n{result.stderr}")
    lowering, compiling = json.loads(result.stdout.strip().splitlines()[-1])
    return lowering, compiling


def _gpt_example() -> Example:
    return next(e for e in EXAMPLES_TO_TIME if e.spec == "gpt")


def _inputs(example: Example) -> tuple[dict, jax.Array]:
    return example.make_batch(jax.random.key(1)), jax.random.key(2)


def run() -> str:
    """Time the compilation of every depth and form; return the table as markdown."""
    example = _gpt_example()
    batch, key = _inputs(example)
    with tempfile.TemporaryDirectory() as folder:
        modules = gpt_modules(Path(folder))
    configs = [(form, depth) for form in modules for depth in DEPTHS]
    samples: dict[tuple[str, int], list[tuple[float, float]]] = {config: [] for config in configs}
    for repeat in range(REPEATS):
        for form, depth in configs:
            if form == UNROLLED and depth == DEPTHS[-1]:
                if repeat == 0:  # one run: it is by far the slowest, and only a contrast
                    result = _measure_in_child(form, depth)
                    samples[(form, depth)] = [] if result is None else [result]
                continue
            model = _abstract_model(modules[form], example, depth)
            samples[(form, depth)].append(_compile_seconds(model, example, batch, key))
    totals = {config: statistics.median(sum(pair) for pair in pairs) for config, pairs in samples.items() if pairs}
    rows = []
    for (form, depth), pairs in samples.items():
        if not pairs:
            rows.append([form, str(depth), "—", "—", f"> {CHILD_TIMEOUT_S} (stopped)", "—", f"> {CHILD_TIMEOUT_S / totals[(form, DEPTHS[0])]:.0f}x", "0"])
            continue
        rows.append([
            form, str(depth),
            f"{statistics.median(p[0] for p in pairs):.2f}", f"{statistics.median(p[1] for p in pairs):.2f}",
            f"{totals[(form, depth)]:.2f}", f"{min(sum(p) for p in pairs):.2f}",
            f"{totals[(form, depth)] / totals[(form, DEPTHS[0])]:.2f}x", str(len(pairs)),
        ])
    ratio = totals[(SCANNED, DEPTHS[-1])] / totals[(SCANNED, DEPTHS[0])]
    met = ratio <= TARGET_RATIO
    verdict = (f"Target scanned depth {DEPTHS[-1]} at most {TARGET_RATIO}x depth {DEPTHS[0]}: "
               + (f"**met** ({ratio:.2f}x)." if met else f"**missed** ({ratio:.2f}x, {ratio / TARGET_RATIO:.2f}x the allowed ratio)."))
    kwargs = ", ".join(f"{k}={v}" for k, v in example.kwargs.items() if k not in ("depth", "p"))
    title = (f"## compile_time: jit compile of a GPT training step by depth ({kwargs}, dropout off; "
             f"batch {batch['x'].shape[0]}x{batch['x'].shape[1]} tokens; caches cleared; median of n)\n\n")
    table = markdown_table(["repeat", "depth", "trace + lower s", "XLA compile s", "total s", "min total s", "vs its depth 2", "n"], rows)
    return title + table + "\n\n" + verdict


if __name__ == "__main__":
    forms = {name: form for form, name in FORM_NAMES.items()}
    if len(sys.argv) != 3 or sys.argv[1] not in forms or not sys.argv[2].isdigit():
        sys.exit(f"usage: python -m benchmarks.compile_time {{{','.join(forms)}}} DEPTH")
    print(json.dumps(measure(forms[sys.argv[1]], int(sys.argv[2]))))
