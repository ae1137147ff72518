"""No name, string, number or docstring of a spec can place code of its own in the output.

Each hostile value is put in one position of a small spec. The compiler must
either refuse it with a located error, or emit code that passes
`check_generated` (no free name but harmless builtins, no dunder access) and
that means what the spec says: strings and docstrings arrive as constants equal
to the spec's value, and a renamed spec computes exactly what the original does.
"""

from __future__ import annotations

import ast
import functools
import re

import pytest

from eqxdsl.compiler.diagnostics import CompileError

from ._harness import compile_outcome, load_generated

jax = pytest.importorskip("jax")
jnp = jax.numpy

TEMPLATE = '''model {model}({hyper}: int = 4):
    """Doc."""
    input {input}: f32[3]
    {field} = Linear(out_features={hyper})
    other = repeat 2 scan: Linear(out_features={hyper})
    drop = Dropout(0.5)

    def {method}(y: f32[{hyper}]) -> f32[{hyper}]:
        return tanh(y)

    forward:
        {local} = {field}({input})
        for {loop} in other:
            {local} = drop({loop}({local}))
        return {method}({local})
'''
DEFAULTS = dict(
    model="Net",
    hyper="width",
    input="x",
    field="lin",
    method="squash",
    local="h",
    loop="layer",
)

# Names the generated code itself relies on: a spec may not take them.
SHADOWING = ("jax", "jnp", "eqx", "key", "self", "state", "inference")
HOSTILE_NAMES = SHADOWING + (
    "__import__",
    "__class__",
    "__init__",
    "__dict__",
    "__builtins__",
    "__call__",
    "__",
    "lambda",
    "class",
    "def",
    "import",
    "None",
    "True",
    "async",
    "await",
    "match",
    "_",
    "os",
    "sys",
    "print",
    "open",
    "eval",
    "exec",
    "compile",
    "globals",
    "getattr",
    "super",
    "object",
    "tuple",
    "enumerate",
    "len",
    "zip",
    "int",
    "float",
    "Callable",
    "Module",
    "field",
    "nn",
    "x_key",
    "lin_key",
    "other_key",
    "drop_key",
    "keys",
    "i",
    "k",
    "layer_params",
    "other_params",
    "other_static",
    "_other_step",
    "xs",
    "model",
    "input",
    "forward",
    "repeat",
    "scan",
    "param",
    "frozen",
    "map",
    "relu",
    "tanh",
    "Linear",
    "f32",
    "mean",
)


def spec(**names: str) -> str:
    return TEMPLATE.format(**{**DEFAULTS, **names})


def run(source: str, model: str) -> jax.Array:
    """Build `model` from `source` with a fixed key and apply it to a fixed input, dropout on."""
    cls = getattr(load_generated(source), model)
    net = cls(key=jax.random.key(0))
    return net(jnp.arange(3.0), key=jax.random.key(1))


@functools.cache
def baseline_source() -> str:
    source = compile_outcome(spec(), "net.eqx")
    assert isinstance(source, str), source
    return source


def _shape_of_code(source: str, rename: dict[str, str]) -> str:
    """The module's AST without docstrings, with identifiers renamed (also inside `x_key`-style names)."""
    tree = ast.parse(source)
    pattern = re.compile(
        "|".join(rf"(?<![A-Za-z0-9]){re.escape(old)}(?![A-Za-z0-9])" for old in rename)
    )

    def fix(identifier: str) -> str:
        return (
            pattern.sub(lambda match: rename[match.group()], identifier)
            if rename
            else identifier
        )

    for node in ast.walk(tree):
        for attribute in ("id", "arg", "name", "attr"):
            value = getattr(node, attribute, None)
            if isinstance(value, str):
                setattr(node, attribute, fix(value))
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
        ):
            body[0] = ast.Pass()
    return ast.dump(tree)


def check_hostile_name(name: str, position: str) -> None:
    """Put `name` at `position`: a located refusal, or code that computes what the original computes."""
    text = spec(**{position: name})
    outcome = compile_outcome(text, "net.eqx")
    if name in SHADOWING:
        assert isinstance(
            outcome, CompileError
        ), f"{name!r} as the {position} was accepted"
    if isinstance(outcome, CompileError):
        # The message says what is wrong with which name.
        assert any(
            repr(name) in d.message or name in (d.source_line or "")
            for d in outcome.diagnostics
        ), outcome
        return
    # Accepted. The fast proof: renamed back, the code is the original's, token for token.
    if name.strip("_") and _shape_of_code(
        outcome, {name: DEFAULTS[position]}
    ) == _shape_of_code(baseline_source(), {}):
        return
    # Otherwise (the compiler renamed something to avoid a clash, or a clash happened) compare results.
    result = run(outcome, name if position == "model" else "Net")
    assert jnp.array_equal(result, run(baseline_source(), "Net")), (name, position)


@pytest.mark.parametrize("name", SHADOWING)
@pytest.mark.parametrize("position", sorted(DEFAULTS))
def test_names_the_generated_code_relies_on_are_refused(name, position):
    check_hostile_name(name, position)


