"""Check stage: a syntax tree in, a `CheckedSpec` out (or a `CompileError`).

`check_spec(spec, load_import)` resolves every name, checks types, arity and
shapes by executing each method symbolically on `TensorType`s with symbolic
sizes, and infers every constructor size the spec left out. All problems of a
file are collected into one `CompileError`.

`checked` is the stage's output contract: the records (`CheckedSpec`,
`CheckedModel`, `FieldInfo`, `MethodInfo`, `Ref`, `CallRef`, ...) that
`lower` reads, and that tools (a summary, a language server) can read too.

Inside, one checker per role, as mypy's expression checker stands beside its
type checker:
- `_spec`: the spec, its imports and its models, in dependency order;
- `_declarations`: `ModelChecker`, a model's declarations and build-time values;
- `_statements`, `_expressions`, `_calls`: the roles that check method bodies,
  each joined to its `ModelChecker` by a back-reference.
"""

from eqxdsl.compiler.check._adapters import ModelLayer
from eqxdsl.compiler.check._report import did_you_mean
from eqxdsl.compiler.check._sizes import SizeError, default_sizes, set_sizes
from eqxdsl.compiler.check._spec import check_spec
from eqxdsl.compiler.check.checked import (
    CallRef,
    CallSite,
    CheckedModel,
    CheckedSpec,
    ExpressionTypes,
    FieldInfo,
    HyperInfo,
    LoopRef,
    MethodInfo,
    PythonClass,
    Ref,
    Relation,
    StaticBranch,
    element_symbol,
    length_symbol,
)
from eqxdsl.compiler.reserved import RESERVED_NAMES

__all__ = [
    "RESERVED_NAMES",
    "CallRef",
    "CallSite",
    "CheckedModel",
    "CheckedSpec",
    "ExpressionTypes",
    "FieldInfo",
    "HyperInfo",
    "LoopRef",
    "MethodInfo",
    "ModelLayer",
    "PythonClass",
    "Ref",
    "Relation",
    "SizeError",
    "StaticBranch",
    "check_spec",
    "default_sizes",
    "did_you_mean",
    "set_sizes",
    "element_symbol",
    "length_symbol",
]
