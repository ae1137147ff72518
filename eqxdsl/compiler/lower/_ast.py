"""Small builders of Python `ast` nodes and IR statements that every part of the lower stage uses."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from eqxdsl.compiler.dims import DTYPES, Dim
from eqxdsl.compiler.library.functions import FUNCTIONS, dotted, dtype_ast
from eqxdsl.compiler.lower import ir
from eqxdsl.compiler.values import Static

_BINOPS = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div, "//": ast.FloorDiv, "%": ast.Mod, "@": ast.MatMult, "**": ast.Pow, "&": ast.BitAnd, "|": ast.BitOr}


_CMPOPS = {"==": ast.Eq, "!=": ast.NotEq, "<": ast.Lt, "<=": ast.LtE, ">": ast.Gt, ">=": ast.GtE}


def _name(identifier: str) -> ast.Name:
    if not identifier.isidentifier():
        raise ValueError(f"not an identifier: {identifier!r}")
    return ast.Name(identifier, ast.Load())


def _self(attr: str) -> ast.expr:
    return ast.Attribute(_name("self"), attr, ast.Load())


def _call(func: ast.expr, args=(), **keywords: ast.expr) -> ast.Call:
    return ast.Call(func, list(args), [ast.keyword(k, v) for k, v in keywords.items()])


def _const(value: bool | int | float | str | None) -> ast.expr:
    if isinstance(value, float) and value < 0 or isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return ast.UnaryOp(ast.USub(), ast.Constant(-value))
    return ast.Constant(value)


def _code(node: ast.AST) -> str:
    # ast.unparse reads only a statement's own line number (for type comments);
    # filling in every location (ast.fix_missing_locations) would cost a full walk.
    if isinstance(node, ast.stmt) and not hasattr(node, "lineno"):
        node.lineno = 0
    return ast.unparse(node)


def _stmt(node: ast.stmt, origin: int | None = None) -> ir.Statement:
    return ir.Statement(_code(node), origin)


def _assign(target: str | list[str], value: ast.expr) -> ast.stmt:
    targets: ast.expr
    if isinstance(target, list):
        targets = ast.Tuple([ast.Name(t, ast.Store()) for t in target], ast.Store())
    else:
        targets = ast.Name(target, ast.Store())
    return ast.Assign([targets], value, lineno=0)


def _dim_ast(dim: Dim, rename: dict[str, str]) -> ast.expr:
    return ast.parse(dim.python(rename), mode="eval").body


def _tuple_of(dims, rename: dict[str, str]) -> ast.expr:
    return ast.Tuple([_dim_ast(d, rename) for d in dims], ast.Load())


def _header(code: str) -> str:
    """A compound statement's header line (`for ...:`) from a parsed one-body statement."""
    return code.split("\n", 1)[0]


def _compound(node: ast.stmt, origin: int | None, body: list[ir.Statement]) -> ir.Statement:
    if hasattr(node, "body"):
        node.body = [ast.Pass()]
    if getattr(node, "orelse", None):
        node.orelse = []  # type: ignore[attr-defined]  # the statements with an `else:` (if, for, while, try)
    return ir.Statement(_header(_code(node)), origin, tuple(body))


def _static_ast(value: Static) -> ast.expr:
    """Python for a value the checker folded (a hyperparameter's default, `2 + 2` included)."""
    if value.kind == "int":
        return _const(value.value.value)
    if value.kind == "ints":
        return ast.Tuple([_const(d.value) for d in value.value], ast.Load())
    if value.kind == "fn":
        return dotted(FUNCTIONS[value.value].target)
    return _const(value.value)


def _if_else(test: ast.expr, origin: int | None, then: list[ir.Statement], orelse: list[ir.Statement]) -> list[ir.Statement]:
    """`if test:` with its `else:` branch; an `else:` holding only an if chain becomes `elif`."""
    if not then:
        return [_compound(ast.If(_negate(test), [ast.Pass()], []), origin, orelse)] if orelse else []
    out = [_compound(ast.If(test, [ast.Pass()], []), origin, then)]
    if _is_if_chain(orelse):
        first = orelse[0]
        out.append(ir.Statement("el" + first.code, first.origin, first.body))
        out.extend(orelse[1:])
    elif orelse:
        out.append(ir.Statement("else:", None, tuple(orelse)))
    return out


def _is_if_chain(block: list[ir.Statement]) -> bool:
    """Whether a block is exactly one `if` statement with its `elif`/`else` continuations."""
    if not block or not block[0].body or not block[0].code.startswith("if "):
        return False
    return all(statement.body and statement.code.startswith(("elif ", "else:")) for statement in block[1:])


def _negate(test: ast.expr) -> ast.expr:
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.IsNot, ast.Is)):
        flipped = ast.Is() if isinstance(test.ops[0], ast.IsNot) else ast.IsNot()
        return ast.Compare(test.left, [flipped], test.comparators)
    return ast.UnaryOp(ast.Not(), test)


def _table_ast(value: object, rename: dict[str, str]) -> ast.expr:
    """Python for an inferred layer-table value (a Dim, a tuple of them, a literal)."""
    if isinstance(value, Dim):
        return _dim_ast(value, rename)
    if isinstance(value, tuple):
        return ast.Tuple([_table_ast(v, rename) for v in value], ast.Load())
    if isinstance(value, str) and value in DTYPES:
        return dtype_ast(value)
    assert value is None or isinstance(value, (bool, int, float, str))
    return _const(value)


@dataclass
class Names:
    """Allocates fresh local names that collide with nothing the method uses."""

    taken: set[str]

    def fresh(self, base: str) -> str:
        """A name not taken yet, from now on taken."""
        name = self.scoped(base)
        self.taken.add(name)
        return name

    def scoped(self, base: str) -> str:
        """A name not taken, for a variable that lives only inside one comprehension or lambda."""
        name = base
        counter = 1
        while name in self.taken:
            name = f"{base}_{counter}"
            counter += 1
        return name
