"""The long robustness run: the property tests of this folder, drawn from for as long as asked.

    python3 -m tests.robustness.fuzz --minutes 20

run from the repository root. It cycles through the properties (random valid
specs; mutated and pathological specs, including 1 MB files; hostile names in
every position of a spec; corrupted checkpoint files; specs with
hyperparameter-sized operations, valid and with one size mismatch; valid specs
run with other sizes, with their input checks probed) in batches, with fresh
random draws each batch, until the time is up. A failing case is shrunk by
hypothesis, printed once (distinct failures are told apart by their exception
and message) and the run goes on. At the end it prints the number of cases per
property and exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st

if sys.version_info >= (3, 11):
    from builtins import BaseExceptionGroup
else:  # hypothesis installs this backport on Python 3.10
    from exceptiongroup import BaseExceptionGroup

from . import (
    test_checkpoint,
    test_injection,
    test_mutations,
    test_size_mismatches,
    test_sized_specs,
    test_valid_specs,
)
from ._sizedgen import mismatched_specs, sized_specs
from ._specgen import mutated_specs, valid_specs

_BATCH = 25


def _properties() -> list[tuple[str, st.SearchStrategy, Callable[[object], None]]]:
    names = st.sampled_from(test_injection.HOSTILE_NAMES) | st.from_regex(
        r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True
    )
    positions = st.sampled_from(sorted(test_injection.DEFAULTS))
    return [
        ("valid specs", valid_specs(), test_valid_specs.check_valid_spec),
        (
            "mutated specs",
            mutated_specs(slow_files=True),
            lambda case: test_mutations.check_mutant(*case),
        ),
        (
            "hostile names",
            st.tuples(names, positions),
            lambda case: test_injection.check_hostile_name(*case),
        ),
        ("corrupted checkpoints", st.data(), test_checkpoint.check_corruption),
        ("sized specs", sized_specs(), test_valid_specs.check_valid_spec),
        ("size mismatches", mismatched_specs(), test_size_mismatches.check_mismatch),
        *(
            (
                f"{generator}, other sizes",
                strategy,
                lambda case: test_sized_specs.check_other_values(*case),
            )
            for generator, strategy in test_sized_specs.SPECS_WITH_VALUES.items()
        ),
    ]


def _leaves(error: BaseException) -> list[BaseException]:
    """The individual failures inside hypothesis's exception groups (several distinct bugs, flaky cases)."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _failure_key(error: BaseException) -> str:
    last = traceback.extract_tb(error.__traceback__)[-1:] or [None]
    where = (
        f"{last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno}" if last[0] else "?"
    )
    message = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
    return f"{type(error).__name__} at {where}: {message}"


def _counted(
    name: str,
    check: Callable[[object], None],
    counts: Counter,
    deadline: float,
    failing: dict[str, str],
) -> Callable[[object], None]:
    """`check`, counting its cases under `name`, doing nothing once the time is up.

    The last failing case seen for each distinct failure is kept in `failing`:
    hypothesis replays the shrunk (minimal) case last.
    """

    def one_case(case: object) -> None:
        if time.monotonic() >= deadline:
            return
        counts[name] += 1
        try:
            check(case)
        except Exception as error:
            failing[f"[{name}] {_failure_key(error)}"] = repr(case)
            raise

    return one_case


def run(minutes: float, out=sys.stdout) -> int:
    """Draw cases for `minutes`; print failures and counts; return the exit status (1 if anything failed)."""
    deadline = time.monotonic() + minutes * 60
    counts: Counter[str] = Counter()
    failures: dict[str, str] = {}
    failing_cases: dict[str, str] = {}
    batch_settings = settings(
        max_examples=_BATCH,
        deadline=None,
        database=None,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        verbosity=Verbosity.quiet,
    )
    while time.monotonic() < deadline:
        for name, strategy, check in _properties():
            if time.monotonic() >= deadline:
                break

            try:
                batch_settings(
                    given(strategy)(
                        _counted(name, check, counts, deadline, failing_cases)
                    )
                )()
            except (
                Exception
            ) as error:  # a property failed: report each distinct failure once, keep fuzzing
                for failure in _leaves(error):
                    key = f"[{name}] {_failure_key(failure)}"
                    if key not in failures:
                        failures[key] = case = failing_cases.get(
                            key, "(case not recorded)"
                        )
                        print(
                            f"FAILURE {key}\nminimal case: {case[:3000]}\n",
                            file=out,
                            flush=True,
                        )
        elapsed = minutes * 60 - (deadline - time.monotonic())
        print(
            f"{elapsed / 60:5.1f} min: {sum(counts.values())} cases {dict(counts)}",
            file=out,
            flush=True,
        )
    print(
        f"cases: {sum(counts.values())} ({', '.join(f'{k}: {v}' for k, v in counts.items())})",
        file=out,
    )
    print(f"distinct failures: {len(failures)}", file=out)
    for key in failures:
        print(f"  {key}", file=out)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m tests.robustness.fuzz", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--minutes", type=float, default=20.0, help="how long to run (default 20)"
    )
    arguments = parser.parse_args(argv)
    return run(arguments.minutes)


if __name__ == "__main__":
    raise SystemExit(main())
