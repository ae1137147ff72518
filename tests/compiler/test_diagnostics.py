"""Every kind of mistake in a spec gives a diagnostic with the right message, line and column.

Each case is a small broken spec, the line and column the diagnostic must
point at, and a part of its message. Checking needs no jax, so these are fast.
"""

import textwrap

import pytest

from eqxdsl.compiler.check import check_spec
from eqxdsl.compiler.diagnostics import CompileError, Diagnostic, diagnostic_at
from eqxdsl.compiler.parse import parse_spec


def diagnose(source: str) -> list[Diagnostic]:
    source = textwrap.dedent(source).lstrip("\n")

    def no_imports(path, node):
        raise AssertionError("these specs import nothing")

    with pytest.raises(CompileError) as caught:
        check_spec(parse_spec(source, "bad.eqx"), no_imports)
    return list(caught.value.diagnostics)


def first(source: str) -> Diagnostic:
    return diagnose(source)[0]


SYNTAX = [
    ("missing colon", "model M(a: int)\n    forward(x: f32[a]):\n        return x\n", 1, 16, "unexpected end of line; expected ':'", "add ':'"),
    ("missing comma", "model M(a: int):\n    l = Linear(out_features=a b=2)\n", 2, 31, "unexpected 'b'; expected ')', ',' or an operator", "',' may be missing"),
    ("bad dedent", "model M(a: int):\n    forward(x: f32[a]):\n        y = x\n      return y\n", 4, 7, "indentation matches no enclosing block", "1, 5, 9"),
    ("braces", "model M(a: int):\n    forward(x: f32[a]):\n        return x {\n", 3, 18, "unexpected character '{'", "indentation, not braces"),
    ("unexpected indent", "model M(a: int):\n    forward(x: f32[a]):\n        y = x\n            return y\n", 3, 14, "unexpected indentation", "indented more"),
    ("missing block", "model M(a: int):\n    forward(x: f32[a]):\n    def f(y: f32[a]):\n        return y\n", 3, 5, "unexpected 'def'; expected an indented block", "indented block"),
    ("unclosed string", "model M(a: int):\n    forward(x: f32[a]):\n        return 'abc\n", 3, 16, "unclosed string", "string is not closed"),
    ("assign in expression", "model M(a: int):\n    forward(x: f32[a]):\n        return x if a = 1 else x\n", 3, 23, "unexpected '='", "'=='"),
    ("positional after keyword", "model M(a: int):\n    l = Linear(out_features=a, 3)\n", 2, 32, "positional argument after a keyword argument", None),
]


@pytest.mark.parametrize(("name", "source", "line", "column", "message", "hint"), SYNTAX, ids=[c[0] for c in SYNTAX])
def test_syntax_errors(name, source, line, column, message, hint):
    with pytest.raises(CompileError) as caught:
        parse_spec(source, "bad.eqx")
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.column) == (line, column), diagnostic.format()
    assert message in diagnostic.message
    if hint:
        assert hint in diagnostic.hint
    assert diagnostic.format().startswith(f"bad.eqx:{line}:{column}: error: ")


