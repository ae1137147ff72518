"""The names the generated code relies on, in one place: what a spec may not define, and what
the output may not call.

- `GENERATED_GLOBALS`: the module-level names every generated file has (its imports).
- `FORBIDDEN_NAMES`: builtins the generated code never calls; the renderer refuses any
  output that reads one, whatever a spec says.
- `RESERVED_NAMES`: the names a spec may not give to anything it defines, because the
  generated code reads them: the above, the parameters of every method (`self`, `key`,
  `state`, `inference`), the builtins it calls, and the names of its shape annotations.
"""

GENERATED_GLOBALS = frozenset({"jax", "jnp", "eqx", "Callable"})

FORBIDDEN_NAMES = frozenset({"eval", "exec", "compile", "__import__", "breakpoint", "globals", "locals"})

RESERVED_NAMES = (
    GENERATED_GLOBALS
    | {n for n in FORBIDDEN_NAMES if not n.startswith("__")}  # double-underscore names are refused apart
    | {"self", "key", "state", "inference", "bool", "int", "float", "str", "tuple", "list", "zip", "range",
       "enumerate", "len", "None", "True", "False", "object", "super", "type"}
    # The shape annotations' names (jaxtyping's), and the flag their import reads.
    | {"Array", "Float", "Integer", "Bool", "Complex", "TYPE_CHECKING"}
)
