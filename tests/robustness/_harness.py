"""Running the compiler on untrusted text: a time bound per case, and checks of what comes out.

`compile_outcome` compiles one spec under a deadline and insists on one of the
two acceptable endings: generated code that passes `check_generated`, or a
`CompileError` whose every diagnostic is located in the spec. Anything else
(another exception, a hang) fails the test that called it.
"""

from __future__ import annotations

import ast
import contextlib
import signal
import sys
import types
from collections.abc import Iterator
from pathlib import Path

from eqxdsl.compiler.diagnostics import CompileError
from eqxdsl.compiler.driver import compile_source

REPO = Path(__file__).resolve().parents[2]
SPECS = REPO / "tests" / "specs"

#: Seconds one compile may take before it counts as a hang.
CASE_SECONDS = 20.0

# What generated code may import: jax, the typing helper for `fn` hyperparameters, and per
# target, the library used as `eqx` and where the annotations' names come from.
_ALLOWED_IMPORTS = frozenset({"jax", "jax.numpy", "collections.abc"})
_TARGET_IMPORTS = {
    "eqxdsl": frozenset({"eqxdsl.runtime", "eqxdsl.runtime.array_types"}),
    "equinox": frozenset({"equinox", "jaxtyping"}),
}
# What the sibling-import helper `_import_beside` (Equinox target) imports: it is emitted only with the helper.
_BESIDE_IMPORTS = frozenset({"importlib.machinery", "importlib.util", "sys", "pathlib"})
# The builtins generated code may read. Every other free name would reach a builtin such as
# eval, open or __import__, which is how code from a spec could run.
_ALLOWED_BUILTINS = frozenset(
    {
        "tuple",
        "list",
        "dict",
        "len",
        "range",
        "enumerate",
        "zip",
        "int",
        "float",
        "bool",
        "str",
        "isinstance",
        "slice",
        "Ellipsis",
        "min",
        "max",
        "abs",
        "sum",
        "any",
        "all",
        "reversed",
        "super",
        "object",
        # The input checks and the stacks' length checks raise it.
        "ValueError",
    }
)


class CaseTimeout(BaseException):
    """A case ran past its deadline (a BaseException so no `except Exception` in the compiler swallows it)."""