CHECKS = [
    # names
    ("reserved name", """
        model M(jax: int):
            forward(x: f32[3]):
                return x
        """, 1, 9, "hyperparameter 'jax' would shadow a name the generated code relies on"),
    ("keyword name", """
        model M(a: int):
            class = Linear(out_features=a)
            forward(x: f32[a]):
                return x
        """, 2, 5, "name 'class' is a Python keyword"),
    ("dunder name", """
        model M(a: int):
            forward(x: f32[a]):
                __x__ = x
                return x
        """, 3, 9, "variable '__x__' is reserved"),
    ("duplicate name", """
        model M(a: int):
            l = Linear(out_features=a)
            l = Linear(out_features=a)
            forward(x: f32[a]):
                return l(x)
        """, 3, 5, "'l' is already defined on line 2"),
    ("duplicate model", """
        model M(a: int):
            forward(x: f32[a]):
                return x
        model M(a: int):
            forward(x: f32[a]):
                return x
        """, 4, 1, "model 'M' is defined twice"),
    ("unknown name", """
        model M(width: int):
            forward(x: f32[width]):
                return x * widht
        """, 3, 20, "unknown name 'widht'"),
    ("assign to hyperparameter", """
        model M(a: int):
            forward(x: f32[a]):
                a = x
                return x
        """, 3, 9, "cannot assign to 'a': it is a hyperparameter of the model"),
    ("no forward", """
        model M(a: int):
            l = Linear(out_features=a)
        """, 1, 1, "model M has no forward method"),
    ("returns nothing", """
        model M(a: int):
            forward(x: f32[a]):
                y = x
        """, 2, 5, "method forward returns nothing"),
    ("key misuse", """
        model M(a: int):
            forward(x: f32[a], key):
                return x + key
        """, 3, 20, "key is managed by the compiler"),
    # hyperparameters
    ("unknown hyperparameter type", """
        model M(a: integer):
            forward(x: f32[3]):
                return x
        """, 1, 12, "unknown hyperparameter type 'integer'"),
    ("bad default", """
        model M(a: int = 0.5):
            forward(x: f32[3]):
                return x
        """, 1, 18, "the default of a must be an int, not float"),
    ("default not literal", """
        model M(a: int, b: int = a):
            forward(x: f32[3]):
                return x
        """, 1, 26, "a default must be a literal"),
    # layers and their arguments
    ("unknown layer", """
        model M(a: int):
            l = Linaer(out_features=a)
            forward(x: f32[a]):
                return l(x)
        """, 2, 9, "unknown layer 'Linaer'"),
    ("unknown argument", """
        model M(a: int):
            l = Linear(out_feature=a)
            forward(x: f32[a]):
                return l(x)
        """, 2, 16, "Linear has no argument 'out_feature'"),
    ("missing argument", """
        model M(a: int):
            l = Linear(use_bias=False)
            forward(x: f32[a]):
                return l(x)
        """, 2, 9, "Linear needs the argument 'out_features'"),
    ("wrong argument type", """
        model M(a: int):
            l = Linear(out_features=2.5)
            forward(x: f32[a]):
                return l(x)
        """, 2, 29, "argument out_features of Linear must be an int, not float"),
    ("bad choice", """
        model M(a: int):
            bn = BatchNorm(axis_name="batch", mode="bach")
            forward(x: f32[a, 4]):
                y, = (x,)
                return bn(x)
        """, 2, 44, "argument mode of BatchNorm must be one of"),
    ("argument twice", """
        model M(a: int):
            l = Linear(a, out_features=a, in_features=a)
            forward(x: f32[a]):
                return l(x)
        """, 2, 35, "argument 'in_features' of Linear is given twice"),
    ("key given", """
        model M(a: int):
            l = Linear(out_features=a, key=1)
            forward(x: f32[a]):
                return l(x)
        """, 2, 32, "Linear has no argument 'key'"),
    ("never called", """
        model M(a: int):
            l = Linear(out_features=a)
            forward(x: f32[a]):
                return x
        """, 2, 5, "l is never called, so its in_features cannot be inferred"),
    ("layer as value", """
        model M(a: int):
            l = Linear(out_features=a)
            forward(x: f32[a]):
                return x + l
        """, 4, 20, "l is a layer: call it"),
    ("constructor in method", """
        model M(a: int):
            forward(x: f32[a]):
                return Linear(x)
        """, 3, 16, "Linear(...) builds a layer"),
    ("too many inputs", """
        model M(a: int):
            l = Linear(out_features=a)
            forward(x: f32[a]):
                return l(x, x)
        """, 4, 16, "Linear takes 1 input (x), got 2"),
    ("unknown input keyword", """
        model M(a: int):
            l = Linear(out_features=a)
            forward(x: f32[a]):
                return l(x, mask=x)
        """, 4, 21, "Linear takes no input 'mask'"),
    # shapes
    ("layer shape", """
        model M(a: int):
            l = Linear(out_features=a)
            forward(x: f32[a], y: f32[a, 2]):
                h = l(x)
                return l(y)
        """, 5, 16, "Linear"),
    ("broadcast", """
        model M(a: int):
            forward(x: f32[3, 4], y: f32[5]):
                return x + y
        """, 3, 16, "+: cannot broadcast f32[3, 4] with f32[5]: axis -1 has size 4 in the left operand and 5 in the right operand"),
    ("matmul", """
        model M(a: int):
            forward(x: f32[3, 4], y: f32[5, 2]):
                return x @ y
        """, 3, 16, "@: the last axis of the left operand f32[3, 4] has size 4, but axis 0 of the right operand f32[5, 2] has size 5"),
    ("declared return", """
        model M(a: int):
            def f(x: f32[a]) -> f32[a + 1]:
                return x
            forward(x: f32[a]):
                return f(x)
        """, 3, 9, "method f is declared to return f32[a + 1] but returns f32[a]"),
    ("method input shape", """
        model M(a: int):
            def f(x: f32[a, 2]) -> f32[a, 2]:
                return x
            forward(y: f32[a, 3]):
                return f(y)
        """, 5, 18, "axis 1 of input x of f must be 2, got 3 in f32[a, 3]"),
    ("unknown dtype", """
        model M(a: int):
            forward(x: float32[a]):
                return x
        """, 2, 16, "unknown dtype 'float32'"),
    ("index out of range", """
        model M(a: int):
            forward(x: f32[3]):
                return x[5]
        """, 3, 18, "index 5 is out of range for axis 0 of f32[3] (size 3)"),
    ("too many indices", """
        model M(a: int):
            forward(x: f32[3]):
                return x[0, 1]
        """, 3, 16, "too many indices (2) for f32[3] of rank 1"),
    ("unpack array", """
        model M(a: int):
            forward(x: f32[3]):
                p, q = x
                return p
        """, 3, 9, "cannot unpack f32[3] into 2 names"),
    ("unpack count", """
        model M(a: int):
            forward(x: f32[4]):
                p, q, r = split(x, 2)
                return p
        """, 3, 9, "cannot unpack 2 values into 3 names"),
    ("branches differ", """
        model M(flag: bool):
            forward(x: f32[3], y: f32[4]):
                return x if flag else y
        """, 3, 16, "the two branches give f32[3] and f32[4]"),
    ("array condition", """
        model M(a: int):
            forward(x: f32[3]):
                if x:
                    x = x * 2
                return x
        """, 3, 12, "a condition must be fixed when the model is built"),
    ("array comparison", """
        model M(a: int):
            forward(x: f32[3]):
                return x if x > 0 else x
        """, 3, 21, "a condition must be fixed when the model is built"),
    # functions
    ("unknown function", """
        model M(a: int):
            forward(x: f32[a]):
                return rleu(x)
        """, 3, 16, "unknown function or layer 'rleu'"),
    ("function keyword", """
        model M(a: int):
            forward(x: f32[a]):
                return softmax(x, axes=0)
        """, 3, 27, "softmax has no argument 'axes'"),
    ("function axis", """
        model M(a: int):
            forward(x: f32[a]):
                return sum(x, axis=2)
        """, 3, 23, "sum: axis 2 is out of range for an array of rank 1"),
    ("reshape", """
        model M(a: int):
            forward(x: f32[6]):
                return reshape(x, (4, 2))
        """, 3, 27, "reshape: cannot reshape f32[6] (6 elements) into (4, 2) (8 elements)"),
    ("split", """
        model M(a: int):
            forward(x: f32[5]):
                p, q = split(x, 2)
                return p
        """, 3, 25, "split: axis 0 of f32[5] has size 5, which does not split into 2 equal parts"),
    ("concatenate", """
        model M(a: int):
            forward(x: f32[2, 3], y: f32[4, 5]):
                return concatenate([x, y])
        """, 3, 28, "concatenate: array 1 has size 5 on axis 1, array 0 has 3"),
    ("einsum", """
        model M(a: int):
            forward(x: f32[2, 3], y: f32[4, 5]):
                return einsum("ij,jk->ik", x, y)
        """, 3, 16, "einsum index 'j' has size 3 in one operand and 4 in operand 1"),
    ("function argument kind", """
        model M(a: int):
            forward(x: f32[a]):
                return zeros(x)
        """, 3, 22, "argument shape of zeros must be an int or a tuple of ints"),
    ("missing function argument", """
        model M(a: int):
            forward(x: f32[a]):
                return reshape(x)
        """, 3, 16, "reshape needs the argument 'shape'"),
    ("map over scalar", """
        model M(a: int):
            forward(x: f32[]):
                return map(relu, x)
        """, 3, 26, "map runs over the leading axis of arrays"),
    # stacks, loops, parameters, conditionals
    ("repeat count", """
        model M(a: int):
            s = repeat 0: Linear(out_features=a)
            forward(x: f32[a]):
                for l in s:
                    x = l(x)
                return x
        """, 2, 16, "a repeat count must be at least 1"),
    ("scan changes shape", """
        model M(a: int, b: int):
            s = repeat 3 scan: Linear(out_features=b)
            forward(x: f32[a]):
                for l in s:
                    x = l(x)
                return x
        """, 4, 9, "a scanned stack needs its loop to keep each variable's type"),
    ("loop over layer", """
        model M(a: int):
            l = Linear(out_features=a)
            forward(x: f32[a]):
                for k in l:
                    x = k(x)
                return x
        """, 4, 18, "cannot loop over l: it is not a stack"),
    ("stack called", """
        model M(a: int):
            s = repeat 2: Linear(out_features=a)
            forward(x: f32[a]):
                return s(x)
        """, 4, 16, "s is a stack of layers: loop over it"),
    ("array loop without effect", """
        model M(a: int):
            forward(x: f32[a, 3]):
                for row in x:
                    y = row
                return x
        """, 3, 9, "this loop changes no variable defined before it"),
    ("array loop type change", """
        model M(a: int):
            forward(x: f32[a, 3]):
                h = zeros(2)
                for row in x:
                    h = row
                return h
        """, 4, 9, "a loop over an array must keep each variable's type, but h goes from f32[2] to f32[3]"),
    ("unknown initialiser", """
        model M(a: int):
            w = param f32[a] = gaussian
            forward(x: f32[a]):
                return x * w
        """, 2, 24, "unknown initialiser 'gaussian'"),
    ("initialiser argument", """
        model M(a: int):
            w = param f32[a] = normal(std=0.1)
            forward(x: f32[a]):
                return x * w
        """, 2, 31, "initialiser normal has no argument 'std'"),
    ("fan initialiser rank", """
        model M(a: int):
            w = param f32[a] = glorot_uniform
            forward(x: f32[a]):
                return x * w
        """, 2, 24, "glorot_uniform needs a parameter of rank 2 or more"),
    ("parameter called", """
        model M(a: int):
            w = param f32[a]
            forward(x: f32[a]):
                return w(x)
        """, 4, 16, "w is a parameter, not a layer"),
    ("unguarded optional layer", """
        model M(a: int, flag: bool = True):
            if flag:
                norm = LayerNorm(a)
            forward(x: f32[a]):
                return norm(x)
        """, 5, 16, "norm exists only when its `if` condition holds"),
    ("constant in if", """
        model M(a: int, flag: bool = True):
            if flag:
                c = a * 2
            forward(x: f32[a]):
                return x
        """, 3, 9, "the constant c cannot be defined inside an `if`"),
    ("dimension unbound", """
        model M(a: int):
            def f(x: f32[a]) -> f32[a]:
                return x * T
            forward(y: f32[T]):
                return y
        """, 3, 20, "the size T is used in f, but no input of f has T as one of its sizes"),
    ("recursion", """
        model M(a: int):
            def f(x: f32[a]) -> f32[a]:
                return f(x)
            forward(y: f32[a]):
                return f(y)
        """, 3, 16, "method f calls itself"),
    ("inputs twice", """
        model M(a: int):
            input x: f32[a]
            forward(x: f32[a]):
                return x
        """, 2, 5, "inputs are declared both with `input` and in forward's parameters"),
    ("untyped parameter", """
        model M(a: int):
            forward(x):
                return x
        """, 2, 13, "parameter x needs a type"),
    ("not a layer", """
        model M(a: int):
            seq = Sequential([])
            forward(x: f32[a]):
                return x
        """, 2, 11, "unknown layer 'Sequential'"),
    ("missing python module", """
        from no_such_module_here import Thing(x: f32[n]) -> f32[n]
        model M(a: int):
            forward(x: f32[a]):
                return x
        """, 1, 1, "cannot find the Python module 'no_such_module_here'"),
    ("missing python class", """
        from json.decoder import Nope(x: f32[n]) -> f32[n]
        model M(a: int):
            forward(x: f32[a]):
                return x
        """, 1, 1, "module json.decoder defines no class 'Nope'"),
    ("stateful map", """
        model M(a: int):
            bn = BatchNorm(axis_name="batch")
            forward(x: f32[3, a]):
                return map(bn, x)
        """, 4, 16, "a stateful layer cannot be mapped"),
]


