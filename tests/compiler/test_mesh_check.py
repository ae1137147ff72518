"""Sharding checked at compile time: `eqxdsl check SPEC --mesh ... --rules ...`, every check located."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from eqxdsl.cli import main
from eqxdsl.compiler.diagnostics import CompileError
from eqxdsl.compiler.sharding import check_file_sharding, parse_mesh, read_rules_file

ROOT = Path(__file__).resolve().parents[2]

SPEC = """\
model Block(dim: int, heads: int):
    input x: f32[T, dim]
    attn = MultiheadAttention(num_heads=heads, query_size=dim)
    fc = Linear(out_features=4 * dim)

    axes:
        attn.query_proj.weight: ("heads", "embed")
        fc.weight: ("mlp", "embed")
        fc.bias: ("mlp",)

    forward:
        h = shard(map(fc, x), (None, "mlp"))
        return x + attn(x, x, x)

model GPT(vocab: int = 60, dim: int = 32, depth: int = 3):
    input tokens: i32[T]
    assert T <= 16
    embed = Embedding(vocab, dim)
    pos = param f32[16, dim] = normal(stddev=0.02)
    blocks = repeat depth scan: Block(dim, 4)

    axes:
        tokens: ("batch", None)
        embed.weight: ("vocab", "embed")
        pos: (None, "embed")
        blocks: ("layers",)

    forward:
        x = map(embed, tokens) + pos[:T]
        for block in blocks:
            x = block(x)
        return x @ embed.weight.T