# Under CI each hostile name takes one position in turn (every name and every position is covered);
# the long run (fuzz.py) draws from the whole matrix.
@pytest.mark.parametrize(
    "name, position",
    [
        (name, sorted(DEFAULTS)[i % len(DEFAULTS)])
        for i, name in enumerate(HOSTILE_NAMES[len(SHADOWING) :])
    ],
)
def test_hostile_names_are_refused_or_harmless(name, position):
    check_hostile_name(name, position)


REPEATS = """model Net({name}: int = 4):
    input x: f32[2]
    layers = repeat 2: Linear(out_features={name})
    st = repeat 2 scan: Linear(out_features={name})

    forward:
        for layer in layers:
            x = relu(layer(x))
        for layer in st:
            x = relu(layer(x))
        return x
"""


@pytest.mark.parametrize(
    "name", ["i", "k", "keys", "xs", "layers_key", "st_params", "st_static"]
)
def test_repeat_temporaries_do_not_capture_hyperparameters(name):
    """The names the repeat lowering introduces must not capture the spec's names."""
    outcome = compile_outcome(REPEATS.format(name=name), "net.eqx")
    if isinstance(outcome, CompileError):
        return
    expected = run_repeats(compile_outcome(REPEATS.format(name="width"), "net.eqx"))
    assert jnp.array_equal(run_repeats(outcome), expected)


def run_repeats(source: str) -> jax.Array:
    return load_generated(source).Net(key=jax.random.key(0))(jnp.arange(2.0))


def test_shadowing_names_get_a_clear_message():
    outcome = compile_outcome(spec(field="jnp", local="jnp"), "net.eqx")
    assert isinstance(outcome, CompileError)
    first = outcome.diagnostics[0]
    assert (first.line, first.column) == (4, 5)
    assert "'jnp'" in first.message and (
        "shadow" in first.message or "reserved" in first.message
    ), first.message


# ---- strings and docstrings --------------------------------------------------------------

# Spec source text of string literals (Python's syntax, which the language uses).
HOSTILE_STRINGS = (
    r'"\""',
    r'"\"\"\""',
    '\'"""\'',
    "\"'''\"",
    r'"\\"',
    r'"x\\"',
    r'"\\\""',
    r'"a\nb"',
    r'"a\r\nb"',
    r'"tab\there"',
    r'"\x00\x1b[2J"',
    r'"\u2028\u2029\x85"',
    r'"\N{BULLET}"',
    r'"{{ 7 * 7 }}"',
    r'"{% for x in range(3) %}{% endfor %}"',
    r'"{{ cycler.__init__.__globals__.os.popen(\"id\").read() }}"',
    r'"{# comment #}"',
    '"\\"\\"\\"\\nimport os\\nos.system(\\"touch pwned\\")\\n\\"\\"\\""',
    '"""closes early? """',
    "'''single ''' quotes'''",
    '"""ends with a quote\\""""',
    '"""ends with a backslash \\\\"""',
    '"""line one\nline two\n    indented\n"""',
    r'"); import os; ("',
    r'"\' + __import__(\'os\').getcwd() + \'"',
    '"' + "q" * 5000 + '"',
)


def decoded(literal: str) -> str:
    return ast.literal_eval(literal)


def class_of(tree: ast.Module, name: str) -> ast.ClassDef:
    return next(
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == name
    )


@pytest.mark.parametrize("literal", HOSTILE_STRINGS)
def test_docstrings_arrive_as_the_same_text(literal):
    text = (
        spec()
        .replace('"""Doc."""', literal)
        .replace("        return tanh(y)", f"        {literal}\n        return tanh(y)")
    )
    outcome = compile_outcome(text, "net.eqx")
    if isinstance(outcome, CompileError):
        # Only a docstring the generated file could not hold faithfully may be refused.
        assert all(d.line in (2, 9) for d in outcome.diagnostics), outcome
        return
    tree = ast.parse(outcome)
    cls = class_of(tree, "Net")
    method = next(
        node
        for node in cls.body
        if isinstance(node, ast.FunctionDef) and node.name == "squash"
    )
    # Black re-indents docstrings and expands tabs: the words must arrive, in order, and nothing else.
    expected = decoded(literal).split()
    assert (ast.get_docstring(cls, clean=False) or "").split() == expected
    if expected:  # an empty docstring gives way to the one the compiler writes
        assert (ast.get_docstring(method, clean=False) or "").split() == expected
    # Nothing but the docstring became a statement: the class body is docstring, fields, methods.
    assert all(
        isinstance(node, (ast.Expr, ast.AnnAssign, ast.FunctionDef))
        for node in cls.body
    )
    assert sum(isinstance(node, ast.Expr) for node in cls.body) <= 1


