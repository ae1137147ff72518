"""The example models of `examples/`, written by hand with `eqxdsl.runtime`.

Each module here is what a careful Equinox user would write for one spec, and
`tests/test_equivalence.py` holds the generated code to it: same parameters
from the same key, same outputs, same training trajectory.
"""
