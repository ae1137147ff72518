"""Render stage: an `ir.ModuleFile` to formatted Python source text.

The template (`templates/module.py.j2`) lays the module out; every name, piece
of code and docstring reaches it through a filter that either validates it
(identifiers, expressions, statements, import lines, comments) or escapes it
(docstrings), so nothing in a spec can place code of its own in the output.
The text is then formatted by black with a pinned mode and compiled as a last
check. A failure in any of these steps is a bug in the compiler, not in the
spec, and is raised as `InternalCompilerError`.
"""

from __future__ import annotations

import ast
import functools
import keyword
import re
import unicodedata
from typing import TYPE_CHECKING, Literal

from eqxdsl.compiler.diagnostics import resource_dir
from eqxdsl.compiler.lower import ir
from eqxdsl.compiler.reserved import FORBIDDEN_NAMES

if TYPE_CHECKING:
    import jinja2

__all__ = ["InternalCompilerError", "render_module", "LINE_LENGTH"]

#: The line length of generated code (black's default).
LINE_LENGTH = 88

_TEMPLATE = "module.py.j2"
_HEXDIGEST = re.compile(r"[0-9a-f]{64}")
_SIMPLE_STATEMENTS = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Return, ast.Pass, ast.Raise, ast.Assert)


class InternalCompilerError(Exception):
    """The compiler produced something it should not have: a bug in eqxdsl, not in the spec."""


# -- filters: validate or escape everything that reaches the template ---------------------


def _ident(name: object) -> str:
    """A name as it may appear in the output: a Python identifier, not a keyword."""
    if (
        not isinstance(name, str)
        or not name.isidentifier()
        or keyword.iskeyword(name)
        or unicodedata.normalize("NFKC", name) != name
    ):
        raise InternalCompilerError(f"not a valid Python identifier: {name!r}")
    return name


def _one_line(code: object, what: str) -> str:
    """`code`, checked to be one line of text."""
    if not isinstance(code, str) or "\n" in code or "\r" in code:
        raise InternalCompilerError(f"{what} must be one line of text, got {code!r}")
    return code


def _parse_one(code: object, mode: Literal["exec", "eval"], what: str) -> tuple[str, ast.AST]:
    """`code` and its syntax tree, checked to be one line of valid Python."""
    text = _one_line(code, what)
    try:
        return text, ast.parse(text, mode=mode)
    except SyntaxError as error:
        raise InternalCompilerError(f"{what} is not valid Python: {text!r} ({error.msg})") from None


def _statements(code: object, what: str) -> tuple[str, list[ast.stmt]]:
    """`code` and the statements it parses to, checked to be one line of valid Python."""
    text, tree = _parse_one(code, "exec", what)
    assert isinstance(tree, ast.Module)
    return text, tree.body


def _expr(code: object) -> str:
    """An expression (an annotation, a default, a decorator), checked to parse as one."""
    return _parse_one(code, "eval", "an expression")[0]


def _stmt(code: object, body: tuple) -> str:
    """One statement; a compound statement's header (ending in `:`) when it has a body.

    Headers are `for`, `if`, `with` and `while`, and the continuations `elif
    <test>:` and `else:` (whose place after an `if` the final compile checks).
    """
    if body:
        if not isinstance(code, str) or not code.endswith(":"):
            raise InternalCompilerError(f"a compound statement's header must end in ':', got {code!r}")
        if code == "else:":
            return code
        # `elif <test>:` is checked as the `if <test>:` it continues.
        probe = code[2:] if code.startswith("elif ") else code
        _, statements = _statements(probe + " pass", "a compound statement")
        compound = (ast.For, ast.If, ast.With, ast.While)
        header = statements[0] if len(statements) == 1 else None
        if not isinstance(header, compound) or len(header.body) != 1 or not isinstance(header.body[0], ast.Pass) or getattr(header, "orelse", None):
            raise InternalCompilerError(f"not a for/if/elif/else/with/while header: {code!r}")
        return code
    text, statements = _statements(code, "a statement")
    if len(statements) != 1 or not isinstance(statements[0], _SIMPLE_STATEMENTS):
        raise InternalCompilerError(f"not one simple statement (assignment, expression, return, ...): {text!r}")
    return text


def _import_line(code: object) -> str:
    """An import statement of another spec's module or a Python class."""
    text, statements = _statements(code, "an import")
    if len(statements) != 1 or not isinstance(statements[0], (ast.Import, ast.ImportFrom)):
        raise InternalCompilerError(f"not an import statement: {text!r}")
    return text


