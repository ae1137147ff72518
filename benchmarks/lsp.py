"""The language server's re-check latency, and the front-end throughput behind it.

Tables:

- re-check after an edit: the time from a changed document to its diagnostics
  (`eqxdsl.lsp.Analyzer.analyse`, what the server runs on every change) for a
  spec of about 300 lines, each run after a one-line edit; target: median at
  most 50 ms. Beside it, the same text parsed and checked from scratch, and a
  spec that imports another, re-checked with and without the kept import;
- parse + check (no lowering, no rendering) of the compiler section's large
  generated spec, in lines per second; target at least 10,000 lines/s.

Styles are timed interleaved, round-robin; where a target is missed the
section prints a profile of where the time goes.
"""

from __future__ import annotations

import cProfile
import pstats
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._harness import markdown_table
from benchmarks.compiler import EXAMPLES, large_spec, profile_table

RECHECK_TARGET_S = 0.050
THROUGHPUT_TARGET_LINES_PER_S = 10_000
EDITOR_SPEC_LINES = 300
ROUNDS = 15

_SPEC_IMPORT = re.compile(r"""^\s*from\s+["']""", re.MULTILINE)
_MODEL_NAME = re.compile(r"^model[ \t]+(\w+)", re.MULTILINE)


def editor_spec(min_lines: int = EDITOR_SPEC_LINES) -> str:
    """A spec of at least `min_lines` lines: every example model, then renamed copies of the self-contained examples.

    Args:
        min_lines: the least number of lines.

    Returns:
        The spec's text (it checks without errors).
    """
    text = large_spec(1)
    standalone = [path.read_text(encoding="utf-8") for path in sorted(EXAMPLES.glob("*.eqx"))
                  if not _SPEC_IMPORT.search(path.read_text(encoding="utf-8"))]
    copy = 0
    while text.count("\n") + 1 < min_lines:
        source = standalone[copy % len(standalone)]
        suffix = f"_{copy}"
        for name in _MODEL_NAME.findall(source):
            source = re.sub(rf"\b{name}\b", name + suffix, source)
        text += "\n\n" + source
        copy += 1
    return text


def _edits(text: str) -> tuple[str, str]:
    """Two versions of `text` that differ in one line in its middle, as a keystroke makes them."""
    lines = text.splitlines(keepends=True)
    middle = next(i for i in range(len(lines) // 2, len(lines)) if "return " in lines[i])
    edited = lines[middle].replace("return ", "return  ", 1)
    return text, "".join(lines[:middle] + [edited] + lines[middle + 1 :])


def _time_rounds(styles: dict[str, Callable[[], object]], rounds: int = ROUNDS) -> dict[str, list[float]]:
    """Seconds per call of each style, interleaved round-robin, after one untimed call each."""
    for call in styles.values():
        call()
    names = list(styles)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            styles[name]()
            samples[name].append(time.perf_counter() - start)
    return samples


def _alternating(versions: tuple[str, str], check: Callable[[str], object]) -> Callable[[], object]:
    """A call that checks the other version each time: every call sees an edited document."""
    state = {"next": 0}

    def call() -> object:
        state["next"] ^= 1
        return check(versions[state["next"]])

    return call


def _recheck_table() -> tuple[str, float, Callable[[], object]]:
    from eqxdsl.compiler.check import check_spec
    from eqxdsl.compiler.parse import parse_spec
    from eqxdsl.lsp import Analyzer

    text = editor_spec()
    lines = text.count("\n") + 1
    versions = _edits(text)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "mlp.eqx").write_text((EXAMPLES / "mlp.eqx").read_text(encoding="utf-8"))
        importer = folder / "vae.eqx"
        importer_versions = _edits((EXAMPLES / "vae.eqx").read_text(encoding="utf-8"))
        importer.write_text(importer_versions[0])
        document = str(folder / "editor.eqx")
        analyzer = Analyzer()
        kept_imports = Analyzer()
        recheck = _alternating(versions, lambda version: _no_errors(analyzer.analyse(version, document)))
        styles = {
            f"re-check after an edit ({lines} lines, `Analyzer.analyse`)": recheck,
            f"parse + check from scratch ({lines} lines)": _alternating(
                versions, lambda version: check_spec(parse_spec(version, document), _no_imports)),
            "re-check of vae.eqx after an edit, import of mlp.eqx kept": _alternating(
                importer_versions, lambda version: _no_errors(kept_imports.analyse(version, str(importer)))),
            "re-check of vae.eqx after an edit, mlp.eqx checked again": _alternating(
                importer_versions, lambda version: _no_errors(Analyzer().analyse(version, str(importer)))),
        }
        samples = _time_rounds(styles)
    rows = [[name, _ms(statistics.median(times)), _ms(min(times)), str(len(times))] for name, times in samples.items()]
    median = statistics.median(next(iter(samples.values())))
    verdict = _verdict(median <= RECHECK_TARGET_S, f"median {_ms(median)}", f"median at most {_ms(RECHECK_TARGET_S)}")
    title = f"### Re-check latency after a one-line edit ({ROUNDS} rounds, interleaved)\n\n"
    return title + markdown_table(["what", "median", "min", "n"], rows) + "\n\n" + verdict, median, recheck


def _throughput_table() -> tuple[str, float, Callable[[], object]]:
    from eqxdsl.compiler.check import check_spec
    from eqxdsl.compiler.parse import parse_spec

    text = large_spec()
    lines = text.count("\n") + 1

    def front_end() -> None:
        check_spec(parse_spec(text, "large.eqx"), _no_imports)

    seconds = _time_rounds({"parse + check": front_end}, rounds=5)["parse + check"]
    rate = lines / statistics.median(seconds)
    rows = [[f"parse + check, {lines:,} lines", _ms(statistics.median(seconds)), _ms(min(seconds)), f"{rate:,.0f}"]]
    verdict = _verdict(rate >= THROUGHPUT_TARGET_LINES_PER_S, f"{rate:,.0f} lines/s",
                       f"at least {THROUGHPUT_TARGET_LINES_PER_S:,} lines/s")
    title = "### Parse + check throughput (no lowering or rendering; median of 5)\n\n"
    return title + markdown_table(["what", "median", "min", "lines/s (median)"], rows) + "\n\n" + verdict, rate, front_end


def _no_imports(path: str, node: object) -> None:
    raise AssertionError(f"the benchmark spec imports {path!r}; it should define every model itself")


def _no_errors(analysis) -> object:
    if analysis.diagnostics:
        raise AssertionError("the benchmark spec has errors:\n" + "\n".join(d.format() for d in analysis.diagnostics))
    return analysis


def _profile(call: Callable[[], object], what: str) -> str:
    profiler = cProfile.Profile()
    for _ in range(3):
        profiler.runcall(call)
    return f"Where the time of {what} goes (cProfile of 3 runs; profiling inflates the times):\n\n" + profile_table(pstats.Stats(profiler))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _verdict(met: bool, measured: str, target: str) -> str:
    return f"Target {target}: **{'met' if met else 'missed'}** ({measured})."


def run() -> str:
    """Run every table of this section and return them as markdown."""
    parts = ["## lsp: re-check latency of the language server, front-end throughput\n"]
    recheck, median, call = _recheck_table()
    parts.append(recheck + "\n")
    if median > RECHECK_TARGET_S:
        parts.append(_profile(call, "a re-check") + "\n")
    throughput, rate, front_end = _throughput_table()
    parts.append(throughput + "\n")
    if rate < THROUGHPUT_TARGET_LINES_PER_S:
        parts.append(_profile(front_end, "parse + check") + "\n")
    return "\n".join(parts)
