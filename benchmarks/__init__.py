"""Benchmarks for eqxdsl. Run `python -m benchmarks` (all sections) or
`python -m benchmarks SECTION ...`; each section is a module here with a `run()`
that returns its report as markdown."""