@contextlib.contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Fail (AssertionError) if the block runs longer than `seconds`: a hang is a bug like a crash.

    The alarm raises `CaseTimeout`, a BaseException that no `except Exception` in
    the compiler can swallow; it becomes an AssertionError here so that
    hypothesis shrinks the case like any other failure.
    """

    def expire(signum, frame):
        raise CaseTimeout(f"{what} ran longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except CaseTimeout as timeout:
        raise AssertionError(str(timeout)) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def assert_located(error: CompileError, filename: str, text: str) -> None:
    """Every diagnostic of `error` names `filename`, a line of `text` and a column, and formats as `path:line:col: error:`."""
    assert error.diagnostics, "a CompileError without diagnostics"
    line_count = max(1, text.count("\n") + 1)
    for diagnostic in error.diagnostics:
        located = f"{diagnostic.path}:{diagnostic.line}:{diagnostic.column}: error: "
        assert diagnostic.format().startswith(located), diagnostic.format()
        assert diagnostic.message.strip(), diagnostic
        assert isinstance(diagnostic.line, int) and isinstance(
            diagnostic.column, int
        ), diagnostic
        assert diagnostic.line >= 1 and diagnostic.column >= 1, diagnostic
        if Path(diagnostic.path).name == Path(filename).name:
            assert diagnostic.line <= line_count, (diagnostic, line_count)


def compile_outcome(
    text: str, filename: str, seconds: float = CASE_SECONDS
) -> str | CompileError:
    """Compile `text` under a deadline: the checked generated code, or the located `CompileError`."""
    with deadline(seconds, f"compiling {filename}"):
        try:
            source = compile_source(text, filename)
        except CompileError as error:
            assert_located(error, filename, text)
            return error
    check_generated(source)
    return source


def check_generated(source: str, target: str = "eqxdsl") -> ast.Module:
    """Generated code compiles, imports only what eqxdsl emits, and reads no name it did not bind.

    A name that is read but bound nowhere in the module resolves to a builtin;
    only harmless ones are allowed, so no spec can reach eval, exec, open or
    __import__ through the output. Dunder attributes are refused too.

    Modules beside the output are imported by `eqx.import_beside(...)` calls of
    one fixed shape for the eqxdsl target, and by the template's own
    `_import_beside` for the Equinox target; `target` says which to expect.
    """
    tree = ast.parse(source)
    compile(tree, "<generated>", "exec")
    allowed = _ALLOWED_IMPORTS | _TARGET_IMPORTS[target]
    bound: set[str] = set()
    beside = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "_import_beside"]
    if target == "eqxdsl":
        assert not beside, "_import_beside defined for the eqxdsl target, whose runtime has import_beside"
        tree, bound = _without_runtime_beside_imports(tree)
    elif beside:
        # The helper is the compiler's fixed text, not code from the spec: it must be that text exactly.
        assert ast.dump(beside[0]) == ast.dump(_beside_helper()), "_import_beside differs from the template's"
        tree = ast.Module([node for node in tree.body if node is not beside[0]], [])
        allowed = allowed | _BESIDE_IMPORTS
        bound = {"_import_beside"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.Import):
            assert all(
                alias.name in allowed for alias in node.names
            ), ast.unparse(node)
            bound.update(
                (alias.asname or alias.name).split(".")[0] for alias in node.names
            )
        elif isinstance(node, ast.ImportFrom):
            # `from blocks import Block`: the module of a spec (or a Python file) beside this one.
            assert node.level == 0 and node.module is not None, ast.unparse(node)
            assert (
                node.module in allowed or node.module.isidentifier()
            ), ast.unparse(node)
            bound.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Attribute):
            assert not (
                node.attr.startswith("__") and node.attr.endswith("__")
            ), f"dunder access {ast.unparse(node)}"
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Name)
            and isinstance(node.ctx, ast.Load)
            and node.id not in bound
        ):
            assert (
                node.id in _ALLOWED_BUILTINS
            ), f"generated code reads the free name {node.id!r} at line {node.lineno}"
    return tree


def _without_runtime_beside_imports(tree: ast.Module) -> tuple[ast.Module, set[str]]:
    """`tree` without its `X = eqx.import_beside("mod", __file__, __name__).Y` lines, and the names they bind.

    Those lines are the only place generated code may read `__file__` and
    `__name__` or call `import_beside`, and the module they import is a dotted
    name of identifiers: a spec cannot turn them into another import.
    """
    kept, bound = [], set()
    for node in tree.body:
        call = node.value.value if isinstance(node, ast.Assign) and isinstance(node.value, ast.Attribute) else None
        if not (isinstance(call, ast.Call) and ast.unparse(call.func) == "eqx.import_beside"):
            kept.append(node)
            continue
        assert len(node.targets) == 1 and isinstance(node.targets[0], ast.Name), ast.unparse(node)
        assert [ast.unparse(arg) for arg in call.args[1:]] == ["__file__", "__name__"], ast.unparse(node)
        module = call.args[0]
        assert isinstance(module, ast.Constant) and isinstance(module.value, str) and not call.keywords, ast.unparse(node)
        assert all(part.isidentifier() for part in module.value.split(".")), ast.unparse(node)
        bound.add(node.targets[0].id)
    rest = ast.Module(kept, [])
    stray = [node for node in ast.walk(rest) if isinstance(node, ast.Attribute) and node.attr == "import_beside"]
    assert not stray, f"import_beside used outside an import line: {ast.unparse(stray[0])}"
    return rest, bound


def _beside_helper() -> ast.FunctionDef:
    """`_import_beside` as the module template writes it."""
    template = (Path(__file__).resolve().parents[2] / "templates" / "module.py.j2").read_text()
    start = template.index("def _import_beside(")
    end = template.index("{%", start)
    helper = ast.parse(template[start:end]).body[0]
    assert isinstance(helper, ast.FunctionDef)
    return helper


def load_generated(source: str, name: str = "generated") -> types.ModuleType:
    """Execute generated code as a fresh module (the way `eqxdsl.load` does, without a file)."""
    module = types.ModuleType(f"eqxdsl_robustness_{name}")
    # Dataclass creation looks its module up in sys.modules while the classes are built.
    sys.modules[module.__name__] = module
    try:
        exec(
            compile(source, f"<{name}>", "exec"), module.__dict__
        )  # noqa: S102 - code checked by check_generated
    finally:
        del sys.modules[module.__name__]
    return module
