"""The compiler's own speed: front-end throughput, whole-process compiles, import cost.

Tables:

- front end: parse + check + lower of one large generated spec (every example
  model, copied under fresh names until the file is a few thousand lines), in
  source lines per second, with each stage's share; targets at least 10,000
  lines/s for parse + check (what an editor re-runs) and 5,000 with lower;
- `eqxdsl compile examples/` as a whole process (a fresh interpreter, as a user
  runs it): cold, into an empty output folder (target under 1 s), and again
  when every output is up to date (target under 0.3 s);
- `import eqxdsl.runtime` against `import jax` in fresh interpreters (target:
  at most 0.1 s more).

Processes are timed interleaved, round-robin, like the in-process styles of the
other sections. Where a target is missed, the section prints where the time
goes: a profile of self time grouped by library or compiler stage, and for the
import, the modules the runtime adds on top of jax.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks._harness import Timing, markdown_table

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

FRONT_END_TARGET_LINES_PER_S = 5_000
# Parse and check alone: what an editor re-runs on every change.
ANALYSIS_TARGET_LINES_PER_S = 10_000
COLD_TARGET_S = 1.0
UP_TO_DATE_TARGET_S = 0.3
IMPORT_MARGIN_TARGET_S = 0.1

# Enough copies of the examples for a spec of a few thousand lines.
SPEC_COPIES = 20
FRONT_END_REPEATS = 5
COMPILE_ROUNDS = 8
IMPORT_ROUNDS = 10
PROFILE_ROWS = 10

_SPEC_IMPORT_LINE = re.compile(r"""^[ \t]*from[ \t]+["'][^"'\n]*["'][ \t]+import\b.*\n""", re.MULTILINE)
_MODEL_NAME = re.compile(r"^model[ \t]+(\w+)", re.MULTILINE)


# -- the large spec ---------------------------------------------------------------------


def large_spec(copies: int = SPEC_COPIES) -> str:
    """One spec holding every model of `examples/`, `copies` times under fresh names.

    Spec imports are dropped (each copy defines the models it would import) and
    every model name gets the copy's number as a suffix, so references between
    models stay inside their copy.

    Args:
        copies: how many copies of the examples' models to write.

    Returns:
        The spec's text.
    """
    texts = [_SPEC_IMPORT_LINE.sub("", path.read_text(encoding="utf-8")) for path in sorted(EXAMPLES.glob("*.eqx"))]
    one_copy = "\n\n".join(texts)
    names = sorted(set(_MODEL_NAME.findall(one_copy)), key=len, reverse=True)
    if not names:
        raise RuntimeError(f"no `model` definitions found in {EXAMPLES}")
    model_name = re.compile(r"\b(" + "|".join(names) + r")\b")
    return "\n\n".join(model_name.sub(lambda match: f"{match[1]}{index}", one_copy) for index in range(copies))


def _front_end_stages() -> tuple[Callable, Callable, Callable]:
    from eqxdsl.compiler.check import check_spec
    from eqxdsl.compiler.lower import lower_spec
    from eqxdsl.compiler.parse import parse_spec

    return parse_spec, check_spec, lower_spec


def _no_imports(path: str, node: object) -> None:
    raise AssertionError(f"the generated spec imports {path!r}; it should define every model itself")


def _run_front_end(text: str) -> dict[str, float]:
    """Parse, check and lower `text` once; returns each stage's seconds."""
    parse_spec, check_spec, lower_spec = _front_end_stages()
    clock = time.perf_counter
    start = clock()
    tree = parse_spec(text, "large.eqx")
    parsed = clock()
    checked = check_spec(tree, _no_imports)
    checked_at = clock()
    lower_spec(checked)
    return {"parse": parsed - start, "check": checked_at - parsed, "lower": clock() - checked_at}


