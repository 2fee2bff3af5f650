"""Initialize -> capabilities -> shutdown -> exit, and the process really ends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig, client_capabilities

from .conftest import DEADLINE, SERVER

pytestmark = pytest.mark.asyncio


async def test_capabilities_and_clean_exit(tmp_path: Path) -> None:
    client = await ClientServerConfig(server_command=SERVER).start()
    try:
        result = await asyncio.wait_for(client.initialize_session(types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            root_uri=tmp_path.as_uri())), DEADLINE)
        caps = result.capabilities
        assert result.server_info.name == "zixir-lsp"
        sync = caps.text_document_sync
        assert getattr(sync, "change", sync) == types.TextDocumentSyncKind.Full
        assert caps.position_encoding == types.PositionEncodingKind.Utf16
        assert list(caps.completion_provider.trigger_characters) == ["."]
        assert caps.hover_provider and caps.definition_provider and caps.references_provider
        assert caps.document_symbol_provider and caps.document_highlight_provider
        assert caps.rename_provider.prepare_provider is True
        await asyncio.wait_for(client.shutdown_async(None), DEADLINE)
        client.exit(None)
        server = client._server
        await asyncio.wait_for(server.wait(), DEADLINE)
        assert server.returncode == 0
    finally:
        await client.stop()
