"""The language server over stdio, on pygls: documents in, diagnostics, hover, definitions, completion, outline, formatting out.

Every open document is checked when it opens and after every change; the
documents that import it are checked again too, since they see its unsaved
text. A save or a change of a spec on disk re-checks every open document.
Positions cross the wire in the editor's units (UTF-16 by default) and are
converted to and from the syntax tree's code points here.
"""

from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from eqxdsl.compiler.diagnostics import CompileError, Diagnostic
from eqxdsl.compiler.parse import parse_spec
from eqxdsl.compiler.parse import syntax as s
from eqxdsl.lsp._analysis import Analyzer, DocumentAnalysis
from eqxdsl.lsp._completion import completions_at
from eqxdsl.lsp._definitions import Resolver
from eqxdsl.lsp._hover import hover_at
from eqxdsl.lsp._symbols import Symbol, document_symbols

_log = logging.getLogger(__name__)

_COMPLETION_KINDS = {
    "layer": types.CompletionItemKind.Class,
    "model": types.CompletionItemKind.Class,
    "function": types.CompletionItemKind.Function,
    "array method": types.CompletionItemKind.Method,
    "method": types.CompletionItemKind.Method,
    "argument": types.CompletionItemKind.Property,
    "field": types.CompletionItemKind.Field,
    "input": types.CompletionItemKind.Variable,
    "hyper": types.CompletionItemKind.TypeParameter,
}

_SYMBOL_KINDS = {
    "model": types.SymbolKind.Class,
    "hyper": types.SymbolKind.TypeParameter,
    "input": types.SymbolKind.Variable,
    "field": types.SymbolKind.Field,
    "param": types.SymbolKind.Property,
    "stack": types.SymbolKind.Array,
    "method": types.SymbolKind.Method,
}


class EqxLanguageServer(LanguageServer):
    """The server's state: the analyzer, and the latest analysis of each open document."""

    def __init__(self) -> None:
        super().__init__("eqxdsl", _version())
        self.analyzer = Analyzer(self._open_text)
        self.analyses: dict[str, DocumentAnalysis] = {}
        #: The latest tree that parsed, per document: completion needs one while a line is half typed.
        self.last_trees: dict[str, s.SpecFile] = {}
        self._import_trees: dict[Path, tuple[str, s.SpecFile]] = {}

    # -- documents -------------------------------------------------------------------------

    def _open_text(self, resolved: Path) -> str | None:
        uri = from_fs_path(str(resolved))
        if uri is None or uri not in self.analyses:
            return None
        return self.workspace.get_text_document(uri).source

    def check(self, uri: str) -> None:
        """Check the open document `uri` and publish its diagnostics (an empty list clears them)."""
        document = self.workspace.get_text_document(uri)
        analysis = self.analyzer.analyse(document.source, document_path(uri))
        self.analyses[uri] = analysis
        if analysis.tree is not None:
            self.last_trees[uri] = analysis.tree
        diagnostics = editor_diagnostics(analysis.diagnostics, analysis.path, document.lines, self.workspace.position_codec)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=document.version)
        )

    def check_importers(self, uri: str) -> None:
        """Check again the other open documents that import the spec `uri`."""
        changed = Path(document_path(uri)).resolve()
        for other, tree in list(self.last_trees.items()):
            if other == uri or other not in self.analyses:
                continue
            folder = Path(document_path(other)).parent
            if any(isinstance(imp, s.SpecImport) and (folder / imp.path).resolve() == changed for imp in tree.imports):
                self.check(other)

    def close(self, uri: str) -> None:
        self.analyses.pop(uri, None)
        self.last_trees.pop(uri, None)
        self.analyzer.forget(document_path(uri))
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        # Its importers now see the file on disk again.
        self.check_importers(uri)

    # -- reading positions -------------------------------------------------------------------

    def resolver(self, uri: str) -> Resolver | None:
        analysis = self.analyses.get(uri)
        if analysis is None or analysis.tree is None:
            return None
        return Resolver(analysis.tree, analysis.path, self.imported_tree)

    def imported_tree(self, resolved: Path) -> s.SpecFile | None:
        """The syntax tree of an imported spec, parsed again only when its text changed."""
        try:
            text = self.analyzer.text_of(resolved)
        except (OSError, CompileError):
            return None
        kept = self._import_trees.get(resolved)
        if kept is not None and kept[0] == text:
            return kept[1]
        try:
            tree = parse_spec(text, str(resolved))
        except CompileError:
            return None
        self._import_trees[resolved] = (text, tree)
        return tree

    def cursor(self, uri: str, position: types.Position) -> tuple[int, int]:
        """An editor position as the syntax tree's 1-based line and column in code points."""
        document = self.workspace.get_text_document(uri)
        point = document.position_from_client_units(position)
        return point.line + 1, point.character + 1

    def editor_range(self, lines: list[str], span: s.Pos) -> types.Range:
        return self.workspace.position_codec.range_to_client_units(lines, _code_point_range(span))


