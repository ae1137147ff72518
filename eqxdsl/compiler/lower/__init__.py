"""Lower stage: a `CheckedSpec` in, an `ir.ModuleFile` out.

`lower_spec(checked)` writes each model as a class: fields with their
annotations, an `__init__` that builds every layer (splitting keys, with the
sizes the checker inferred) and one method per spec method, each statement as
Python `ast` code with the spec line it came from. It reads the check stage
only through `eqxdsl.compiler.check.checked`. `ir` is the stage's output
contract, the only thing `render` reads.
"""

from eqxdsl.compiler.lower import ir
from eqxdsl.compiler.lower._spec import lower_spec

__all__ = ["ir", "lower_spec"]
