"""`.pre-commit-hooks.yaml`: it parses, and each hook's entry is a real `eqxdsl` subcommand that works."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from eqxdsl.cli import main

from ._specs import REPO

HOOKS = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))


def test_the_hooks_are_declared_as_pre_commit_expects():
    assert [hook["id"] for hook in HOOKS] == ["eqxdsl-check", "eqxdsl-fmt"]
    for hook in HOOKS:
        assert {"id", "name", "entry", "language", "files"} <= set(hook)
        assert hook["language"] == "python"
        assert re.search(hook["files"], "models/gpt.eqx") and not re.search(hook["files"], "gpt.py")


@pytest.mark.parametrize("hook", HOOKS, ids=lambda hook: hook["id"])
def test_each_entry_runs_on_the_files_pre_commit_passes(hook, tmp_path, capsys):
    program, command = shlex.split(hook["entry"])
    assert program == "eqxdsl"
    spec = tmp_path / "good.eqx"
    spec.write_text("model M():\n    input x: f32[2]\n\n    forward:\n        return x\n", encoding="utf-8")
    assert main([command, str(spec)]) == 0
    broken = tmp_path / "broken.eqx"
    broken.write_text("model M(:\n", encoding="utf-8")
    assert main([command, str(spec), str(broken)]) != 0
    assert "broken.eqx:1:9: error" in capsys.readouterr().err