def document_path(uri: str) -> str:
    """The path the compiler names a document by: its file path, or `<untitled>` for a document never saved."""
    path = to_fs_path(uri) if uri.startswith("file:") else None
    return path if path else "<untitled>"


def _code_point_range(span: s.Pos) -> types.Range:
    return types.Range(
        start=types.Position(line=span.line - 1, character=span.column - 1),
        end=types.Position(line=span.end_line - 1, character=span.end_column - 1),
    )


def editor_diagnostics(found: tuple[Diagnostic, ...], path: str, lines: list[str], codec) -> list[types.Diagnostic]:
    """The compiler's diagnostics of the document at `path` for the editor.

    The hint follows the message on a line of its own. Diagnostics of an
    imported spec (which come just before the error at its import) become the
    related information of that error.
    """
    result = []
    foreign: list[types.DiagnosticRelatedInformation] = []
    for diagnostic in found:
        if diagnostic.path != path:
            source_lines = _lines_of(diagnostic.path)
            location = types.Location(uri=from_fs_path(str(Path(diagnostic.path).resolve())) or diagnostic.path,
                                      range=codec.range_to_client_units(source_lines, _span(diagnostic, source_lines)))
            foreign.append(types.DiagnosticRelatedInformation(location=location, message=_message(diagnostic)))
            continue
        result.append(types.Diagnostic(
            range=codec.range_to_client_units(lines, _span(diagnostic, lines)),
            message=_message(diagnostic),
            severity=types.DiagnosticSeverity.Error,
            source="eqxdsl",
            related_information=foreign or None,
        ))
        foreign = []
    return result


def _message(diagnostic: Diagnostic) -> str:
    return f"{diagnostic.message}\nhint: {diagnostic.hint}" if diagnostic.hint else diagnostic.message


def _span(diagnostic: Diagnostic, lines: list[str]) -> types.Range:
    """The 0-based code-point range a diagnostic underlines: its span, else the word at its column."""
    line = diagnostic.line - 1
    start = diagnostic.column - 1
    if diagnostic.end_column is not None and diagnostic.end_column > diagnostic.column:
        end = diagnostic.end_column - 1
    else:
        text = lines[line] if 0 <= line < len(lines) else ""
        end = start + 1
        while end < len(text) and (text[end].isalnum() or text[end] == "_") and (text[start].isalnum() or text[start] == "_"):
            end += 1
    return types.Range(start=types.Position(line=line, character=start), end=types.Position(line=line, character=end))


def _lines_of(path: str) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _version() -> str:
    try:
        return importlib.metadata.version("eqxdsl")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _symbol(symbol: Symbol, lines: list[str], server: EqxLanguageServer) -> types.DocumentSymbol:
    return types.DocumentSymbol(
        name=symbol.name,
        kind=_SYMBOL_KINDS[symbol.kind],
        detail=symbol.detail or None,
        range=server.editor_range(lines, symbol.span),
        selection_range=server.editor_range(lines, symbol.name_span),
        children=[_symbol(child, lines, server) for child in symbol.children] or None,
    )


def _check_with_importers(ls: EqxLanguageServer, params: types.DidOpenTextDocumentParams | types.DidChangeTextDocumentParams) -> None:
    """An opened or changed document, then the open documents that import it (they see its unsaved text)."""
    ls.check(params.text_document.uri)
    ls.check_importers(params.text_document.uri)


