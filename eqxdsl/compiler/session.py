"""One compiler run: parse, check, lower and render a spec and the specs it imports.

Checked specs (and their lowered modules) are cached by resolved path for the
run, imports in progress are tracked to report cycles, and each spec's
dependencies are recorded for the in-memory loader. For a target that lacks
part of eqxdsl's runtime, each spec is lowered as it is checked, so a check
reports what the target rejects and an import fails where it is imported.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

from eqxdsl.compiler.build import Build
from eqxdsl.compiler.diagnostics import CompileError, diagnostic_at
from eqxdsl.compiler.outputs import (
    SPEC_SUFFIX,
    module_name,
    read_spec,
    seal,
    shadows_module,
    spec_digest,
)
from eqxdsl.compiler.targets import DEFAULT_TARGET, target_errors, target_named

if TYPE_CHECKING:
    from eqxdsl.compiler.lower import ir
    from eqxdsl.compiler.parse import syntax

if TYPE_CHECKING:
    from eqxdsl.compiler.check import CheckedSpec, ExpressionTypes


class _ImportCycle(Exception):
    """An import that closes a cycle, on its way back to the import in the spec where the cycle starts.

    Attributes:
        cycle: the specs of the cycle, in import order, the first one again at the end.
    """

    def __init__(self, cycle: list[Path]):
        super().__init__("import cycle")
        self.cycle = cycle


class Session:
    """One compiler run: checked specs cached by resolved path, imports in progress tracked."""

    def __init__(self, build: Build | None = None) -> None:
        self.build = build if build is not None else Build(target_named(DEFAULT_TARGET))
        self.checked: dict[Path, CheckedSpec] = {}
        self.in_progress: list[Path] = []
        self.dependencies: dict[Path, list[Path]] = {}
        self.lowered: dict[Path, ir.ModuleFile] = {}

    def check(self, text: str, display_path: str, resolved: Path, recorder: ExpressionTypes | None = None) -> CheckedSpec:
        """Parse and check one spec, for this run's target; its imports are loaded through `load_import`.

        `recorder` (see `check_spec`) is told the values of this spec's expressions, not its imports'.
        A target that lacks names eqxdsl has (`Target.restricts`) is checked
        here too, so its errors are found by a check as by a compile, and an
        imported spec that needs what the target lacks fails at its import.
        """
        from eqxdsl.compiler.check import check_spec

        if resolved in self.checked:
            return self.checked[resolved]
        name = module_name(display_path)
        if shadows_module(name):
            message = f"this spec would generate a module named {name!r}, which shadows the Python module {name!r}"
            raise CompileError([diagnostic_at(text, display_path, 1, 1, message, hint="rename the spec file")])
        self.in_progress.append(resolved)
        self.dependencies[resolved] = []
        try:
            spec = self.parse(text, display_path)
            checked = check_spec(spec, lambda path, node: self.load_import(path, node, display_path, text, resolved), recorder)
            if self.build.target.restricts:
                self.lower(checked, resolved)
        except RecursionError:
            raise _too_deep(text, display_path) from None
        finally:
            self.in_progress.pop()
        self.checked[resolved] = checked
        return checked

    def lower(self, checked: CheckedSpec, resolved: Path) -> ir.ModuleFile:
        """The module description of `checked` (the spec at `resolved`) for this run's build, made once.

        Raises:
            CompileError: the target lacks what the spec compiles to (see `target_errors`).
        """
        from eqxdsl.compiler.lower import lower_spec

        if resolved not in self.lowered:
            module = lower_spec(checked, self.build)
            errors = target_errors(checked, module, self.build.target)
            if errors:
                raise CompileError(errors)
            self.lowered[resolved] = module
        return self.lowered[resolved]

    def parse(self, text: str, display_path: str) -> syntax.SpecFile:
        """The syntax tree of one spec (a tool's session may reuse trees it parsed before)."""
        from eqxdsl.compiler.parse import parse_spec

        return parse_spec(text, display_path)

    def load_import(self, path: str, node: syntax.Node, importer: str, importer_text: str, importer_resolved: Path) -> CheckedSpec:
        """The checked spec imported as `path` by the spec `importer` (the `load_import` of check.py).

        The path is relative to the importing spec's folder. Reports, at the
        import: a missing file, a file outside that folder, a name that would
        shadow a module the generated code uses, an import cycle, and errors
        inside the imported spec (whose own diagnostics come first).
        """

        def error(message: str, hint: str | None = None, extra: tuple = ()) -> CompileError:
            pos = node.pos
            located = diagnostic_at(
                importer_text, importer, pos.line, pos.column, message, hint=hint,
                end_line=pos.end_line, end_column=pos.end_column,
            )
            return CompileError((*extra, located))

        if "\x00" in path:
            raise error(f"invalid spec path {path!r}: it holds a NUL character")
        if not path.endswith(SPEC_SUFFIX):
            raise error(f"an imported spec must be a {SPEC_SUFFIX} file, got {path!r}")
        display = os.path.normpath(os.path.join(os.path.dirname(importer), path))
        try:
            resolved = (importer_resolved.parent / path).resolve()
            is_file = resolved.is_file()
        except (OSError, ValueError) as failure:
            raise error(f"invalid spec path {path!r}: {failure}") from None
        if resolved.parent != importer_resolved.parent:
            raise error(
                f"{path!r} is not in the folder of the importing spec",
                hint="keep imported specs beside the spec that imports them: the generated "
                f"`from {module_name(path)} import ...` finds their modules there",
            )
        if not is_file:
            raise error(f"cannot find the imported spec {path!r} (looked for {display})")
        name = module_name(resolved)
        if shadows_module(name):
            raise error(
                f"the spec {path!r} would generate a module named {name!r}, which shadows the Python module {name!r}",
                hint="rename the spec file",
            )
        if resolved in self.in_progress:
            # Reported in the spec where the cycle starts (the one being checked,
            # when it is part of the cycle), at its import that enters the cycle.
            cycle = self.in_progress[self.in_progress.index(resolved) :] + [resolved]
            if cycle[0] == importer_resolved:
                raise error(*_cycle_message(cycle))
            raise _ImportCycle(cycle)
        self.dependencies[importer_resolved].append(resolved)
        try:
            return self.check(read_spec(resolved), display, resolved)
        except CompileError as failure:
            raise error(f"the imported spec {path!r} has errors", extra=failure.diagnostics) from None
        except _ImportCycle as cycle:
            if cycle.cycle[0] != importer_resolved:
                raise
            raise error(*_cycle_message(cycle.cycle)) from None

    def compile(self, text: str, display_path: str, resolved: Path) -> str:
        """The generated Python text of one spec."""
        from eqxdsl.compiler.render import render_module

        checked = self.check(text, display_path, resolved)
        try:
            module = dataclasses.replace(self.lower(checked, resolved), source_sha256=spec_digest(text, resolved, build_key=self.build.key))
            return seal(render_module(module))
        except RecursionError:
            raise _too_deep(text, display_path) from None


def _cycle_message(cycle: list[Path]) -> tuple[str, str]:
    """The message and hint for an import cycle."""
    if len(cycle) == 2:
        return "this spec imports itself", "models of this spec need no import"
    return "import cycle: " + " -> ".join(p.name for p in cycle), "move the models both specs need into a third spec"


def _too_deep(text: str, display_path: str) -> CompileError:
    """The last resort when a spec nests deeper than the parser's limit catches: Python's own recursion limit."""
    message = "the spec nests too deeply for the compiler (Python's recursion limit was reached)"
    hint = "split long expressions with intermediate variables, and long elif chains or deep blocks into methods"
    return CompileError([diagnostic_at(text, display_path, 1, 1, message, hint=hint)])
