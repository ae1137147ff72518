"""No compile loses a file: interrupted at any moment, failing in an imported spec, or facing files it did not write.

tests/compiler/test_cli.py and test_driver.py cover the basic cases (a failed
compile keeps the old output, a file without the header is refused unless
--force, SIGINT while the temporary file is being renamed). These add what
they do not: interrupts at arbitrary moments of real compiles of a folder,
failures inside imported specs, and outputs that are links, folders or files
whose header is not on the first line.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eqxdsl.compiler import driver
from eqxdsl.compiler.diagnostics import CompileError

from ._harness import REPO

BLOCK = '''model Block(dim: int):
    """A residual block."""
    input x: f32[dim]
    lin = Linear(out_features=dim)

    forward:
        return x + relu(lin(x))
'''

NET = """from "block.eqx" import Block

model Net(dim: int = 4, depth: int = {depth}):
    input x: f32[dim]
    blocks = repeat depth: Block(dim)
    head = Linear(out_features=2)

    forward:
        for block in blocks:
            x = block(x)
        return head(x)
"""


def default_sigint() -> None:
    """In the child before it starts: SIGINT back to its default, so that Python turns it
    into KeyboardInterrupt even when this suite runs with SIGINT ignored (a background job)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli(
    *args: str, cwd: Path, wait: bool = True
) -> subprocess.CompletedProcess | subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "eqxdsl", *args]
    if not wait:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=default_sigint,
        )
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes()
        for path in sorted(folder.iterdir())
        if path.is_file()
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder of specs (one imports another), compiled once so that every output exists."""
    (tmp_path / "block.eqx").write_text(BLOCK)
    (tmp_path / "net.eqx").write_text(NET.format(depth=2))
    for index in range(4):
        (tmp_path / f"copy{index}.eqx").write_text(
            BLOCK.replace("Block", f"Copy{index}")
        )
    for spec in sorted(tmp_path.glob("*.eqx")):
        driver.compile_file(spec)
    return tmp_path


def test_sigint_at_any_moment_leaves_old_or_complete_outputs(project):
    """Interrupt real compiles after growing delays: each output is the old file or a complete new one."""
    old = snapshot(project)
    # Change every spec so that every output must be rewritten.
    for spec in project.glob("*.eqx"):
        spec.write_text(
            spec.read_text()
            .replace("relu", "tanh")
            .replace("depth: int = 2", "depth: int = 3")
        )
    # Time one whole run, then interrupt runs at fractions of that time, from start-up to the last write.
    started = time.monotonic()
    assert cli("compile", ".", cwd=project).returncode == 0
    duration = time.monotonic() - started
    interrupted = 0
    outcomes = []
    for delay in (
        duration * fraction for fraction in (0.05, 0.3, 0.5, 0.65, 0.8, 0.9, 0.97)
    ):
        for name, data in old.items():  # start each round from the old outputs
            if name.endswith(".py"):
                (project / name).write_bytes(data)
        process = cli("compile", ".", cwd=project, wait=False)
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=120)
        interrupted += process.returncode in (130, -signal.SIGINT)
        outcomes.append((round(delay, 2), process.returncode))
        leftovers = [
            path.name
            for path in project.iterdir()
            if path.name.startswith(".") or path.suffix == ".tmp"
        ]
        assert (
            not leftovers
        ), f"temporary files left after SIGINT at {delay} s: {leftovers}"
        for spec in project.glob("*.eqx"):
            path = driver.output_path(spec)
            data = path.read_bytes()
            if data != old[path.name]:  # rewritten: then complete and current
                assert driver.is_up_to_date(
                    spec
                ), f"{path.name} is stale or partial after SIGINT at {delay} s"
                ast.parse(data)
    assert (
        interrupted
    ), f"no run was interrupted while compiling (delay, exit status): {outcomes}"


def test_sigint_before_the_first_write_changes_nothing(project):
    old = snapshot(project)
    (project / "net.eqx").write_text(NET.format(depth=5))
    process = cli("compile", "net.eqx", cwd=project, wait=False)
    process.send_signal(signal.SIGINT)  # at once: during start-up or parsing
    process.communicate(timeout=120)
    after = snapshot(project)
    assert {name: data for name, data in after.items() if name.endswith(".py")} == {
        name: data for name, data in old.items() if name.endswith(".py")
    }


def test_error_in_an_imported_spec_changes_no_output(project):
    old = snapshot(project)
    (project / "block.eqx").write_text(BLOCK.replace("Linear", "Lienar"))
    (project / "net.eqx").write_text(NET.format(depth=3))
    result = cli("compile", "net.eqx", cwd=project)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "block.eqx:4:11: error: unknown layer 'Lienar'" in result.stderr
    assert snapshot(project) == {
        **old,
        "block.eqx": (project / "block.eqx").read_bytes(),
        "net.eqx": (project / "net.eqx").read_bytes(),
    }


def test_handwritten_output_of_an_imported_spec_is_protected(project):
    (project / "block.py").write_text("# my block, written by hand\n")
    (project / "net.eqx").write_text(NET.format(depth=3))
    before = snapshot(project)
    with pytest.raises(driver.OutputError):
        driver.compile_file(project / "net.eqx")
    assert snapshot(project) == before


def test_header_text_below_the_first_line_does_not_count(project):
    handwritten = (
        "import os\n# Generated by eqxdsl from block.eqx (sha256 "
        + "0" * 64
        + "). Do not edit\n"
    )
    (project / "block.py").write_text(handwritten)
    result = cli("compile", "block.eqx", cwd=project)
    assert result.returncode == 1 and "not generated by eqxdsl" in result.stderr
    assert (project / "block.py").read_text() == handwritten


def test_output_that_is_a_link_to_a_handwritten_file_is_not_followed(
    project, tmp_path_factory
):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "mine.py"
    elsewhere.write_text("print('mine')\n")
    (project / "block.py").unlink()
    (project / "block.py").symlink_to(elsewhere)
    (project / "block.eqx").write_text(BLOCK.replace("relu", "gelu"))
    with pytest.raises(driver.OutputError):
        driver.compile_file(project / "block.eqx")
    assert elsewhere.read_text() == "print('mine')\n"


def test_output_that_is_a_folder_is_a_clean_error(project):
    (project / "block.py").unlink()
    (project / "block.py").mkdir()
    (project / "block.eqx").write_text(BLOCK.replace("relu", "gelu"))
    result = cli("compile", "block.eqx", cwd=project)
    assert result.returncode == 1, result.stderr
    assert (
        "Traceback" not in result.stderr
        and "internal compiler error" not in result.stderr
    ), result.stderr
    assert (project / "block.py").is_dir()


def test_check_and_stdout_modes_write_nothing(project):
    (project / "net.eqx").write_text(NET.format(depth=4))
    before = {
        path.name: (path.read_bytes(), path.stat().st_mtime_ns)
        for path in project.iterdir()
    }
    assert cli("compile", "--check", ".", cwd=project).returncode == 1
    assert cli("compile", "--stdout", "net.eqx", cwd=project).returncode == 0
    assert {
        path.name: (path.read_bytes(), path.stat().st_mtime_ns)
        for path in project.iterdir()
    } == before


def test_failed_compile_file_keeps_output_and_leaves_no_temporary(project):
    before = snapshot(project)
    (project / "copy0.eqx").write_text(
        BLOCK.replace("Block", "Copy0").replace("dim]", "dim")
    )
    with pytest.raises(CompileError) as error:
        driver.compile_file(project / "copy0.eqx")
    assert all(d.line >= 1 for d in error.value.diagnostics)
    assert snapshot(project) == {
        **before,
        "copy0.eqx": (project / "copy0.eqx").read_bytes(),
    }
    generated = (project / "copy0.py").read_text()
    ast.parse(generated)
