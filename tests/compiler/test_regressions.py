"""Regressions found by fuzzing the compiler: each bad input gets a located error, each odd one correct code.

Most cases only parse and check (no jax); the temporaries-capture cases build
small models to prove the generated code computes what the spec says.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import eqxdsl
from eqxdsl.compiler.check import RESERVED_NAMES
from eqxdsl.compiler.diagnostics import CompileError
from eqxdsl.compiler.driver import check_file
from eqxdsl.compiler.reserved import FORBIDDEN_NAMES

REPO = Path(__file__).resolve().parents[2]


def errors(source: str, filename: str = "p.eqx") -> list[str]:
    """The formatted diagnostics of compiling `source` (which must fail)."""
    with pytest.raises(CompileError) as caught:
        eqxdsl.compile_source(source, filename)
    return [d.format() for d in caught.value.diagnostics]


def forward(expression: str) -> str:
    return f"model M():\n    input x: f32[3]\n\n    forward:\n        return {expression}\n"


# -- reserved names (F1) -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["eval", "exec", "compile", "globals", "locals", "breakpoint"])
@pytest.mark.parametrize(
    ("template", "line", "column"),
    [
        ("model M(w: int = 4):\n    input x: f32[3]\n    {n} = Linear(out_features=w)\n\n    forward:\n        return relu({n}(x))\n", 3, 5),
        ("model M(w: int = 4):\n    input {n}: f32[3]\n\n    forward:\n        return {n}\n", 2, 5),
        ("model M({n}: int = 4):\n    input x: f32[3]\n\n    forward:\n        return x\n", 1, 9),
        ("model M():\n    input x: f32[3]\n\n    forward:\n        {n} = relu(x)\n        return {n}\n", 5, 9),
    ],
    ids=["field", "input", "hyperparameter", "local"],
)
def test_names_the_renderer_forbids_are_located_errors(name, template, line, column):
    (message,) = errors(template.format(n=name))
    assert message.startswith(f"p.eqx:{line}:{column}: error: ")
    assert "would shadow a name the generated code relies on" in message


def test_every_name_the_renderer_forbids_is_reserved_by_the_checker():
    assert {n for n in FORBIDDEN_NAMES if not n.startswith("__")} <= RESERVED_NAMES


# -- conditionals decided at compile time (F2) -------------------------------------------


@pytest.mark.parametrize(
    ("expression", "kept"),
    [("nope(x) if False else relu(x)", "jax.nn.relu(x)"), ("relu(x) if True else nope(x)", "jax.nn.relu(x)")],
)
def test_a_dead_branch_is_dropped_not_lowered(expression, kept):
    source = eqxdsl.compile_source(forward(expression), "p.eqx")
    assert f"return {kept}  # p.eqx:5" in source
    assert "nope" not in source


def test_a_dead_if_statement_branch_is_dropped():
    spec = "model M():\n    input x: f32[3]\n\n    forward:\n        if False:\n            x = nope(x)\n        else:\n            x = relu(x)\n        return x\n"
    source = eqxdsl.compile_source(spec, "p.eqx")
    assert "x = jax.nn.relu(x)  # p.eqx:8" in source
    assert "nope" not in source and "if " not in source.split("def __call__")[1].split("def _check_inputs")[0]


def test_an_unknown_name_in_a_live_branch_is_still_reported():
    (message,) = errors(forward("nope(x) if True else x"))
    assert message.startswith("p.eqx:5:16: error: ") and "nope" in message


# -- Python classes are located, never imported (F3) -------------------------------------


@pytest.fixture
def hostile_package(tmp_path: Path) -> Path:
    package = tmp_path / "hostilepkg"
    package.mkdir()
    (package / "__init__.py").write_text("open('PWNED', 'w').write('x')\nraise RuntimeError('ran')\n")
    (package / "mod.py").write_text("class X:\n    def __init__(self, n: int = 3):\n        self.n = n\n")
    spec = "from hostilepkg.mod import X(x: f32[n]) -> f32[n]\n\nmodel M(n: int = 3):\n    input x: f32[n]\n    s = X(n)\n\n    forward:\n        return s(x)\n"
    (tmp_path / "s.eqx").write_text(spec)
    return tmp_path


def test_python_class_import_runs_no_package_code(hostile_package, monkeypatch):
    monkeypatch.syspath_prepend(str(hostile_package))
    monkeypatch.chdir(hostile_package)
    checked = check_file(hostile_package / "s.eqx")
    assert "X" in checked.python_classes
    assert not (hostile_package / "PWNED").exists()
    assert "hostilepkg" not in sys.modules


def test_a_missing_python_module_is_a_located_error(hostile_package):
    spec = "from hostilepkg.nothere import X(x: f32[n]) -> f32[n]\n\nmodel M(n: int = 3):\n    input x: f32[n]\n\n    forward:\n        return x\n"
    (message,) = errors(spec, str(hostile_package / "t.eqx"))
    assert ":1:1: error: cannot find the Python module 'hostilepkg.nothere'" in message


def test_checking_an_import_from_jax_never_imports_jax(tmp_path):
    (tmp_path / "j.eqx").write_text("from jax.nn import Nothing(x: f32[n]) -> f32[n]\n\nmodel M(n: int = 3):\n    input x: f32[n]\n\n    forward:\n        return x\n")
    probe = "import sys; from eqxdsl.cli import main; code = main(['check', 'j.eqx']); print(code, 'jax' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "1 False", result.stderr
    assert "j.eqx:1:1: error: module jax.nn defines no class 'Nothing'" in result.stderr


# -- nesting (F4) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    ["relu(" * 300 + "x" + ")" * 300, "(" * 500 + "x" + ")" * 500, "-" * 500 + "x", "+".join(["x"] * 500)],
    ids=["calls", "brackets", "unary", "operator chain"],
)
def test_deep_nesting_is_a_located_error(expression):
    (message,) = errors(forward(expression))
    assert message.startswith("p.eqx:5:16: error: nested too deeply")


def test_nesting_below_the_limit_compiles():
    calls = "relu(" * 95 + "x" + ")" * 95
    spec = f"model M():\n    input x: f32[3]\n\n    forward:\n        h = {calls}\n        return {' + '.join(['h'] * 190)}\n"
    source = eqxdsl.compile_source(spec, "p.eqx")
    assert source.count("jax.nn.relu(") == 95 and source.count(" + h") == 189


def _elif_chain(length: int) -> str:
    branches = "".join(f"        elif w == {i}:\n            x = relu(x)\n" for i in range(1, length))
    return f"model M(w: int = 3):\n    input x: f32[3]\n\n    forward:\n        if w == 0:\n            x = tanh(x)\n{branches}        return x\n"


def test_a_long_elif_chain_counts_as_nesting():
    assert eqxdsl.compile_source(_elif_chain(120), "p.eqx").count("elif self.w ==") == 119
    (message,) = errors(_elif_chain(400))
    assert "error: nested too deeply" in message and message.startswith("p.eqx:")


def test_python_recursion_limit_is_a_located_error_as_a_last_resort(monkeypatch):
    from eqxdsl.compiler import lower

    def overflow(checked, build):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(lower, "lower_spec", overflow)
    (message,) = errors(forward("x"))
    assert message.startswith("p.eqx:1:1: error: the spec nests too deeply for the compiler")


# -- text that is not Unicode, byte-order marks, tabs (F5, N1, N2) -----------------------


def test_a_lone_surrogate_is_a_located_error():
    (message,) = errors("#\udc80\n")
    assert message.startswith("p.eqx:1:2: error: the spec is not valid Unicode text (lone surrogate U+DC80)")


def test_a_leading_byte_order_mark_is_skipped():
    source = eqxdsl.compile_source("\ufeff" + forward("relu(x)"), "p.eqx")
    assert "return jax.nn.relu(x)  # p.eqx:5" in source


def test_inconsistent_tabs_and_spaces_are_a_located_error():
    spec = "model M():\n    input x: f32[3]\n\n    forward:\n        x = relu(x)\n\t    return x\n"
    (message,) = errors(spec)
    assert message.startswith("p.eqx:6:1: error: inconsistent use of tabs and spaces in indentation")


def test_consistent_tabs_are_accepted():
    spec = "model M():\n\tinput x: f32[3]\n\n\tforward:\n\t\treturn relu(x)\n"
    assert "return jax.nn.relu(x)" in eqxdsl.compile_source(spec, "p.eqx")


# -- spec paths and file names (F7, shadowing) --------------------------------------------


def test_a_nul_in_an_import_path_is_a_located_error(tmp_path):
    spec = 'from "a\\x00.eqx" import Block\n\n' + forward("x")
    (message,) = errors(spec, str(tmp_path / "p.eqx"))
    assert ":1:1: error: invalid spec path" in message and "NUL" in message


@pytest.mark.parametrize("stem", ["jax", "numpy", "eqxdsl", "os"])
def test_a_spec_named_like_a_module_it_would_shadow_is_a_located_error(stem):
    (message,) = errors(forward("x"), f"{stem}.eqx")
    assert message.startswith(f"{stem}.eqx:1:1: error: this spec would generate a module named '{stem}'")


# -- numbers and defaults (F8, F9) --------------------------------------------------------


@pytest.mark.parametrize(("literal", "column"), [("1__0", 20), ("1_", 20), ("1_.5", 22)])
def test_misplaced_underscores_in_numbers_are_located_errors(literal, column):
    kind = "float" if "." in literal else "int"
    spec = f"model Net(w: {kind} = {literal}):\n    input x: f32[3]\n\n    forward:\n        return x\n"
    (message,) = errors(spec)
    assert message.startswith(f"p.eqx:1:{column}: error: invalid number '{literal}'")


@pytest.mark.parametrize(("default", "written"), [("2 + 2", "w: int = 4"), ("10 ** 20", "w: int = 100000000000000000000"), ("-(3 * 2)", "w: int = -6")])
def test_a_default_written_as_arithmetic_is_folded(default, written):
    spec = f"model Net(w: int = {default}):\n    input x: f32[3]\n    lin = Linear(out_features=3)\n\n    forward:\n        return lin(x)\n"
    assert written in eqxdsl.compile_source(spec, "p.eqx")


# -- follow-on errors ---------------------------------------------------------------------


FAILED_IMPORTS = [
    ('from "missing.eqx" import Block', "b = Block()", "b(x)", "cannot find the imported spec 'missing.eqx'"),
    ('from "missing.eqx" import Block', "", "x -> Block", "cannot find the imported spec 'missing.eqx'"),
    ("from nopkg.mod import X(x: f32[n]) -> f32[n]", "b = X()", "b(x)", "cannot find the Python module 'nopkg.mod'"),
    ("from nopkg.mod import X(x: f32[n]) -> f32[n]", "", "X(x)", "cannot find the Python module 'nopkg.mod'"),
]


@pytest.mark.parametrize(("imports", "field", "use", "message"), FAILED_IMPORTS)
def test_a_failed_import_is_reported_once_not_again_where_it_is_used(tmp_path, imports, field, use, message):
    spec = f"{imports}\n\nmodel M():\n    input x: f32[3]\n    {field}\n\n    forward:\n        return {use}\n"
    messages = errors(spec, str(tmp_path / "p.eqx"))
    assert len(messages) == 1, messages
    assert ":1:1: error: " + message in messages[0]


# -- generated temporaries never capture spec names (F6) ----------------------------------

CAPTURE = """model Net({hyper}: int = 4):
    input x: f32[2]
    layers = repeat 2: Linear(out_features={hyper})
    scanned = repeat 2 scan: Linear(out_features={hyper})
    drop = Dropout(0.5)

    forward:
        for layer in layers:
            x = relu(layer(x))
        {local} = x
        for layer in scanned:
            {local} = drop(layer({local}))
        return {local}