@pytest.mark.parametrize(("name", "source", "line", "column", "message"), CHECKS, ids=[c[0] for c in CHECKS])
def test_check_errors(name, source, line, column, message):
    diagnostics = diagnose(source)
    matching = [d for d in diagnostics if message in d.message]
    assert matching, "\n".join(d.format() for d in diagnostics)
    diagnostic = matching[0]
    assert (diagnostic.line, diagnostic.column) == (line, column), diagnostic.format()


def test_not_a_layer_explains_why():
    assert "a pipeline" in first("""
        model M(a: int):
            seq = Sequential([])
            forward(x: f32[a]):
                return x
        """).hint


def test_all_errors_of_a_file_in_one_run():
    diagnostics = diagnose("""
        model M(a: int):
            l = Linear(out_feature=a)
            forward(x: f32[a]):
                y = rleu(x)
                return y + undefined
        """)
    messages = [d.message for d in diagnostics]
    assert any("no argument 'out_feature'" in m for m in messages)
    assert any("unknown function or layer 'rleu'" in m for m in messages)
    assert any("unknown name 'undefined'" in m for m in messages)


def test_did_you_mean_hints():
    assert first("""
        model M(a: int):
            l = Linear(out_feature=a)
            forward(x: f32[a]):
                return l(x)
        """).hint == "did you mean 'out_features'?"
    assert first("""
        model M(a: int):
            forward(x: f32[a]):
                return rleu(x)
        """).hint == "did you mean 'relu'?"


