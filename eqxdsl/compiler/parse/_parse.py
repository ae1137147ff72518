"""Parse stage: `.eqx` source text to a `syntax.SpecFile`.

The grammar (`grammar/eqx.lark`) is LALR(1); indentation becomes
`_INDENT`/`_DEDENT` tokens through an indenter post-lexer (`_indent.py`). The
parser builds the typed nodes of `syntax.py` as it reduces each rule
(`_reduce.py` calls the rule's method in `_to_syntax.py`), copying every
position; Lark builds no tree of its own. Syntax errors become a `CompileError` with
a readable list of what the parser expected and, where a common mistake is
recognised, a hint (`_syntax_errors.py`, `_unclosed.py`, `_keywords.py`).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import stat
from pathlib import Path

import lark
from lark import Lark, Token
from lark.exceptions import (
    UnexpectedInput,
)

from eqxdsl.compiler.diagnostics import (
    CompileError,
    diagnostic_at,
    gc_paused,
    resource_path,
)
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.parse._indent import DedentError, EqxIndenter, MixedIndentError
from eqxdsl.compiler.parse._lalr import SyntaxParser
from eqxdsl.compiler.parse._reduce import CHAINED_CLAUSES
from eqxdsl.compiler.parse._syntax_errors import syntax_error
from eqxdsl.compiler.parse._to_syntax import SpecError, ToSyntax

__all__ = ["parse_spec"]


def _cache_file() -> str | None:
    """A user-private file for lark's pickled parser tables, or None if none is safe.

    Lark unpickles its cache before checking it, so the folder must be one that
    only this user can write: created with mode 0700, owned by us, not group- or
    world-writable.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(base) / "eqxdsl"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    getuid = getattr(os, "getuid", None)
    if not stat.S_ISDIR(info.st_mode) or info.st_mode & 0o077:
        return None
    if getuid is not None and info.st_uid != getuid():
        return None
    grammar_hash = hashlib.sha256(_grammar_text().encode()).hexdigest()[:16]
    return str(folder / f"eqx-lalr-{lark.__version__}-{grammar_hash}.cache")


@functools.cache
def _grammar_text() -> str:
    return resource_path("grammar", "eqx.lark").read_text(encoding="utf-8")


@functools.cache
def _parser() -> SyntaxParser:
    """The parser that builds syntax nodes, made once per process (from Lark's on-disk cache when safe).

    Lark's `strict=True` also checks terminal collisions, which needs the
    optional `interegular` package; the grammar's freedom from shift/reduce
    conflicts is checked by a test instead (tests/compiler/test_language_parse.py).
    """
    return SyntaxParser(_lark(propagate_positions=False), ToSyntax())


@functools.cache
def _tree_parser() -> Lark:
    """Lark's own parser, building its tree with positions: it explains a syntax error, and locates a spec that nests too deeply."""
    return _lark(propagate_positions=True)


def _lark(propagate_positions: bool) -> Lark:
    options = dict(
        parser="lalr",
        lexer="contextual",
        postlex=EqxIndenter(),
        propagate_positions=propagate_positions,
        maybe_placeholders=True,
    )
    cache = _cache_file()
    if cache is not None:
        try:
            return Lark(_grammar_text(), cache=cache, **options)
        except (OSError, EOFError, ValueError, AttributeError, ImportError):
            # A truncated or foreign cache file: build from the grammar instead.
            pass
    return Lark(_grammar_text(), **options)


MAX_NESTING = 200


def parse_spec(source: str, path: str) -> s.SpecFile:
    """Parse the text of a `.eqx` file.

    Args:
        source: the spec's text (a leading byte-order mark is skipped).
        path: the path shown in diagnostics (and kept on the result).

    Returns:
        The file's syntax tree.

    Raises:
        CompileError: with one diagnostic for the first syntax error.
    """
    if source.startswith("\ufeff"):
        source = source[1:]
    _check_encodable(source, path)
    text = source if source.endswith("\n") else source + "\n"
    with gc_paused():
        return _parse(text, source, path)