"""
TEMPORARIES = ["i", "k", "xs", "carry", "keys", "layers_key", "scanned_key", "scanned_params", "scanned_static", "layer_params", "drop_key", "index"]


@pytest.fixture(scope="module")
def run_capture(tmp_path_factory):
    """Build the CAPTURE model with the given names and apply it to a fixed input (dropout on)."""
    jax = pytest.importorskip("jax")
    folder = tmp_path_factory.mktemp("capture")

    @functools.cache
    def run(hyper: str, local: str):
        path = folder / f"net_{hyper}_{local}.eqx"
        path.write_text(CAPTURE.format(hyper=hyper, local=local))
        net = eqxdsl.load(path).Net(key=jax.random.key(0))
        return net(jax.numpy.arange(2.0), key=jax.random.key(1))

    return run


@pytest.mark.parametrize("name", TEMPORARIES)
def test_a_hyperparameter_named_like_a_temporary_is_not_captured(run_capture, name):
    assert bool((run_capture(name, "h") == run_capture("width", "h")).all())


@pytest.mark.parametrize("name", [n for n in TEMPORARIES if n not in ("layers_key", "scanned_key")])
def test_a_local_named_like_a_temporary_is_not_captured(run_capture, name):
    assert bool((run_capture("width", name) == run_capture("width", "h")).all())


def test_else_branches_are_rendered_as_else_and_elif():
    spec = textwrap.dedent(
        """\
        model M(mode: int = 1):
            input x: f32[3]

            forward:
                if mode == 0:
                    x = relu(x)
                elif mode == 1:
                    x = tanh(x)
                else:
                    x = sigmoid(x)
                return x
        """
    )
    source = eqxdsl.compile_source(spec, "p.eqx")
    assert "        elif self.mode == 1:  # p.eqx:7\n" in source
    assert "        else:\n            x = jax.nn.sigmoid(x)  # p.eqx:10\n" in source
    assert "if not" not in source.split("def __call__")[1].split("def _check_inputs")[0]


# -- model-level conditions are resolved like other build-time values (F10) ----------------

CONDITION = "model Net(w: int = 4):\n    input x: f32[D]\n    if {cond}:\n        lin = Linear(out_features=w)\n\n    forward:\n        return lin(x) if lin else x\n"


@pytest.mark.parametrize(
    ("cond", "column", "message"),
    [
        ("nope", 8, "unknown name 'nope'"),
        ("open", 8, "unknown name 'open'"),
        ("print('hi')", 8, "a call is not allowed"),
        ("w != 1 or breakpoint", 18, "unknown name 'breakpoint'"),
    ],
)
def test_names_in_a_model_condition_are_checked(cond, column, message):
    (text,) = errors(CONDITION.format(cond=cond))
    assert text.startswith(f"p.eqx:3:{column}: error: {message}")


def test_an_input_size_tested_by_a_model_condition_is_a_constructor_argument():
    spec = "model Net():\n    input x: f32[D]\n    if D > 2:\n        norm = LayerNorm(3)\n\n    forward:\n        return relu(x)\n"
    source = eqxdsl.compile_source(spec, "p.eqx")
    assert "def __init__(self, *, D: int, key: jax.Array):" in source
    assert "        if D > 2:  # p.eqx:3\n" in source


# -- sizes that the defaults make negative (N3) --------------------------------------------


@pytest.mark.parametrize(
    ("hyper", "size", "message"),
    [
        ("w: int = -1", "w", "out_features of Linear is -1 with the hyperparameters' defaults"),
        ("w: int = 4", "w - 5", "out_features of Linear is -1 with the hyperparameters' defaults"),
        ("w: int = 4", "-2", "out_features of Linear is -2, but it must be at least 1"),
        ("w: int = 4", "w - 4", "out_features of Linear is 0 with the hyperparameters' defaults, but it must be at least 1"),
        ("w: int = 0", "w", "out_features of Linear is 0 with the hyperparameters' defaults, but it must be at least 1"),
    ],
)
def test_a_negative_or_zero_layer_size_is_a_located_error(hyper, size, message):
    spec = f"model M({hyper}):\n    input x: f32[3]\n    l = Linear(out_features={size})\n\n    forward:\n        return l(x)\n"
    (text,) = errors(spec)
    assert text.startswith("p.eqx:3:29: error: argument " + message)


def test_a_size_without_a_default_is_not_judged():
    spec = "model M(w: int):\n    input x: f32[3]\n    l = Linear(out_features=w - 5)\n\n    forward:\n        return l(x)\n"
    assert "eqx.nn.Linear(3, w - 5, key=key)" in eqxdsl.compile_source(spec, "p.eqx")