def test_diagnostic_format_has_source_line_caret_and_hint():
    diagnostic = diagnostic_at("a = 1\n  b = foo(x)\n", "m.eqx", 2, 7, "unknown name 'foo'", hint="did you mean 'for'?", end_line=2, end_column=10)
    assert diagnostic.format() == "m.eqx:2:7: error: unknown name 'foo'\n  b = foo(x)\n      ^^^\nhint: did you mean 'for'?"
    assert str(CompileError([diagnostic, diagnostic])) == diagnostic.format() + "\n" + diagnostic.format()


# -- one mistake, one diagnostic: follow-on errors are not reported ----------------------


def located(source: str) -> list[tuple[int, int, str]]:
    return sorted((d.line, d.column, d.message) for d in diagnose(source))


def assert_exactly(source: str, expected: list[tuple[int, int, str]]) -> None:
    """The spec's diagnostics are exactly `expected`: (line, column, start of the message)."""
    found = located(source)
    assert [(line, column) for line, column, _ in found] == sorted((line, column) for line, column, _ in expected), found
    for (_, _, message), (_, _, start) in zip(found, sorted(expected)):
        assert message.startswith(start), found


def test_a_misspelt_layer_argument_is_the_only_error():
    # Not also: the argument it was meant to be is missing, conv fails where it
    # is called, head (called after conv) is never called.
    assert_exactly("""
        model Net(width: int = 16):
            input x: f32[1, 8, 8]
            conv = Conv2d(out_chanels=width, kernel_size=3)
            head = Linear(out_features=10)

            forward:
                return x -> conv -> relu -> head
        """, [(3, 19, "Conv2d has no argument 'out_chanels'")])


