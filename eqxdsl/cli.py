"""The `eqxdsl` command: compile and check `.eqx` specs.

    eqxdsl compile PATH... [-o DIR] [--stdout | --check] [--force]
    eqxdsl check PATH...

PATH is a spec or a folder (searched recursively for `*.eqx`). Problems are
printed as `path:line:col: error: message` with the source line, a caret and a
hint; every problem of every file is reported in one run. Exit status: 0 when
all is well, 1 when a spec has errors (or, with `--check`, an output is out of
date), 2 for a usage error such as a missing path. This module never imports
jax, and an up-to-date output costs one read of its first line.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .compiler import driver
from .compiler.diagnostics import CompileError

EXIT_OK = 0
EXIT_ERRORS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_DEBUG_VARIABLE = "EQXDSL_DEBUG"


class _UsageError(Exception):
    """A command line that names missing or unusable paths."""


@dataclass(frozen=True)
class _Job:
    """One spec to process, and the folder its output goes to (None: beside the spec)."""

    spec: Path
    out: Path | None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eqxdsl", description="Compile .eqx model specs to plain JAX Python modules."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    compile_ = commands.add_parser("compile", help="compile specs to Python modules")
    compile_.add_argument("paths", nargs="+", metavar="PATH", help="a .eqx file or a folder of them")
    compile_.add_argument("-o", "--out", metavar="DIR", help="write outputs under DIR instead of beside each spec")
    mode = compile_.add_mutually_exclusive_group()
    mode.add_argument("--stdout", action="store_true", help="print the generated code instead of writing files")
    mode.add_argument("--check", action="store_true", help="write nothing; exit 1 if an output is missing or out of date")
    compile_.add_argument("--force", action="store_true", help="overwrite outputs that lack the generated header")
    check = commands.add_parser("check", help="report problems in specs without generating code")
    check.add_argument("paths", nargs="+", metavar="PATH", help="a .eqx file or a folder of them")
    return parser


def _jobs(paths: Sequence[str], out: str | None) -> list[_Job]:
    jobs = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = list(driver.spec_files(path))
            if not found:
                raise _UsageError(f"no {driver.SPEC_SUFFIX} files in the folder {given}")
            for spec in found:
                # Under --out, a folder's layout is kept, so imported specs stay beside their importers.
                target = None if out is None else Path(out) / spec.parent.relative_to(path)
                jobs.append(_Job(spec, target))
        elif path.is_file():
            if path.suffix != driver.SPEC_SUFFIX:
                raise _UsageError(f"{given} is not a {driver.SPEC_SUFFIX} file")
            jobs.append(_Job(path, None if out is None else Path(out)))
        else:
            raise _UsageError(f"no such file or folder: {given}")
    return jobs


def _report(message: str) -> None:
    print(message, file=sys.stderr)


def _report_failure(spec: Path, error: Exception) -> None:
    """Print what went wrong with one spec, in the user's terms."""
    if isinstance(error, CompileError):
        for diagnostic in error.diagnostics:
            _report(diagnostic.format())
    elif isinstance(error, driver.OutputError):
        _report(f"{error.path}: error: {error.message}")
        if error.hint:
            _report(f"hint: {error.hint}")
    elif isinstance(error, OSError):
        _report(f"{error.filename or spec}: error: {error.strerror or error}")
    else:
        _report(f"{spec}: internal compiler error: {type(error).__name__}: {error}")
        _report(
            "hint: this is a bug in eqxdsl, not in your spec; please report it with the spec "
            f"that triggers it (set {_DEBUG_VARIABLE}=1 to print the Python traceback)"
        )
        if os.environ.get(_DEBUG_VARIABLE):
            traceback.print_exception(error)


def _compile_one(job: _Job, arguments: argparse.Namespace) -> str:
    """Process one spec for `eqxdsl compile`; returns what happened, for the summary."""
    if arguments.stdout:
        sys.stdout.write(driver.compile_source(driver.read_spec(job.spec), str(job.spec)))
        return "printed"
    target = driver.output_path(job.spec, job.out)
    if arguments.check:
        expected = driver.compile_source(driver.read_spec(job.spec), str(job.spec))
        try:
            current = target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            current = None
        if current == expected:
            return "up to date"
        _report(f"{target}: error: {'missing' if current is None else 'out of date'} (generated from {job.spec})")
        _report(f"hint: run `eqxdsl compile {job.spec}`")
        return "out of date"
    current = driver.is_up_to_date(job.spec, job.out)
    # Even when current, compile_file makes sure the specs it imports have their outputs.
    driver.compile_file(job.spec, job.out, force=arguments.force)
    return "up to date" if current else "written"


def _check_one(job: _Job, arguments: argparse.Namespace) -> str:
    driver.check_file(job.spec)
    return "checked"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: `sys.argv[1:]`); returns the exit status."""
    arguments = _parser().parse_args(argv)
    try:
        jobs = _jobs(arguments.paths, getattr(arguments, "out", None))
    except _UsageError as error:
        _report(f"eqxdsl: error: {error}")
        return EXIT_USAGE
    process = _compile_one if arguments.command == "compile" else _check_one
    outcomes: dict[str, int] = {}
    try:
        for job in jobs:
            try:
                outcome = process(job, arguments)
            except Exception as error:  # every failure becomes a report, never a traceback
                _report_failure(job.spec, error)
                outcome = "failed"
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    except KeyboardInterrupt:
        _report("eqxdsl: interrupted; outputs already written are complete, the rest untouched")
        return EXIT_INTERRUPTED
    if not (arguments.command == "compile" and arguments.stdout):
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        _report(f"eqxdsl: {len(jobs)} spec{'s' if len(jobs) != 1 else ''}: {summary}")
    failed = outcomes.get("failed", 0) + outcomes.get("out of date", 0)
    return EXIT_ERRORS if failed else EXIT_OK