"""

RULES = {"batch": "data", "vocab": "model", "embed": None, "heads": "model", "mlp": "model", "layers": None}
MESH = {"data": 4, "model": 2}


def write(folder: Path, spec: str = SPEC, rules: str | dict = RULES) -> tuple[Path, Path]:
    spec_path, rules_path = folder / "m.eqx", folder / "rules.json"
    spec_path.write_text(textwrap.dedent(spec))
    rules_path.write_text(rules if isinstance(rules, str) else json.dumps(rules, indent=1))
    return spec_path, rules_path


def problems(folder: Path, spec: str = SPEC, rules: str | dict = RULES, mesh=MESH, sizes=None) -> list[tuple[str, int, int, str, str | None]]:
    spec_path, rules_path = write(folder, spec, rules)
    with pytest.raises(CompileError) as caught:
        check_file_sharding(spec_path, read_rules_file(str(rules_path)), mesh, sizes)
    return [(Path(d.path).name, d.line, d.column, d.message, d.hint) for d in caught.value.diagnostics]


def test_a_spec_that_fits_its_mesh_and_rules_passes(tmp_path):
    spec_path, rules_path = write(tmp_path)
    checked = check_file_sharding(spec_path, read_rules_file(str(rules_path)), MESH)
    assert list(checked.models) == ["Block", "GPT"]


def test_a_default_size_not_divisible_is_located_at_its_name(tmp_path):
    # vocab = 60 is not divisible by model = 8; nothing else is wrong (dim = 32 is).
    (found,) = problems(tmp_path, mesh={"data": 1, "model": 8})
    assert found[:3] == ("m.eqx", 24, 24)
    assert found[3] == "GPT.embed.weight: axis 0 ('vocab') has size 60, which is not divisible by mesh axis 'model' of size 8"
    assert "multiple of 8" in found[4] and "--set" in found[4]


def test_a_literal_size_inside_a_scanned_model_is_checked_with_its_callers_sizes(tmp_path):
    # With dim = 36 at the caller, fc.weight is [depth, 144, 36] (144 = 18 * 8 divides) and
    # attn.query_proj.weight is [depth, 36, 36]: its "heads" axis does not.
    found = problems(tmp_path, mesh={"data": 1, "model": 8}, sizes={"dim": 36, "vocab": 64})
    assert [(line, column) for _, line, column, _, _ in found] == [(7, 34)]
    assert found[0][3] == (
        "GPT.blocks.attn.query_proj.weight: axis 1 ('heads') has size 36, "
        "which is not divisible by mesh axis 'model' of size 8"
    )


def test_several_mesh_axes_divide_by_their_product(tmp_path):
    rules = {**RULES, "vocab": ["data", "model"]}
    (found,) = problems(tmp_path, rules=rules, mesh={"data": 4, "model": 8})
    assert found[3].endswith("mesh axes 'data' x 'model' of sizes 4 x 8 = 32")


def test_sizes_set_on_the_command_line_replace_the_defaults(tmp_path):
    spec_path, rules_path = write(tmp_path)
    rules = read_rules_file(str(rules_path))
    check_file_sharding(spec_path, rules, {"data": 1, "model": 8}, {"vocab": 64})
    with pytest.raises(CompileError, match="has size 60"):
        check_file_sharding(spec_path, rules, {"data": 1, "model": 8})


def test_an_unknown_logical_name_is_located_in_the_entry(tmp_path):
    rules = {name: axes for name, axes in RULES.items() if name != "heads"}
    (found,) = problems(tmp_path, rules=rules)
    assert found[:3] == ("m.eqx", 7, 34)
    # Block, checked first as a root of its own, reports it; GPT's check finds it at the same place.
    assert found[3].startswith("Block.attn.query_proj.weight: unknown logical axis name 'heads' (axis 0)")
    assert found[4] == f"add a rule for 'heads' to {tmp_path / 'rules.json'}"


def test_an_unknown_name_of_an_input_or_a_shard_call_is_located(tmp_path):
    rules = {name: axes for name, axes in RULES.items() if name != "batch"}
    assert [(line, column) for _, line, column, _, _ in problems(tmp_path, rules=rules)] == [(23, 18)]
    spec = SPEC.replace('(None, "mlp"))', '(None, "hidden"))')
    found = problems(tmp_path, spec=spec)
    assert [(line, column) for _, line, column, _, _ in found] == [(12, 38)]
    assert found[0][3] == "shard in Block: unknown logical axis name 'hidden' (axis 1); the rules name " + ", ".join(
        map(repr, sorted(RULES))
    )


def test_a_mesh_axis_used_twice_in_one_array_is_located_at_the_second_name(tmp_path):
    rules = {**RULES, "embed": "model"}
    found = problems(tmp_path, rules=rules)
    assert ("m.eqx", 24, 33) in [f[:3] for f in found]  # embed.weight: ("vocab", "embed"), both on model
    message = next(f[3] for f in found if f[1:3] == (24, 33))
    assert message == "GPT.embed.weight: mesh axis 'model' would shard two axes: axis 0 ('vocab') and axis 1 ('embed')"


def test_a_rule_matching_no_annotation_is_located_in_the_rules_file(tmp_path):
    (found,) = problems(tmp_path, rules={**RULES, "experts": "model"})
    assert found[:3] == ("rules.json", 8, 2)
    assert found[3].startswith("the rule 'experts' -> 'model' matches no annotation")
    assert found[4] == "remove it, or fix the axes: entry meant to use it"


def test_conflicting_rules_are_located_at_the_second(tmp_path):
    text = '{\n  "batch": "data",\n  "vocab": "model",\n  "embed": null,\n  "heads": "model",\n  "mlp": "model",\n  "layers": null,\n  "heads": "data"\n}\n'
    (found,) = problems(tmp_path, rules=text)
    assert found == (
        "rules.json", 8, 3, "conflicting rules for 'heads': rules[3] maps it to 'model', this one to 'data'",
        "keep one rule for each logical name",
    )


def test_a_rule_naming_a_mesh_axis_the_mesh_lacks_is_located(tmp_path):
    (found,) = problems(tmp_path, rules={**RULES, "mlp": ["model", "fsdp"]})
    assert found[:3] == ("rules.json", 6, 2)
    assert found[3] == "'mlp' maps to mesh axis 'fsdp', which the mesh does not have (its axes: 'data', 'model')"
    assert found[4] == "the mesh (--mesh) has the axes data, model"


def test_a_malformed_rule_is_located(tmp_path):
    found = [f for f in problems(tmp_path, rules={**RULES, "mlp": 3}) if f[0] == "rules.json"]
    assert len(found) == 1
    found = found[0]
    assert found[:3] == ("rules.json", 6, 2)
    assert found[3] == "'mlp' must map to a mesh axis name, a tuple of them or None, got 3"


def test_without_a_mesh_only_names_are_checked(tmp_path):
    spec_path, rules_path = write(tmp_path)
    check_file_sharding(spec_path, read_rules_file(str(rules_path)), None)  # no divisibility, no mesh axis names
    assert problems(tmp_path, rules={**RULES, "experts": "x"}, mesh=None)[0][3].startswith("the rule 'experts'")


def test_a_size_no_model_has_is_an_error_at_the_model(tmp_path):
    (found,) = problems(tmp_path, sizes={"width": 3})
    assert found[:3] == ("m.eqx", 15, 1)
    assert found[3] == "--set width: no model of this spec has a size 'width'"


def test_entries_of_an_imported_model_are_located_in_its_file(tmp_path):
    block, gpt = SPEC.split("model GPT")
    (tmp_path / "block.eqx").write_text(block)
    spec = 'from "block.eqx" import Block\n\nmodel GPT' + gpt
    (found,) = problems(tmp_path, spec=spec, mesh={"data": 1, "model": 8}, sizes={"dim": 36, "vocab": 64})
    assert found[:3] == ("block.eqx", 7, 34)


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ('{"batch": "data",\n "embed": }', 2, 11, "the rules file is not valid JSON: Expecting value"),
        ('[["batch", "data"]]', 1, 1, "the rules file must be a JSON object from logical axis names to mesh axes"),
    ],
)
def test_a_rules_file_that_is_not_an_object_is_located(tmp_path, text, line, column, message):
    path = tmp_path / "rules.json"
    path.write_text(text)
    with pytest.raises(CompileError) as caught:
        read_rules_file(str(path))
    (diagnostic,) = caught.value.diagnostics
    assert (diagnostic.line, diagnostic.column, diagnostic.message) == (line, column, message)


def test_the_rules_file_keeps_every_rule_in_order(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text('{"embed": null,\n "heads": ["data", "model"], "embed": "model"}')
    rules = read_rules_file(str(path))
    assert rules.rules == (("embed", None), ("heads", ["data", "model"]), ("embed", "model"))
    assert [(d.line, d.column, d.end_column) for d in (rules.diagnostic(i, "m") for i in range(3))] == [(1, 2, 15), (2, 2, 28), (2, 30, 46)]


def test_a_mesh_is_names_and_sizes_in_order():
    assert list(parse_mesh("data=4, model=2").items()) == [("data", 4), ("model", 2)]


@pytest.mark.parametrize(
    ("text", "message"),
    [("data", "--mesh takes NAME=SIZE"), ("data=0", "at least 1"), ("data=2,data=2", "given twice"), ("data=x", "got 'data=x'")],
)
def test_a_malformed_mesh_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_mesh(text)


def test_the_command_reports_located_errors_and_exit_codes(tmp_path, capsys):
    spec_path, rules_path = write(tmp_path)
    arguments = ["check", str(spec_path), "--rules", str(rules_path)]
    assert main([*arguments, "--mesh", "data=4,model=2"]) == 0
    assert main([*arguments, "--mesh", "data=4,model=8"]) == 1
    err = capsys.readouterr().err
    assert f"{spec_path}:24:24: error: GPT.embed.weight: axis 0 ('vocab') has size 60" in err
    assert '        embed.weight: ("vocab", "embed")\n                       ^^^^^^^\nhint: ' in err
    assert main([*arguments, "--mesh", "data=4,model=8", "--set", "vocab=64"]) == 0
    assert main([*arguments, "--mesh", "data"]) == 2
    assert main(["check", str(spec_path), "--mesh", "data=4"]) == 2
    assert main(["check", str(spec_path), "--rules", str(tmp_path / "missing.json")]) == 2
    assert "cannot read the rules file" in capsys.readouterr().err


def test_the_command_does_not_import_jax(tmp_path):
    spec_path, rules_path = write(tmp_path)
    code = (
        "import sys; from eqxdsl.cli import main; "
        f"status = main(['check', {str(spec_path)!r}, '--rules', {str(rules_path)!r}, '--mesh', 'data=4,model=8']); "
        "assert 'jax' not in sys.modules, 'jax was imported'; print(status)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1" and "has size 60" in result.stderr


def test_the_shared_rules_module_imports_no_jax_and_the_runtime_reexports_it():
    code = "import sys, eqxdsl.sharding_rules; assert 'jax' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)
    import eqxdsl.runtime as eqx
    import eqxdsl.sharding_rules as rules

    assert eqx.ShardingError is rules.ShardingError and eqx.check_sharding.__module__ == "eqxdsl.runtime._sharding._rules"


def test_the_spec_walk_finds_the_arrays_and_axes_the_runtime_finds():
    """The compile-time view of the GPT example equals the built model's `annotated_arrays`."""
    import jax

    import eqxdsl
    import eqxdsl.runtime as eqx
    from eqxdsl.compiler import driver
    from eqxdsl.compiler.sharding._arrays import spec_arrays
    from eqxdsl.runtime._sharding._annotations import annotated_arrays
    from eqxdsl.sharding_rules import join_annotations, path_name

    module = eqxdsl.load(ROOT / "examples" / "gpt.eqx")
    runtime = annotated_arrays(eqx.filter_eval_shape(lambda key: module.GPT(key=key), jax.random.key(0)))
    model = driver.check_file(ROOT / "examples" / "gpt.eqx").models["GPT"]
    found = spec_arrays(model)
    values = {"vocab": 128, "ctx": 32, "dim": 64, "heads": 4, "depth": 4}
    shapes = {path: tuple(size.substitute(values).value for size in shape) for path, shape in found.arrays.items()}
    joined, join_problems = join_annotations(shapes, found.annotations)
    assert not join_problems
    assert {path_name(path): (shapes[path], axes.axes) for path, axes in joined.items()} == runtime
