"""Parse stage: `.eqx` text in, a syntax tree out.

`parse_spec(source, path)` parses with the Lark grammar (`grammar/eqx.lark`)
and an indentation-aware lexer, building the frozen dataclasses of `syntax` as
the parser reduces each rule (every node carries its source position). Syntax errors become a
`CompileError` with one located diagnostic. `syntax` is the stage's output
contract: the only module of this package that later stages import, besides
`parse_spec` itself and `walk`, the one traversal of syntax every stage uses
(`iter_children`, `walk`, and `handler` for `<prefix><ClassName>` dispatch).
"""

from eqxdsl.compiler.parse import syntax
from eqxdsl.compiler.parse._parse import MAX_NESTING, parse_spec

__all__ = ["MAX_NESTING", "parse_spec", "syntax"]
