"""The compiler's output, byte for byte, for a fixed set of specs.

`tests/compiler/golden/` holds the Python the compiler generates for:
- `examples/*.eqx` and `tests/specs/*.eqx` (in `golden/repository/`);
- every spec the compiler tests compile successfully from a string, without
  imports (`golden/cases/embedded_*`);
- random valid specs from the robustness suite's generator, drawn
  derandomised (`golden/cases/generated_*`).

The header's digests cover the compiler's own files, so they change with any
edit to the compiler; they are blanked, and every other byte is compared.
Rewrite the outputs with `python tests/compiler/test_golden.py`, and only when a
change to the generated code is intended; `--collect` also draws the case specs
anew (it runs the compiler tests to record the specs they compile).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
REPOSITORY = GOLDEN / "repository"
CASES = GOLDEN / "cases"

_DIGEST = re.compile(r"\(sha256 [0-9a-f]{64}, body [0-9a-f]{64}\)")


def repository_specs() -> list[Path]:
    """The example specs and the test specs, in a stable order."""
    return [*sorted((ROOT / "examples").glob("*.eqx")), *sorted((ROOT / "tests" / "specs").glob("*.eqx"))]


def golden_path(spec: Path) -> Path:
    """Where the golden output of `spec` lies."""
    if spec.parent == CASES:
        return spec.with_suffix(".py")
    return REPOSITORY / f"{spec.parent.name}__{spec.stem}.py"


def compile_case(spec: Path) -> str:
    """The output of the spec at `spec`, compiled under its repository-relative name, digest blanked."""
    from eqxdsl.compiler.driver import compile_source

    previous = Path.cwd()
    os.chdir(ROOT)
    # Specs import Python classes from modules beside them (tests/specs/scale_layer.py).
    sys.path.insert(0, str(spec.parent))
    try:
        source = compile_source(spec.read_text(encoding="utf-8"), str(spec.relative_to(ROOT)))
    finally:
        sys.path.remove(str(spec.parent))
        os.chdir(previous)
    return _DIGEST.sub("(sha256 <digest>)", source, count=1)


def all_specs() -> list[Path]:
    return [*repository_specs(), *sorted(CASES.glob("*.eqx"))]


@pytest.mark.parametrize("spec", all_specs(), ids=lambda spec: f"{spec.parent.name}/{spec.name}")
def test_output_is_unchanged(spec: Path) -> None:
    expected = golden_path(spec).read_text(encoding="utf-8")
    assert compile_case(spec) == expected


def test_every_golden_output_has_its_spec() -> None:
    specs = {golden_path(spec) for spec in all_specs()}
    assert len(specs) > 100
    assert set(GOLDEN.rglob("*.py")) == specs


# -- regeneration -------------------------------------------------------------------------


def _embedded_specs() -> list[str]:
    """Spec texts the compiler tests compile without errors and without imports."""
    from eqxdsl.compiler.session import Session

    seen: dict[str, None] = {}
    original = Session.compile

    def recording(self, text: str, display_path: str, resolved: Path) -> str:
        source = original(self, text, display_path, resolved)
        if "import" not in text:
            seen.setdefault(text)
        return source

    Session.compile = recording  # type: ignore[method-assign]
    try:
        pytest.main(["-q", "-p", "no:cacheprovider", str(ROOT / "tests" / "compiler"), "-k", "not golden"])
    finally:
        Session.compile = original  # type: ignore[method-assign]
    return list(seen)


def _generated_specs(count: int = 120) -> list[str]:
    from hypothesis import HealthCheck, given, settings

    sys.path.insert(0, str(ROOT))
    from tests.robustness._specgen import valid_specs

    texts: dict[str, None] = {}

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(valid_specs())
    def collect(spec) -> None:
        texts.setdefault(spec.text)

    collect()
    return list(texts)


def collect_cases() -> None:
    """Draw the case specs anew: those the compiler tests compile, and generated ones."""
    CASES.mkdir(parents=True, exist_ok=True)
    for old in [*CASES.glob("*.eqx"), *CASES.glob("*.py")]:
        old.unlink()
    for prefix, texts in (("embedded", _embedded_specs()), ("generated", _generated_specs())):
        for text in texts:
            case = CASES / f"{prefix}_{hashlib.sha256(text.encode()).hexdigest()[:12]}.eqx"
            case.write_text(text, encoding="utf-8")


def regenerate() -> None:
    """Rewrite every golden output from the current compiler.

    Every output is compiled before any file is touched, so a compiler that
    cannot run (an import error, say) leaves the goldens as they were.
    """
    from eqxdsl.compiler.diagnostics import CompileError

    outputs = {golden_path(spec): compile_case(spec) for spec in repository_specs()}
    dropped = []
    for case in sorted(CASES.glob("*.eqx")):
        try:
            outputs[golden_path(case)] = compile_case(case)
        except CompileError as error:
            # A spec that compiled under its test's own filename, or under an older compiler.
            print(f"dropping {case.name}: {error}", file=sys.stderr)
            dropped.append(case)
    REPOSITORY.mkdir(parents=True, exist_ok=True)
    for old in REPOSITORY.glob("*.py"):
        old.unlink()
    for case in dropped:
        case.unlink()
        case.with_suffix(".py").unlink(missing_ok=True)
    for path, source in outputs.items():
        path.write_text(source, encoding="utf-8")
    print(f"{len(list(GOLDEN.rglob('*.py')))} golden outputs written", file=sys.stderr)


if __name__ == "__main__":
    if "--collect" in sys.argv[1:]:
        collect_cases()
    regenerate()
