"""One compiler run: parse, check, lower and render a spec and the specs it imports.

Checked specs are cached by resolved path for the run, imports in progress are
tracked to report cycles, and each spec's dependencies are recorded for the
in-memory loader.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

from eqxdsl.compiler.diagnostics import CompileError, diagnostic_at
from eqxdsl.compiler.outputs import (
    SPEC_SUFFIX,
    module_name,
    read_spec,
    shadows_module,
    spec_digest,
)

if TYPE_CHECKING:
    from eqxdsl.compiler.parse import syntax

if TYPE_CHECKING:
    from eqxdsl.compiler.check import CheckedSpec


class Session:
    """One compiler run: checked specs cached by resolved path, imports in progress tracked."""

    def __init__(self) -> None:
        self.checked: dict[Path, CheckedSpec] = {}
        self.in_progress: list[Path] = []
        self.dependencies: dict[Path, list[Path]] = {}

    def check(self, text: str, display_path: str, resolved: Path) -> CheckedSpec:
        """Parse and check one spec; its imports are loaded through `load_import`."""
        from eqxdsl.compiler.check import check_spec
        from eqxdsl.compiler.parse import parse_spec

        if resolved in self.checked:
            return self.checked[resolved]
        name = module_name(display_path)
        if shadows_module(name):
            message = f"this spec would generate a module named {name!r}, which shadows the Python module {name!r}"
            raise CompileError([diagnostic_at(text, display_path, 1, 1, message, hint="rename the spec file")])
        self.in_progress.append(resolved)
        self.dependencies[resolved] = []
        try:
            spec = parse_spec(text, display_path)
            checked = check_spec(spec, lambda path, node: self.load_import(path, node, display_path, text, resolved))
        except RecursionError:
            raise _too_deep(text, display_path) from None
        finally:
            self.in_progress.pop()
        self.checked[resolved] = checked
        return checked

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
            cycle = self.in_progress[self.in_progress.index(resolved) :] + [resolved]
            raise error("import cycle: " + " -> ".join(p.name for p in cycle), hint="move the shared models into a third spec")
        self.dependencies[importer_resolved].append(resolved)
        try:
            return self.check(read_spec(resolved), display, resolved)
        except CompileError as failure:
            raise error(f"the imported spec {path!r} has errors", extra=failure.diagnostics) from None

    def compile(self, text: str, display_path: str, resolved: Path) -> str:
        """The generated Python text of one spec."""
        from eqxdsl.compiler.lower import lower_spec
        from eqxdsl.compiler.render import render_module

        checked = self.check(text, display_path, resolved)
        try:
            module = lower_spec(checked)
            module = dataclasses.replace(module, source_sha256=spec_digest(text, resolved))
            return render_module(module)
        except RecursionError:
            raise _too_deep(text, display_path) from None


def _too_deep(text: str, display_path: str) -> CompileError:
    """The last resort when a spec nests deeper than the parser's limit catches: Python's own recursion limit."""
    message = "the spec nests too deeply for the compiler (Python's recursion limit was reached)"
    hint = "split long expressions with intermediate variables, and long elif chains or deep blocks into methods"
    return CompileError([diagnostic_at(text, display_path, 1, 1, message, hint=hint)])
