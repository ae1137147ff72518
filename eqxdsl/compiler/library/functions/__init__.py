"""The functions a spec can call: activations, array functions and sampling.

Each `Function` says which arguments it takes (and of what kind), how the
checker computes its result's type from its arguments' types (its shape rule,
which raises `ShapeError` naming the dimension that disagreed), and which
Python it becomes. Activations (`relu`, `gelu`, ...) may also be passed as
values: as a `fn` hyperparameter, a layer's `activation=`, or a pipeline step.

`_table.py` holds the rows, `_rules.py` their shape rules and the lowerings
of the functions that are not one call of their Python target.
"""

from eqxdsl.compiler.library._function_row import FnParam, Function, FunctionArgs, dotted, dtype_ast
from eqxdsl.compiler.library._required import REQUIRED
from eqxdsl.compiler.library.functions._rules import broadcast
from eqxdsl.compiler.library.functions._table import ACTIVATIONS, ELSEWHERE, FUNCTIONS, METHODS

__all__ = ["FUNCTIONS", "ACTIVATIONS", "METHODS", "ELSEWHERE", "FnParam", "Function", "FunctionArgs", "broadcast", "REQUIRED", "dotted", "dtype_ast"]