@pytest.mark.parametrize("literal", HOSTILE_STRINGS)
def test_string_values_arrive_as_constants(literal):
    text = (
        spec()
        .replace("(width: int = 4)", f"(width: int = 4, tag: str = {literal})")
        .replace(
            "drop = Dropout(0.5)",
            f"drop = Dropout(0.5)\n    norm = BatchNorm(axis_name={literal})",
        )
    )
    outcome = compile_outcome(text, "net.eqx")
    if isinstance(outcome, CompileError):
        return
    tree = ast.parse(outcome)
    init = next(
        n
        for n in class_of(tree, "Net").body
        if isinstance(n, ast.FunctionDef) and n.name == "__init__"
    )
    defaults = {
        arg.arg: default
        for arg, default in zip(init.args.args[::-1], init.args.defaults[::-1])
    }
    assert isinstance(defaults["tag"], ast.Constant) and defaults[
        "tag"
    ].value == decoded(literal)
    constants = [
        node.value for node in ast.walk(init) if isinstance(node, ast.Constant)
    ]
    assert constants.count(decoded(literal)) >= 1


@pytest.mark.parametrize("literal", HOSTILE_STRINGS[:12])
def test_strings_in_expressions_and_imports(literal):
    """Strings where the compiler interprets them (einsum subscripts, spec imports): refused or harmless."""
    einsum = spec().replace("return tanh(y)", f"return einsum({literal}, y)")
    compile_outcome(einsum, "net.eqx")
    imported = f"from {literal} import Block\n\n" + spec()
    compile_outcome(imported, "net.eqx")


# ---- numbers -----------------------------------------------------------------------------

HOSTILE_INTS = (
    "0",
    "00",
    "1_000",
    "9" * 30,
    "9" * 400,
    "-1",
    "--1",
    "1__0",
    "0x10",
    "1e3",
    "10 ** 100",
)
HOSTILE_FLOATS = (
    "1e999",
    "-1e999",
    "1e-999",
    "0." + "0" * 400 + "1",
    "1_0.5_0",
    ".5",
    "5.",
    "1e",
    "nan",
    "inf",
)


@pytest.mark.parametrize("number", HOSTILE_INTS)
def test_hostile_integers(number):
    text = spec().replace("(width: int = 4)", f"(width: int = {number})")
    outcome = compile_outcome(text, "net.eqx")
    if isinstance(outcome, str):
        init = next(
            n
            for n in ast.walk(ast.parse(outcome))
            if isinstance(n, ast.FunctionDef) and n.name == "__init__"
        )
        default = init.args.defaults[0]
        value = eval(
            number.replace("_", ""), {"__builtins__": {}}
        )  # noqa: S307 - a number written in the test
        assert (
            eval(compile(ast.Expression(default), "<d>", "eval"), {"__builtins__": {}})
            == value
        )  # noqa: S307
    shape = spec().replace("input x: f32[3]", f"input x: f32[{number}]")
    compile_outcome(shape, "net.eqx")


@pytest.mark.parametrize("number", HOSTILE_FLOATS)
def test_hostile_floats(number):
    text = (
        spec()
        .replace("(width: int = 4)", f"(width: int = 4, p: float = {number})")
        .replace("Dropout(0.5)", "Dropout(p)")
    )
    outcome = compile_outcome(text, "net.eqx")
    if isinstance(outcome, str):
        init = next(
            n
            for n in ast.walk(ast.parse(outcome))
            if isinstance(n, ast.FunctionDef) and n.name == "__init__"
        )
        value = float(number.replace("_", ""))
        default = init.args.defaults[1]
        # Python has no literal for inf: whatever stands for it must evaluate to the value, using no free name.
        compiled = eval(
            compile(ast.Expression(default), "<default>", "eval"), {"__builtins__": {}}
        )  # noqa: S307
        assert compiled == value or (
            value != value and compiled != compiled
        ), ast.unparse(default)


# ---- the example specs ---------------------------------------------------------------------


def test_generated_code_never_calls_eval_or_exec():
    """check_generated (run on every output in this folder) refuses eval/exec; this shows it would catch them."""
    from ._harness import check_generated

    good = compile_outcome(spec(), "net.eqx")
    for smuggled in (
        "eval('1')",
        "exec('x = 1')",
        "__import__('os')",
        "open('f')",
        "x.__class__",
    ):
        with pytest.raises(AssertionError):
            check_generated(good + f"\n_ = {smuggled}\n")


@pytest.mark.parametrize("name", ["nope", "open", "exit", "vars", "os", "print('hi')"])
def test_names_in_static_conditions_are_resolved(name):
    """A model-level `if` may test hyperparameters and sizes only: other names are located errors."""
    text = spec().replace(
        "    drop = Dropout(0.5)\n",
        f"    drop = Dropout(0.5)\n    if width > 1 or {name}:\n        extra = Linear(out_features=width)\n",
    )
    outcome = compile_outcome(text, "net.eqx")
    assert isinstance(outcome, CompileError), f"`if width > 1 or {name}:` compiled"
    assert any(d.line == 7 for d in outcome.diagnostics), outcome
