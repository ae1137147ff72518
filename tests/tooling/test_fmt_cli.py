"""`eqxdsl fmt`: what it writes, what it prints, and black's exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from eqxdsl.cli import main
from eqxdsl.format import _format

from ._specs import REPO

MESSY = "model  M( a:int=1 ):\n  input x : f32[a]\n  forward :\n    return x->relu\n"
NEAT = "model M(a: int = 1):\n    input x: f32[a]\n\n    forward:\n        return x -> relu\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "messy.eqx").write_text(MESSY, encoding="utf-8")
    (tmp_path / "neat.eqx").write_text(NEAT, encoding="utf-8")
    return tmp_path


def test_fmt_rewrites_what_needs_it_and_reports(folder, capsys):
    assert main(["fmt", str(folder)]) == 0
    assert (folder / "messy.eqx").read_text(encoding="utf-8") == NEAT
    err = capsys.readouterr().err
    assert f"reformatted {folder / 'messy.eqx'}" in err
    assert "eqxdsl: 2 specs: 1 reformatted, 1 unchanged" in err
    assert main(["fmt", str(folder)]) == 0


def test_check_writes_nothing_and_exits_1_when_a_spec_would_change(folder, capsys):
    assert main(["fmt", "--check", str(folder)]) == 1
    assert (folder / "messy.eqx").read_text(encoding="utf-8") == MESSY
    assert f"would reformat {folder / 'messy.eqx'}" in capsys.readouterr().err
    assert main(["fmt", "--check", str(folder / "neat.eqx")]) == 0


def test_diff_prints_a_unified_diff_and_writes_nothing(folder, capsys):
    assert main(["fmt", "--diff", str(folder / "messy.eqx")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"--- {folder / 'messy.eqx'} (original)\n+++ {folder / 'messy.eqx'} (formatted)\n")
    assert "\n-model  M( a:int=1 ):\n" in out and "\n+model M(a: int = 1):\n" in out
    assert (folder / "messy.eqx").read_text(encoding="utf-8") == MESSY
    assert main(["fmt", "--check", "--diff", str(folder / "messy.eqx")]) == 1


def test_line_width_is_an_option(folder):
    spec = folder / "neat.eqx"
    assert main(["fmt", "--line-width", "20", str(spec)]) == 0
    assert "    forward:\n        return (\n            x\n            -> relu\n        )\n" in spec.read_text(encoding="utf-8")


def test_a_spec_that_does_not_parse_is_reported_with_a_caret_and_left_alone(folder, capsys):
    broken = folder / "broken.eqx"
    broken.write_text("model M(:\n    pass\n", encoding="utf-8")
    assert main(["fmt", str(folder)]) == 123
    err = capsys.readouterr().err
    assert f"{broken}:1:9: error: unexpected ':'" in err and "\nmodel M(:\n        ^\n" in err
    assert "Traceback" not in err
    assert broken.read_text(encoding="utf-8") == "model M(:\n    pass\n"
    assert (folder / "messy.eqx").read_text(encoding="utf-8") == NEAT  # the others are still formatted


def test_an_unsafe_result_is_refused_with_exit_123_and_the_file_unchanged(folder, capsys, monkeypatch):
    real = _format.layout
    monkeypatch.setattr(_format, "layout", lambda *args: real(*args).replace("relu", "gelu"))
    assert main(["fmt", str(folder / "messy.eqx")]) == 123
    err = capsys.readouterr().err
    assert "internal formatter error: the formatted spec would not mean the same as the original (near line 4)" in err
    assert "Traceback" not in err
    assert (folder / "messy.eqx").read_text(encoding="utf-8") == MESSY


def test_usage_errors_exit_2(folder, capsys):
    assert main(["fmt", str(folder / "missing.eqx")]) == 2
    (folder / "notes.txt").write_text("x", encoding="utf-8")
    assert main(["fmt", str(folder / "notes.txt")]) == 2
    assert "is not a .eqx file" in capsys.readouterr().err


def test_windows_line_endings_are_kept_on_disk(folder):
    spec = folder / "crlf.eqx"
    spec.write_bytes(MESSY.replace("\n", "\r\n").encode())
    assert main(["fmt", str(spec)]) == 0
    assert spec.read_bytes() == NEAT.replace("\n", "\r\n").encode()


def test_the_command_formats_standard_input_to_standard_output():
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "eqxdsl", "fmt", "-"], input=MESSY, capture_output=True, text=True, env=environment, timeout=120
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, NEAT, "")
    check = subprocess.run(
        [sys.executable, "-m", "eqxdsl", "fmt", "--check", "-"], input=MESSY, capture_output=True, text=True, env=environment, timeout=120
    )
    assert (check.returncode, check.stdout) == (1, "")


def test_the_command_line_loads_the_formatter_only_for_fmt():
    code = "import sys, eqxdsl.cli; print(sorted({'lark', 'eqxdsl.format._format'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]"
