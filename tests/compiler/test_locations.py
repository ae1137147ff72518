"""Errors are reported at their cause, once, in words that say what is really wrong.

Each case is a small broken spec with the message, line and column its first
diagnostic must have; follow-on errors that would only repeat it must not appear.
"""

import textwrap

import pytest

from eqxdsl.compiler.check import check_spec
from eqxdsl.compiler.diagnostics import CompileError, Diagnostic
from eqxdsl.compiler.driver import check_file, compile_source
from eqxdsl.compiler.parse import parse_spec


def diagnose(source: str) -> list[Diagnostic]:
    source = textwrap.dedent(source).lstrip("\n")

    def no_imports(path, node):
        raise AssertionError("these specs import nothing")

    with pytest.raises(CompileError) as caught:
        check_spec(parse_spec(source, "bad.eqx"), no_imports)
    return list(caught.value.diagnostics)


CASES = [
    ("invalid argument value, at the argument", """
        model M(c: int):
            conv = Conv1d(in_channels=c, out_channels=c, kernel_size=3, padding="SMAE")
            forward(x: f32[c, 16]) -> f32[c, 14]:
                return conv(x)
        """, 2, 73, "padding 'SMAE' is not one of 'SAME', 'SAME_LOWER', 'VALID'", "did you mean 'SAME'?"),
    ("invalid argument of an inferred layer, at the argument", """
        model M(c: int):
            conv = Conv1d(out_channels=c, kernel_size=3, stride=0)
            forward(x: f32[c, 16]) -> f32[c, 14]:
                return conv(x)
        """, 2, 57, "stride must be at least 1 on every axis, got 0", None),
    ("non-bool mask, at mask=", """
        model M(d: int, h: int):
            attn = MultiheadAttention(num_heads=h, query_size=d)
            forward(x: f32[T, d], m: f32[T, T]) -> f32[T, d]:
                return attn(x, x, x, mask=m)
        """, 4, 30, "takes a boolean mask, got f32[T, T]", "a mask is bool"),
    ("self-use", """
        model Tree(c: int):
            sub = Tree(c=c)
            forward(x: f32[c]) -> f32[c]:
                return sub(x)
        """, 2, 11, "model Tree uses itself", "repeat n"),
    ("self-use in a stack", """
        model Tree(c: int):
            subs = repeat 2: Tree(c=c)
            forward(x: f32[c]) -> f32[c]:
                return x
        """, 2, 22, "model Tree uses itself", None),
    ("mutual use", """
        model A(c: int):
            b = B(c=c)
            forward(x: f32[c]) -> f32[c]:
                return b(x)
        model B(c: int):
            a = A(c=c)
            forward(x: f32[c]) -> f32[c]:
                return a(x)
        """, 6, 9, "models B and A use each other", None),
    ("variable-length tuple indexed", """
        model M(channels: tuple[int, ...]):
            l = Linear(in_features=channels[0], out_features=4)
            forward(x: f32[4]) -> f32[4]:
                return x
        """, 2, 28, "a tuple[int, ...] has no length known when the spec is compiled, so it cannot be indexed here", "tuple[int, int, int]"),
    ("unknown tuple index", """
        model M(channels: tuple[int, int], i: int):
            l = Linear(in_features=channels[i], out_features=4)
            forward(x: f32[4]) -> f32[4]:
                return x
        """, 2, 37, "a tuple index must be a known integer", None),
    ("symbolic size to a huge power", """
        model M(a: int, b: int):
            forward(x: f32[(a + b) ** 400]) -> f32[a]:
                return x
        """, 2, 20, "a size that depends on hyperparameters or inputs can be raised to a power of at most 32, not 400", "hyperparameter of its own"),
    ("int to a negative power is a float", """
        model M(a: int):
            forward(x: f32[a ** -1]) -> f32[a]:
                return x
        """, 2, 20, "a dimension must be an int, not float", None),
]


@pytest.mark.parametrize(("name", "source", "line", "column", "message", "hint"), CASES, ids=[c[0] for c in CASES])
def test_reported_at_the_cause_and_only_once(name, source, line, column, message, hint):
    (diagnostic,) = diagnose(source)
    assert (diagnostic.line, diagnostic.column) == (line, column), diagnostic.format()
    assert message in diagnostic.message, diagnostic.format()
    if hint:
        assert hint in diagnostic.hint
    assert diagnostic.format().startswith(f"bad.eqx:{line}:{column}: error: ")