def _front_end_table(text: str) -> tuple[str, bool]:
    """The front-end table, and whether both of its targets are met."""
    lines = text.count("\n") + 1
    _run_front_end(text)  # builds the parser and warms the caches
    runs = [_run_front_end(text) for _ in range(FRONT_END_REPEATS)]

    def row(label: str, stages: tuple[str, ...]) -> tuple[list[str], float]:
        seconds = [sum(run[stage] for stage in stages) for run in runs]
        whole = statistics.median(sum(run.values()) for run in runs)
        rate = lines / statistics.median(seconds)
        cells = [label, _seconds(statistics.median(seconds)), _seconds(min(seconds)),
                 f"{statistics.median(seconds) / whole:.0%}", f"{rate:,.0f}"]
        return cells, rate

    rows = [row(stage, (stage,))[0] for stage in ("parse", "check", "lower")]
    analysis, analysis_rate = row("**parse + check**", ("parse", "check"))
    whole, rate = row("**parse + check + lower**", ("parse", "check", "lower"))
    rows += [analysis, whole]
    table = markdown_table(["stage", "median", "min", "share", "lines/s (median)"], rows)
    verdicts = [
        _verdict(analysis_rate >= ANALYSIS_TARGET_LINES_PER_S, f"parse + check {analysis_rate:,.0f} lines/s",
                 f"at least {ANALYSIS_TARGET_LINES_PER_S:,} lines/s for parse + check",
                 f"{ANALYSIS_TARGET_LINES_PER_S / analysis_rate:.1f}x too slow"),
        _verdict(rate >= FRONT_END_TARGET_LINES_PER_S, f"{rate:,.0f} lines/s",
                 f"at least {FRONT_END_TARGET_LINES_PER_S:,} lines/s for the whole front end",
                 f"{FRONT_END_TARGET_LINES_PER_S / rate:.1f}x too slow"),
    ]
    title = (f"### Front end: parse + check + lower of a generated spec ({lines:,} lines, "
             f"{len(_MODEL_NAME.findall(text))} models; median of {FRONT_END_REPEATS} after one warm-up)\n\n")
    met = analysis_rate >= ANALYSIS_TARGET_LINES_PER_S and rate >= FRONT_END_TARGET_LINES_PER_S
    return title + table + "\n\n" + "\n".join(verdicts), met


# -- profiles ---------------------------------------------------------------------------


def _area(filename: str, function: str) -> str:
    """Where a profiled function belongs: a compiler module, a library, or a built-in."""
    if filename == "~":
        # Built-ins are named by what they do: `<built-in method black.format_str>`.
        name = re.sub(r"^<(built-in )?(method|function) ", "", function).rstrip(">")
        return f"built-in {name}"
    path = Path(filename)
    parts = path.parts
    if path.is_relative_to(ROOT):
        return ".".join(path.relative_to(ROOT).parts).removesuffix(".py")
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    if filename.startswith("<frozen"):
        return "import system"
    return f"python stdlib {path.stem}" if path.suffix == ".py" else filename


def profile_table(stats: pstats.Stats, rows: int = PROFILE_ROWS) -> str:
    """The self time of a profile grouped by `_area`, largest first, as a markdown table."""
    by_area: dict[str, float] = {}
    entries = stats.stats  # {(file, line, function): (calls, primitive calls, self, cumulative, callers)}
    for (filename, _, function), (_, _, self_time, _, _) in entries.items():
        area = _area(filename, function)
        by_area[area] = by_area.get(area, 0.0) + self_time
    total = sum(by_area.values())
    ranked = sorted(by_area.items(), key=lambda item: item[1], reverse=True)
    shown = [[area, _seconds(seconds), f"{seconds / total:.0%}"] for area, seconds in ranked[:rows]]
    rest = sum(seconds for _, seconds in ranked[rows:])
    shown.append(["(everything else)", _seconds(rest), f"{rest / total:.0%}"])
    return markdown_table(["self time in", "seconds (profiled)", "share"], shown)


# The compiler's phases, found in a profile by (file name ending, function name). They
# overlap: a lazy import inside `parse_spec` counts for both, and an imported spec's
# parse counts inside `check_spec` too.
_PHASES = {
    "imports (every module loaded)": ("_bootstrap>", "_find_and_load"),
    "parse_spec": ("parse/_parse.py", "parse_spec"),
    "check_spec": ("check/_spec.py", "check_spec"),
    "lower_spec": ("lower/_spec.py", "lower_spec"),
    "render_module": ("render/_render.py", "render_module"),
    "of which black.format_str": ("~", "<built-in method black.format_str>"),
    "spec_digest (up-to-date test)": ("outputs.py", "spec_digest"),
}


def _phase_table(stats: pstats.Stats) -> str:
    """Cumulative time of each compiler phase in a profile, as a markdown table."""
    total = max(cumulative for _, _, _, cumulative, _ in stats.stats.values())
    rows = []
    for label, (file_end, function) in _PHASES.items():
        found = [entry for (filename, _, name), entry in stats.stats.items() if filename.endswith(file_end) and name == function]
        if found:
            cumulative = max(entry[3] for entry in found)
            rows.append([label, _seconds(cumulative), f"{cumulative / total:.0%}"])
    return markdown_table(["phase (cumulative, overlapping)", "seconds (profiled)", "share of the run"], rows)


