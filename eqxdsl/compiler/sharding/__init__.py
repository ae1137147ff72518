"""Sharding checked at compile time: a spec's logical axes against a mesh and rules.

`eqxdsl check SPEC --mesh data=4,model=2 --rules rules.json` reads the rules
file (`read_rules_file`, a JSON object from logical names to mesh axes) and the
mesh (`parse_mesh`), and `check_sharding_of_spec` reports, located in the spec
or the rules file, every problem the runtime would raise when the model is
built with the spec's default sizes: unknown logical names, a mesh axis
sharding two axes of one array, sizes not divisible by their mesh axes, rules
naming mesh axes the mesh lacks, conflicting rules and rules nothing uses.
Sizes the spec does not fix are checked at build time. Nothing here imports jax.
"""

from eqxdsl.compiler.sharding._check import check_file_sharding, check_sharding_of_spec
from eqxdsl.compiler.sharding._mesh import parse_mesh
from eqxdsl.compiler.sharding._rules_file import RulesFile, read_rules_file

__all__ = ["RulesFile", "check_file_sharding", "check_sharding_of_spec", "parse_mesh", "read_rules_file"]
