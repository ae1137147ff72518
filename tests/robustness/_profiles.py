"""Hypothesis profiles for the robustness tests, chosen by the `EQXDSL_FUZZ_PROFILE` variable.

`ci` (the default) keeps the whole folder within CI's budget (a fixed, small
number of examples per property, derandomised so CI is reproducible); `long`
draws 2,000 fresh examples per property:

    EQXDSL_FUZZ_PROFILE=long python3 -m pytest tests/robustness

The time-bounded long run is `python3 -m tests.robustness.fuzz --minutes 20`.
Neither profile has a per-example deadline: each compile is bounded by
`_harness.deadline` instead, which reports a hang as a failure.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

PROFILE_VARIABLE = "EQXDSL_FUZZ_PROFILE"

_COMMON = dict(
    # The explain phase traces every line, which slows a compile tenfold and trips the deadline.
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)

settings.register_profile(
    "ci", max_examples=12, database=None, derandomize=True, **_COMMON
)
settings.register_profile("long", max_examples=2_000, database=None, **_COMMON)


def active_profile() -> str:
    """The profile named by the environment (default `ci`)."""
    return os.environ.get(PROFILE_VARIABLE, "ci")


def examples(ci: int) -> settings:
    """Settings for one property: `ci` examples under the CI profile, the long profile's otherwise."""
    profile = settings.get_profile(active_profile())
    if active_profile() == "ci":
        return settings(profile, max_examples=ci)
    return profile