def test_independent_mistakes_in_different_layers_and_methods_are_all_reported():
    assert_exactly("""
        model Net(width: int = 16):
            enc = Linear(out_feature=8)
            head = Linear(out_features=10)
            unused = Linear(out_features=3)

            def encode(x: f32[width]) -> f32[8]:
                return enc(x)

            forward(x: f32[width]):
                h = encode(x) -> rleu
                return h -> head
        """, [
        (2, 18, "Linear has no argument 'out_feature'"),
        (10, 26, "unknown function or layer 'rleu'"),
        (4, 5, "unused is never called, so its in_features cannot be inferred"),
    ])


def test_a_missing_argument_is_reported_when_the_unknown_one_was_not_meant_as_it():
    assert_exactly("""
        model M():
            proj = Linear(8, bias=True)
            forward(x: f32[8]):
                return proj(x)
        """, [(2, 22, "Linear has no argument 'bias'"), (2, 12, "Linear needs the argument 'out_features'")])


def test_shape_errors_downstream_of_a_poisoned_value_are_silent_but_unrelated_ones_are_not():
    assert_exactly("""
        model M():
            proj = Linear(out_features=8, bais=True)
            forward(x: f32[4], y: f32[3]):
                h = x -> proj
                z = h + y
                p = h @ y -> relu
                w = x + y
                return z * w + p
        """, [(2, 35, "Linear has no argument 'bais'"), (7, 13, "+: cannot broadcast f32[4] with f32[3]")])


def test_a_layer_after_a_failed_step_counts_as_called():
    assert_exactly("""
        model M():
            head = Linear(out_features=2)
            forward(x: f32[4], y: f32[3]):
                return x @ y -> head
        """, [(4, 16, "@: the last axis of the left operand f32[4] has size 4")])


def test_callers_of_a_method_with_an_error_check_against_its_declared_result():
    # encode's body fails; forward still checks its own use of encode's declared f32[8].
    assert_exactly("""
        model M():
            def encode(x: f32[4]) -> f32[8]:
                return undefined(x)
            forward(x: f32[4], y: f32[3]):
                a = encode(x) + y
                b = encode(x) -> Linear
                return a
        """, [
        (3, 16, "unknown function or layer 'undefined'"),
        (5, 13, "+: cannot broadcast f32[8] with f32[3]"),
        (6, 26, "Linear(...) builds a layer"),
    ])