def _end_line(token: Token) -> int:
    """The line a token from the lexer ends on (Lark types it Optional; the lexer always sets it)."""
    assert token.end_line is not None
    return token.end_line


def _parse(text: str, source: str, path: str) -> s.SpecFile:
    try:
        start = _parser().parse(text)
        if start is None:
            _tree_parser().parse(text)
            raise AssertionError("the syntax parser refused a text that Lark's parser accepts")
    except DedentError as error:
        line = _end_line(error.token)
        column = error.column + 1
        levels = ", ".join(str(level + 1) for level in error.expected)
        raise CompileError(
            [
                diagnostic_at(
                    source,
                    path,
                    line,
                    column,
                    "this line's indentation matches no enclosing block",
                    hint=f"indent it to one of the columns the enclosing blocks start at ({levels})",
                )
            ]
        ) from None
    except MixedIndentError as error:
        line = _end_line(error.token)
        raise CompileError(
            [
                diagnostic_at(
                    source,
                    path,
                    line,
                    1,
                    "inconsistent use of tabs and spaces in indentation",
                    hint="indent with spaces only (or tabs only, the same way on every line of a block)",
                )
            ]
        ) from None
    except UnexpectedInput as error:
        raise CompileError([syntax_error(error, source, path, _tree_parser())]) from None
    except SpecError as error:
        raise CompileError(
            [
                diagnostic_at(
                    source,
                    path,
                    error.pos.line,
                    error.pos.column,
                    error.message,
                    hint=error.hint,
                    end_line=error.pos.end_line,
                    end_column=error.pos.end_column,
                )
            ]
        ) from None
    if start.height > MAX_NESTING:
        raise _nesting_error(_tree_parser().parse(text), source, path)
    file = start.value
    assert isinstance(file, tuple), "the grammar's start rule gives the file's imports, models and span"
    imports, models, pos = file
    return s.SpecFile(path=path, source=source, imports=imports, models=models, pos=pos)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_encodable(source: str, path: str) -> None:
    """Reject a lone surrogate (what undecodable bytes become under `surrogateescape`)."""
    found = _SURROGATE.search(source)
    if found is not None:
        index = found.start()
        line = source.count("\n", 0, index) + 1
        column = index - (source.rfind("\n", 0, index) + 1) + 1
        message = f"the spec is not valid Unicode text (lone surrogate U+{ord(found.group()):04X})"
        raise CompileError([diagnostic_at(source, path, line, column, message, hint="save the file as UTF-8")])


#: Rules whose children start an expression: a nesting error points at that start.
_EXPRESSION_HOLDERS = frozenset(
    {"assign", "bare_tuple", "aug_assign", "return_stmt", "for_stmt", "if_stmt", "elif_clause", "definition",
     "repeat_value", "repeat_each", "expr_stmt", "param_value", "buffer_value", "frozen_value", "hyper_param", "model_if", "model_elif", "dims"}
)


def _nesting_error(tree: lark.Tree, source: str, path: str) -> CompileError:
    """The error at the first place, in source order, where `tree` nests deeper than `MAX_NESTING`."""
    stack = [(tree, 1, tree.meta)]
    while stack:
        node, depth, anchor = stack.pop()
        if depth > MAX_NESTING:
            meta = anchor if not anchor.empty else node.meta
            line, column = (meta.line, meta.column) if not meta.empty else (1, 1)
            message = f"nested too deeply (more than {MAX_NESTING} levels of brackets, calls, operators and blocks)"
            return CompileError([diagnostic_at(source, path, line, column, message, hint="split it: intermediate variables for long expressions, methods for long elif chains or deep blocks")])
        holder = node.data in _EXPRESSION_HOLDERS
        # Each `elif` (and the `else`) nests inside the `if` before it once built.
        chained = 0
        entries = []
        for child in node.children:
            if isinstance(child, lark.Tree):
                if child.data in CHAINED_CLAUSES:
                    chained += 1
                entries.append((child, depth + 1 + chained, child.meta if holder else anchor))
        stack.extend(reversed(entries))
    raise AssertionError(f"the tree of {path} nests no deeper than {MAX_NESTING}, yet its parse counted deeper")