def _top_functions(stats: pstats.Stats, rows: int = PROFILE_ROWS) -> str:
    """The functions with the largest self time, as a markdown table."""
    entries = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:rows]
    shown = [
        [f"`{function}`" if filename == "~" else f"`{function}` ({_area(filename, function)}:{line})", f"{calls:,}",
         _seconds(self_time), _seconds(cumulative)]
        for (filename, line, function), (calls, _, self_time, cumulative, _) in entries
    ]
    return markdown_table(["function", "calls", "self s", "cumulative s"], shown)


def _profile_report(stats: pstats.Stats) -> str:
    return "\n\n".join([_phase_table(stats), profile_table(stats), "Largest self times:", _top_functions(stats)])


def _front_end_profile(text: str) -> str:
    profiler = cProfile.Profile()
    profiler.runcall(_run_front_end, text)
    stats = pstats.Stats(profiler)
    return (
        "Where the front end's time goes (cProfile of one run; profiling inflates the times):\n\n" + _profile_report(stats)
    )


def _process_profile(argv: Sequence[str], prepare: Callable[[], None]) -> str:
    """cProfile of one run of `python -m ...argv` in a fresh process, grouped by area."""
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "profile.out"
        prepare()
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(output), *argv], cwd=ROOT, env=_environment(),
                       check=True, capture_output=True)
        stats = pstats.Stats(str(output))
    return _profile_report(stats)


# -- whole processes ----------------------------------------------------------------------


def _environment() -> dict[str, str]:
    """The environment for child processes: this checkout importable, no stray bytecode writes."""
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environment.get("PYTHONPATH")]))
    return environment