def _comment(text: object) -> str:
    """Text for a comment: on one line, control characters escaped."""
    if not isinstance(text, str):
        raise InternalCompilerError(f"comment text must be a string, got {text!r}")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _origin(line: object, source_name: str) -> str:
    """`  # name.eqx:LINE` for a statement that came from the spec; nothing for one that did not."""
    if line is None:
        return ""
    if isinstance(line, bool) or not isinstance(line, int) or line < 1:
        raise InternalCompilerError(f"a source line must be a positive int, got {line!r}")
    return f"  # {_comment(source_name)}:{line}"


def _hexdigest(text: object) -> str:
    if not isinstance(text, str) or not _HEXDIGEST.fullmatch(text):
        raise InternalCompilerError(f"not a sha256 hex digest: {text!r}")
    return text


def _docstring(text: object, depth: int) -> str:
    """The body of a `\"\"\"` docstring: escaped so it ends only where the template ends it.

    Backslashes are doubled, quotes in runs of three or more and quotes at the
    end are escaped (they would close the docstring early), control
    characters other than newline and tab are written as escapes, and lines
    after the first are indented to the docstring's block.
    """
    if not isinstance(text, str):
        raise InternalCompilerError(f"a docstring must be a string, got {text!r}")
    text = text.strip()
    escaped = text.replace("\\", "\\\\")
    escaped = "".join(
        c if c.isprintable() or c in "\n\t" else c.encode("unicode_escape").decode("ascii") for c in escaped
    )
    # Quotes at the end would merge with the closing `"""`; runs of three would close it.
    body = escaped.rstrip('"')
    trailing = len(escaped) - len(body)
    body = re.sub('"{3,}', lambda run: '\\"' * len(run.group()), body)
    escaped = body + '\\"' * trailing
    indent = "    " * depth
    lines = escaped.split("\n")
    body = "\n".join([lines[0]] + [indent + line if line.strip() else "" for line in lines[1:]])
    return body + ("\n" + indent if len(lines) > 1 else "")


def _signature(method: ir.Method) -> str:
    """`self, a: int = 1, *, key: jax.Array`: the parameter list of a method."""
    positional = [arg for arg in method.args if not arg.kw_only]
    keyword_only = [arg for arg in method.args if arg.kw_only]
    parts = ["self"] + [_parameter(arg) for arg in positional]
    if keyword_only:
        parts.append("*")
        parts.extend(_parameter(arg) for arg in keyword_only)
    return ", ".join(parts)


def _parameter(arg: ir.Arg) -> str:
    text = _ident(arg.name)
    if arg.annotation is not None:
        text += f": {_expr(arg.annotation)}"
    if arg.default is not None:
        text += f" = {_expr(arg.default)}" if arg.annotation is not None else f"={_expr(arg.default)}"
    return text


# -- environment, formatting, final check --------------------------------------------------


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        ident=_ident,
        expr=_expr,
        stmt=_stmt,
        import_line=_import_line,
        comment=_comment,
        origin=_origin,
        hexdigest=_hexdigest,
        docstring=_docstring,
        signature=_signature,
    )
    return environment


def _format(source: str) -> str:
    import black

    mode = black.Mode(line_length=LINE_LENGTH, target_versions={black.TargetVersion.PY310})
    try:
        return black.format_str(source, mode=mode)
    except black.InvalidInput as error:
        raise InternalCompilerError(f"black could not parse the generated code: {error}") from None


def render_module(module: ir.ModuleFile) -> str:
    """The Python source of `module`: laid out by the template, formatted by black, compiled.

    Args:
        module: the lowered module.

    Returns:
        The formatted source text, ending in a newline. The same module always
        gives the same text.

    Raises:
        InternalCompilerError: when a name, a piece of code or the result is not
            valid Python (a compiler bug; the message says what was wrong).
    """
    import jinja2

    try:
        text = _environment().get_template(_TEMPLATE).render(module=module)
    except jinja2.TemplateError as error:
        raise InternalCompilerError(f"template {_TEMPLATE} failed: {error}") from None
    formatted = _format(text)
    try:
        tree = compile(formatted, module.source_name, "exec", ast.PyCF_ONLY_AST | ast.PyCF_TYPE_COMMENTS, dont_inherit=True)
        compile(tree, module.source_name, "exec", dont_inherit=True)
    except SyntaxError as error:
        raise InternalCompilerError(f"generated code does not compile: {error}") from None
    for node in ast.walk(tree):
        # Generated code never calls these; finding one means code was smuggled in.
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            raise InternalCompilerError(f"generated code uses {node.id!r} (line {node.lineno}), which eqxdsl never emits")
    return formatted
