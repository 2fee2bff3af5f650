"""End to end: `textDocument/formatting` through the real server process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, client_capabilities

from zixir.lang.formatter import format_source

from .conftest import DEADLINE, SERVER, open_document, request

pytestmark = pytest.mark.asyncio

MESSY = 'fn  f(x){ x*2 }  # double\nlet s = "ünï"  ;f( 1 )\n'


def apply(text: str, edit: types.TextEdit) -> str:
    lines = text.split("\n")
    start, end = edit.range.start, edit.range.end
    assert (start.line, start.character) == (0, 0)
    assert end.line == len(lines) - 1
    assert end.character == len(lines[-1].encode("utf-16-le")) // 2
    return edit.new_text


async def test_formatting_returns_one_whole_document_edit(tmp_path: Path) -> None:
    client = await ClientServerConfig(server_command=SERVER).start()
    try:
        result = await asyncio.wait_for(client.initialize_session(types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=tmp_path.as_uri())), DEADLINE)
        assert result.capabilities.document_formatting_provider

        async def format_document(name: str, text: str) -> list[types.TextEdit]:
            path = tmp_path / name
            await open_document(client, path, text)
            return await request(client.text_document_formatting_async(
                types.DocumentFormattingParams(
                    text_document=types.TextDocumentIdentifier(uri=path.as_uri()),
                    options=types.FormattingOptions(tab_size=2, insert_spaces=True))))

        edits = await format_document("messy.zx", MESSY)
        assert len(edits) == 1
        formatted = apply(MESSY, edits[0])
        assert formatted == format_source(MESSY)
        assert formatted == 'fn f(x) { x * 2 } # double\nlet s = "ünï"; f(1)\n'

        assert not await format_document("tidy.zx", formatted)
        assert not await format_document("broken.zx", "let x = (1 +\n")
        await asyncio.wait_for(client.shutdown_async(None), DEADLINE)
        client.exit(None)
    finally:
        await client.stop()
