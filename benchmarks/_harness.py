"""Shared benchmark machinery: interleaved timing, statistics and markdown tables.

Styles being compared are timed round-robin in one process (the order rotates
every round), so background load hits them all alike; compare ratios, and use
`min` as the least-disturbed figure.

Two modes:
- *sync*: each call is timed on its own, including `jax.block_until_ready` on
  its output (latency);
- *pipelined*: `calls` back-to-back calls, one block at the end, total / calls
  (what an asynchronous training loop sees).

Each round also records the CPU time this process used per call (all its
threads, XLA's included). Other processes on a shared machine inflate wall
times but barely touch it, so its ratio is the steadier one under load.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jaxlib


@dataclass(frozen=True)
class Timing:
    """Per-call times in microseconds for one style."""

    name: str
    samples: list[float]
    cpu_samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def cpu_median(self) -> float:
        """Median process CPU time per call (µs), one sample per round."""
        return statistics.median(self.cpu_samples)

    @property
    def minimum(self) -> float:
        return min(self.samples)


def time_interleaved(
    styles: dict[str, Callable[[], Any]],
    *,
    rounds: int,
    calls: int,
    pipelined: bool,
    warmup: int = 3,
) -> list[Timing]:
    """Time each zero-argument callable, interleaved.

    Args:
        styles: name -> a callable doing one call (it may keep state, e.g. a
            training step threading its parameters); it returns what to block on.
        rounds: how many rounds; the order of styles rotates each round.
        calls: calls per style per round.
        pipelined: time `calls` calls with one block at the end (one sample per
            round) instead of each call with its own block (`calls` samples).
        warmup: untimed calls per style first (compilation, caches).

    Returns:
        One `Timing` per style, in the order of `styles`.
    """
    names = list(styles)
    for name in names:
        for _ in range(warmup):
            jax.block_until_ready(styles[name]())
    samples: dict[str, list[float]] = {name: [] for name in names}
    cpu_samples: dict[str, list[float]] = {name: [] for name in names}
    clock, cpu_clock = time.perf_counter, time.process_time
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            call = styles[name]
            cpu_start = cpu_clock()
            if pipelined:
                start = clock()
                for _ in range(calls):
                    out = call()
                jax.block_until_ready(out)
                samples[name].append((clock() - start) / calls * 1e6)
            else:
                for _ in range(calls):
                    start = clock()
                    jax.block_until_ready(call())
                    samples[name].append((clock() - start) * 1e6)
            cpu_samples[name].append((cpu_clock() - cpu_start) / calls * 1e6)
    return [Timing(name, samples[name], cpu_samples[name]) for name in names]


def format_us(value: float) -> str:
    """Microseconds with 3 significant digits; milliseconds from 10 ms up."""
    if value >= 10_000:
        return f"{value / 1000:,.1f} ms"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value >= 10 else f"{value:.2f}"


def ratio_table(timings: Sequence[Timing], floor: str) -> str:
    """A markdown table of wall-time medians and minimums, process CPU time, and
    their ratios to the `floor` style."""
    base = next(t for t in timings if t.name == floor)
    rows = [
        [
            t.name,
            format_us(t.median),
            f"{t.median / base.median:.2f}x",
            format_us(t.minimum),
            f"{t.minimum / base.minimum:.2f}x",
            format_us(t.cpu_median),
            f"{t.cpu_median / base.cpu_median:.2f}x",
            str(len(t.samples)),
        ]
        for t in timings
    ]
    headers = ["style", "median µs", "ratio", "min µs", "min ratio", "CPU µs", "CPU ratio", "n"]
    return markdown_table(headers, rows)


def case_table(
    timings: Sequence[Timing],
    floor: str,
    cases: Sequence[str],
    libraries: Sequence[str],
    target: tuple[str, float] | None = None,
) -> str:
    """A markdown table with one row per case and, per library, its median µs and
    its wall-time and CPU-time ratios to the `floor` style.

    Args:
        timings: from `time_interleaved`; the style of a case and a library is
            named `"{case} / {library}"`.
        floor: the name of the floor style.
        cases: the row names, in order.
        libraries: the column groups, in order.
        target: `(library, ratio)`: adds a column saying whether that library's
            wall and CPU ratios are both at most `ratio`.
    """
    by_name = {t.name: t for t in timings}
    base = by_name[floor]
    headers = ["case", "floor µs"]
    for library in libraries:
        headers += [f"{library} µs", f"{library} ratio", f"{library} CPU ratio"]
    if target is not None:
        headers.append(f"{target[0]} <= {target[1]}x")
    rows = []
    for case in cases:
        row = [case, format_us(base.median)]
        for library in libraries:
            t = by_name[f"{case} / {library}"]
            row += [format_us(t.median), f"{t.median / base.median:.2f}x", f"{t.cpu_median / base.cpu_median:.2f}x"]
        if target is not None:
            t = by_name[f"{case} / {target[0]}"]
            met = max(t.median / base.median, t.cpu_median / base.cpu_median) <= target[1]
            row.append("yes" if met else "**no**")
        rows.append(row)
    return markdown_table(headers, rows)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown table; columns after the first are right-aligned."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        padded = [str(cell).ljust(w) if i == 0 else str(cell).rjust(w) for i, (cell, w) in enumerate(zip(cells, widths))]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ("-" if i == 0 else ":") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), rule] + [line(row) for row in rows])


def machine_description() -> str:
    """A markdown list: versions, devices, CPU count and load, for every report."""
    try:
        import equinox

        equinox_version = equinox.__version__
    except ImportError:
        equinox_version = "not installed"
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    items = {
        "jax / jaxlib": f"{jax.__version__} / {jaxlib.__version__}",
        "devices": ", ".join(str(d) for d in jax.devices()),
        "cpu count": str(os.cpu_count()),
        "load average (1, 5, 15 min)": ", ".join(f"{x:.2f}" for x in load) if load else "unknown",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "equinox (for comparison)": equinox_version,
    }
    return "\n".join(f"- **{key}**: {value}" for key, value in items.items())
