"""A real `zixir lsp` process driven by pytest-lsp's language client over stdio."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 30.0  # seconds any single exchange with the server may take

SERVER = [sys.executable, "-m", "zixir", "lsp"]


def accept_registrations(client: LanguageClient) -> list[types.Registration]:
    """Answer `client/registerCapability` as VS Code does; the list fills with what was asked."""
    registered: list[types.Registration] = []

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        registered.extend(params.registrations)

    return registered


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient, tmp_path: Path):
    lsp_client.registered = accept_registrations(lsp_client)
    lsp_client.server_capabilities = (await asyncio.wait_for(lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=tmp_path.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="work")],
        )), DEADLINE)).capabilities
    yield
    await asyncio.wait_for(lsp_client.shutdown_session(), DEADLINE)


class _Published:
    """Every publishDiagnostics the client receives, in order (two may arrive together, so
    waiting for "the next one" could miss one)."""

    def __init__(self, client: LanguageClient) -> None:
        self.items: list[types.PublishDiagnosticsParams] = []
        self.arrived = asyncio.Event()
        handle = client.protocol._handle_notification

        def record(method_name, params):
            if method_name == types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS:
                self.items.append(params)
                self.arrived.set()
            return handle(method_name, params)

        client.protocol._handle_notification = record


def _published(client: LanguageClient) -> _Published:
    if not hasattr(client, "published_diagnostics"):
        client.published_diagnostics = _Published(client)
    return client.published_diagnostics


async def diagnostics_after(client: LanguageClient, uri: str, version: int | None,
                            send) -> list[types.Diagnostic]:
    """Call `send()` (which makes the server analyse `uri`), return the diagnostics it publishes."""
    published = _published(client)
    seen = len(published.items)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    send()
    while True:
        for params in published.items[seen:]:
            if params.uri == uri and (version is None or params.version == version):
                return list(params.diagnostics)
        seen = len(published.items)
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError(f"no diagnostics for {uri} (version {version})")
        published.arrived.clear()
        try:
            await asyncio.wait_for(published.arrived.wait(), remaining)
        except TimeoutError:
            pass


async def open_document(client: LanguageClient, path: Path, text: str,
                        version: int = 1) -> list[types.Diagnostic]:
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    return await diagnostics_after(client, uri, version, lambda: client.text_document_did_open(
        types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=uri, language_id="zixir", version=version, text=text))))


async def change_document(client: LanguageClient, path: Path, text: str,
                          version: int) -> list[types.Diagnostic]:
    uri = path.as_uri()
    return await diagnostics_after(client, uri, version, lambda: client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)])))


def position_of(text: str, needle: str, occurrence: int = 1, offset: int = 0) -> types.Position:
    """The LSP position (UTF-16 columns) of the `occurrence`-th `needle` in `text`, + offset."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    index += offset
    line = text.count("\n", 0, index)
    line_start = text.rfind("\n", 0, index) + 1
    column = len(text[line_start:index].encode("utf-16-le")) // 2
    return types.Position(line=line, character=column)


def range_of(text: str, needle: str, occurrence: int = 1) -> types.Range:
    start = position_of(text, needle, occurrence)
    end = position_of(text, needle, occurrence, offset=len(needle))
    return types.Range(start=start, end=end)


async def request(coro):
    return await asyncio.wait_for(coro, DEADLINE)


def offset_of(text: str, position: types.Position) -> int:
    """The string index of an LSP position (UTF-16 columns) in `text`."""
    lines = text.split("\n")
    start = sum(len(line) + 1 for line in lines[:position.line])
    line = lines[position.line] if position.line < len(lines) else ""
    units = 0
    for i, ch in enumerate(line):
        if units >= position.character:
            return start + i
        units += len(ch.encode("utf-16-le")) // 2
    return start + len(line)


def apply_edits(text: str, edits) -> str:
    """`text` with LSP text edits applied (they must not overlap)."""
    spans = sorted(((offset_of(text, e.range.start), offset_of(text, e.range.end), e.new_text)
                    for e in edits), reverse=True)
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text
