"""`zixir lsp`: the Zixir language server, on stdio, built on pygls.

    client ──didOpen/didChange/didSave──> analyse (parse + check + resolve) ──> publishDiagnostics
    client ──completion/hover/definition/references/rename/documentSymbol──> features.py
    client ──formatting──> lang/formatter.py (one whole-document edit, none on a syntax error)

Documents are synchronised whole (full sync) and analysed on open and save, and after a change
once the typing pauses (CHANGE_DELAY; a request that arrives first analyses the text it sees).
The analysis is kept per URI together with the last one that parsed, which completion falls
back on while the text is broken. Every handler catches its own failures: a bug shows up in the log
(stderr), never as a dead server. Standard output carries the protocol only: `main` moves the
process's file descriptor 1 to stderr and keeps a private duplicate for the protocol, so a stray
`print`, in Python or in native code, cannot corrupt it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from ..lang.errors import ZixirSyntaxError
from ..lang.formatter import format_source
from . import features
from .analysis import Analysis, Span, analyze
from .positions import PositionMap
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
        except Exception:
            log.exception("analysis of %s failed", uri)

    def _cancel_pending(self, uri: str) -> None:
        handle = self._pending.pop(uri, None)
        if handle is not None:
            handle.cancel()

    def refresh(self, uri: str) -> Analysis:
        self._cancel_pending(uri)
        document = self.workspace.get_text_document(uri)
        path = to_fs_path(uri) if uri.startswith("file:") else None
        analysis = analyze(document.source, path)
        self.analyses[uri] = analysis
        if analysis.checked is not None:
            self.last_parsed[uri] = analysis
        positions = self.positions(analysis)
        self.publish(uri, [_diagnostic(d, positions) for d in analysis.diagnostics],
                     version=document.version)
        return analysis

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
        self.publish(uri, [])

    def positions(self, analysis: Analysis) -> PositionMap:
        return PositionMap(analysis.source, self.workspace.position_encoding)


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
    ls.refresh(params.text_document.uri)


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
        spans = features.rename(analysis, *positions.from_lsp(params.position),
                                params.new_name)
    except features.RenameError as error:
        raise JsonRpcInvalidParams(str(error)) from None
    edits = [lsp.TextEdit(range=positions.range(span), new_text=params.new_name)
             for span in spans]
    return lsp.WorkspaceEdit(changes={uri: edits})


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
        parameters=[lsp.ParameterInformation(label=(start, end))
                    for start, end in info.parameters])
    return lsp.SignatureHelp(signatures=[signature], active_signature=0,
                             active_parameter=info.active)


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
@guarded(default=list)
def formatting(ls: ZixirLanguageServer,
               params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit]:
    source = ls.workspace.get_text_document(params.text_document.uri).source
    try:
        formatted = format_source(source)
    except ZixirSyntaxError:
        return []  # the diagnostics already show the error; a broken file is left alone
    if formatted == source:
        return []
    lines = source.split("\n")
    end = PositionMap(source, ls.workspace.position_encoding).to_lsp(len(lines),
                                                                     len(lines[-1]) + 1)
    return [lsp.TextEdit(range=lsp.Range(start=lsp.Position(line=0, character=0), end=end),
                         new_text=formatted)]


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
