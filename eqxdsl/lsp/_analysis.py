"""Checking an open document: its syntax tree, checked spec, inferred types and diagnostics.

An `Analyzer` lives as long as the server. It keeps the checked specs that
open documents import, keyed by the digest of their text and of everything
they import in turn, so that re-checking a document after an edit re-checks
only the document itself.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from eqxdsl.compiler.check import CheckedSpec, ExpressionTypes
from eqxdsl.compiler.diagnostics import CompileError, Diagnostic, diagnostic_at
from eqxdsl.compiler.outputs import read_spec
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.compiler.session import Session
from eqxdsl.lsp._chunks import ChunkedParser


@dataclass(frozen=True)
class DocumentAnalysis:
    """What the checker found in one version of a document.

    Attributes:
        path: the document's path, as diagnostics name it.
        source: the text that was checked.
        tree: its syntax tree, or None when it does not parse.
        checked: the checked spec, or None when it has errors.
        types: the value inferred for each expression that was checked (also
            filled when the spec has errors, up to each error).
        diagnostics: every problem found, in this document and in the specs it imports.
    """

    path: str
    source: str
    tree: s.SpecFile | None
    checked: CheckedSpec | None
    types: ExpressionTypes
    diagnostics: tuple[Diagnostic, ...]


@dataclass(frozen=True)
class _CachedImport:
    """A checked imported spec, and what it was checked from."""

    digest: str
    checked: CheckedSpec
    dependencies: tuple[Path, ...]


def _digest(text: str, display_path: str) -> str:
    return hashlib.sha256(f"{display_path}\0{text}".encode()).hexdigest()


class Analyzer:
    """Checks documents, reusing unchanged imported specs and unchanged parts of the document's text.

    Args:
        open_text: the unsaved text of an open document by resolved path, or
            None to read the file: imports see what the editor shows.
    """

    def __init__(self, open_text: Callable[[Path], str | None] = lambda path: None):
        self._open_text = open_text
        self._imports: dict[Path, _CachedImport] = {}
        self._parsers: dict[str, ChunkedParser] = {}

    def analyse(self, text: str, path: str) -> DocumentAnalysis:
        """Parse and check `text`, the content of the document at `path` (a file path, or `<name>`)."""
        resolved = Path(path).resolve() if not path.startswith("<") else Path.cwd() / path
        parser = self._parsers.setdefault(path, ChunkedParser())
        session = _EditorSession(self, parser, resolved, path)
        types = ExpressionTypes()
        checked = None
        try:
            checked = session.check(text, path, resolved, types)
            diagnostics: tuple[Diagnostic, ...] = ()
        except CompileError as error:
            diagnostics = error.diagnostics
        except Exception as error:  # a bug in the compiler must not stop the server
            message = f"internal compiler error: {type(error).__name__}: {error}"
            hint = "this is a bug in eqxdsl, not in your spec; please report it with the spec that triggers it"
            diagnostics = (diagnostic_at(text, path, 1, 1, message, hint=hint),)
        return DocumentAnalysis(path, text, session.tree, checked, types, diagnostics)

    def forget(self, path: str) -> None:
        """Drop what was kept for the document at `path` (it was closed)."""
        self._parsers.pop(path, None)

    def open_text(self, resolved: Path) -> str | None:
        """The editor's text of the spec at `resolved`, or None if it is not open."""
        return self._open_text(resolved)

    def text_of(self, resolved: Path) -> str:
        """The text of the spec at `resolved`: the editor's, if it is open, else the file's."""
        text = self._open_text(resolved)
        return text if text is not None else read_spec(resolved)

    def cached_import(self, resolved: Path, text: str, display_path: str) -> CheckedSpec | None:
        """The checked spec kept for `resolved`, if neither it nor anything it imports has changed."""
        entry = self._imports.get(resolved)
        if entry is None or entry.digest != _digest(text, display_path):
            return None
        for dependency in entry.dependencies:
            kept = self._imports.get(dependency)
            try:
                current = self.text_of(dependency)
            except (OSError, CompileError):
                return None
            if kept is None or self.cached_import(dependency, current, kept.checked.path) is None:
                return None
        return entry.checked

    def keep_import(self, resolved: Path, text: str, display_path: str, checked: CheckedSpec, dependencies: list[Path]) -> None:
        self._imports[resolved] = _CachedImport(_digest(text, display_path), checked, tuple(dependencies))


class _EditorSession(Session):
    """A compiler session for one check of a document: editor texts, kept imports, the document's own parser."""

    def __init__(self, analyzer: Analyzer, parser: ChunkedParser, root: Path, root_display: str):
        super().__init__()
        self._analyzer = analyzer
        self._parser = parser
        self._root = root
        self._root_display = root_display
        self.tree: s.SpecFile | None = None

    def check(self, text: str, display_path: str, resolved: Path, recorder: ExpressionTypes | None = None) -> CheckedSpec:
        if resolved == self._root or resolved in self.checked:
            return super().check(text, display_path, resolved, recorder)
        opened = self._analyzer.open_text(resolved)
        text = opened if opened is not None else text
        kept = self._analyzer.cached_import(resolved, text, display_path)
        if kept is not None:
            self.checked[resolved] = kept
            return kept
        checked = super().check(text, display_path, resolved, recorder)
        self._analyzer.keep_import(resolved, text, display_path, checked, self.dependencies.get(resolved, []))
        return checked

    def parse(self, text: str, display_path: str) -> s.SpecFile:
        if display_path != self._root_display:
            return super().parse(text, display_path)
        self.tree = self._parser.parse(text, display_path)
        return self.tree
