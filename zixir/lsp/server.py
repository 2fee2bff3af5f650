"""`zixir lsp`: the Zixir language server, on stdio, built on pygls.

    client ──didOpen/didChange/didSave──> analyse (parse + check + resolve) ──> publishDiagnostics
                                          └─> open files importing it: analysed again
    client ──completion/hover/definition/references/documentSymbol/signatureHelp──> features.py
    client ──rename──> rename.py      ──formatting/rangeFormatting──> formatting.py
    client ──semanticTokens──> semantic.py   ──inlayHint──> hints.py   ──codeAction──> actions.py
    client ──foldingRange/documentLink──> structure.py   ──workspace/symbol──> workspace_index.py

Documents are synchronised whole (full sync) and analysed on open and save, and after a change
once the typing pauses (CHANGE_DELAY; a request that arrives first analyses the text it sees).
Imports are read through the server (`read_module`): an open file's unsaved text counts. The files
a document imports are remembered, so a change, save or on-disk change (watched files) of one
re-publishes the diagnostics of the open files importing it.
The analysis is kept per URI together with the last one that parsed, which completion falls
back on while the text is broken. Every handler catches its own failures: a bug shows up in the log
(stderr), never as a dead server. Standard output carries the protocol only: `main` moves the
process's file descriptor 1 to stderr and keeps a private duplicate for the protocol, so a stray
`print`, in Python or in native code, cannot corrupt it. transport.py ends the process when the
client goes away.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from ..lang import ast as A
from . import actions, features, hints, semantic, structure, workspace_index
from .analysis import Analysis, Span, analyze
from .formatting import format_document, format_range
from .positions import PositionMap
from .rename import RenameError
from .rename import rename as rename_safely
from .transport import ClientWatch, ProtocolWriter, end_process

log = logging.getLogger("zixir.lsp")

VERSION = "0.1.0"
CHANGE_DELAY = 0.15  # seconds without a change before the diagnostics of a change are computed

_COMPLETION_KINDS = {
    "keyword": lsp.CompletionItemKind.Keyword,
    "builtin": lsp.CompletionItemKind.Function,
    "engine": lsp.CompletionItemKind.Method,
    "memory": lsp.CompletionItemKind.Method,
    "function": lsp.CompletionItemKind.Function,
    "variable": lsp.CompletionItemKind.Variable,
    "parameter": lsp.CompletionItemKind.Variable,
    "import": lsp.CompletionItemKind.Reference,
    "type": lsp.CompletionItemKind.TypeParameter,
    "module": lsp.CompletionItemKind.Module,
    "namespace": lsp.CompletionItemKind.Module,
    "field": lsp.CompletionItemKind.Field,
}
_SYMBOL_KINDS = {
    "function": lsp.SymbolKind.Function,
    "variable": lsp.SymbolKind.Variable,
    "type": lsp.SymbolKind.TypeParameter,
    "module": lsp.SymbolKind.Module,
}


class ZixirLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("zixir-lsp", VERSION,
                         text_document_sync_kind=lsp.TextDocumentSyncKind.Full)
        self.analyses: dict[str, Analysis] = {}
        self.last_parsed: dict[str, Analysis] = {}
        self._pending: dict[str, asyncio.TimerHandle] = {}
        self.shut_down = False
        self.imports: dict[str, set[str]] = {}  # open document -> the files it imports
        self.client_watch = ClientWatch()

    def publish(self, uri: str, diagnostics: list[lsp.Diagnostic],
                version: int | None = None) -> None:
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))

    # ---- documents -------------------------------------------------------------------------

    def refresh_soon(self, uri: str) -> None:
        """Analyse `uri` once no other change has come for CHANGE_DELAY seconds."""
        self._cancel_pending(uri)
        self._pending[uri] = asyncio.get_running_loop().call_later(
            CHANGE_DELAY, self._refresh_pending, uri)

    def _refresh_pending(self, uri: str) -> None:
        self._pending.pop(uri, None)
        try:
            self.refresh(uri)
            path = _uri_path(uri)
            if path:  # the files importing this one read its new (unsaved) text
                self.refresh_importers(path)
        except Exception:
            log.exception("analysis of %s failed", uri)

    def _cancel_pending(self, uri: str) -> None:
        handle = self._pending.pop(uri, None)
        if handle is not None:
            handle.cancel()

    def refresh(self, uri: str) -> Analysis:
        self._cancel_pending(uri)
        document = self.workspace.get_text_document(uri)
        analysis = analyze(document.source, _uri_path(uri), self.read_module)
        self.analyses[uri] = analysis
        if analysis.program is not None:
            self.imports[uri] = imported_paths(analysis)
        if analysis.checked is not None:
            self.last_parsed[uri] = analysis
        positions = self.positions(analysis)
        self.publish(uri, [_diagnostic(d, positions) for d in analysis.diagnostics],
                     version=document.version)
        return analysis

    def read_module(self, path: str) -> str:
        """The text of an imported file: the editor's, when it is open (maybe unsaved)."""
        wanted = os.path.normcase(os.path.abspath(path))
        for uri, document in list(self.workspace.text_documents.items()):
            own = _uri_path(uri)
            if own and os.path.normcase(os.path.abspath(own)) == wanted:
                return document.source
        with open(path, encoding="utf-8") as handle:
            return handle.read()

    def refresh_importers(self, path: str) -> None:
        """Analyse again every open document that imports the file at `path` (it changed)."""
        changed = os.path.normcase(os.path.abspath(path))
        for uri, paths in list(self.imports.items()):
            if changed in paths and uri in self.analyses:
                try:
                    self.refresh(uri)
                except Exception:
                    log.exception("analysis of %s failed", uri)

    def analysis(self, uri: str) -> Analysis:
        analysis = self.analyses.get(uri)
        document = self.workspace.get_text_document(uri)
        if analysis is None or analysis.source != document.source:
            analysis = self.refresh(uri)
        return analysis

    def forget(self, uri: str) -> None:
        self._cancel_pending(uri)
        self.analyses.pop(uri, None)
        self.last_parsed.pop(uri, None)
        self.imports.pop(uri, None)
        self.publish(uri, [])

    def workspace_roots(self) -> list[str]:
        """The folders of the workspace, as paths."""
        roots = []
        for folder in self.workspace.folders.values():
            path = _uri_path(folder.uri)
            if path:
                roots.append(path)
        if not roots and self.workspace.root_path:
            roots.append(self.workspace.root_path)
        return roots

    def workspace_texts(self) -> Iterator[tuple[str, str]]:
        """(path, text) of every .zx file of the workspace and every open document; an open
        document's text is the editor's."""
        open_texts: dict[str, str] = {}
        for uri, document in list(self.workspace.text_documents.items()):
            path = _uri_path(uri)
            if path:
                open_texts[os.path.normpath(path)] = document.source
        yield from open_texts.items()
        for path in workspace_index.zx_files(self.workspace_roots()):
            if path in open_texts:
                continue
            try:
                with open(path, encoding="utf-8") as handle:
                    yield path, handle.read()
            except (OSError, UnicodeDecodeError):
                continue

    def positions(self, analysis: Analysis) -> PositionMap:
        return PositionMap(analysis.source, self.workspace.position_encoding)


