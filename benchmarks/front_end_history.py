"""The front end now against an earlier commit, side by side: parse + check, and with lower, in lines/s.

The earlier tree is exported with `git archive` (the commit before the compiler
became stage packages, unless `EQXDSL_BASELINE` names another). Each tree
builds the benchmark spec (`benchmarks.compiler.large_spec`) from its own copy
of the examples both trees have, so each parses the spelling its language
accepts, and runs its own front end in a fresh interpreter. The two alternate,
round by round, so background load hits them alike.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from benchmarks._harness import markdown_table

ROOT = Path(__file__).resolve().parents[1]
BASELINE = os.environ.get("EQXDSL_BASELINE", "b8d6959")
ROUNDS = 4

# Run in each tree's root: time that tree's own front end on the spec of the given examples.
_PROBE = """
import json, shutil, statistics, sys, tempfile
from pathlib import Path
root = Path.cwd()
sys.path.insert(0, str(root))
import benchmarks.compiler as compiler
import eqxdsl
assert Path(eqxdsl.__file__).resolve().is_relative_to(root.resolve()), eqxdsl.__file__
examples = Path(tempfile.mkdtemp())
for name in sys.argv[1:]:
    shutil.copy(root / "examples" / name, examples / name)
compiler.EXAMPLES = examples
text = compiler.large_spec()
compiler._run_front_end(text)
runs = [compiler._run_front_end(text) for _ in range(5)]
lines = text.count("\\n") + 1
analysis = statistics.median(run["parse"] + run["check"] for run in runs)
whole = statistics.median(sum(run.values()) for run in runs)
print(json.dumps({"lines": lines, "analysis": lines / analysis, "whole": lines / whole}))
"""


def _export(revision: str, folder: Path) -> Path | None:
    """The tree of `revision`, written under `folder`; None where git cannot give it."""
    archive = folder / "baseline.tar"
    with archive.open("wb") as out:
        done = subprocess.run(["git", "archive", revision], cwd=ROOT, stdout=out, stderr=subprocess.DEVNULL)
    if done.returncode != 0:
        return None
    tree = folder / "baseline"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def _measure(tree: Path, examples: list[str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", _PROBE, *examples], cwd=tree, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> str:
    """Run the comparison and return it as markdown."""
    title = f"## front_end_history: the front end now against `{BASELINE}`, side by side\n\n"
    with tempfile.TemporaryDirectory() as scratch:
        baseline = _export(BASELINE, Path(scratch))
        if baseline is None:
            return title + f"Skipped: this checkout has no commit `{BASELINE}` (a shallow clone?).\n"
        examples = sorted(path.name for path in (baseline / "examples").glob("*.eqx") if (ROOT / "examples" / path.name).exists())
        trees = {f"`{BASELINE}`": baseline, "now": ROOT}
        results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for _ in range(ROUNDS):
            for name, tree in trees.items():
                results[name].append(_measure(tree, examples))
    rows = []
    for name, runs in results.items():
        rows.append([name, f"{runs[0]['lines']:,.0f}",
                     f"{statistics.median(r['analysis'] for r in runs):,.0f}", f"{min(r['analysis'] for r in runs):,.0f}",
                     f"{statistics.median(r['whole'] for r in runs):,.0f}", f"{min(r['whole'] for r in runs):,.0f}"])
    old, new = results.values()
    ratio = statistics.median(n["analysis"] / o["analysis"] for o, n in zip(old, new))
    ratio_whole = statistics.median(n["whole"] / o["whole"] for o, n in zip(old, new))
    table = markdown_table(["tree", "spec lines", "parse + check lines/s (median)", "(min)",
                            "parse + check + lower lines/s (median)", "(min)"], rows)
    return (title + f"Examples both trees have: {', '.join(examples)}; {ROUNDS} rounds, alternating, "
            "each the median of 5 runs after one warm-up.\n\n" + table
            + f"\n\nNow / before, per round (median): parse + check **{ratio:.2f}x**, with lower **{ratio_whole:.2f}x**.\n")