SYNTAX = [
    ("unclosed bracket, at the bracket", "model M(c: int):\n    l = Linear(in_features=c, out_features=c\n    forward(x: f32[c]) -> f32[c]:\n        return l(x)\n",
     2, 15, "'(' was never closed", "reached 'forward' on line 3 still inside it: close it with ')'"),
    ("unclosed bracket at the end of the file", "model M(c: int):\n    forward(x: f32[c]) -> f32[c]:\n        return relu(x\n",
     3, 20, "'(' was never closed", "the file ends still inside it: close it with ')'"),
    ("unclosed bracket inside another", "model M(c: int):\n    forward(x: f32[c]) -> f32[c]:\n        return concat([x, relu(x)], axis=0\n        y = x\n",
     3, 22, "'(' was never closed", "line 4"),
    ("unclosed docstring, at its opening quote", 'model M(c: int):\n    """Doc\n    forward(x: f32[c]) -> f32[c]:\n        return x\n',
     2, 5, 'unclosed string: the """ opened here is never closed', 'add the closing """'),
    ("unclosed string on its line", "model M(a: int):\n    forward(x: f32[a]):\n        return 'abc\n",
     3, 16, "unclosed string: the ' opened here is never closed", "a string is not closed on this line"),
    ("misspelt keyword", "model M(c: int):\n    forward(x: f32[c]) -> f32[c]:\n        h = x\n        retrun h\n",
     4, 16, "unexpected 'h'", "'retrun' is not a keyword: did you mean 'return'?"),
    ("missing comma on a bracket's own line", "model M(a: int):\n    l = Linear(out_features=a b=2)\n",
     2, 31, "unexpected 'b'", "',' may be missing"),
]


@pytest.mark.parametrize(("name", "source", "line", "column", "message", "hint"), SYNTAX, ids=[c[0] for c in SYNTAX])
def test_syntax_errors_at_the_opening(name, source, line, column, message, hint):
    with pytest.raises(CompileError) as caught:
        parse_spec(source, "bad.eqx")
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.column) == (line, column), diagnostic.format()
    assert message in diagnostic.message
    assert hint in diagnostic.hint


def test_brackets_in_strings_and_comments_are_not_counted():
    source = 'model M(c: int):  # (\n    """A ( doc."""\n    forward(x: f32[c]) -> f32[c]:\n        return x +\n'
    with pytest.raises(CompileError) as caught:
        parse_spec(source, "bad.eqx")
    (diagnostic,) = caught.value.diagnostics
    assert "never closed" not in diagnostic.message
    assert diagnostic.line == 4


FOLLOW_ONS = [
    ("no 'never called' after a failed call of a stack's copy", """
        model M(c: int):
            convs = repeat 2: Conv1d(out_channels=c, kernel_size=3, padding=1)
            forward(x: f32[c, 16]) -> f32[c, 16]:
                for conv in convs:
                    x = conv(x[0])
                return x
        """, 5, 17, "takes its input of shape [channels, L], got f32[16]"),
    ("no 'unknown name' after a bad dtype", """
        model M(c: int):
            forward(x: g32[c]) -> f32[c]:
                return x
        """, 2, 16, "unknown dtype 'g32'"),
    ("no 'unknown name' after a bad size", """
        model M(c: int):
            forward(x: f32[c ** 0.5]) -> f32[c]:
                return x
        """, 2, 20, "a dimension must be an int, not float"),
]


@pytest.mark.parametrize(("name", "source", "line", "column", "message"), FOLLOW_ONS, ids=[c[0] for c in FOLLOW_ONS])
def test_follow_on_errors_are_suppressed(name, source, line, column, message):
    diagnostics = diagnose(source)
    assert len(diagnostics) == 1, "\n".join(d.format() for d in diagnostics)
    (diagnostic,) = diagnostics
    assert (diagnostic.line, diagnostic.column) == (line, column), diagnostic.format()
    assert message in diagnostic.message


def test_integer_power_of_sizes_stays_an_int():
    source = textwrap.dedent("""
        model M(a: int, b: int):
            l = Linear(in_features=(a // b) ** 2, out_features=a)
            forward(x: f32[(a // b) ** 2]) -> f32[a]:
                return l(x)
        """).lstrip("\n")
    code = compile_source(source, "power.eqx")
    assert "(a // b) ** 2" in code


def write(folder, name, imports):
    text = f'from "{imports}" import X\n' if imports else ""
    text += f"model {name.capitalize()}(c: int):\n    forward(x: f32[c]) -> f32[c]:\n        return x\n"
    (folder / f"{name}.eqx").write_text(text)
    return folder / f"{name}.eqx"


def test_import_cycle_is_reported_in_the_checked_spec_at_its_import(tmp_path):
    a = write(tmp_path, "a", "b.eqx")
    write(tmp_path, "b", "a.eqx")
    with pytest.raises(CompileError) as caught:
        check_file(a)
    (diagnostic,) = caught.value.diagnostics
    assert diagnostic.format().startswith(f"{a}:1:1: error: import cycle: a.eqx -> b.eqx -> a.eqx")


def test_import_cycle_behind_an_import_is_reported_where_it_starts(tmp_path):
    top = write(tmp_path, "top", "a.eqx")
    write(tmp_path, "a", "b.eqx")
    write(tmp_path, "b", "a.eqx")
    with pytest.raises(CompileError) as caught:
        check_file(top)
    cycle, importer = caught.value.diagnostics
    assert (cycle.path, cycle.line, cycle.column) == (str(tmp_path / "a.eqx"), 1, 1)
    assert "import cycle: a.eqx -> b.eqx -> a.eqx" in cycle.message
    assert (importer.path, importer.line) == (str(top), 1)
    assert "the imported spec 'a.eqx' has errors" in importer.message


def test_a_spec_that_imports_itself(tmp_path):
    spec = write(tmp_path, "loop", "loop.eqx")
    with pytest.raises(CompileError) as caught:
        check_file(spec)
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.column, diagnostic.message) == (1, 1, "this spec imports itself")
