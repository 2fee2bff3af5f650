"""When an imported file changes, the open files that import it are checked again."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from .conftest import diagnostics_after, open_document

pytestmark = pytest.mark.asyncio

LIB = "pub fn helper(x) -> Int: x + 1\n"
LIB_WITH_EXTRA = LIB + "pub fn extra(y) -> Int: y * 2\n"
MAIN = 'import "lib.zx"\nhelper(1) + extra(2)\n'


async def test_saving_an_imported_file_rechecks_its_importers(client: LanguageClient,
                                                              tmp_path: Path) -> None:
    lib, main = tmp_path / "lib.zx", tmp_path / "main.zx"
    lib.write_text(LIB, encoding="utf-8")
    (diag,) = await open_document(client, main, MAIN)
    assert "extra" in diag.message
    await open_document(client, lib, LIB)
    # the other file is edited and saved: main.zx's diagnostics are published again
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=lib.as_uri(), version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=LIB_WITH_EXTRA)]))
    lib.write_text(LIB_WITH_EXTRA, encoding="utf-8")
    assert await diagnostics_after(client, main.as_uri(), 1, lambda: client.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(
            uri=lib.as_uri())))) == []


async def test_a_watched_file_change_rechecks_its_importers(client: LanguageClient,
                                                            tmp_path: Path) -> None:
    lib, main = tmp_path / "lib.zx", tmp_path / "main.zx"
    lib.write_text(LIB_WITH_EXTRA, encoding="utf-8")
    assert await open_document(client, main, MAIN) == []
    # the server asked to hear about .zx files changing on disk
    watchers = [r for r in client.registered
                if r.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES]
    assert watchers and "**/*.zx" in str(watchers[0].register_options)
    lib.write_text(LIB, encoding="utf-8")  # changed outside the editor: extra is gone
    (diag,) = await diagnostics_after(
        client, main.as_uri(), 1, lambda: client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(changes=[types.FileEvent(
                uri=lib.as_uri(), type=types.FileChangeType.Changed)])))
    assert "Undefined function: extra" in diag.message


async def test_typing_in_an_open_imported_file_rechecks_its_importers(client: LanguageClient,
                                                                      tmp_path: Path) -> None:
    """Unsaved text counts: the importer is checked against what the editor shows."""
    lib, main = tmp_path / "lib.zx", tmp_path / "main.zx"
    lib.write_text(LIB, encoding="utf-8")
    await open_document(client, lib, LIB)
    (diag,) = await open_document(client, main, MAIN)
    assert "extra" in diag.message
    assert await diagnostics_after(client, main.as_uri(), 1, lambda: client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=lib.as_uri(), version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(
                text=LIB_WITH_EXTRA)]))) == []
    assert lib.read_text(encoding="utf-8") == LIB  # nothing was saved
