"""`python -m benchmarks [SECTION ...]`: run benchmark sections, print markdown.

A section is any module of this package whose name does not start with `_` and
that defines `run() -> str`.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time

import benchmarks
from benchmarks._harness import machine_description


def available_sections() -> list[str]:
    """The names of the section modules, sorted."""
    return sorted(
        info.name for info in pkgutil.iter_modules(benchmarks.__path__) if not info.name.startswith("_")
    )


def main(argv: list[str] | None = None) -> int:
    sections = available_sections()
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=f"sections to run (default: all of {', '.join(sections)})")
    args = parser.parse_args(argv)
    unknown = [name for name in args.sections if name not in sections]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; available: {', '.join(sections)}")
    print("# eqxdsl benchmarks\n")
    print(machine_description() + "\n")
    for name in args.sections or sections:
        start = time.perf_counter()
        report = importlib.import_module(f"benchmarks.{name}").run()
        print(report.rstrip() + "\n")
        print(f"_section `{name}` took {time.perf_counter() - start:.1f} s_\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