def time_processes(
    commands: dict[str, list[str]],
    *,
    rounds: int,
    prepare: dict[str, Callable[[], None]] | None = None,
) -> list[Timing]:
    """Wall time of each command as a fresh process, interleaved round-robin.

    Args:
        commands: name -> argv (run with the checkout's root as the working
            folder and on the import path).
        rounds: runs per command; the order rotates every round.
        prepare: name -> an untimed callable run before each run of that command.

    Returns:
        One `Timing` per command, in microseconds, in the order of `commands`.

    Raises:
        RuntimeError: a command failed; the message holds its output.
    """
    prepare = prepare or {}
    environment = _environment()
    names = list(commands)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            if name in prepare:
                prepare[name]()
            start = time.perf_counter()
            result = subprocess.run(commands[name], cwd=ROOT, env=environment, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            if result.returncode != 0:
                raise RuntimeError(f"`{' '.join(commands[name])}` failed ({result.returncode}):\n{result.stderr}")
            samples[name].append(elapsed * 1e6)
    return [Timing(name, samples[name]) for name in names]


def _compile_argv(out: Path) -> list[str]:
    """The arguments after `python` that compile the examples folder into `out`."""
    return ["-m", "eqxdsl", "compile", str(EXAMPLES.relative_to(ROOT)), "-o", str(out)]


def _compile_tables() -> str:
    """`eqxdsl compile examples/` cold and up to date, as whole processes."""
    with tempfile.TemporaryDirectory() as scratch:
        cold_out = Path(scratch) / "cold"
        warm_out = Path(scratch) / "up-to-date"
        cold_argv, warm_argv = _compile_argv(cold_out), _compile_argv(warm_out)

        def empty_cold_folder() -> None:
            shutil.rmtree(cold_out, ignore_errors=True)

        subprocess.run([sys.executable, *warm_argv], cwd=ROOT, env=_environment(), check=True, capture_output=True)
        cold, warm, start = time_processes(
            {
                "cold: empty output folder": [sys.executable, *cold_argv],
                "up to date: every output current": [sys.executable, *warm_argv],
                "python -c pass (interpreter start)": [sys.executable, "-c", "pass"],
            },
            rounds=COMPILE_ROUNDS,
            prepare={"cold: empty output folder": empty_cold_folder},
        )
        specs = len(list(EXAMPLES.glob("*.eqx")))
        rows = [[t.name, _seconds(t.median / 1e6), _seconds(t.minimum / 1e6), str(len(t.samples))] for t in (cold, warm, start)]
        parts = [
            f"### `python -m eqxdsl compile examples/ -o DIR` as a whole process ({specs} specs, {COMPILE_ROUNDS} rounds)\n",
            markdown_table(["run", "median", "min", "n"], rows) + "\n",
            _verdict(cold.median / 1e6 < COLD_TARGET_S, f"cold {_seconds(cold.median / 1e6)}", f"under {COLD_TARGET_S:g} s",
                     f"{cold.median / 1e6 - COLD_TARGET_S:+.2f} s, {cold.median / 1e6 / COLD_TARGET_S:.1f}x the target"),
            _verdict(warm.median / 1e6 < UP_TO_DATE_TARGET_S, f"up to date {_seconds(warm.median / 1e6)}",
                     f"under {UP_TO_DATE_TARGET_S:g} s",
                     f"{warm.median / 1e6 - UP_TO_DATE_TARGET_S:+.2f} s, {warm.median / 1e6 / UP_TO_DATE_TARGET_S:.1f}x the target"),
        ]
        if cold.median / 1e6 >= COLD_TARGET_S:
            parts.append("\nWhere a cold compile's time goes (cProfile of one whole process, imports included):\n\n"
                         + _process_profile(cold_argv, empty_cold_folder))
        if warm.median / 1e6 >= UP_TO_DATE_TARGET_S:
            parts.append("\nWhere an up-to-date run's time goes (cProfile of one whole process, imports included):\n\n"
                         + _process_profile(warm_argv, lambda: None))
    return "\n".join(parts)


# -- imports ------------------------------------------------------------------------------


def _import_times(statement: str) -> dict[str, tuple[int, int]]:
    """`python -X importtime -c statement`: module -> (self µs, cumulative µs)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], cwd=ROOT, env=_environment(),
                            check=True, capture_output=True, text=True)
    times = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            times[match[4]] = (int(match[1]), int(match[2]))
    return times


def _import_extra_table() -> str:
    """The modules `import eqxdsl.runtime` loads that `import jax` does not, by self time."""
    jax_modules = _import_times("import jax")
    runtime_modules = _import_times("import eqxdsl.runtime")
    extra = {name: times for name, times in runtime_modules.items() if name not in jax_modules}
    total = sum(self_time for self_time, _ in extra.values())
    ranked = sorted(extra.items(), key=lambda item: item[1][0], reverse=True)[:PROFILE_ROWS]
    rows = [[f"`{name}`", f"{self_time / 1000:.1f}", f"{cumulative / 1000:.1f}"] for name, (self_time, cumulative) in ranked]
    return (f"Modules that `import eqxdsl.runtime` loads beyond `import jax` ({len(extra)} modules, "
            f"{total / 1000:.0f} ms of self time, from `python -X importtime`):\n\n"
            + markdown_table(["module", "self ms", "cumulative ms"], rows))


def _import_table() -> str:
    statements = {
        "import jax": "import jax",
        "import eqxdsl.runtime": "import eqxdsl.runtime",
        "import eqxdsl (the light top level)": "import eqxdsl",
        "python -c pass (interpreter start)": "pass",
    }
    timings = time_processes({name: [sys.executable, "-c", code] for name, code in statements.items()}, rounds=IMPORT_ROUNDS)
    jax_time = timings[0]

    def paired_difference(timing: Timing) -> float:
        # Rounds are interleaved, so a round's two runs saw the same background load.
        return statistics.median(a - b for a, b in zip(timing.samples, jax_time.samples)) / 1e6

    rows = [
        [t.name, _seconds(t.median / 1e6), _seconds(t.minimum / 1e6), f"{paired_difference(t):+.3f} s",
         f"{(t.minimum - jax_time.minimum) / 1e6:+.3f} s", str(len(t.samples))]
        for t in timings
    ]
    margin = paired_difference(timings[1])
    parts = [
        f"### Import time in fresh interpreters ({IMPORT_ROUNDS} rounds)\n",
        markdown_table(["statement", "median", "min", "vs jax (median of per-round differences)", "vs jax (min vs min)", "n"], rows) + "\n",
        _verdict(margin <= IMPORT_MARGIN_TARGET_S, f"the runtime adds {margin:+.3f} s to jax's import",
                 f"at most +{IMPORT_MARGIN_TARGET_S:g} s", f"{margin - IMPORT_MARGIN_TARGET_S:+.3f} s over"),
    ]
    if margin > IMPORT_MARGIN_TARGET_S:
        parts.append("\n" + _import_extra_table())
    return "\n".join(parts)


# -- formatting -------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"


def _verdict(met: bool, measured: str, target: str, miss: str) -> str:
    return f"Target {target}: **met** ({measured})." if met else f"Target {target}: **missed** ({measured}; {miss})."


def run() -> str:
    """Run every table of this section and return them as markdown."""
    text = large_spec()
    front_end, met = _front_end_table(text)
    parts = ["## compiler: front-end throughput, whole-process compiles, import time\n", front_end + "\n"]
    if not met:
        parts.append(_front_end_profile(text) + "\n")
    parts.append(_compile_tables() + "\n")
    parts.append(_import_table())
    return "\n".join(parts)
