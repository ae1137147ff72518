"""Robustness tests: property tests over generated and mutated specs, code injection, file safety, checkpoints.

The property tests run a small CI-sized profile by default. The long run is

    python3 -m tests.robustness.fuzz --minutes 20

(see `fuzz.py`), or the same property tests under pytest with
`EQXDSL_FUZZ_PROFILE=long`.
"""
