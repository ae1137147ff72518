"""`eqxdsl fmt [--check] [--diff] [--line-width N] PATH...`: format specs in place.

PATH is a spec, a folder (searched recursively for `*.eqx`, hidden folders
skipped) or `-` (standard input to standard output). Exit status, as black's:
0 when nothing needed doing or every spec was formatted; 1 with `--check`
when a spec would be reformatted; 123 when a spec could not be formatted (it
does not parse, or the formatter could not prove its result safe); 2 for a
usage error. A spec that cannot be formatted is left unchanged.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import traceback
from pathlib import Path

from eqxdsl._files import replace_file
from eqxdsl.compiler import CompileError

from ._doc import DEFAULT_LINE_WIDTH

EXIT_OK = 0
EXIT_WOULD_REFORMAT = 1
EXIT_USAGE = 2
EXIT_FAILED = 123
EXIT_INTERRUPTED = 130

_STDIN = "-"
_DEBUG_VARIABLE = "EQXDSL_DEBUG"


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the `fmt` subcommand to the `eqxdsl` command's subparsers."""
    fmt = commands.add_parser("fmt", help="lay specs out in the canonical format, in place")
    fmt.add_argument("paths", nargs="+", metavar="PATH", help="a .eqx file, a folder of them, or - for standard input")
    fmt.add_argument("--check", action="store_true", help="write nothing; exit 1 if a spec would be reformatted")
    fmt.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of the changes")
    fmt.add_argument(
        "--line-width", type=_positive, default=DEFAULT_LINE_WIDTH, metavar="N",
        help=f"wrap lines longer than N columns where they can break (default {DEFAULT_LINE_WIDTH})",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def run(arguments: argparse.Namespace) -> int:
    """Run `eqxdsl fmt` with parsed `arguments`; returns the exit status."""
    try:
        targets = _targets(arguments.paths)
    except ValueError as error:
        _report(f"eqxdsl: error: {error}")
        return EXIT_USAGE
    outcomes: dict[str, int] = {}
    try:
        for target in targets:
            outcome = _format_one(target, arguments)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    except KeyboardInterrupt:
        _report("eqxdsl: interrupted; specs already formatted are complete, the rest untouched")
        return EXIT_INTERRUPTED
    if targets != [_STDIN]:
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        _report(f"eqxdsl: {len(targets)} spec{'s' if len(targets) != 1 else ''}: {summary}")
    if outcomes.get("failed"):
        return EXIT_FAILED
    if arguments.check and outcomes.get("would be reformatted"):
        return EXIT_WOULD_REFORMAT
    return EXIT_OK


def _targets(paths: list[str]) -> list[str]:
    """The specs named by `paths`, folders expanded; raises ValueError for a path that names none."""
    targets: list[str] = []
    for given in paths:
        path = Path(given)
        if given == _STDIN:
            targets.append(_STDIN)
        elif path.is_dir():
            found = [
                str(spec)
                for spec in sorted(path.rglob("*.eqx"))
                if spec.is_file() and not any(part.startswith(".") for part in spec.relative_to(path).parts)
            ]
            if not found:
                raise ValueError(f"no .eqx files in the folder {given}")
            targets += found
        elif path.is_file():
            if path.suffix != ".eqx":
                raise ValueError(f"{given} is not a .eqx file")
            targets.append(given)
        else:
            raise ValueError(f"no such file or folder: {given}")
    return targets


def _format_one(target: str, arguments: argparse.Namespace) -> str:
    """Format one spec; returns what happened, for the summary."""
    # Imported here: the rest of the command line (an up-to-date `eqxdsl compile`) never loads the parser.
    from ._format import UnsafeFormatError, format_source

    display = "<stdin>" if target == _STDIN else target
    try:
        text = sys.stdin.read() if target == _STDIN else _read(Path(target))
        formatted = format_source(text, line_width=arguments.line_width, path=display)
    except CompileError as error:
        for diagnostic in error.diagnostics:
            _report(diagnostic.format())
        _report(f"{display}: error: cannot format a spec that does not parse; it was left unchanged")
        return "failed"
    except UnicodeDecodeError as error:
        _report(f"{display}: error: the spec is not UTF-8 text ({error.reason} at byte {error.start})")
        return "failed"
    except OSError as error:
        _report(f"{display}: error: {error.strerror or error}")
        return "failed"
    except Exception as error:  # never a traceback from the CLI
        message = error.message if isinstance(error, UnsafeFormatError) else f"{type(error).__name__}: {error}"
        _report(f"{display}: internal formatter error: {message}; the spec was left unchanged")
        _report(
            "hint: this is a bug in eqxdsl's formatter, not in your spec; please report it with the spec "
            f"(set {_DEBUG_VARIABLE}=1 to print the Python traceback)"
        )
        if os.environ.get(_DEBUG_VARIABLE):
            traceback.print_exception(error)
        return "failed"
    changed = formatted != text
    if arguments.diff and changed:
        sys.stdout.writelines(
            difflib.unified_diff(
                text.splitlines(keepends=True), formatted.splitlines(keepends=True), f"{display} (original)", f"{display} (formatted)"
            )
        )
    if target == _STDIN:
        if not (arguments.check or arguments.diff):
            sys.stdout.write(formatted)
        return "would be reformatted" if changed else "unchanged"
    if not changed:
        return "unchanged"
    if arguments.check or arguments.diff:
        _report(f"would reformat {display}")
        return "would be reformatted"
    try:
        replace_file(Path(target), formatted, newline="")
    except OSError as error:
        _report(f"{display}: error: cannot write the file: {error.strerror or error}")
        return "failed"
    _report(f"reformatted {display}")
    return "reformatted"


def _read(path: Path) -> str:
    """The spec's text with its line endings as they are (the formatter keeps `\\r\\n`)."""
    with path.open(encoding="utf-8", newline="") as file:
        return file.read()


def _report(message: str) -> None:
    print(message, file=sys.stderr)