def _check_every_document(ls: EqxLanguageServer, params: types.DidSaveTextDocumentParams | types.DidChangeWatchedFilesParams) -> None:
    """After a save or a change on disk: any open document may import what changed."""
    for uri in list(ls.analyses):
        ls.check(uri)


def _close(ls: EqxLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.close(params.text_document.uri)


def _hover(ls: EqxLanguageServer, params: types.HoverParams) -> types.Hover | None:
    uri = params.text_document.uri
    resolver = ls.resolver(uri)
    if resolver is None:
        return None
    found = hover_at(ls.analyses[uri], resolver, *ls.cursor(uri, params.position))
    if found is None:
        return None
    contents = types.MarkupContent(kind=types.MarkupKind.Markdown, value=found.markdown())
    return types.Hover(contents=contents, range=ls.editor_range(resolver.lines, found.span))


def _definition(ls: EqxLanguageServer, params: types.DefinitionParams) -> types.Location | None:
    uri = params.text_document.uri
    resolver = ls.resolver(uri)
    if resolver is None:
        return None
    found = resolver.at(*ls.cursor(uri, params.position))
    if found is None:
        return None
    target_uri = uri if found.path == resolver.path else from_fs_path(found.path)
    return types.Location(uri=target_uri, range=ls.editor_range(found.tree.source.splitlines(), found.span))


def _completion(ls: EqxLanguageServer, params: types.CompletionParams) -> types.CompletionList:
    uri = params.text_document.uri
    document = ls.workspace.get_text_document(uri)
    offset = document.offset_at_position(params.position)
    items = [
        types.CompletionItem(
            label=found.label,
            kind=_COMPLETION_KINDS[found.kind],
            detail=found.detail,
            documentation=found.documentation,
            sort_text=f"{found.rank}{found.label}",
        )
        for found in completions_at(document.source, offset, ls.last_trees.get(uri))
    ]
    return types.CompletionList(is_incomplete=False, items=items)


def _document_symbols(ls: EqxLanguageServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
    tree = ls.last_trees.get(params.text_document.uri)
    if tree is None:
        return []
    lines = tree.source.splitlines()
    return [_symbol(symbol, lines, ls) for symbol in document_symbols(tree)]


def _formatting(ls: EqxLanguageServer, params: types.DocumentFormattingParams) -> list[types.TextEdit] | None:
    """The whole document formatted as `eqxdsl fmt` formats it; None (no edit) when it does not parse."""
    from eqxdsl.format import UnsafeFormatError, format_source

    document = ls.workspace.get_text_document(params.text_document.uri)
    try:
        formatted = format_source(document.source, path=document_path(document.uri))
    except (CompileError, UnsafeFormatError) as error:
        _log.info("not formatting %s: %s", document.uri, error)
        return None
    if formatted == document.source:
        return []
    lines = document.lines
    end = types.Position(line=len(lines), character=0)
    return [types.TextEdit(range=types.Range(start=types.Position(line=0, character=0), end=end), new_text=formatted)]


#: (LSP method, its options, handler): every feature the server offers.
_FEATURES = (
    (types.TEXT_DOCUMENT_DID_OPEN, None, _check_with_importers),
    (types.TEXT_DOCUMENT_DID_CHANGE, None, _check_with_importers),
    (types.TEXT_DOCUMENT_DID_SAVE, None, _check_every_document),
    (types.WORKSPACE_DID_CHANGE_WATCHED_FILES, None, _check_every_document),
    (types.TEXT_DOCUMENT_DID_CLOSE, None, _close),
    (types.TEXT_DOCUMENT_HOVER, None, _hover),
    (types.TEXT_DOCUMENT_DEFINITION, None, _definition),
    (types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["(", ",", "."]), _completion),
    (types.TEXT_DOCUMENT_DOCUMENT_SYMBOL, None, _document_symbols),
    (types.TEXT_DOCUMENT_FORMATTING, None, _formatting),
)


def build_server() -> EqxLanguageServer:
    """A server with every feature registered, not yet started."""
    server = EqxLanguageServer()
    for method, options, handle in _FEATURES:
        server.feature(method, options)(handle)
    return server


def serve() -> None:
    """Run the language server on standard input and output until the client asks it to exit."""
    build_server().start_io()
