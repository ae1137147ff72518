"""Parse stage: `.eqx` text in, a syntax tree out.

`parse_spec(source, path)` runs the Lark grammar (`grammar/eqx.lark`) with an
indentation-aware lexer and turns the parse tree into the frozen dataclasses
of `syntax` (every node carries its source position). Syntax errors become a
`CompileError` with one located diagnostic. `syntax` is the stage's output
contract: the only module of this package that later stages import, besides
`parse_spec` itself and `walk`, the one traversal of syntax every stage uses
(`iter_children`, `walk`, and `handler` for `<prefix><ClassName>` dispatch).
"""

from eqxdsl.compiler.parse import syntax
from eqxdsl.compiler.parse._parse import MAX_NESTING, parse_spec

__all__ = ["MAX_NESTING", "parse_spec", "syntax"]
