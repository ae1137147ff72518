"""The `eqxdsl` command: compile and check `.eqx` specs.

    eqxdsl compile PATH... [-o DIR] [--stdout | --check] [--force] [--target {eqxdsl,equinox}]
    eqxdsl check PATH... [--target {eqxdsl,equinox}] [--rules FILE [--mesh NAME=SIZE,...] [--set NAME=VALUE]...]

PATH is a spec or a folder (searched recursively for `*.eqx`). Problems are
printed as `path:line:col: error: message` with the source line, a caret and a
hint; every problem of every file is reported in one run. With `--rules`,
`check` also checks the specs' logical axes against the rules file (and the
mesh's sizes, for divisibility), as docs/scaling.md describes. Exit status: 0 when
all is well, 1 when a spec has errors (or, with `--check`, an output is out of
date), 2 for a usage error such as a missing path. This module never imports
jax, and an up-to-date output costs one read of it (and of its specs).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shlex
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .compiler import driver
from .compiler.diagnostics import CompileError
from .compiler.targets import DEFAULT_TARGET, TARGETS
from .format import command as format_command

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


def _installed_version() -> str:
    try:
        return importlib.metadata.version("eqxdsl")
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown: the package is not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eqxdsl", description="Compile .eqx model specs to plain JAX Python modules."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    compile_ = commands.add_parser("compile", help="compile specs to Python modules")
    compile_.add_argument("paths", nargs="+", metavar="PATH", help="a .eqx file or a folder of them")
    compile_.add_argument("-o", "--out", metavar="DIR", help="write outputs under DIR instead of beside each spec")
    mode = compile_.add_mutually_exclusive_group()
    mode.add_argument("--stdout", action="store_true", help="print the generated code instead of writing files")
    mode.add_argument("--check", action="store_true", help="write nothing; exit 1 if an output is missing or out of date")
    compile_.add_argument("--force", action="store_true", help="overwrite outputs that lack the generated header")
    _add_target_option(compile_, "the library the outputs import as eqx")
    check = commands.add_parser("check", help="report problems in specs without generating code")
    check.add_argument("paths", nargs="+", metavar="PATH", help="a .eqx file or a folder of them")
    _add_target_option(check, "also report what compiling for this library would reject")
    check.add_argument(
        "--rules", metavar="FILE",
        help='also check the logical axes against these rules: a JSON object such as {"batch": "data", "embed": null}',
    )
    check.add_argument("--mesh", metavar="NAME=SIZE,...", help="the mesh the rules are for, such as data=4,model=2 (needs --rules)")
    check.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", dest="sizes",
        help="a size to check sharding with instead of its default, such as dim=96; repeatable (needs --rules)",
    )
    format_command.add_parser(commands)
    commands.add_parser("lsp", help="run the language server on standard input and output (for editors)")
    summary = commands.add_parser("summary", help="a model's layers, parameters and multiply-adds, from its spec alone")
    summary.add_argument("spec", metavar="SPEC", help="a .eqx file")
    summary.add_argument("model", nargs="?", metavar="MODEL", help="the model to summarise (default: the last one)")
    summary.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", dest="sizes",
        help="a hyperparameter or input size, such as dim=128 or T=1024 (a tuple: widths=64,128); repeatable",
    )
    summary.add_argument("--depth", type=int, metavar="N", help="fold layers nested deeper than N into their parents")
    summary.add_argument("--format", choices=("text", "markdown", "json"), default="text", help="the output format")
    graph = commands.add_parser("graph", help="a picture of a model's dataflow, from its spec alone (DOT, SVG, PNG, Mermaid)")
    graph.add_argument("spec", metavar="SPEC", help="a .eqx file")
    graph.add_argument("model", nargs="?", metavar="MODEL", help="the model to draw (default: the last one)")
    graph.add_argument(
        "-o", "--out", required=True, metavar="FILE",
        help="where to write it: .dot, .svg, .png (SVG and PNG need Graphviz), .mmd or .md (Mermaid); - for standard output",
    )
    graph.add_argument("--format", choices=("dot", "svg", "png", "mermaid", "markdown"), help="the format (default: from FILE's name)")
    graph.add_argument("--depth", type=int, metavar="N", help="draw models nested deeper than N as single nodes")
    graph.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", dest="sizes",
        help="a hyperparameter or input size to show shapes with, such as dim=128 or T=1024 (a tuple: widths=64,128); repeatable",
    )
    graph.add_argument("--direction", choices=("TB", "LR"), default="TB", help="top to bottom (default) or left to right")
    return parser


def _add_target_option(command: argparse.ArgumentParser, purpose: str) -> None:
    command.add_argument(
        "--target", choices=sorted(TARGETS), default=DEFAULT_TARGET,
        help=f"{purpose}: eqxdsl.runtime (default) or equinox (see docs/targets.md)",
    )


def _serve_language_server() -> int:
    """`eqxdsl lsp`: pygls is imported here only, so the other commands never load it."""
    try:
        from .lsp import serve
    except ImportError as error:
        _report(f"eqxdsl: error: the language server needs pygls ({error})")
        _report("hint: pip install 'eqxdsl[lsp]'")
        return EXIT_USAGE
    serve()
    return EXIT_OK


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
        sys.stdout.write(driver.compile_source(driver.read_spec(job.spec), str(job.spec), target=arguments.target))
        return "printed"
    if arguments.check:
        states = driver.output_states(job.spec, job.out, arguments.target)
        stale = [(spec, output, state) for spec, output, state in states if state is not driver.OutputState.CURRENT]
        for spec, output, state in stale:
            _report(f"{output}: error: {state.value} (generated from {spec})")
        if not stale:
            return "up to date"
        if any(state is driver.OutputState.FOREIGN for _, _, state in stale):
            _report(f"hint: run `{_compile_command(job, arguments, force=True)}` (files without the generated header are overwritten only with --force)")
        else:
            _report(f"hint: run `{_compile_command(job, arguments, force=False)}`")
        return "out of date"
    outputs = driver.update_outputs(job.spec, job.out, force=arguments.force, target=arguments.target)
    # Outputs of the specs it imports count too: writing them is this spec's work.
    return "written" if any(written for _, written in outputs) else "up to date"


def _compile_command(job: _Job, arguments: argparse.Namespace, force: bool) -> str:
    """The `eqxdsl compile` command line that brings the outputs of `job` up to date, as `--check` judged them."""
    words = ["eqxdsl", "compile"]
    if force:
        words.append("--force")
    if arguments.target != DEFAULT_TARGET:
        words += ["--target", arguments.target]
    if job.out is not None:
        words += ["-o", str(job.out)]
    return shlex.join([*words, str(job.spec)])


def _check_one(job: _Job, arguments: argparse.Namespace) -> str:
    if arguments.sharding is None:
        driver.check_file(job.spec, target=arguments.target)
    else:
        from .compiler.sharding import check_file_sharding

        check_file_sharding(job.spec, *arguments.sharding, target=arguments.target)
    return "checked"


def _sharding_options(arguments: argparse.Namespace) -> tuple | None:
    """`check`'s `--rules`, `--mesh` and `--set`, read: (rules file, mesh sizes, sizes), or None without `--rules`."""
    if arguments.rules is None:
        if arguments.mesh is not None or arguments.sizes:
            raise _UsageError("--mesh and --set check sharding, which needs --rules FILE")
        return None
    from .compiler.sharding import parse_mesh, read_rules_file

    try:
        mesh = parse_mesh(arguments.mesh) if arguments.mesh is not None else None
        sizes = _sizes(arguments.sizes)
        return read_rules_file(arguments.rules), mesh, sizes
    except ValueError as error:
        raise _UsageError(str(error)) from None
    except OSError as error:
        raise _UsageError(f"cannot read the rules file {arguments.rules}: {error.strerror or error}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: `sys.argv[1:]`); returns the exit status."""
    arguments = _parser().parse_args(argv)
    if arguments.command == "fmt":
        return format_command.run(arguments)
    if arguments.command == "lsp":
        return _serve_language_server()
    if arguments.command == "summary":
        return _summary(arguments)
    if arguments.command == "graph":
        return _graph(arguments)
    try:
        jobs = _jobs(arguments.paths, getattr(arguments, "out", None))
        if arguments.command == "check":
            arguments.sharding = _sharding_options(arguments)
    except _UsageError as error:
        _report(f"eqxdsl: error: {error}")
        return EXIT_USAGE
    except CompileError as error:  # a rules file that is not JSON
        _report_failure(Path(arguments.rules), error)
        return EXIT_ERRORS
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


def _sizes(settings: Sequence[str]) -> dict[str, int | tuple[int, ...]]:
    """`--set` values: `dim=128` and `widths=64,128` (a tuple hyperparameter)."""
    sizes: dict[str, int | tuple[int, ...]] = {}
    for setting in settings:
        name, equals, text = setting.partition("=")
        try:
            values = tuple(int(item) for item in text.split(","))
        except ValueError:
            values = ()
        if not equals or not name.strip() or not values:
            raise _UsageError(f"--set takes NAME=INTEGER (or NAME=INT,INT,...), got {setting!r}")
        sizes[name.strip()] = values[0] if len(values) == 1 and "," not in text else values
    return sizes


def _summary(arguments: argparse.Namespace) -> int:
    """`eqxdsl summary`: print the summary of a spec's model, computed without jax."""
    from .summarise import SpecSummaryError, format_report, spec_report

    spec = Path(arguments.spec)
    try:
        if not spec.is_file() or spec.suffix != driver.SPEC_SUFFIX:
            raise _UsageError(f"no such {driver.SPEC_SUFFIX} file: {arguments.spec}")
        if arguments.depth is not None and arguments.depth < 0:
            raise _UsageError(f"--depth must be at least 0, got {arguments.depth}")
        sizes = _sizes(arguments.sizes)
    except _UsageError as error:
        _report(f"eqxdsl: error: {error}")
        return EXIT_USAGE
    try:
        report = spec_report(driver.check_file(spec), arguments.model, sizes)
    except SpecSummaryError as error:
        _report(f"{spec}: error: {error}")
        return EXIT_ERRORS
    except Exception as error:  # every failure becomes a report, never a traceback
        _report_failure(spec, error)
        return EXIT_ERRORS
    sys.stdout.write(format_report(report, arguments.format, arguments.depth))
    return EXIT_OK


def _graph(arguments: argparse.Namespace) -> int:
    """`eqxdsl graph`: write the dataflow picture of a spec's model, drawn without jax."""
    from .graph import GraphError, RenderError, check_with_types, format_for, graph_bytes, spec_graph, write_graph

    spec = Path(arguments.spec)
    to_stdout = arguments.out == "-"
    try:
        if not spec.is_file() or spec.suffix != driver.SPEC_SUFFIX:
            raise _UsageError(f"no such {driver.SPEC_SUFFIX} file: {arguments.spec}")
        if arguments.depth is not None and arguments.depth < 0:
            raise _UsageError(f"--depth must be at least 0, got {arguments.depth}")
        format = arguments.format or ("dot" if to_stdout else format_for(arguments.out))
        if to_stdout and format in ("svg", "png"):
            raise _UsageError(f"-o - writes text formats only (dot, mermaid, markdown); write {format} to a file")
        sizes = _sizes(arguments.sizes)
    except (_UsageError, RenderError) as error:
        _report(f"eqxdsl: error: {error}")
        return EXIT_USAGE
    try:
        graph = spec_graph(check_with_types(spec), arguments.model, arguments.depth, sizes)
        if to_stdout:
            sys.stdout.write(graph_bytes(graph, format, arguments.direction).decode())
        else:
            write_graph(graph, arguments.out, format, arguments.direction)
    except GraphError as error:
        _report(f"{spec}: error: {error}")
        return EXIT_ERRORS
    except RenderError as error:
        _report(f"{arguments.out}: error: {error}")
        return EXIT_ERRORS
    except Exception as error:  # every failure becomes a report, never a traceback
        _report_failure(spec, error)
        return EXIT_ERRORS
    return EXIT_OK