def imported_paths(analysis: Analysis) -> set[str]:
    """The absolute paths of the files `import`ed by a document (none without a path)."""
    if not analysis.path or analysis.program is None:
        return set()
    base = os.path.dirname(os.path.abspath(analysis.path))
    return {os.path.normcase(os.path.normpath(os.path.join(base, stmt.path)))
            for stmt in A.walk(analysis.program) if isinstance(stmt, A.Import)}


def _uri_path(uri: str) -> str | None:
    return to_fs_path(uri) if uri.startswith("file:") else None


def _diagnostic(diag: Any, positions: PositionMap) -> lsp.Diagnostic:
    span = Span(diag.line, diag.column, diag.end_line, diag.end_column)
    severity = {"error": lsp.DiagnosticSeverity.Error,
                "warning": lsp.DiagnosticSeverity.Warning,
                "info": lsp.DiagnosticSeverity.Information,
                "hint": lsp.DiagnosticSeverity.Hint}.get(diag.severity,
                                                         lsp.DiagnosticSeverity.Error)
    return lsp.Diagnostic(range=positions.range(span), message=diag.message, severity=severity,
                          source=f"zixir {diag.source}" if diag.source != "zixir" else "zixir")


def guarded(default: Any = None):
    """Run a handler so that no exception escapes it: log it and answer `default`.

    `JsonRpcException`s pass: they are deliberate protocol errors (e.g. an invalid new name
    for rename) that the client shows to the user.
    """

    def wrap(handler):
        @functools.wraps(handler)
        def run(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except JsonRpcException:
                raise
            except Exception:
                log.exception("%s failed", handler.__name__)
                return default() if callable(default) else default

        return run

    return wrap


server = ZixirLanguageServer()


# ---- lifecycle ---------------------------------------------------------------------------------

@server.feature(lsp.INITIALIZE)
@guarded()
def initialize(ls: ZixirLanguageServer, params: lsp.InitializeParams) -> None:
    ls.client_watch.watch(params.process_id)


@server.feature(lsp.INITIALIZED)
async def initialized(ls: ZixirLanguageServer, params: lsp.InitializedParams) -> None:
    """Ask the client to tell us when a .zx file changes on disk (imports read the disk)."""
    workspace = ls.client_capabilities.workspace
    watched = workspace.did_change_watched_files if workspace else None
    if not (watched and watched.dynamic_registration):
        return
    try:
        await ls.client_register_capability_async(lsp.RegistrationParams(registrations=[
            lsp.Registration(
                id="zixir-watch-zx", method=lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=lsp.DidChangeWatchedFilesRegistrationOptions(
                    watchers=[lsp.FileSystemWatcher(glob_pattern="**/*.zx")]))]))
    except Exception:  # the client refused: saves of open files still refresh importers
        log.warning("the client did not register the file watcher", exc_info=True)


@server.feature(lsp.SHUTDOWN)
@guarded()
def shutdown(ls: ZixirLanguageServer, *args) -> None:
    ls.shut_down = True


@server.feature(lsp.EXIT)
def exit_(ls: ZixirLanguageServer, *args) -> None:
    """End now: 0 after a shutdown request, 1 without one (the protocol's rule)."""
    end_process(0 if ls.shut_down else 1)


# ---- document synchronisation ------------------------------------------------------------------

@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
@guarded()
def did_open(ls: ZixirLanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
    ls.refresh(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
@guarded()
def did_change(ls: ZixirLanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
    ls.refresh_soon(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
@guarded()
def did_save(ls: ZixirLanguageServer, params: lsp.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.refresh(uri)
    path = _uri_path(uri)
    if path:
        ls.refresh_importers(path)


@server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
@guarded()
def did_change_watched_files(ls: ZixirLanguageServer,
                             params: lsp.DidChangeWatchedFilesParams) -> None:
    for change in params.changes:
        path = _uri_path(change.uri)
        if path:
            ls.refresh_importers(path)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
@guarded()
def did_close(ls: ZixirLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
    ls.forget(params.text_document.uri)


# ---- features ----------------------------------------------------------------------------------

@server.feature(lsp.TEXT_DOCUMENT_COMPLETION,
                lsp.CompletionOptions(trigger_characters=["."]))
@guarded(lambda: lsp.CompletionList(is_incomplete=False, items=[]))
def completion(ls: ZixirLanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList:
    uri = params.text_document.uri
    analysis = ls.analysis(uri)
    positions = ls.positions(analysis)
    line, column = positions.from_lsp(params.position)
    found = features.completions(analysis, line, column, ls.last_parsed.get(uri))
    items = []
    for rank, item in enumerate(found):
        doc = lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=item.doc) if item.doc else None
        items.append(lsp.CompletionItem(
            label=item.label,
            kind=_COMPLETION_KINDS.get(item.kind, lsp.CompletionItemKind.Text),
            detail=item.detail or None,
            documentation=doc,
            sort_text=f"{_sort_group(item.kind)}{rank:04d}",
        ))
    return lsp.CompletionList(is_incomplete=False, items=items)


def _sort_group(kind: str) -> str:
    # names of the program first, then the library, keywords last
    return {"variable": "0", "parameter": "0", "function": "0", "import": "0", "module": "0",
            "type": "1", "field": "1", "memory": "1", "builtin": "2", "engine": "3",
            "namespace": "3", "keyword": "4"}.get(kind, "5")


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
@guarded()
def hover(ls: ZixirLanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
    analysis = ls.analysis(params.text_document.uri)
    positions = ls.positions(analysis)
    info = features.hover(analysis, *positions.from_lsp(params.position))
    if info is None:
        return None
    text = f"```zixir\n{info.code}\n```"
    if info.doc:
        text += f"\n\n{info.doc}"
    return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text),
                     range=positions.range(info.span))


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
@guarded()
def definition(ls: ZixirLanguageServer, params: lsp.DefinitionParams) -> lsp.Location | None:
    uri = params.text_document.uri
    analysis = ls.analysis(uri)
    positions = ls.positions(analysis)
    found = features.definition(analysis, *positions.from_lsp(params.position))
    if found is None:
        return None
    path, span = found
    if path is None:
        return lsp.Location(uri=uri, range=positions.range(span))
    try:
        with open(path, encoding="utf-8") as handle:
            other = PositionMap(handle.read(), ls.workspace.position_encoding)
    except (OSError, UnicodeDecodeError):
        return None
    return lsp.Location(uri=_file_uri(path), range=other.range(span))


def _file_uri(path: str) -> str:
    return from_fs_path(path) or path


@server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
@guarded(list)
def references(ls: ZixirLanguageServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
    uri = params.text_document.uri
    analysis = ls.analysis(uri)
    positions = ls.positions(analysis)
    spans = features.references(analysis, *positions.from_lsp(params.position),
                                include_declaration=params.context.include_declaration)
    return [lsp.Location(uri=uri, range=positions.range(span)) for span in spans]


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_HIGHLIGHT)
@guarded(list)
def highlight(ls: ZixirLanguageServer,
              params: lsp.DocumentHighlightParams) -> list[lsp.DocumentHighlight]:
    analysis = ls.analysis(params.text_document.uri)
    positions = ls.positions(analysis)
    spans = features.references(analysis, *positions.from_lsp(params.position))
    return [lsp.DocumentHighlight(range=positions.range(span),
                                  kind=lsp.DocumentHighlightKind.Text) for span in spans]


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
@guarded(list)
def document_symbols(ls: ZixirLanguageServer,
                     params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
    analysis = ls.analysis(params.text_document.uri)
    if analysis.program is None:  # keep the outline of the last version that parsed
        analysis = ls.last_parsed.get(params.text_document.uri, analysis)
    positions = ls.positions(analysis)

    def convert(item: features.OutlineItem) -> lsp.DocumentSymbol:
        return lsp.DocumentSymbol(
            name=item.name, detail=item.detail,
            kind=_SYMBOL_KINDS.get(item.kind, lsp.SymbolKind.Variable),
            range=positions.range(item.span), selection_range=positions.range(item.selection),
            children=[convert(child) for child in item.children])

    return [convert(item) for item in features.outline(analysis)]


@server.feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
@guarded()
def prepare_rename(ls: ZixirLanguageServer,
                   params: lsp.PrepareRenameParams) -> lsp.PrepareRenameResult | None:
    analysis = ls.analysis(params.text_document.uri)
    positions = ls.positions(analysis)
    target = features.rename_target(analysis, *positions.from_lsp(params.position))
    if target is None:
        return None
    symbol, span = target
    return lsp.PrepareRenamePlaceholder(range=positions.range(span), placeholder=symbol.name)


@server.feature(lsp.TEXT_DOCUMENT_RENAME, lsp.RenameOptions(prepare_provider=True))
@guarded()
def rename(ls: ZixirLanguageServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit | None:
    uri = params.text_document.uri
    analysis = ls.analysis(uri)
    positions = ls.positions(analysis)
    try:
        edits = rename_safely(analysis, *positions.from_lsp(params.position), params.new_name,
                              ls.workspace_texts)
    except RenameError as error:
        raise JsonRpcInvalidParams(str(error)) from None
    changes = {}
    for edit in edits:
        target = uri if edit.path is None else _file_uri(edit.path)
        where = PositionMap(edit.source, ls.workspace.position_encoding)
        changes[target] = [lsp.TextEdit(range=where.range(span), new_text=params.new_name)
                           for span in edit.spans]
    return lsp.WorkspaceEdit(changes=changes)


@server.feature(lsp.TEXT_DOCUMENT_SIGNATURE_HELP,
                lsp.SignatureHelpOptions(trigger_characters=["(", ","],
                                         retrigger_characters=[","]))
@guarded()
def signature_help(ls: ZixirLanguageServer,
                   params: lsp.SignatureHelpParams) -> lsp.SignatureHelp | None:
    uri = params.text_document.uri
    analysis = ls.analysis(uri)
    positions = ls.positions(analysis)
    info = features.signature_help(analysis, *positions.from_lsp(params.position),
                                   ls.last_parsed.get(uri))
    if info is None:
        return None
    signature = lsp.SignatureInformation(
        label=info.label,
        documentation=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=info.doc),
        parameters=[lsp.ParameterInformation(label=(positions.units(info.label[:start]),
                                                    positions.units(info.label[:end])))
                    for start, end in info.parameters])
    return lsp.SignatureHelp(signatures=[signature], active_signature=0,
                             active_parameter=info.active)


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
@guarded(default=list)
def formatting(ls: ZixirLanguageServer,
               params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit]:
    document = ls.workspace.get_text_document(params.text_document.uri)
    source = document.source
    formatted = format_document(source, params.options.tab_size, params.options.insert_spaces,
                                document.path)
    if formatted is None or formatted == source:
        return []  # a broken file is left alone: the diagnostics already show the error
    lines = source.split("\n")
    end = PositionMap(source, ls.workspace.position_encoding).to_lsp(len(lines),
                                                                     len(lines[-1]) + 1)
    return [lsp.TextEdit(range=lsp.Range(start=lsp.Position(line=0, character=0), end=end),
                         new_text=formatted)]


@server.feature(lsp.TEXT_DOCUMENT_RANGE_FORMATTING)
@guarded(default=list)
def range_formatting(ls: ZixirLanguageServer,
                     params: lsp.DocumentRangeFormattingParams) -> list[lsp.TextEdit]:
    document = ls.workspace.get_text_document(params.text_document.uri)
    positions = PositionMap(document.source, ls.workspace.position_encoding)
    first, _ = positions.from_lsp(params.range.start)
    last, _ = positions.from_lsp(params.range.end)
    if params.range.end.character == 0 and last > first:
        last -= 1  # a selection of whole lines ends at the start of the next one
    found = format_range(document.source, first, last, params.options.tab_size,
                         params.options.insert_spaces, document.path)
    if found is None:
        return []
    span = Span(found.line, found.column, found.end_line, found.end_column)
    return [lsp.TextEdit(range=positions.range(span), new_text=found.text)]


def _lines_of(range_: lsp.Range) -> tuple[int, int]:
    """The 1-based lines a protocol range covers (its end is exclusive)."""
    last = range_.end.line + (0 if range_.end.character == 0 else 1)
    return range_.start.line + 1, max(last, range_.start.line + 1)


# ---- semantic tokens, inlay hints ---------------------------------------------------------------

SEMANTIC_LEGEND = lsp.SemanticTokensLegend(token_types=semantic.TOKEN_TYPES,
                                           token_modifiers=semantic.TOKEN_MODIFIERS)


def _semantic_data(ls: ZixirLanguageServer, uri: str,
                   within: tuple[int, int] | None = None) -> lsp.SemanticTokens:
    analysis = ls.analysis(uri)
    positions = ls.positions(analysis)
    found = semantic.tokens(analysis)
    if within is not None:
        found = [t for t in found if within[0] <= t.line <= within[1]]
    return lsp.SemanticTokens(data=semantic.encode(
        found, lambda line, column: positions.to_lsp(line, column).character))


@server.feature(lsp.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, SEMANTIC_LEGEND)
@guarded(lambda: lsp.SemanticTokens(data=[]))
def semantic_tokens_full(ls: ZixirLanguageServer,
                         params: lsp.SemanticTokensParams) -> lsp.SemanticTokens:
    return _semantic_data(ls, params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_SEMANTIC_TOKENS_RANGE, SEMANTIC_LEGEND)
@guarded(lambda: lsp.SemanticTokens(data=[]))
def semantic_tokens_range(ls: ZixirLanguageServer,
                          params: lsp.SemanticTokensRangeParams) -> lsp.SemanticTokens:
    return _semantic_data(ls, params.text_document.uri, _lines_of(params.range))


@server.feature(lsp.TEXT_DOCUMENT_INLAY_HINT)
@guarded(list)
def inlay_hints(ls: ZixirLanguageServer, params: lsp.InlayHintParams) -> list[lsp.InlayHint]:
    analysis = ls.analysis(params.text_document.uri)
    positions = ls.positions(analysis)
    return [lsp.InlayHint(position=positions.to_lsp(hint.line, hint.column), label=hint.label,
                          kind=lsp.InlayHintKind.Type, padding_left=False)
            for hint in hints.type_hints(analysis, *_lines_of(params.range))]


# ---- code actions --------------------------------------------------------------------------------

@server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
@guarded(list)
def code_actions(ls: ZixirLanguageServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
    uri = params.text_document.uri
    analysis = ls.analysis(uri)
    positions = ls.positions(analysis)
    out: list[lsp.CodeAction] = []
    for diagnostic in params.context.diagnostics:
        name = actions.undefined_name(diagnostic.message)
        if name is None:
            continue
        line, column = positions.from_lsp(diagnostic.range.start)
        end_line, end_column = positions.from_lsp(diagnostic.range.end)
        fixes = actions.did_you_mean(analysis, name, line, column, end_line, end_column)
        fixes += actions.add_import(analysis, name, ls.workspace_roots())
        for fix in fixes:
            span = Span(fix.line, fix.column, fix.end_line, fix.end_column)
            out.append(lsp.CodeAction(
                title=fix.title, kind=lsp.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                is_preferred=fix.preferred or None,
                edit=lsp.WorkspaceEdit(changes={uri: [lsp.TextEdit(
                    range=positions.range(span), new_text=fix.new_text)]})))
    return out


# ---- structure: folding, links, workspace symbols ------------------------------------------------

_FOLD_KINDS = {"comment": lsp.FoldingRangeKind.Comment, "imports": lsp.FoldingRangeKind.Imports,
               "region": lsp.FoldingRangeKind.Region}


@server.feature(lsp.TEXT_DOCUMENT_FOLDING_RANGE)
@guarded(list)
def folding_ranges(ls: ZixirLanguageServer,
                   params: lsp.FoldingRangeParams) -> list[lsp.FoldingRange]:
    uri = params.text_document.uri
    analysis = ls.analysis(uri)
    if analysis.program is None:  # keep the folds of the last version that parsed
        analysis = ls.last_parsed.get(uri, analysis)
    return [lsp.FoldingRange(start_line=f.line - 1, end_line=f.end_line - 1,
                             kind=_FOLD_KINDS[f.kind]) for f in structure.folds(analysis)]


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_LINK)
@guarded(list)
def document_links(ls: ZixirLanguageServer,
                   params: lsp.DocumentLinkParams) -> list[lsp.DocumentLink]:
    analysis = ls.analysis(params.text_document.uri)
    positions = ls.positions(analysis)
    return [lsp.DocumentLink(range=positions.range(link.span), target=_file_uri(link.target),
                             tooltip=link.target) for link in structure.links(analysis)]


@server.feature(lsp.WORKSPACE_SYMBOL)
@guarded(list)
def workspace_symbols(ls: ZixirLanguageServer,
                      params: lsp.WorkspaceSymbolParams) -> list[lsp.SymbolInformation]:
    out = []
    sources: dict[str, str] = {}
    for uri, document in list(ls.workspace.text_documents.items()):
        path = _uri_path(uri)
        if path:
            sources[os.path.normpath(path)] = document.source
    for item in workspace_index.workspace_names(ls.workspace_roots(), sources.get):
        if params.query and not workspace_index.matches(params.query, item.name):
            continue
        source = sources.get(item.path)
        if source is None:
            try:
                with open(item.path, encoding="utf-8") as handle:
                    source = handle.read()
            except (OSError, UnicodeDecodeError):
                continue
        positions = PositionMap(source, ls.workspace.position_encoding)
        out.append(lsp.SymbolInformation(
            name=item.name, kind=_SYMBOL_KINDS.get(item.kind, lsp.SymbolKind.Variable),
            location=lsp.Location(uri=_file_uri(item.path), range=positions.range(item.span)),
            container_name=os.path.basename(item.path)))
    return out


# ---- entry point -------------------------------------------------------------------------------

def main(client_process_id: int | None = None) -> int:
    """Serve the protocol on stdin/stdout until the client says exit or goes away."""
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("ZIXIR_LSP_LOG", "WARNING"),
                        format="zixir-lsp %(levelname)s %(name)s: %(message)s")
    sys.stdout.flush()
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # fd 1 now leads to stderr
    sys.stdout = sys.stderr
    server.client_watch.watch(client_process_id)
    server.start_io(sys.stdin.buffer, ProtocolWriter(protocol_out))
    # stdin reached its end (the client is gone) or the loop stopped: leave now, without
    # waiting for a reader thread that may still be blocked
    end_process(0 if server.shut_down else 1)
    return 1


if __name__ == "__main__":
    main()
